"""Checking cached weight files: size and sha256 of the bytes read now (quick), and the deep check.

Nothing here trusts a record or a size alone: every check reads the file (never through a link) and
hashes what it read, in this call. The deep check loads those same bytes (``load.load_verified``: the
one way weights become a model, as in ``create_model(pretrained=True)``) into the reference model of the
entry's architecture (any format, either layout, strict keys and shapes), compares the parameter count
with the index's, and runs one forward pass on a fixed input at the index's ``Image Size`` (bounded:
a multiple of 32 in 64-1024, as ``check`` requires): the logits must be finite, of shape
``[1, num_classes]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError, InvalidIndexError, ZooError
from ..index import Problem
from ..measure import count_parameters
from ..models import checkpoint_bytes_bound, entry_classes, variant_of
from .cache import Cache
from .hashes import Expected
from .load import Hashed, hash_file, hash_problem, load_verified, read_hashed
from .pins import expected_for, pinned
from .sources import cached_record

__all__ = ["FileCheck", "cached_expected", "check_entry", "check_file", "deep_check", "deep_image_size",
           "MIN_IMAGE_SIZE", "MAX_IMAGE_SIZE"]

# The forward pass's input side: TResNet divides its input by 32; 1024 px costs TResNet-XL ~3 GB.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 64, 1024


@dataclass
class FileCheck:
    name: str
    filename: str
    path: Path
    present: bool
    size: int | None = None
    sha256: str | None = None  # of the bytes read in this check
    problems: list[str] = field(default_factory=list)
    deep: dict | None = None  # what the deep check found: layout, parameters, logits shape
    hashed: bool = False  # whether the file's bytes were hashed in this check

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
            "hashed": self.hashed,
            "ok": self.ok,
            "problems": list(self.problems),
            "deep": self.deep,
        }


def cached_expected(entry, cache: Cache) -> Expected | None:
    """What the entry's file in the cache is held to, with the lock file applied: the source whose file
    ``fetch`` and ``create_model`` would load (the first with a record of ours matching it, as
    ``fetch.fetch_entry`` picks it), else the first of its sources (``Weights``, then the fallbacks)
    whose file name is taken in the cache, by a regular file or anything planted there. None when none is.
    A name a neighbour planted under the primary's file name does not hide the fallback file that loads."""
    planned = pinned(entry)
    for expected in planned:
        if cached_record(cache, expected):
            return expected
    for expected in planned:
        path = cache.path(expected.filename)
        if cache.final_stat(expected.filename) is not None or path.is_symlink() or path.exists():
            return expected
    return None


def check_entry(entry, cache: Cache, *, deep: bool = False) -> FileCheck:
    """Re-check the file the entry would load from the cache (a fallback source's file when that is the
    one there); an entry with nothing cached is checked against its first source's file ("not in the
    cache"), which is its ``Weights`` or, for an entry with sources only, the first of those."""
    expected = cached_expected(entry, cache) or (pinned(entry) or [expected_for(entry)])[0]
    return check_file(entry, cache, expected, deep=deep)


def check_file(entry, cache: Cache, expected: Expected, *, deep: bool = False) -> FileCheck:
    """Re-check a cached file against the index and its record: size and full sha256 of the bytes read
    now, and optionally the deep check on those same bytes (the file is read once either way)."""
    path = cache.path(expected.filename)
    result = FileCheck(entry.name, expected.filename, path, present=os.path.lexists(path))
    if not result.present:
        result.problems.append("not in the cache")
        return result
    try:
        if deep:
            deep_image_size(entry)  # refuse before reading hundreds of MB

            hashed = read_hashed(path, max_bytes=checkpoint_bytes_bound(variant_of(entry), entry_classes(entry)))
        else:
            hashed = hash_file(path)
    except ZooError as exc:
        prefix = f"{path}: "  # the check names its path already
        result.problems.append(exc.message[len(prefix):] if exc.message.startswith(prefix) else exc.message)
        return result
    result.size, result.sha256, result.hashed = hashed.size, hashed.sha256, True
    record = cache.read_record(expected.filename)
    problem = hash_problem(hashed, expected, record_sha256=record.sha256 if record else None)
    if problem:
        result.problems.append(problem)
    elif not expected.has_hash:  # fetch and create_model refuse it: a record alone (anyone can write one) is not enough
        result.problems.append("the index gives no sha256 to check it against (no SHA256, no '-<hex>' in its name); "
                               "add the file's sha256 to the index")
    if record is None:
        result.problems.append("no verification record (the file was not put there by tresnet-zoo)")
    if deep and not result.problems:
        try:
            result.deep = deep_check(entry, path, expected, hashed=hashed)
        except ZooError as exc:
            result.problems.append(exc.message)
    return result


def deep_image_size(entry) -> int:
    """The side of the deep check's input: the index's Image Size (224 if absent), bounded."""
    size = entry.metadata.image_size or 224
    if not (isinstance(size, int) and MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE and size % 32 == 0):
        where = entry.where("Metadata", "Image Size")
        raise InvalidIndexError([Problem(
            where, f"{size} is not a multiple of 32 in {MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE}; the deep check's forward "
            "pass refuses to run at it", entry=entry.name, field=("Metadata", "Image Size"))])
    return size


def deep_check(entry, path: Path, expected: Expected | None = None, *, record_sha256: str | None = None,
               hashed: Hashed | None = None) -> dict:
    """Read ``path`` once, hash it, load those bytes into the entry's reference model and run it.

    ``expected`` defaults to what the index says of the entry's file; ``record_sha256`` is the sha256
    recorded at download (the bytes must still match it). Raises ZooError on any failure; returns what
    was found, including the ``sha256`` of the bytes hashed here (``hashed: True``).
    """
    import torch  # noqa: PLC0415 (torch: seconds to import)

    size = deep_image_size(entry)
    expected = expected if expected is not None else expected_for(entry)
    model, read = load_verified(entry, path, expected, record_sha256=record_sha256, hashed=hashed)
    model.eval()
    parameters = count_parameters(model)
    if entry.metadata.parameters is not None and parameters != entry.metadata.parameters:
        raise CheckpointError(f"{path.name}: loads, but the model has {parameters} parameters and the index says "
                              f"{entry.metadata.parameters}")
    classes = entry_classes(entry)
    # a fixed, deterministic input: a smooth gradient image in [0, 1]
    ramp = torch.linspace(0, 1, size)
    image = torch.stack([ramp[None, :].expand(size, size), ramp[:, None].expand(size, size),
                         torch.full((size, size), 0.5)])
    with torch.inference_mode():
        logits = model(image[None])
    if tuple(logits.shape) != (1, classes):
        raise CheckpointError(f"{path.name}: logits of shape {list(logits.shape)}, expected [1, {classes}]")
    if not torch.isfinite(logits).all():
        raise CheckpointError(f"{path.name}: the forward pass gives non-finite logits (NaN or inf weights?)")
    return {"layout": model.layout, "parameters": parameters, "logits_shape": list(logits.shape),
            "top_class": int(logits.argmax()), "max_abs_logit": round(float(logits.abs().max()), 4),
            "size": read.size, "sha256": read.sha256, "hashed": True}
