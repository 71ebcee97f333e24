"""Building index entries as models: the reference TResNet and checkpoint loading. Imports torch.

``build_entry`` and ``load_entry_weights`` are the one way an entry becomes a model with weights, used
by ``tresnet_zoo.create_model`` and by the deep check alike (both through ``weights.load.load_verified``,
which hashes the bytes it hands to ``load_entry_weights``). ``checkpoint_bytes_bound`` is how many bytes
a checkpoint of an architecture may take: files and declared tensors beyond it are refused unread.
This package never imports ``weights``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import InvalidIndexError
from ..index import Problem
from .pretrained import pretrained_cfg_for
from .variants import VARIANTS, resolve_variant

__all__ = [
    "build_entry",
    "load_entry_weights",
    "load_checkpoint",
    "checkpoint_bytes_bound",
    "entry_classes",
    "variant_of",
    "VARIANTS",
    "IMAGENET_CLASSES",
]

IMAGENET_CLASSES = 1000
# Container overhead a checkpoint may add to its numbers: the same allowance as ``check``'s File Size
# rule (zip record headers and alignment, pickle entries; a safetensors header entry is smaller).
PER_TENSOR_OVERHEAD = 512
FIXED_OVERHEAD = 64 * 1024


def entry_classes(entry) -> int:
    """The number of classes an entry's published weights have (11221 for the in21k weights)."""
    return getattr(entry, "num_classes", None) or IMAGENET_CLASSES  # until records land


def variant_of(entry) -> str:
    """The reference variant an index entry is an instance of; an unknown one is bad data (exit 1)."""
    variant = resolve_variant(entry.name, entry.metadata.id)
    if variant is None:
        raise InvalidIndexError(
            [Problem(entry.location, f"unknown architecture; tresnet-zoo builds {', '.join(VARIANTS)} "
                                     "(an entry's name or ID must start with one of them)", entry=entry.name)]
        )
    return variant


def build_entry(entry, *, num_classes: int | None = None, initialise: bool = True):
    """The reference architecture of ``entry``, carrying ``pretrained_cfg``.

    ``initialise=False`` is for a model whose every saved tensor is about to be loaded (strictly, by
    ``load_entry_weights``): its parameters and saved buffers stay on the meta device, neither allocated
    nor drawn at random (TResNet-XL's random init costs more than reading, hashing and loading its
    315 MB of weights), and the checkpoint's tensors become the model's. Buffers no checkpoint carries
    (the blur kernels) are made as always.
    """
    variant = variant_of(entry)
    classes = entry_classes(entry) if num_classes is None else num_classes
    model = _build(variant, classes) if initialise else _build_uninitialised(variant, classes)
    # the weights' config (timm's convention): a fresh head's size is model.num_classes, not this
    model.pretrained_cfg = pretrained_cfg_for(entry, variant)
    return model


def _build(variant: str, num_classes: int):
    from .tresnet import build  # noqa: PLC0415 (imports torch)

    return build(variant, num_classes=num_classes)


def _build_uninitialised(variant: str, num_classes: int):
    """The architecture with its parameters and saved buffers on the meta device (shapes, no memory):
    a strict ``load_entry_weights`` then assigns the checkpoint's tensors instead of copying into
    randomly initialised ones. Buffers no checkpoint carries (the blur kernels) are made for real."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    from .tresnet import BlurDownsample, build  # noqa: PLC0415 (imports torch)

    with torch.device("meta"):
        model = build(variant, num_classes=num_classes)
    for module in model.modules():
        unsaved = getattr(module, "_non_persistent_buffers_set", set())
        if isinstance(module, BlurDownsample):
            module.kernel = torch.tensor(BlurDownsample.TAPS).expand(module.channels, 1, 3, 3).contiguous()
        elif unsaved:  # a buffer no checkpoint fills, of a module this function does not know
            raise AssertionError(f"{type(module).__name__} has unsaved buffers {sorted(unsaved)}: build it initialised")
    return model


@lru_cache(maxsize=None)
def _architecture_bytes(variant: str) -> tuple[int, int, int]:
    """(bytes of the state without the classifier, classifier input features, tensors) of ``variant``,
    measured on the meta device (shapes only: no memory, ~30 ms, once per process)."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    from .tresnet import build  # noqa: PLC0415 (imports torch)

    with torch.device("meta"):
        model = build(variant, num_classes=1)
    state = model.state_dict()
    body = sum(t.numel() * t.element_size() for k, t in state.items() if not k.startswith("head."))
    return body, model.head.fc.in_features, len(state)


def checkpoint_bytes_bound(variant: str, num_classes: int = IMAGENET_CLASSES) -> int:
    """The most bytes a checkpoint of ``variant`` with ``num_classes`` outputs may take, file or tensors.

    Its state at its own precision (float32, int64 counters), plus per-tensor and fixed container
    overhead. A checkpoint carrying more (optimizer state, an EMA copy, float64) is refused before
    anything is allocated: a file's declared sizes are untrusted input.
    """
    body, features, tensors = _architecture_bytes(variant)
    head = 4 * (features + 1) * max(1, num_classes)
    return body + head + PER_TENSOR_OVERHEAD * tensors + FIXED_OVERHEAD


def _model_bytes_bound(model) -> int:
    state = model.state_dict()
    data = sum(t.numel() * t.element_size() for t in state.values())
    return data + PER_TENSOR_OVERHEAD * len(state) + FIXED_OVERHEAD


def load_entry_weights(model, data, *, source: str, num_classes: int | None = None,
                       max_bytes: int | None = None) -> str:
    """Load checkpoint bytes ``data`` (torch zip, legacy pickle or safetensors; timm or release layout)
    into ``model``; returns the layout found.

    ``data`` is loaded as given: the caller has read it once and, for cached weights, hashed it
    (``weights.load``). A ``num_classes`` other than the checkpoint's keeps the model's fresh head.
    """
    from .layouts import load_into, read_state  # noqa: PLC0415 (imports torch)

    state = read_state(data, source=source, max_bytes=max_bytes)
    head_rows = state.get("head.fc.weight")  # same key in both layouts; 'module.' is already stripped
    keep_head = num_classes is None or (head_rows is not None and head_rows.shape[0] == num_classes)
    model.layout = load_into(model, state, source=source, head=keep_head)
    return model.layout


def load_checkpoint(model, path: Path, *, num_classes: int | None = None, max_bytes: int | None = None) -> str:
    """Load the user's checkpoint file at ``path`` (read once, any format and layout) into ``model``.

    ``max_bytes`` defaults to the bound of the model's architecture at its own number of classes.
    """
    from .formats import read_regular_file  # noqa: PLC0415 (zipfile and the checkpoint readers: not at `list` start-up)

    if max_bytes is None:
        max_bytes = _model_bytes_bound(model)
    data = read_regular_file(Path(path), max_bytes=max_bytes)
    return load_entry_weights(model, data, source=Path(path).name, num_classes=num_classes, max_bytes=max_bytes)
