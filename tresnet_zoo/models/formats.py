"""Checkpoint containers, told apart by their first bytes and inspected before anything is allocated.

A checkpoint is untrusted until loaded: a 1 MB torch zip whose record is DEFLATE-compressed inflates to
a 1 GB tensor, a safetensors header can point past the end of the file. So the container is read as
data first, without torch, and refused unless every size it declares is bounded by the file it sits in
and by the architecture it is for:

- **torch zip** (``PK\\x03\\x04``, what ``torch.save`` writes since 1.6): every record must be stored
  (torch never compresses), lie within the file, and the tensor records (``<root>/data/<key>``) together
  hold at most ``max_bytes``, the pickle and other records at most ``MAX_ZIP_METADATA``; torch itself
  then checks each storage against its record's size.
- **legacy pickle** (``\\x80`` and a protocol byte, ``torch.save(..., _use_new_zipfile_serialization=False)``):
  the file itself is bounded by ``max_bytes``; ``torch.load(weights_only=True)`` reads it.
- **safetensors** (an 8-byte little-endian header length, then ``{``): the JSON header is bounded, every
  tensor's dtype is known, its offsets lie within the data and match its shape; then the ``safetensors``
  package loads it (no pickle at all). Hugging Face hosts timm's TResNet weights in this format.

Nothing here imports torch; ``load_safetensors`` imports the ``safetensors`` package when called.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import CheckpointError, MissingDependencyError, UsageError

__all__ = [
    "TORCH_ZIP",
    "LEGACY_PICKLE",
    "SAFETENSORS",
    "BytesView",
    "detect_format",
    "inspect",
    "inspect_zip",
    "inspect_safetensors",
    "load_safetensors",
    "read_regular_file",
    "READ_CHUNK",
]

TORCH_ZIP = "torch zip"
LEGACY_PICKLE = "legacy pickle"
SAFETENSORS = "safetensors"

READ_CHUNK = 4 << 20  # 4 MiB: large enough for few system calls, small enough to hash while in cache
MAX_ZIP_RECORDS = 100_000  # a TResNet checkpoint has ~760 tensors; each zip record is one storage
MAX_SAFETENSORS_HEADER = 16 << 20  # the safetensors library's own limit is 100 MB; ours needs ~100 KB
# The pickle and small records beside the tensors: a state dict's pickle takes ~130 bytes a tensor (~100 KB
# for TResNet-XL). Bounded separately, because unpickling amplifies: a few bytes build a Python object.
MAX_ZIP_METADATA = 16 << 20
SAFETENSORS_DTYPES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}


class BytesView(io.RawIOBase):
    """A read-only, seekable file over bytes already in memory, without copying them.

    ``io.BytesIO`` copies a ``bytearray`` it is given; torch's zip reader and ``zipfile`` only need
    ``readinto``/``read``/``seek``/``tell``, so the checkpoint is copied once, from this buffer into
    the tensors' storages, just as ``torch.load(path)`` copies from the page cache.
    """

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        target = memoryview(buffer).cast("B")
        n = max(0, min(len(target), len(self._view) - self._pos))
        target[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        out = self._view[self._pos:end].tobytes() if end > self._pos else b""
        self._pos += len(out)
        return out


def read_regular_file(
    path: Path,
    *,
    max_bytes: int | None = None,
    follow_links: bool = True,
    update: Callable[[memoryview], None] | None = None,
) -> bytearray:
    """The whole content of the regular file at ``path``, read once in chunks (each passed to ``update``).

    Opened first, then ``fstat``-ed, so the checks apply to the file actually read. With
    ``follow_links=False`` (files in the shared cache) a symbolic link is refused (``O_NOFOLLOW``).
    A file larger than ``max_bytes`` is refused before a byte is read; a file that changes size while it
    is read is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block us
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UsageError(f"checkpoint {path} does not exist") from None
    except OSError as exc:
        if not follow_links and os.path.islink(path):
            raise CheckpointError(f"{path}: is a symbolic link; tresnet-zoo only reads regular files here") from None
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file; a checkpoint must be one")
        size = info.st_size
        if max_bytes is not None and size > max_bytes:
            raise CheckpointError(
                f"{path.name}: {size} bytes, more than a checkpoint of this architecture can take "
                f"({max_bytes} bytes); refused unread",
                hint="save only the model's weights: torch.save(model.state_dict(), path)",
            )
        os.set_blocking(fd, True)
        data = bytearray(size)
        view = memoryview(data)
        done = 0
        while done < size:
            n = os.readv(fd, [view[done:done + READ_CHUNK]])
            if n == 0:
                break
            if update is not None:
                update(view[done:done + n])
            done += n
        if done != size or os.read(fd, 1):
            raise CheckpointError(f"{path}: changed size while being read ({size} bytes at open); refused")
        return data
    finally:
        os.close(fd)


def detect_format(data: bytes | bytearray | memoryview) -> str | None:
    """The container of checkpoint bytes, from their first bytes (never the file name), or None."""
    head = bytes(data[:9])
    if head[:4] == b"PK\x03\x04":
        return TORCH_ZIP
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return LEGACY_PICKLE
    if len(head) == 9 and head[8:9] == b"{":
        return SAFETENSORS
    return None


def inspect(data: bytes | bytearray | memoryview, *, source: str, max_bytes: int | None = None) -> str:
    """The format of ``data`` once it is shown safe to allocate (see the module text); else CheckpointError."""
    kind = detect_format(data)
    if kind is None:
        raise CheckpointError(
            f"{source}: not a checkpoint: neither a torch zip, a legacy torch pickle nor a safetensors file "
            f"(it starts with {bytes(data[:8])!r})",
            hint="the file may be damaged or not a checkpoint; fetch it again",
        )
    if max_bytes is not None and kind == LEGACY_PICKLE and len(data) > max_bytes:
        raise _too_large(source, len(data), max_bytes, "the file")
    if kind == TORCH_ZIP:
        inspect_zip(data, source=source, max_bytes=max_bytes)
    elif kind == SAFETENSORS:
        inspect_safetensors(data, source=source, max_bytes=max_bytes)
    return kind


def _too_large(source: str, declared: int, limit: int, what: str) -> CheckpointError:
    return CheckpointError(
        f"{source}: refused: {what} declares {declared} bytes of tensors, more than this architecture's "
        f"weights take ({limit} bytes)",
        hint="save only the model's weights, in float32: torch.save(model.state_dict(), path)",
    )


def inspect_zip(data: bytes | bytearray | memoryview, *, source: str, max_bytes: int | None = None) -> None:
    """Refuse a torch zip whose records could allocate more than the file holds or the model needs."""
    size = len(data)
    try:
        with zipfile.ZipFile(BytesView(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise CheckpointError(f"{source}: not a readable torch checkpoint (damaged zip: {exc})") from None
    if len(infos) > MAX_ZIP_RECORDS:
        raise CheckpointError(f"{source}: refused: {len(infos)} zip records (a checkpoint has one per tensor storage)")
    declared = tensors = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise CheckpointError(
                f"{source}: refused: zip record {info.filename!r} is compressed or encrypted "
                f"(method {info.compress_type}); "
                "torch writes records uncompressed, and a compressed one can inflate to far more than the file holds",
                hint="re-save the weights with torch.save(model.state_dict(), path)",
            )
        if info.file_size != info.compress_size or info.header_offset + info.file_size > size:
            raise CheckpointError(
                f"{source}: refused: zip record {info.filename!r} declares bytes beyond the end of the file")
        declared += info.file_size
        parts = info.filename.split("/")
        if len(parts) >= 3 and parts[-2] == "data":
            tensors += info.file_size
    if declared > size:
        raise CheckpointError(
            f"{source}: refused: its zip records declare {declared} bytes, more than the file's {size} bytes"
        )
    if max_bytes is not None and tensors > max_bytes:
        raise _too_large(source, tensors, max_bytes, "its zip")
    if declared - tensors > MAX_ZIP_METADATA:
        raise CheckpointError(
            f"{source}: refused: {declared - tensors} bytes of pickle and metadata beside the tensors "
            f"(a state dict needs well under {MAX_ZIP_METADATA >> 20} MiB)",
            hint="save only the model's weights: torch.save(model.state_dict(), path)",
        )


def inspect_safetensors(data: bytes | bytearray | memoryview, *, source: str, max_bytes: int | None = None) -> None:
    """Validate a safetensors header: bounded JSON, known dtypes, offsets within the data and matching shapes."""
    (length,) = struct.unpack("<Q", bytes(data[:8]))
    if length > min(MAX_SAFETENSORS_HEADER, len(data) - 8):
        raise CheckpointError(f"{source}: refused: safetensors header of {length} bytes (the file has {len(data)})")
    try:
        header = json.loads(bytes(data[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{source}: not a readable safetensors file (header: {exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: not a readable safetensors file (its header is not a JSON object)")
    available = len(data) - 8 - length
    total = 0
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        bad = _safetensors_problem(spec, available)
        if bad:
            raise CheckpointError(f"{source}: refused: safetensors tensor {name[:80]!r}: {bad}")
        begin, end = spec["data_offsets"]
        total += end - begin
    if max_bytes is not None and total > max_bytes:
        raise _too_large(source, total, max_bytes, "its safetensors header")


def _safetensors_problem(spec: object, available: int) -> str | None:
    if not isinstance(spec, dict):
        return "not a JSON object"
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES:
        return f"unknown dtype {str(dtype)[:20]!r}"
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 8:
        return "shape is not a list of at most 8 non-negative integers"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        return "data_offsets is not two integers"
    begin, end = offsets
    if not 0 <= begin <= end <= available:
        return f"data_offsets {offsets} lie outside the file's {available} data bytes"
    numel = 1
    for d in shape:
        numel *= d
    if numel * SAFETENSORS_DTYPES[dtype] != end - begin:
        return f"shape {shape} of {dtype} does not fill data_offsets {offsets}"
    return None


def load_safetensors(data: bytes | bytearray | memoryview, *, source: str) -> dict:
    """The tensors of a safetensors file already shown sound by ``inspect_safetensors``."""
    try:
        # deliberate lazy import: only safetensors checkpoints need the package (the torch extra has it)
        from safetensors.torch import load  # noqa: PLC0415 (heavy: only when a checkpoint is read)
    except ImportError:
        raise MissingDependencyError(
            f"{source} is a safetensors file, and the safetensors package is not installed",
            hint="pip install 'tresnet-zoo[torch]'",
        ) from None
    try:
        return load(data if isinstance(data, bytes) else bytes(data))
    except Exception as exc:  # safetensors raises SafetensorError on anything it finds wrong
        reason = f"{type(exc).__name__}: {str(exc)[:160]}"
        raise CheckpointError(f"{source}: not a readable safetensors file ({reason})") from None
