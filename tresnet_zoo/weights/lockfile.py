"""The lock file: the exact size and full sha256 of every weight file, pinned once (trust on first verified download).

The public weights carry only an 8-digit hash prefix in their names. ``tresnet-zoo lock`` hashes every file
of the index that is verified in the cache and writes ``<index stem>.lock`` next to the index file that
defines the entries (``tresnet.yml`` -> ``tresnet.lock``; not ``.json``, so that an index folder never
mistakes it for an index file). ``TRESNET_ZOO_LOCK`` names another lock file instead; the bundled registry's
folder is package data and is never written (``--output`` then, and ``TRESNET_ZOO_LOCK`` to use it).

From then on every fetch, verify and ``create_model(pretrained=True)`` holds each file to its lock line (an
``Expected`` with the full sha256 and size); a lock line that disagrees with the index is an error, never a
silent override; ``check`` reports entries without a lock line (``lock_verdict``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._fs import atomic_write, hash_regular, open_regular
from .._resources import registry_dir
from .._version import __version__
from ..errors import BundledRegistryError, IntegrityError, LockDisagreesError
from .hashes import Expected
from .sources import entry_sources

__all__ = [
    "format_document",
    "LOCK_ENV",
    "LOCK_SUFFIX",
    "LockLine",
    "Lock",
    "lock_path",
    "read_lock",
    "apply_lock",
    "write_lock",
    "lock_verdict",
    "LockReport",
]

LOCK_ENV = "TRESNET_ZOO_LOCK"
LOCK_SUFFIX = ".lock"
FORMAT = "tresnet-zoo-lock/1"
MAX_LOCK_BYTES = 4 << 20  # a lock of thousands of files is well under this; bounds what a hostile one costs
_SHA = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class LockLine:
    size: int
    sha256: str
    entries: tuple[str, ...] = ()


@dataclass
class Lock:
    path: Path
    files: dict[str, LockLine] = field(default_factory=dict)

    def to_json(self) -> str:
        files = {
            name: {"size": line.size, "sha256": line.sha256, "entries": sorted(line.entries)}
            for name, line in sorted(self.files.items())
        }
        return json.dumps({"format": FORMAT, "tresnet_zoo": __version__, "files": files}, indent=2) + "\n"


def lock_path(entry) -> Path | None:
    """The lock file that holds ``entry``: ``$TRESNET_ZOO_LOCK``, else next to the index file defining it."""
    if os.environ.get(LOCK_ENV):
        return Path(os.environ[LOCK_ENV]).expanduser()
    location = getattr(entry, "location", None)
    file = getattr(location, "file", None)
    if file is None:
        return None
    file = Path(file)
    return file.with_name(file.stem + LOCK_SUFFIX)


_CACHE: dict[Path, tuple[tuple[int, int], Lock]] = {}


def read_lock(path: Path | None) -> Lock | None:
    """The lock at ``path``, or None when there is no such file; a malformed lock is IntegrityError."""
    if path is None:
        return None
    try:
        fd, _ = open_regular(path)  # never a link; a FIFO must not block us; regular files only
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IntegrityError(
            f"lock file {path}: cannot be read ({exc.strerror or exc})", hint="it must be a regular file, not a link"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        key = (st.st_mtime_ns, st.st_size)
        if path in _CACHE and _CACHE[path][0] == key:
            return _CACHE[path][1]
        if st.st_size > MAX_LOCK_BYTES:
            raise IntegrityError(f"lock file {path}: {st.st_size} bytes, more than {MAX_LOCK_BYTES}")
        raw = handle.read(MAX_LOCK_BYTES + 1)
    lock = _parse(path, raw)
    _CACHE[path] = (key, lock)
    return lock


def format_document(raw: bytes, fmt: str, files_type: type, bad: Callable[[str], Exception], *,
                    what: str) -> dict:
    """A JSON document of ours (a lock file, a mirror manifest): UTF-8 JSON, an object whose ``format`` is
    ``fmt`` and whose ``files`` is a ``files_type``; anything else raises ``bad(why)``."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad(f"not valid JSON ({str(exc)[:160]})") from None
    if not isinstance(data, dict) or data.get("format") != fmt or not isinstance(data.get("files"), files_type):
        raise bad(f"not a {fmt} {what}")
    return data


def _parse(path: Path, raw: bytes) -> Lock:
    def bad(why: str) -> IntegrityError:
        return IntegrityError(
            f"lock file {path}: {why}",
            hint="restore it from version control, or delete it and run `tresnet-zoo lock` again",
        )

    data = format_document(raw, FORMAT, dict, bad, what="file")
    files: dict[str, LockLine] = {}
    for name, line in data["files"].items():
        size, sha = (line.get("size"), line.get("sha256")) if isinstance(line, dict) else (None, None)
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or not 0 <= size < 1 << 63  # a file size a file system can hold
            or not isinstance(sha, str)
            or not _SHA.match(sha)
        ):
            raise bad(f"the line for {name!r} needs a size (bytes) and a sha256 (64 lower-case hex)")
        entries = line.get("entries") if isinstance(line.get("entries"), list) else []
        files[str(name)] = LockLine(size, sha, tuple(str(e) for e in entries))
    return Lock(path, files)


def _disagreement(line: LockLine, expected: Expected) -> str | None:
    if expected.size is not None and line.size != expected.size:
        return f"it pins {line.size} bytes, the index's File Size is {expected.size}"
    problem = expected.hash_problem(line.sha256)
    return f"its sha256 {line.sha256[:16]}... disagrees with the index ({problem})" if problem else None


def apply_lock(entry, expected: Expected) -> Expected:
    """``expected`` held to the lock: its size and full sha256 when the lock has a line for the file."""
    path = lock_path(entry)
    lock = read_lock(path)
    line = lock.files.get(expected.filename) if lock else None
    if line is None:
        return expected
    why = _disagreement(line, expected)
    if why:
        raise LockDisagreesError(
            f"{expected.filename}: the lock file {path} disagrees with the index: {why}",
            hint="the index changed since the lock was written: check the change, then update the lock",
            path=str(path),
        )
    return replace(expected, size=line.size, sha256=line.sha256)


def lock_verdict(entry) -> tuple[str, str]:
    """(status, message) for ``check``: "skip" without a lock file, "wrong" for a missing or disagreeing line."""
    path = lock_path(entry)
    try:
        lock = read_lock(path)
    except IntegrityError as exc:
        return "wrong", exc.message
    if lock is None:
        return "skip", "no lock file (`tresnet-zoo lock` writes one)"
    specs = entry_sources(entry)
    if not specs:
        return "skip", "no weights to lock"
    primary = specs[0]
    line = lock.files.get(primary.filename)
    if line is None:
        return "wrong", f"{primary.filename} has no line in the lock {path.name} (fetch it, then `tresnet-zoo lock`)"
    why = _disagreement(line, primary.expected())
    if why:
        return "wrong", f"the lock {path.name} disagrees for {primary.filename}: {why}"
    return "ok", f"{line.size} bytes, sha256 {line.sha256[:12]}..."


@dataclass
class LockReport:
    written: list[Path] = field(default_factory=list)
    locked: list[tuple[str, str, int, str]] = field(default_factory=list)  # entry, file, size, sha256
    not_cached: list[tuple[str, str]] = field(default_factory=list)  # entry, file
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _bundled(path: Path) -> bool:
    try:
        path.resolve().relative_to(registry_dir().resolve())
        return True
    except (ValueError, FileNotFoundError):
        pass
    package = Path(__file__).resolve().parents[1]
    return path.resolve().is_relative_to(package)


def write_lock(entries, cache, *, output: Path | None = None, update: bool = False) -> LockReport:
    """Hash every cached file of ``entries`` now and pin it in its lock file (kept lines stay).

    A cached file that disagrees with the index or with its existing lock line is a problem, never
    written over (``update=True`` replaces lines that disagree with the index's current values).
    """
    report = LockReport()
    locks: dict[Path, Lock] = {}
    for entry in entries:
        path = Path(output) if output else lock_path(entry)
        if path is None:
            report.problems.append(f"{entry.name}: no index file to put a lock next to")
            continue
        if output is None and _bundled(path):
            raise BundledRegistryError(
                f"{path} is inside tresnet-zoo's bundled registry, which is never written", path=str(path),
                hint="write the lock to a file of your own and name it in TRESNET_ZOO_LOCK",
            )
        if path not in locks:
            locks[path] = read_lock(path) or Lock(path)
        lock = locks[path]
        specs = entry_sources(entry)
        if specs and not any(cache.cached_record(spec.filename) for spec in specs):
            report.not_cached.append((entry.name, specs[0].filename))
        for spec in specs:
            record = cache.cached_record(spec.filename)
            if record is None:
                continue
            try:  # "verified" means hashed now, in this operation; never through a link or into a FIFO
                size, digest = hash_regular(cache.path(spec.filename))
            except OSError as exc:
                report.problems.append(f"{entry.name}: {spec.filename} in the cache cannot be read as a regular "
                                       f"file ({exc.strerror or exc}); not locked")
                continue
            expected = spec.expected()
            problem = None
            if expected.size is not None and size != expected.size:
                problem = f"{size} bytes, the index's File Size is {expected.size}"
            problem = problem or expected.hash_problem(digest)
            if problem is None and digest != record.sha256:
                problem = "sha256 differs from the one recorded at download (changed in the cache)"
            old = lock.files.get(spec.filename)
            if problem is None and old is not None and (old.size, old.sha256) != (size, digest) and not update:
                problem = f"differs from its lock line ({old.size} bytes, sha256 {old.sha256[:16]}...)"
            if problem:
                report.problems.append(f"{entry.name}: {spec.filename} in the cache: {problem}; not locked")
                continue
            names = tuple(sorted(set((old.entries if old else ()) + (entry.name,))))
            lock.files[spec.filename] = LockLine(size, digest, names)
            report.locked.append((entry.name, spec.filename, size, digest))
    for path, lock in locks.items():
        if lock.files:
            atomic_write(path, lock.to_json())
            _CACHE.pop(path, None)
            report.written.append(path)
    return report
