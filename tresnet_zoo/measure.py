"""Counting an architecture: parameters exactly, multiply-accumulates with torch's FlopCounterMode.

Counting runs on the ``meta`` device: modules and tensors carry shapes but no storage, so counting
TResNet-XL at 448 px costs neither memory nor arithmetic.

Convention: the model-index ``FLOPs`` field holds multiply-accumulates (MACs), as timm and the
Papers-with-Code index use the word. ``FlopCounterMode`` counts a multiply and an add as two FLOPs,
so ``macs = flops / 2``. What is counted: convolutions (the fixed anti-aliasing blur included, as a
depthwise conv) and the classifier's matrix multiply; BatchNorm, activations, pooling and the SE gate's
elementwise product are not (they are a fraction of a percent of the total). Because BatchNorm is
not counted, the counting forward runs without it: on ``meta`` each BatchNorm call goes through
torch's Python decompositions and would be most of the counting time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Counts", "count", "count_unmemoized", "count_parameters"]


@dataclass(frozen=True)
class Counts:
    parameters: int  # learnable parameters
    state_numel: int  # every number a checkpoint of the model holds (parameters + saved buffers)
    state_tensors: int  # how many tensors that checkpoint holds
    macs: int  # multiply-accumulates for one image at ``image_size``
    image_size: int
    features: int = 0  # the classifier's input features


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


# Counts (a few ints) of every (variant, image size) `check` accepts fit: 4 variants x 31 sizes (64-1024 by 32)
MAX_BODIES = 256


@lru_cache(maxsize=8)  # one shapes-only model per variant: no storage, a few MB of modules
def _meta_body(variant: str):
    """A shapes-only model without a classifier (``num_classes=0``), BatchNorm removed after its state was
    sized, and (parameters, checkpoint numbers, checkpoint tensors, classifier input features)."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    from .models.tresnet import ConvUnit, build  # noqa: PLC0415 (imports torch)

    with torch.device("meta"):
        model = build(variant, num_classes=0).eval()
    state = model.state_dict()
    sizes = (count_parameters(model), sum(t.numel() for t in state.values()), len(state), model.head.in_features)
    for unit in model.modules():
        if isinstance(unit, ConvUnit):
            unit.bn = torch.nn.Identity()  # not counted by FlopCounterMode either way (see above)
    return model, sizes


@lru_cache(maxsize=MAX_BODIES)
def _body_counts(variant: str, image_size: int) -> Counts:
    """The counts of ``variant`` without its classifier at ``image_size``: one counting forward per call."""
    import torch  # noqa: PLC0415 (torch: seconds to import)
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415 (torch: seconds to import)

    model, (parameters, state_numel, state_tensors, features) = _meta_body(variant)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, image_size, image_size, device="meta"))
    return Counts(parameters, state_numel, state_tensors, counter.get_total_flops() // 2, image_size, features)


def count(variant: str, image_size: int, num_classes: int = 1000) -> Counts:
    """Parameters and MACs of a reference variant at ``image_size`` (square) with ``num_classes`` outputs.

    The body is built on ``meta`` once per variant and counted once per image size (bounded memos); the
    classifier, a Linear layer, is added by arithmetic: ``in*out + out`` parameters (weight and bias, two tensors),
    ``in*out`` MACs. So a 6000-entry index of distinct head sizes costs one model per variant and one
    count per (variant, image size). :func:`count_unmemoized` builds and counts a body every call.
    """
    return _with_head(_body_counts(variant, image_size), num_classes)


def count_unmemoized(variant: str, image_size: int, num_classes: int = 1000) -> Counts:
    """:func:`count` without the memo (the benchmark's baseline)."""
    _meta_body.cache_clear()
    return _with_head(_body_counts.__wrapped__(variant, image_size), num_classes)


def _with_head(body: Counts, num_classes: int) -> Counts:
    if num_classes <= 0:
        return body
    weights = body.features * num_classes
    return Counts(body.parameters + weights + num_classes, body.state_numel + weights + num_classes,
                  body.state_tensors + 2, body.macs + weights, body.image_size, body.features)
