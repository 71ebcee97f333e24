"""Building index entries as models: the reference TResNet and checkpoint loading. Imports torch."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .variants import VARIANTS, resolve_variant

__all__ = ["create_model", "variant_of", "VARIANTS", "IMAGENET_CLASSES"]

IMAGENET_CLASSES = 1000


def variant_of(entry) -> str:
    """The reference variant an index entry is an instance of, or a UsageError."""
    variant = resolve_variant(entry.name, entry.metadata.id)
    if variant is None:
        raise UsageError(
            f"{entry.location}: {entry.name}: unknown architecture; tresnet-zoo builds {', '.join(VARIANTS)} "
            "(an entry's name or ID must start with one of them)"
        )
    return variant


def create_model(
    name: str,
    pretrained: bool = False,
    *,
    num_classes: int | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    fuse: bool = False,
    channels_last: bool = True,
    index=None,
    cache_dir: str | os.PathLike | None = None,
):
    """Build the architecture of index entry ``name``; with ``pretrained=True`` load its weights from the
    cache (fetching and verifying them by size and sha256 first), or load ``checkpoint_path`` (either
    layout).

    ``num_classes`` other than the checkpoint's keeps a freshly initialised classifier (for fine-tuning).
    ``fuse=True`` folds BatchNorm into the convs for faster inference (eval mode, not trainable).
    ``channels_last`` (default on) keeps weights and activations NHWC: same numbers, faster convolutions.
    The model carries ``model.pretrained_cfg``: image size, crop pct, interpolation, mean and std.
    """
    from ..index import load_index
    from .layouts import load_into, read_checkpoint
    from .tresnet import build

    if pretrained and checkpoint_path is not None:
        raise UsageError("give pretrained=True or checkpoint_path, not both")
    entry = load_index(index).get(name)
    variant = variant_of(entry)
    model = build(variant, num_classes=IMAGENET_CLASSES if num_classes is None else num_classes)
    if pretrained:
        from ..weights import fetch_entry_path

        checkpoint_path = fetch_entry_path(entry, cache_dir=cache_dir)
    if checkpoint_path is not None:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise UsageError(f"checkpoint {path} does not exist")
        state = read_checkpoint(path)
        head_rows = state.get("head.fc.weight")  # same key in both layouts; 'module.' is already stripped
        keep_head = num_classes is None or (head_rows is not None and head_rows.shape[0] == num_classes)
        model.layout = load_into(model, state, source=path.name, head=keep_head)
    md = entry.metadata
    model.pretrained_cfg = {
        "name": entry.name,
        "variant": variant,
        "image_size": md.image_size or 224,
        "crop_pct": md.crop_pct or 0.875,
        "interpolation": md.interpolation or "bilinear",
        # TResNet takes raw [0, 1] pixels: no mean/std normalisation
        "mean": (0.0, 0.0, 0.0),
        "std": (1.0, 1.0, 1.0),
        "num_classes": model.num_classes,
    }
    model.eval()
    if fuse:
        model.fuse(channels_last=channels_last)
    elif channels_last:
        model.use_channels_last()
    return model
