"""The TResNet variants and how an index entry names one. No torch here: `check` resolves names cheaply."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TResNetConfig", "VARIANTS", "ALIASES", "resolve_variant"]


@dataclass(frozen=True)
class TResNetConfig:
    layers: tuple[int, int, int, int]
    width: float
    # TResNet-v2 (the ImageNet-21K-P paper's TResNet-L-V2): Bottleneck blocks in every stage, widths
    # rounded down to a multiple of 8
    v2: bool = False

    @property
    def planes(self) -> int:
        planes = int(64 * self.width)
        return planes // 8 * 8 if self.v2 else planes


# The paper's three sizes (arXiv:2003.13630, Table 1): blocks per stage and width factor; and TResNet-L-V2
# (Ridnik et al., "ImageNet-21K Pretraining for the Masses", arXiv:2104.10972), timm's ``tresnet_v2_l``.
VARIANTS: dict[str, TResNetConfig] = {
    "tresnet_m": TResNetConfig(layers=(3, 4, 11, 3), width=1.0),
    "tresnet_l": TResNetConfig(layers=(4, 5, 18, 3), width=1.2),
    "tresnet_xl": TResNetConfig(layers=(4, 5, 24, 3), width=1.3),
    "tresnet_v2_l": TResNetConfig(layers=(3, 4, 23, 3), width=1.0, v2=True),
}

# Other spellings of a variant in names and weight files: the 2021 release calls TResNet-L-V2's file
# ``tresnet_l_v2_83_9-f36e4445.pth``, which must not read as TResNet-L.
ALIASES: dict[str, str] = {"tresnet_l_v2": "tresnet_v2_l"}

_SEPARATORS = ("_", "-", ".")


def resolve_variant(*names: str | None) -> str | None:
    """The variant a name belongs to: ``tresnet_xl_448``, ``tresnet_xl_82_0`` and ``tresnet_xl.miil_in1k``
    are ``tresnet_xl``; ``tresnet_l_v2_83_9`` is ``tresnet_v2_l``.

    The first name that resolves wins; within a name the longest variant (or alias) prefix does.
    """
    spellings = {**{v: v for v in VARIANTS}, **ALIASES}
    for name in names:
        if not name:
            continue
        found = [s for s in spellings if name == s or any(name.startswith(s + sep) for sep in _SEPARATORS)]
        if found:
            return spellings[max(found, key=len)]
    return None
