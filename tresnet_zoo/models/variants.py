"""The TResNet variants and how an index entry names one. No torch here: `check` resolves names cheaply."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TResNetConfig", "VARIANTS", "resolve_variant"]


@dataclass(frozen=True)
class TResNetConfig:
    layers: tuple[int, int, int, int]
    width: float

    @property
    def planes(self) -> int:
        return int(64 * self.width)


# The paper's three sizes (arXiv:2003.13630, Table 1): blocks per stage and width factor.
VARIANTS: dict[str, TResNetConfig] = {
    "tresnet_m": TResNetConfig(layers=(3, 4, 11, 3), width=1.0),
    "tresnet_l": TResNetConfig(layers=(4, 5, 18, 3), width=1.2),
    "tresnet_xl": TResNetConfig(layers=(4, 5, 24, 3), width=1.3),
}


def resolve_variant(*names: str | None) -> str | None:
    """The variant a name belongs to: ``tresnet_xl_448`` and ``tresnet_xl_82_0`` are ``tresnet_xl``.

    The first name that resolves wins; within a name the longest variant prefix does.
    """
    for name in names:
        if not name:
            continue
        found = [v for v in VARIANTS if name == v or name.startswith(v + "_") or name.startswith(v + "-")]
        if found:
            return max(found, key=len)
    return None
