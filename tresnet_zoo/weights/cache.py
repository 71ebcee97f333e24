"""The local weight cache: where files live, their verification records, partial downloads.

Layout of the cache folder (``$TRESNET_ZOO_CACHE``, else ``$XDG_CACHE_HOME/tresnet-zoo``, else
``~/.cache/tresnet-zoo``)::

    tresnet_m_80_8-dbc13962.pth                 a verified file, under its URL's base name (torch.hub habit)
    records/tresnet_m_80_8-dbc13962.pth.json    its record: size, full sha256, when it was verified
    tresnet_m_80_8-dbc13962.pth.<pid>@<host>.<id>.part
                                                a download in progress or interrupted (resumable); the
                                                writer's pid and host tell whether it is still alive
    locks/tresnet_m_80_8-dbc13962.pth.lock      the per-file lock that saves duplicate downloads
    validated/<sha256>                          index files that passed the schema (see validate.py)

A file appears under its final name only after it was completely written, flushed and verified
(os.replace of a temp file in the same folder). Its record is written first, so a file under its final
name always has one unless the cache was edited by hand; such a file counts as not cached.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .._fs import atomic_write
from .._urls import filename_problem

__all__ = ["CACHE_ENV", "default_cache_dir", "Record", "Cache", "partial_owner", "writer_alive", "this_host"]

CACHE_ENV = "TRESNET_ZOO_CACHE"
PART_SUFFIX = ".part"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tresnet-zoo"


@dataclass(frozen=True)
class Record:
    filename: str
    size: int
    sha256: str
    verified_at: float  # seconds since the epoch
    url: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


class Cache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    # --- paths ----------------------------------------------------------------------------------------
    def path(self, filename: str) -> Path:
        return self.root / _safe(filename)

    def record_path(self, filename: str) -> Path:
        return self.root / "records" / (_safe(filename) + ".json")

    def lock_path(self, filename: str) -> Path:
        return self.root / "locks" / (_safe(filename) + ".lock")

    def new_partial(self, filename: str) -> Path:
        """A fresh, uniquely named temp file next to the final one (same folder: rename is atomic).

        Its name carries this process's pid and host (see :func:`partial_owner`).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        owner = f"{os.getpid()}@{this_host()}."
        fd, name = tempfile.mkstemp(dir=self.root, prefix=_safe(filename) + "." + owner, suffix=PART_SUFFIX)
        os.close(fd)
        return Path(name)

    def partials(self, filename: str | None = None) -> list[Path]:
        if not self.root.is_dir():
            return []
        prefix = _safe(filename) + "." if filename else ""
        return sorted(p for p in self.root.iterdir() if p.name.endswith(PART_SUFFIX) and p.name.startswith(prefix))

    # --- records --------------------------------------------------------------------------------------
    def read_record(self, filename: str) -> Record | None:
        try:
            data = json.loads(self.record_path(filename).read_text(encoding="utf-8"))
            return Record(**data)
        except (OSError, ValueError, TypeError):
            return None

    def write_record(self, filename: str, *, size: int, sha256: str, url: str | None = None) -> Record:
        record = Record(filename=filename, size=size, sha256=sha256, verified_at=time.time(), url=url)
        target = self.record_path(filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, record.to_json(), refuse_read_only=False)
        return record

    def cached_record(self, filename: str) -> Record | None:
        """The record of a file under its final name whose size it matches (no hashing: see ``verify``)."""
        record = self.read_record(filename)
        try:
            return record if record is not None and self.path(filename).stat().st_size == record.size else None
        except OSError:
            return None

    def is_cached(self, filename: str) -> bool:
        return self.cached_record(filename) is not None

    # --- listing and pruning ----------------------------------------------------------------------------
    def files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_file() and not p.name.endswith(PART_SUFFIX) and not p.name.startswith("."))

    def remove(self, filename: str) -> list[Path]:
        """Remove a file, its record and its partials, except partials a running process writes."""
        removed = []
        for path in (self.path(filename), self.record_path(filename)):
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
        return removed + self.remove_partials(filename)[0]

    def remove_partials(self, filename: str | None = None) -> tuple[list[Path], list[Path]]:
        """Remove partial downloads; returns (removed, kept because a running process writes them)."""
        removed, busy = [], []
        for part in self.partials(filename):
            if writer_alive(part):
                busy.append(part)
                continue
            part.unlink(missing_ok=True)
            removed.append(part)
        return removed, busy


_OWNER = re.compile(r"\.(\d+)@([A-Za-z0-9.-]+)\.[^.]+" + re.escape(PART_SUFFIX) + "$")


def partial_owner(path: Path) -> tuple[int, str] | None:
    """The (pid, host) that created a partial download, or None for a name without them."""
    match = _OWNER.search(Path(path).name)
    return (int(match.group(1)), match.group(2)) if match else None


def writer_alive(path: Path) -> bool | None:
    """Whether the process that created this partial still runs: None where that cannot be told (another
    host, or a name without an owner). For this very process the answer is True; callers that know
    better (core.py knows which of its own partials are being written) ask that first."""
    owner = partial_owner(path)
    if owner is None or owner[1] != this_host():
        return None
    try:
        os.kill(owner[0], 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process (EPERM), or a platform that cannot tell: assume alive
    return True


def this_host() -> str:
    """This machine's name as it appears in partial file names."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "localhost"


def _safe(filename: str) -> str:
    """A cache file name: a URL's base name, never a path (the index schema already forbids '/')."""
    problem = filename_problem(filename)
    if problem:
        raise ValueError(problem)
    return filename
