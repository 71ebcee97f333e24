"""``model.pretrained_cfg``: what an index entry's weights expect, in timm's fields plus tresnet-zoo's.

timm's data pipeline reads a model's ``pretrained_cfg`` (``timm.data.resolve_model_data_config``) to
choose the input size, crop, interpolation and normalisation. Building it from the entry makes a 448 px
entry resolve to 448 (before, timm's default of 224 applied and such a model was silently evaluated at
224), and carries the entry's class count, licence and timm tag. No torch here.

Like timm's, the config describes the *weights*: a model built with another ``num_classes`` (a fresh
head for fine-tuning) keeps the weights' ``num_classes`` here; ``model.num_classes`` is the head's.
"""

from __future__ import annotations

from .labels import label_set_for

__all__ = ["pretrained_cfg_for", "timm_tags_of"]

# the stem's conv and the classifier, as timm names them for TResNet (the state-dict prefixes)
FIRST_CONV = "body.conv1.conv"
CLASSIFIER = "head.fc"
REDUCTION = 32  # the last feature map is 1/32 of the input


def timm_tags_of(entry) -> tuple[str, ...]:
    """The timm pretrained tags of an entry's weights, canonical first (empty when the index has none)."""
    return tuple(getattr(entry, "timm_tags", ()) or ())  # until records land


def pretrained_cfg_for(entry, variant: str) -> dict:
    """timm's ``pretrained_cfg`` fields for ``entry`` (built as reference ``variant``), plus ``name``,
    ``variant``, ``image_size``, ``timm_tags`` and ``label_set`` (see ``tresnet_zoo.labels_for``)."""
    md = entry.metadata
    size = md.image_size or 224
    num_classes = getattr(entry, "num_classes", None) or 1000  # until records land
    tags = timm_tags_of(entry)
    tag = tags[0] if tags else None
    return {
        # timm's fields, in timm's order
        "url": entry.weights or "",
        "hf_hub_id": f"timm/{tag}" if tag else None,
        "architecture": variant,
        "tag": tag.split(".", 1)[1] if tag and "." in tag else None,
        "custom_load": False,
        "input_size": (3, size, size),
        "fixed_input_size": False,
        "interpolation": md.interpolation or "bilinear",
        "crop_pct": md.crop_pct or 0.875,
        "crop_mode": "center",
        # TResNet takes raw [0, 1] pixels: no mean/std normalisation
        "mean": (0.0, 0.0, 0.0),
        "std": (1.0, 1.0, 1.0),
        "num_classes": num_classes,
        "pool_size": (size // REDUCTION, size // REDUCTION),
        "first_conv": FIRST_CONV,
        "classifier": CLASSIFIER,
        "license": getattr(entry, "license", None),  # until records land
        # tresnet-zoo's own
        "name": entry.name,
        "variant": variant,
        "image_size": size,
        "timm_tags": tags,
        "label_set": label_set_for(num_classes),
    }
