"""Checking cached weight files: size and sha256 (quick), and the deep check (the file is a working model).

The deep check loads the state dict with ``torch.load(weights_only=True)`` into the reference model of
the entry's architecture (either checkpoint layout, strict keys and shapes), compares the parameter count
with the index's, and runs one forward pass on a fixed input: the logits must be finite, of shape
``[1, num_classes]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ZooError
from .cache import Cache
from .hashes import Expected, sha256_file

__all__ = ["FileCheck", "check_file", "deep_check"]


@dataclass
class FileCheck:
    name: str
    filename: str
    path: Path
    present: bool
    size: int | None = None
    sha256: str | None = None
    problems: list[str] = field(default_factory=list)
    deep: dict | None = None  # what the deep check found: layout, parameters, logits shape

    @property
    def ok(self) -> bool:
        return self.present and not self.problems

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "file": self.filename,
            "path": str(self.path),
            "present": self.present,
            "size": self.size,
            "sha256": self.sha256,
            "ok": self.ok,
            "problems": list(self.problems),
            "deep": self.deep,
        }


def check_file(entry, cache: Cache, expected: Expected, *, deep: bool = False) -> FileCheck:
    """Re-check a cached file against the index: size, full sha256, and optionally the deep check."""
    path = cache.path(expected.filename)
    result = FileCheck(entry.name, expected.filename, path, present=path.is_file())
    if not result.present:
        result.problems.append("not in the cache")
        return result
    result.size = path.stat().st_size
    if expected.size is not None and result.size != expected.size:
        result.problems.append(f"size {result.size} bytes, the index's File Size is {expected.size} (truncated or replaced)")
    result.sha256 = sha256_file(path)
    problem = expected.hash_problem(result.sha256)
    if problem:
        result.problems.append(problem)
    record = cache.read_record(expected.filename)
    if record is None:
        result.problems.append("no verification record (the file was not put there by tresnet-zoo)")
    elif record.sha256 != result.sha256 and not problem:
        result.problems.append(f"sha256 differs from the one recorded at download ({record.sha256[:16]}...)")
    if deep and not result.problems:
        try:
            result.deep = deep_check(entry, path)
        except ZooError as exc:
            result.problems.append(exc.message)
    return result


def deep_check(entry, path: Path) -> dict:
    """Load ``path`` into the entry's reference model and run it; raises ZooError on any failure."""
    import torch

    from ..errors import CheckpointError
    from ..measure import count_parameters
    from ..models import IMAGENET_CLASSES, variant_of
    from ..models.layouts import load_into, read_checkpoint
    from ..models.tresnet import build

    state = read_checkpoint(path)
    model = build(variant_of(entry), num_classes=IMAGENET_CLASSES).eval()
    layout = load_into(model, state, source=path.name)
    parameters = count_parameters(model)
    if entry.metadata.parameters is not None and parameters != entry.metadata.parameters:
        raise CheckpointError(f"{path.name}: loads, but the model has {parameters} parameters and the index says {entry.metadata.parameters}")
    size = entry.metadata.image_size or 224
    # a fixed, deterministic input: a smooth gradient image in [0, 1]
    ramp = torch.linspace(0, 1, size)
    image = torch.stack([ramp[None, :].expand(size, size), ramp[:, None].expand(size, size), torch.full((size, size), 0.5)])
    with torch.inference_mode():
        logits = model(image[None])
    if tuple(logits.shape) != (1, IMAGENET_CLASSES):
        raise CheckpointError(f"{path.name}: logits of shape {list(logits.shape)}, expected [1, {IMAGENET_CLASSES}]")
    if not torch.isfinite(logits).all():
        raise CheckpointError(f"{path.name}: the forward pass gives non-finite logits (NaN or inf weights?)")
    return {"layout": layout, "parameters": parameters, "logits_shape": list(logits.shape), "top_class": int(logits.argmax()),
            "max_abs_logit": round(float(logits.abs().max()), 4)}
