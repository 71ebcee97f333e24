"""The local weight cache: where files live, their verification records, what is ours and what is not.

Layout of the cache folder (``$TRESNET_ZOO_CACHE``, else ``$XDG_CACHE_HOME/tresnet-zoo``, else
``~/.cache/tresnet-zoo``)::

    tresnet_m_80_8-dbc13962.pth                 a verified file, under its URL's base name (torch.hub habit)
    records/tresnet_m_80_8-dbc13962.pth.json    its record: size, full sha256, when it was verified
    tresnet_m_80_8-dbc13962.pth.<pid>@<host>.<id>.part
                                                a download in progress or interrupted (``partials.py``)
    locks/tresnet_m_80_8-dbc13962.pth.lock      the per-file lock that saves duplicate downloads
    validated/<sha256>                          index files that passed the schema (see index/validate.py)

The folder may be shared (NFS, a cluster), so it is untrusted: files are read without following links
(``O_NOFOLLOW``), a final name that is not a regular file counts as not cached, records are parsed strictly
(anything unexpected is foreign), and :func:`clear` removes only names tresnet-zoo itself creates. New
files follow the umask so that the users sharing the cache can read them.

A file appears under its final name only after it was completely written, flushed and verified. Its record
is written first, so a file under its final name always has one unless the cache was edited by hand; such
a file counts as not cached.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .._fs import atomic_write, read_regular
from .._urls import filename_problem, redact
from ..errors import CacheFolderError
from . import partials as _partials

__all__ = [
    "CACHE_ENV",
    "Cache",
    "CachedFile",
    "ClearResult",
    "Foreign",
    "Inventory",
    "PartialState",
    "Record",
    "clear",
    "default_cache_dir",
    "inventory",
    "parse_record",
]

CACHE_ENV = "TRESNET_ZOO_CACHE"
RECORD_MAX_BYTES = 64 << 10  # a record is ~300 bytes; a bigger one is not ours
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


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
    url: str | None = None  # redacted: never a password

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def parse_record(text: str | bytes, filename: str) -> Record | None:
    """A record we wrote for ``filename``, or None for anything else (garbage, wrong types, other keys)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or set(data) - {"filename", "size", "sha256", "verified_at", "url"}:
        return None
    size, sha, when, url = data.get("size"), data.get("sha256"), data.get("verified_at"), data.get("url")
    if data.get("filename") != filename:
        return None
    if type(size) is not int or size < 0 or not isinstance(sha, str) or not _HEX64.match(sha):
        return None
    if type(when) not in (int, float):
        return None
    try:  # a 400-digit integer is valid JSON and too large for a float: not a record we wrote
        when = float(when)
    except OverflowError:
        return None
    if not math.isfinite(when):
        return None
    if url is not None and not isinstance(url, str):
        return None
    return Record(filename, size, sha, float(when), url)


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

    def partials(self, filename: str | None = None) -> list[Path]:
        """Our partial downloads (by name; see ``partials.py`` for what is trusted)."""
        return [path for path, _ in _partials.list_partials(self.root, _safe(filename) if filename else None)[0]]

    # --- records --------------------------------------------------------------------------------------
    def read_record(self, filename: str) -> Record | None:
        try:
            data = read_regular(self.record_path(filename), RECORD_MAX_BYTES)
        except OSError:
            return None
        return None if len(data) > RECORD_MAX_BYTES else parse_record(data, filename)

    def write_record(self, filename: str, *, size: int, sha256: str, url: str | None = None) -> Record:
        record = Record(filename=filename, size=size, sha256=sha256, verified_at=time.time(),
                        url=redact(url) if url else None)
        target = self.record_path(filename)
        _mkdir(target.parent)
        if os.path.islink(target):  # atomic_write would keep a link's target mode; a planted link is replaced
            os.unlink(target)
        atomic_write(target, record.to_json(), keep_mode=False, refuse_read_only=False)
        return record

    def final_stat(self, filename: str) -> os.stat_result | None:
        """``lstat`` of the final name when it is a regular file (a planted link, FIFO or folder: None)."""
        try:
            st = os.lstat(self.path(filename))
        except OSError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def cached_record(self, filename: str) -> Record | None:
        """The record of a regular file under its final name whose size it matches (no hashing: see ``verify``)."""
        record = self.read_record(filename)
        st = self.final_stat(filename) if record is not None else None
        return record if st is not None and st.st_size == record.size else None

    def is_cached(self, filename: str) -> bool:
        return self.cached_record(filename) is not None

    def cached_lookup(self) -> Callable[[str], bool]:
        """``is_cached`` for many names (``list`` of a large index): the folder is listed once, and only a
        name found there has its record read, once."""
        present = set(_listdir(self.root, root=True))
        return lru_cache(maxsize=None)(lambda filename: filename in present and self.is_cached(filename))

    # --- listing and pruning ----------------------------------------------------------------------------
    def files(self) -> list[Path]:
        """Regular files in the cache folder under a strict file name (no partials, no dot files)."""
        out = []
        for name in _listdir(self.root, root=True):
            if name.endswith(_partials.PART_SUFFIX) or filename_problem(name):
                continue
            try:
                if stat.S_ISREG(os.lstat(self.root / name).st_mode):
                    out.append(self.root / name)
            except OSError:
                continue
        return out

    def remove(self, filename: str) -> list[Path]:
        """Remove a file we wrote (it has our record), its record and its idle partials."""
        return clear(self, filenames=[filename]).removed


# --- inventory and clear -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedFile:
    file: str
    size: int
    verified: bool  # a record of ours whose size matches (not hashed now: `verify` does that)
    sha256: str | None
    entry: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PartialState:
    file: str
    size: int
    writer_alive: bool | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Foreign:
    path: str  # relative to the cache root
    why: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Inventory:
    root: Path
    files: list[CachedFile] = field(default_factory=list)
    partials: list[PartialState] = field(default_factory=list)
    foreign: list[Foreign] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files) + sum(p.size for p in self.partials)

    def to_dict(self) -> dict:
        return {"root": str(self.root), "files": [f.to_dict() for f in self.files],
                "partials": [p.to_dict() for p in self.partials],
                "foreign": [f.to_dict() for f in self.foreign], "total_bytes": self.total_bytes}


def inventory(cache: Cache, names: dict[str, str] | None = None) -> Inventory:
    """What the cache holds: verified files, files without a record of ours, partials, foreign names.

    ``names`` maps cache file names to entry names (from the index) for the report. Nothing is opened
    but records (without following links); nothing is hashed.
    """
    names = names or {}
    _check_root(cache.root)
    inv = Inventory(cache.root)
    for name in _listdir(cache.root, root=True):
        path = cache.root / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if name.endswith(_partials.PART_SUFFIX):
            parsed = _partials.parse_name(name)
            if parsed is None or not stat.S_ISREG(st.st_mode):
                inv.foreign.append(Foreign(name, "not a partial name of ours" if parsed is None
                                           else "not a regular file"))
                continue
            inv.partials.append(PartialState(name, st.st_size, _partials.writer_alive(parsed)))
        elif name in _SUBFOLDERS:
            if not stat.S_ISDIR(st.st_mode):
                inv.foreign.append(Foreign(name, "not a folder"))
        elif filename_problem(name) or not stat.S_ISREG(st.st_mode):
            inv.foreign.append(Foreign(name, "not a cache file name" if filename_problem(name)
                                       else "not a regular file"))
        else:
            record = cache.read_record(name)
            verified = record is not None and record.size == st.st_size
            inv.files.append(CachedFile(name, st.st_size, verified, record.sha256 if verified else None,
                                        names.get(name)))
    for sub, why in _sub_entries(cache):
        inv.foreign.append(Foreign(sub, why))
    return inv


@dataclass
class ClearResult:
    removed: list[Path] = field(default_factory=list)
    busy: list[Path] = field(default_factory=list)  # partials a running download is writing
    left: list[Foreign] = field(default_factory=list)  # not ours (or not removable): left in place

    def to_dict(self) -> dict:
        return {"removed": [str(p) for p in self.removed], "busy": [str(p) for p in self.busy],
                "left": [f.to_dict() for f in self.left]}


_SUBFOLDERS = ("records", "locks", "validated")


def clear(cache: Cache, filenames: list[str] | None = None, *, partials_only: bool = False,
          known: set[str] | None = None) -> ClearResult:
    """Remove what tresnet-zoo put in the cache and nothing else.

    Ours: a weight file with a record of ours (or named in ``known``, the index's file names), its record,
    its lock, idle partials under our names, ``validated/`` markers with our hex names. Only regular files
    owned by us are unlinked (never a folder, never what a link points to); everything else is listed in
    ``left``. With ``filenames``, only those files' names; with ``partials_only``, only idle partials.
    """
    _check_root(cache.root)
    result = ClearResult()
    own_uid = os.geteuid() if hasattr(os, "geteuid") else None
    only = {_safe(f) for f in filenames} if filenames is not None else None

    def unlink(path: Path, rel: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or (own_uid is not None and st.st_uid != own_uid):
            result.left.append(Foreign(rel, "not a regular one-link file of ours"))
            return
        try:
            os.unlink(path)
            result.removed.append(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            result.left.append(Foreign(rel, f"cannot remove: {exc.strerror or exc}"))

    # partials
    ours, foreign = _partials.list_partials(cache.root)
    for path, parsed in ours:
        if only is not None and parsed.filename not in only:
            continue
        if _partials.busy(path, parsed):
            result.busy.append(path)
            continue
        unlink(path, path.name)
    if only is None:
        result.left += [Foreign(p.name, "not a partial name of ours") for p in foreign]
    if partials_only:
        return result

    # weight files, records, locks
    for name in _listdir(cache.root, root=True):
        if name.endswith(_partials.PART_SUFFIX) or name in _SUBFOLDERS or (only is not None and name not in only):
            continue
        if filename_problem(name):
            result.left.append(Foreign(name, "not a cache file name"))
            continue
        if cache.read_record(name) is None and name not in (known or ()):
            result.left.append(Foreign(name, "no record of ours"))
            continue
        unlink(cache.root / name, name)
    for sub in ("records", "locks"):
        folder = cache.root / sub
        if not _is_real_dir(folder):
            continue
        suffix = ".json" if sub == "records" else ".lock"
        for name in _listdir(folder):
            base = name[: -len(suffix)] if name.endswith(suffix) else None
            if base is None or filename_problem(base):
                result.left.append(Foreign(f"{sub}/{name}", "not a name of ours"))
                continue
            if only is not None and base not in only:
                continue
            if sub == "records" and cache.read_record(base) is None:
                result.left.append(Foreign(f"{sub}/{name}", "not a record of ours"))
                continue
            if sub == "records" and _is_regular(cache.root / base) and cache.root / base not in result.removed:
                continue  # the weight file stays (not ours to remove, or left above): keep its record
            unlink(folder / name, f"{sub}/{name}")
    if only is None and _is_real_dir(cache.root / "validated"):
        for name in _listdir(cache.root / "validated"):
            if _HEX64.match(name):
                unlink(cache.root / "validated" / name, f"validated/{name}")
            else:
                result.left.append(Foreign(f"validated/{name}", "not a name of ours"))
    return result


def _check_root(root: Path) -> None:
    """CacheError when the cache folder's name holds something other than a folder (a file, a FIFO, a link
    loop, a dangling link): an inventory or a clear of it would report an empty cache, or crash. No folder
    at all is an empty cache. The root may be a link the user made, so it is followed here."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        if not os.path.islink(root):
            return
        what = "a symbolic link to nothing"
    except OSError as exc:
        what = "a symbolic link loop" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror or exc})"
    else:
        if stat.S_ISDIR(st.st_mode):
            return
        what = "a file" if stat.S_ISREG(st.st_mode) else "a special file"
    raise CacheFolderError(f"the cache {root} is not a folder: {what}",
                           hint="remove what is in the way, or use another cache folder", path=str(root))


def _sub_entries(cache: Cache) -> list[tuple[str, str]]:
    """Foreign names inside our subfolders (for the inventory)."""
    out = []
    for sub, suffix in (("records", ".json"), ("locks", ".lock"), ("validated", "")):
        folder = cache.root / sub
        if not _is_real_dir(folder):
            continue
        for name in _listdir(folder):
            if sub == "validated":
                ok = bool(_HEX64.match(name))
            else:
                base = name[: -len(suffix)] if name.endswith(suffix) else None
                ok = base is not None and not filename_problem(base)
                if ok and sub == "records" and cache.read_record(base) is None:
                    out.append((f"{sub}/{name}", "not a record of ours (unreadable or unexpected content)"))
                    continue
            if not ok:
                out.append((f"{sub}/{name}", "not a name of ours"))
    return out


def _listdir(folder: Path, *, root: bool = False) -> list[str]:
    """The names in ``folder``: a real folder (our subfolders), or for the cache ``root`` also a link to one
    that the user made (as ``_mkdir(allow_link=True)`` and ``_check_root`` accept it)."""
    try:
        if not (_is_real_dir(folder) or (root and folder.is_dir())):
            return []
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _mkdir(path: Path, *, allow_link: bool = False) -> None:
    """Create a cache folder (following the umask). Our subfolders must be real folders: a planted link
    would send records and locks somewhere else. The root may be a link the user made."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path)) from None
    if not _is_real_dir(path) and not (allow_link and path.is_dir()):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))


def lock_usable(path: Path) -> bool:
    """Whether the lock file may be opened: absent, or a regular one-link file. filelock opens with
    O_TRUNC and follows links, so a planted link would truncate what it points to."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


def _safe(filename: str) -> str:
    """A cache file name: a URL's base name, never a path (the index schema already forbids '/')."""
    problem = filename_problem(filename)
    if problem:
        raise ValueError(problem)
    return filename

