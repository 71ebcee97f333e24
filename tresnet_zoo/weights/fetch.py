"""Fetching an index entry's weights into the cache: lock, resume, download, verify, rename.

The cache stays correct even where file locks silently do nothing (NFS, Lustre): every download writes
its own uniquely named temp file, and only a file whose size and sha256 match the index is renamed into
place (``os.replace``, atomic within the folder). The per-file lock only saves bandwidth: N processes
fetching one file download it once, the others wait, then verify what the first one wrote. A lock held
by a dead process is released by the operating system; a lock that is not released within
``lock_timeout`` is given up on (we download anyway, safely).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import CacheError, DownloadError, IntegrityError, OfflineError, UsageError
from .cache import Cache, partial_owner, this_host, writer_alive
from .download import DownloadConfig, download
from .._urls import hub_parts
from .hashes import Expected, sha256_file

__all__ = ["FetchOptions", "FetchResult", "expected_for", "source_url", "fetch_entry", "MIRROR_ENV", "OFFLINE_ENV"]

MIRROR_ENV = "TRESNET_ZOO_MIRROR"
OFFLINE_ENV = "TRESNET_ZOO_OFFLINE"


@dataclass
class FetchOptions:
    cache: Cache = field(default_factory=Cache)
    mirror: str | None = None
    offline: bool = False
    force: bool = False
    config: DownloadConfig = field(default_factory=DownloadConfig)
    lock_timeout: float = 900.0
    progress: Callable[[str, int, int | None], None] | None = None  # (file name, done, total)

    @classmethod
    def from_env(cls, **overrides) -> "FetchOptions":
        mirror = overrides.pop("mirror", None) or os.environ.get(MIRROR_ENV) or None
        offline = overrides.pop("offline", None)
        if offline is None:
            offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
        return cls(mirror=mirror, offline=offline, **overrides)


@dataclass
class FetchResult:
    name: str
    filename: str
    path: Path
    size: int
    sha256: str
    source: str  # the URL the bytes came from, or "cache"
    downloaded: bool
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "file": self.filename,
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "source": self.source,
            "downloaded": self.downloaded,
        }


def expected_for(entry) -> Expected:
    filename = entry.weights_filename
    if not filename:
        raise UsageError(f"{entry.name} has no weights URL in the index", hint=f"see `tresnet-zoo info {entry.name}`")
    parts = hub_parts(filename)
    from .lockfile import apply_lock  # the lock file's full sha256 and size, where it has a line (issue 12)

    return apply_lock(entry, Expected(filename=filename, size=entry.metadata.file_size, sha256_prefix=parts[1] if parts else None,
                                      sha256=entry.metadata.sha256))


def source_url(entry, mirror: str | None) -> str:
    """The URL to download from: the index's, or the same file name under a mirror."""
    if not mirror:
        return entry.weights
    if "://" not in mirror:  # a plain folder path
        mirror = Path(mirror).resolve().as_uri()
    return mirror.rstrip("/") + "/" + entry.weights_filename


def fetch_entry(entry, options: FetchOptions) -> FetchResult:
    """The verified cached file of ``entry``, downloading it if needed: its sources in order (``sources.py``)."""
    from .sources import fetch_sources

    return fetch_sources(entry, options, _fetch_source)


def _fetch_source(entry, options: FetchOptions) -> FetchResult:
    """The verified cached file of one source of an entry (``entry`` stands for that source)."""
    try:
        return _fetch_entry(entry, options)
    except OSError as exc:  # the cache folder: not a folder, no permission, disk full
        raise CacheError(
            f"{entry.weights_filename}: cannot write to the cache {options.cache.root}: {exc.strerror or exc}",
            hint="free some space, or choose another folder with --cache-dir or TRESNET_ZOO_CACHE",
        ) from None


def _fetch_entry(entry, options: FetchOptions) -> FetchResult:
    started = time.monotonic()
    expected = expected_for(entry)
    if not expected.has_hash:
        raise IntegrityError(
            f"{entry.name}: {expected.filename} has no hash to check against (no '-<hex>' in the name, no SHA256 in the index)",
            hint="add the file's sha256 as Metadata > SHA256 in the index",
        )
    cache = options.cache
    name = expected.filename
    if not options.force:
        hit = _cached(cache, expected)
        if hit is not None:
            return FetchResult(entry.name, name, cache.path(name), hit.size, hit.sha256, "cache", False)
    if options.offline:
        raise OfflineError(
            f"{name} ({entry.name}) is not in the cache {cache.root}, and offline mode forbids downloading",
            hint=f"fetch it where the network is reachable, or use --mirror DIR holding {name}",
        )
    url = source_url(entry, options.mirror)
    cache.root.mkdir(parents=True, exist_ok=True)
    (cache.root / "records").mkdir(exist_ok=True)
    cache.lock_path(name).parent.mkdir(exist_ok=True)

    from filelock import FileLock, Timeout

    lock = FileLock(str(cache.lock_path(name)))
    locked = True
    try:
        lock.acquire(timeout=options.lock_timeout)
    except Timeout:
        locked = False
        sys.stderr.write(f"warning: {name}: lock not released after {options.lock_timeout:.0f} s; downloading anyway\n")
    try:
        if not options.force and cache.path(name).exists():
            # another process finished while we waited: verify what it wrote rather than trusting it
            found = _verify_in_place(cache, expected, url)
            if found is not None:
                return FetchResult(entry.name, name, cache.path(name), found[0], found[1], "cache", False, time.monotonic() - started)
        size, digest = _download_verified(url, cache, expected, options)
        return FetchResult(entry.name, name, cache.path(name), size, digest, url, True, time.monotonic() - started)
    finally:
        if locked:
            lock.release()


def _cached(cache: Cache, expected: Expected):
    """The record of a cached file that matches what the index expects now, or None."""
    record = cache.cached_record(expected.filename)
    if record is None:
        return None
    if expected.size is not None and record.size != expected.size:
        return None
    if expected.hash_problem(record.sha256):
        return None
    return record


def _verify_in_place(cache: Cache, expected: Expected, url: str) -> tuple[int, str] | None:
    path = cache.path(expected.filename)
    size = path.stat().st_size
    digest = sha256_file(path)
    if (expected.size is None or size == expected.size) and not expected.hash_problem(digest):
        record = cache.read_record(expected.filename)
        if record is None or (record.size, record.sha256) != (size, digest):
            cache.write_record(expected.filename, size=size, sha256=digest, url=url)
        return size, digest
    # a wrong file under the final name (edited by hand, or an older index): it must go
    cache.remove(expected.filename)
    return None


# Partials this process is writing now (any thread). Creating or claiming a partial happens under
# _CLAIMING, so no thread can claim a file another thread has just created but not yet registered.
_CLAIMING = threading.Lock()
_WRITING: set[str] = set()


def _new_partial(cache: Cache, filename: str) -> Path:
    with _CLAIMING:
        part = cache.new_partial(filename)
        _WRITING.add(str(part))
        return part


def _done_with(part: Path) -> None:
    with _CLAIMING:
        _WRITING.discard(str(part))


def _abandoned(path: Path, *, now: float, stale_after: float) -> bool:
    """Whether nobody writes ``path`` any more, so it may be resumed.

    On this host the pid in its name answers exactly (this process: is a thread writing it?). Elsewhere
    (a cache on NFS shared by several machines) only age can tell: unchanged for ``stale_after`` seconds.
    Containers with one host name but separate pid namespaces can make a live writer look dead; then two
    downloads may append to one file, and the hash check before the rename still keeps the cache correct.
    """
    owner = partial_owner(path)
    if owner is not None and owner == (os.getpid(), this_host()):
        return str(path) not in _WRITING
    if writer_alive(path) is False:
        return True
    return now - path.stat().st_mtime >= stale_after


def _adopt_partial(cache: Cache, filename: str, *, stale_after: float) -> Path | None:
    """Claim an interrupted download to resume it: renaming is atomic, so only one process wins it."""
    now = time.time()

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return -1

    with _CLAIMING:
        for old in sorted(cache.partials(filename), key=size, reverse=True):
            try:
                if not _abandoned(old, now=now, stale_after=stale_after):
                    continue
                fresh = cache.new_partial(filename)
                try:
                    os.replace(old, fresh)
                except FileNotFoundError:
                    fresh.unlink(missing_ok=True)
                    raise
                _WRITING.add(str(fresh))
                return fresh
            except FileNotFoundError:
                continue  # another process claimed it first
    return None


def _download_verified(url: str, cache: Cache, expected: Expected, options: FetchOptions) -> tuple[int, str]:
    name = expected.filename
    stale_after = 4 * options.config.read_timeout
    part = _adopt_partial(cache, name, stale_after=stale_after)
    resumed = part is not None and part.stat().st_size > 0
    part = part or _new_partial(cache, name)
    try:
        return _download_into(part, url, cache, expected, options, resumed=resumed)
    finally:
        _done_with(part)


def _download_into(part: Path, url: str, cache: Cache, expected: Expected, options: FetchOptions, *, resumed: bool) -> tuple[int, str]:
    name = expected.filename
    progress = (lambda done, total: options.progress(name, done, total)) if options.progress else None
    try:
        size, digest = download(url, part, expected, options.config, progress)
        problem = _problem(expected, size, digest)
        if problem and resumed:  # the bytes we resumed from may be at fault: one clean try
            part.write_bytes(b"")
            size, digest = download(url, part, expected, options.config, progress)
            problem = _problem(expected, size, digest)
        if problem:
            raise IntegrityError(
                f"{name}: {problem}; the download from {url} was discarded",
                hint="the server or mirror serves different bytes than the index describes: check the URL, or the index's hash and File Size",
            )
        cache.write_record(name, size=size, sha256=digest, url=url)
        try:
            os.replace(part, cache.path(name))
        except FileNotFoundError:
            # our partial looked abandoned to a process on another host (a stall longer than its
            # staleness limit) and was claimed by it; that process finishes the file
            raise DownloadError(
                f"{name}: the partial download was taken over by another process sharing the cache {cache.root}",
                hint="run the command again: it uses the file once the other process has verified it",
            ) from None
        return size, digest
    except IntegrityError:
        part.unlink(missing_ok=True)  # wrong bytes are never worth resuming
        raise
    except BaseException:
        if part.exists() and part.stat().st_size == 0:
            part.unlink(missing_ok=True)
        raise  # DownloadError, KeyboardInterrupt: keep the partial file for a resume


def _problem(expected: Expected, size: int, digest: str) -> str | None:
    if expected.size is not None and size != expected.size:
        return f"received {size} bytes, the index's File Size is {expected.size}"
    return expected.hash_problem(digest)

