"""Writing files safely: temp file in the same folder, fsync, atomic rename; never through a read-only target.

Used by ``check --fix`` (the index), the weight cache (records) and the docs build.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "ReadOnlyTargetError"]


class ReadOnlyTargetError(PermissionError):
    """The target exists and its mode forbids writing: an atomic replace would silently override that."""


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
    if st is not None and refuse_read_only and not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
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
