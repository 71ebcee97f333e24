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


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


@lru_cache(maxsize=None)
def _meta_model(variant: str, num_classes: int):
    """A shapes-only model for counting, and its parameter and checkpoint sizes (BatchNorm removed
    after those were taken)."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    from .models.tresnet import ConvUnit, build  # noqa: PLC0415 (imports torch)

    with torch.device("meta"):
        model = build(variant, num_classes=num_classes).eval()
    state = model.state_dict()
    sizes = (count_parameters(model), sum(t.numel() for t in state.values()), len(state))
    for unit in model.modules():
        if isinstance(unit, ConvUnit):
            unit.bn = torch.nn.Identity()  # not counted by FlopCounterMode either way (see above)
    return model, sizes


@lru_cache(maxsize=None)
def count(variant: str, image_size: int, num_classes: int = 1000) -> Counts:
    """Parameters and MACs of a reference variant at ``image_size`` (square), counted on ``meta``.

    Memoized by the architecture configuration (variant, image size, classes): `check` asks once per
    entry, and a large index holds many entries of few configurations (a 6000-entry index over the ten
    public weights counts ten times). :func:`count_unmemoized` is the same count without the memo.
    """
    return _count(variant, image_size, num_classes, _meta_model(variant, num_classes))


def count_unmemoized(variant: str, image_size: int, num_classes: int = 1000) -> Counts:
    """:func:`count`, building and counting a fresh model every call (the benchmark's baseline)."""
    return _count(variant, image_size, num_classes, _meta_model.__wrapped__(variant, num_classes))


def _count(variant: str, image_size: int, num_classes: int, built) -> Counts:
    import torch  # noqa: PLC0415 (torch: seconds to import)
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415 (torch: seconds to import)

    model, (parameters, state_numel, state_tensors) = built
    x = torch.empty(1, 3, image_size, image_size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return Counts(
        parameters=parameters,
        state_numel=state_numel,
        state_tensors=state_tensors,
        macs=counter.get_total_flops() // 2,
        image_size=image_size,
    )
