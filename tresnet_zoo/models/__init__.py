"""Building index entries as models: the reference TResNet and checkpoint loading. Imports torch.

``build_entry`` and ``load_checkpoint`` are the one way an entry becomes a model, used by
``tresnet_zoo.create_model`` and by the deep check alike. This package never imports ``weights``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidIndexError, UsageError
from ..index import Problem
from .variants import VARIANTS, resolve_variant

__all__ = ["build_entry", "load_checkpoint", "variant_of", "VARIANTS", "IMAGENET_CLASSES"]

IMAGENET_CLASSES = 1000


def variant_of(entry) -> str:
    """The reference variant an index entry is an instance of; an unknown one is bad data (exit 1)."""
    variant = resolve_variant(entry.name, entry.metadata.id)
    if variant is None:
        raise InvalidIndexError(
            [Problem(entry.location, f"unknown architecture; tresnet-zoo builds {', '.join(VARIANTS)} "
                                     "(an entry's name or ID must start with one of them)", entry=entry.name)]
        )
    return variant


def build_entry(entry, *, num_classes: int | None = None):
    """The reference architecture of ``entry`` (random weights), carrying ``pretrained_cfg``; ``num_classes``
    defaults to the entry's (11221 for the ImageNet-21K-P weights)."""
    from .pretrained import pretrained_cfg_for
    from .tresnet import build

    variant = variant_of(entry)
    cfg = pretrained_cfg_for(entry, variant)
    model = build(variant, num_classes=cfg["num_classes"] if num_classes is None else num_classes)
    model.pretrained_cfg = cfg
    return model


def load_checkpoint(model, path: Path, *, num_classes: int | None = None) -> None:
    """Load the checkpoint at ``path`` (either layout) into ``model``; a different ``num_classes`` keeps
    the model's fresh head."""
    from .layouts import load_into, read_checkpoint

    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    state = read_checkpoint(path)
    head_rows = state.get("head.fc.weight")  # same key in both layouts; 'module.' is already stripped
    keep_head = num_classes is None or (head_rows is not None and head_rows.shape[0] == num_classes)
    model.layout = load_into(model, state, source=path.name, head=keep_head)
