"""File safety: regular files opened without following links or blocking on a FIFO, bounded reads,
streamed hashes; writing by temp file in the same folder, fsync, atomic rename, never through a read-only
target. Used by ``check --fix`` (the index), the weight cache, lock files, mirrors and the docs build.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "ensure_writable", "ReadOnlyTargetError", "open_regular", "read_regular", "hash_regular"]

CHUNK = 1 << 20


def open_regular(path: Path, flags: int = os.O_RDONLY) -> tuple[int, os.stat_result]:
    """A blocking descriptor on ``path`` (opened with ``flags``) and its fstat: never through a symbolic link
    (ELOOP), never blocked by a FIFO, a regular file only (EINVAL otherwise). OSError as ``os.open`` raises it."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int) -> bytes:
    """The regular file ``path`` whole, at most ``limit + 1`` bytes read (the caller refuses a longer one)."""
    fd, _ = open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit + 1)


def hash_regular(path: Path, update: Callable[[bytes], object] | None = None) -> tuple[int, str]:
    """(size, sha256) of the regular file ``path``, streamed; ``update`` also sees every block."""
    fd, _ = open_regular(path)
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            size += len(block)
            if update is not None:
                update(block)
    return size, digest.hexdigest()


class ReadOnlyTargetError(PermissionError):
    """The target (or its folder) forbids writing: an atomic replace would silently override that, or fail
    half-way. ``filename`` is the file or folder at fault, ``strerror`` says which."""


def _no_write_bits(mode: int) -> bool:
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def ensure_writable(path: Path) -> None:
    """Raise ``ReadOnlyTargetError`` unless ``atomic_write(path, ...)`` may replace ``path``.

    Refused: an existing target without any write bit (renaming over it would bypass the protection its
    owner asked for, even for root), and a folder the temp file cannot be created in (no write bit, or
    ``access`` says no). Called before anything is written, so that a multi-file write can refuse whole.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and _no_write_bits(st.st_mode):
        raise ReadOnlyTargetError(13, "the file is read-only", str(path))
    folder = path.parent
    try:
        fst = os.stat(folder)
    except OSError as exc:
        raise ReadOnlyTargetError(13, f"its folder cannot be read ({exc.strerror or exc})", str(folder)) from None
    if _no_write_bits(fst.st_mode) or not os.access(folder, os.W_OK | os.X_OK):
        raise ReadOnlyTargetError(13, "its folder is not writable", str(folder))


def atomic_write(path: Path, data: bytes | str, *, keep_mode: bool = True, refuse_read_only: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temp + fsync + rename).

    ``str`` data is written as UTF-8 exactly as given (no newline translation). An existing target keeps
    its permission bits; one without any write bit is refused (``ReadOnlyTargetError``), since renaming
    over it would bypass the protection its owner asked for. A new file follows the umask.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and refuse_read_only and _no_write_bits(st.st_mode):
        raise ReadOnlyTargetError(13, "the file is read-only", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if st is not None and keep_mode:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
