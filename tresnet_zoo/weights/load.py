"""Loading cached weights: the bytes a model is loaded from are the bytes hashed, in this operation.

A cache hit is only a claim (a record, a size): the folder may be shared and the file changed since it
was verified, even at the same size. So every load reads the file once, without following links, into
memory while hashing it, compares size and sha256 with what the index expects (its ``SHA256``, the hash
prefix in the file name) and with the record of the download, and only then loads the model from those
same bytes; the file is never read a second time. Reading and hashing run in a worker thread while the
model is built (both release the GIL), and a model whose every tensor is about to be loaded is not
randomly initialised first: a verified load costs less than an unverified build + ``torch.load``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import CheckpointError, IntegrityError, UsageError
from ..models import build_entry, checkpoint_bytes_bound, entry_classes, load_entry_weights, variant_of
from ..models.formats import read_regular_file
from .hashes import Expected

__all__ = ["Hashed", "hash_file", "read_hashed", "hash_problem", "read_verified", "load_verified"]

_STREAM_CHUNK = 1 << 20


@dataclass(frozen=True)
class Hashed:
    """A file's size and sha256 as read in this operation, and (when kept) its bytes."""

    path: Path
    size: int
    sha256: str
    data: bytearray | None = field(default=None, repr=False, compare=False)


def read_hashed(path: Path, *, max_bytes: int | None = None) -> Hashed:
    """Read the regular file ``path`` (never a link) into memory once, hashing it while reading."""
    digest = hashlib.sha256()
    data = read_regular_file(Path(path), max_bytes=max_bytes, follow_links=False, update=digest.update)
    return Hashed(Path(path), len(data), digest.hexdigest(), data)


def hash_file(path: Path) -> Hashed:
    """Size and sha256 of the regular file ``path`` (never a link), streamed: nothing is kept."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except OSError as exc:
        what = "is a symbolic link" if os.path.islink(path) else f"cannot be read ({exc.strerror or exc})"
        raise CheckpointError(f"{path}: {what}; only regular files are checked") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        digest, size = hashlib.sha256(), 0
        buffer = bytearray(_STREAM_CHUNK)
        view = memoryview(buffer)
        while n := os.readv(fd, [buffer]):
            digest.update(view[:n])
            size += n
        return Hashed(path, size, digest.hexdigest())
    finally:
        os.close(fd)


def hash_problem(hashed: Hashed, expected: Expected | None, *, record_sha256: str | None = None) -> str | None:
    """Why the bytes just hashed are not the expected ones, or None: size and sha256 against the index,
    and the full sha256 against the record written when the file was verified."""
    if expected is not None:
        if expected.size is not None and hashed.size != expected.size:
            return f"size {hashed.size} bytes, the index's File Size is {expected.size} (truncated or replaced)"
        problem = expected.hash_problem(hashed.sha256)
        if problem:
            return problem
    if record_sha256 is not None and hashed.sha256 != record_sha256:
        return (f"sha256 {hashed.sha256[:16]}... differs from the one recorded when it was verified "
                f"({record_sha256[:16]}...): the file changed since")
    if (expected is None or not expected.has_hash) and record_sha256 is None:
        return "nothing to check its sha256 against (no SHA256 in the index, no hash in its name, no record)"
    return None


def read_verified(path: Path, expected: Expected | None, *, record_sha256: str | None = None,
                  max_bytes: int | None = None) -> Hashed:
    """The file's bytes, read once and hashed while reading; IntegrityError unless they are the expected ones."""
    hashed = read_hashed(path, max_bytes=max_bytes)
    problem = hash_problem(hashed, expected, record_sha256=record_sha256)
    if problem:
        raise IntegrityError(
            f"{Path(path).name}: {problem}; refused to load it",
            hint="the cached file is not the one verified at download: fetch it again with force, which replaces it",
        )
    return hashed


def load_verified(entry, path: Path, expected: Expected | None, *, record_sha256: str | None = None,
                  num_classes: int | None = None, hashed: Hashed | None = None):
    """``(model, Hashed)``: the entry's reference model loaded from ``path``'s bytes, hashed in this call.

    The one way cached weights become a model, for ``create_model(pretrained=True)`` and the deep check
    alike: ``models.build_entry`` then ``models.load_entry_weights`` on the verified bytes. The file
    is read and hashed in a worker thread while the model is built. ``hashed`` (with data) is bytes the
    caller has just read and hashed itself (``verify --deep``); they are checked, not read again.
    The returned ``Hashed`` holds no data (the bytes are released once loaded).
    """
    bound = checkpoint_bytes_bound(variant_of(entry), entry_classes(entry))
    # every tensor comes from the checkpoint (a strict load) unless the head is a fresh one: skip random init
    initialise = num_classes is not None and num_classes != entry_classes(entry)
    if hashed is None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tresnet-zoo-read") as pool:
            pending = pool.submit(read_verified, path, expected, record_sha256=record_sha256, max_bytes=bound)
            try:
                model = build_entry(entry, num_classes=num_classes, initialise=initialise)
            except BaseException:
                pending.cancel()  # leaving the pool waits for a read already running
                raise
            hashed = pending.result()  # raises the read's IntegrityError / CheckpointError
    else:
        problem = hash_problem(hashed, expected, record_sha256=record_sha256)
        if problem or hashed.data is None:
            raise IntegrityError(f"{Path(path).name}: {problem or 'no bytes were read'}; refused to load it")
        model = build_entry(entry, num_classes=num_classes, initialise=initialise)
    load_entry_weights(model, hashed.data, source=Path(path).name, num_classes=num_classes, max_bytes=bound)
    return model, replace(hashed, data=None)
