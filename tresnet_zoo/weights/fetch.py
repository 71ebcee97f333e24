"""Fetching an index entry's weights into the cache: lock, claim a partial, download, verify, rename.

The cache stays correct even where file locks silently do nothing (NFS, Lustre): every download writes
its own uniquely named partial (``partials.py`` decides which partial may be resumed, and trusts it only
through an fd-checked descriptor), and only a file whose size and sha256 match the index is renamed into
place (``os.replace``, atomic within the folder). The per-file lock only saves bandwidth: N processes
fetching one file download it once, the others wait, then verify what the first one wrote. A lock held
by a dead process is released by the operating system; a lock that is not released within
``lock_timeout`` is given up on (we download anyway, safely, and log a warning).
"""

from __future__ import annotations

import errno
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from .._fs import hash_regular
from .._urls import redact
from ..errors import (
    CacheFolderError,
    DeadSourceError,
    DownloadError,
    IntegrityError,
    OfflineError,
    SourceWarning,
    UnpinnedError,
    ZooWarning,
)
from . import partials
from .cache import Cache, _mkdir, lock_usable
from .hashes import Expected
from .pins import Planned, pin_mirror, plan
from .sources import (
    SourceNote,
    cached_record,
    is_local_mirror,
)
from .transports import DownloadConfig, download

__all__ = ["MIRROR_ENV", "OFFLINE_ENV", "FetchOptions", "FetchResult", "cache_error", "fetch_entry", "fetch_one"]

MIRROR_ENV = "TRESNET_ZOO_MIRROR"
OFFLINE_ENV = "TRESNET_ZOO_OFFLINE"

log = logging.getLogger("tresnet_zoo.weights")


@dataclass
class FetchOptions:
    cache: Cache = field(default_factory=Cache)
    mirror: str | None = None
    offline: bool = False
    force: bool = False
    config: DownloadConfig = field(default_factory=DownloadConfig)
    lock_timeout: float = 900.0
    progress: Callable[[str, int, int | None], None] | None = None  # (file name, done, total)
    public_key: str | None = None  # a mirror's signature must verify with it (signing.signed_pins)

    @classmethod
    def from_env(cls, **overrides) -> FetchOptions:
        mirror = overrides.pop("mirror", None) or os.environ.get(MIRROR_ENV) or None
        offline = overrides.pop("offline", None)
        if offline is None:
            offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
        public_key = overrides.pop("public_key", None) or os.environ.get("TRESNET_ZOO_PUBLIC_KEY") or None
        return cls(mirror=mirror, offline=offline, public_key=public_key, **overrides)


@dataclass
class FetchResult:
    name: str
    filename: str
    path: Path
    size: int
    sha256: str
    source: str  # the URL the bytes came from (redacted), or "cache"
    downloaded: bool
    seconds: float = 0.0
    hashed: bool = False  # these bytes were hashed in this operation (a download, or a re-check of another's)
    # what the file was held to (its source's file, lock and manifest applied): a loader checks the bytes
    # against this, not the primary's; and the sources passed over before it
    expected: Expected | None = None
    notes: list[SourceNote] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "file": self.filename,
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "source": self.source,
            "downloaded": self.downloaded,
            "hashed": self.hashed,
        }


def cache_error(filename: str, root: Path, exc: OSError) -> CacheFolderError:
    """What is wrong with the cache folder, by errno: a full disk, permissions, not a folder."""
    code = exc.errno
    where = exc.filename or root
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = "the disk is full (or a quota or file-size limit is reached)"
        hint = "free some space, or use another cache folder"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "permission denied (read-only or not yours)"
        hint = "make the cache folder writable, or use another cache folder"
    elif code == errno.EISDIR:
        what, hint = "a folder stands where a file should be", "remove what is in the way, or use another cache folder"
    elif code in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
        what = "a path in it is not a folder (a file, or a symbolic link loop, where a folder should be)"
        hint = "remove what is in the way, or use another cache folder"
    else:
        what, hint = exc.strerror or str(exc), "check the cache folder, or use another one"
    return CacheFolderError(f"{filename}: cannot write to the cache {root}: {what} ({where})", hint=hint,
                            path=str(where))


def fetch_one(planned: Planned, options: FetchOptions) -> FetchResult:
    """The verified cached file of one planned source, downloading it if needed (lock, resume, verify, rename)."""
    try:
        return replace(_fetch_one(planned, options), expected=planned.expected)
    except OSError as exc:  # the cache folder: not a folder, no permission, disk full
        raise cache_error(planned.expected.filename, options.cache.root, exc) from None


def _fetch_one(planned: Planned, options: FetchOptions) -> FetchResult:
    started = time.monotonic()
    expected, url, entry_name = planned.expected, planned.url, planned.entry
    if not expected.has_hash:
        raise UnpinnedError(
            f"{entry_name}: {expected.filename} has no hash to check against (no '-<hex>' in the name, no SHA256 in "
            "the index)",
            hint="add the file's sha256 as Metadata > SHA256 in the index",
            entry=entry_name,
        )
    cache = options.cache
    name = expected.filename
    if not options.force:
        hit = cached_record(cache, expected)
        if hit is not None:
            return FetchResult(entry_name, name, cache.path(name), hit.size, hit.sha256, "cache", False)
    if options.offline and not is_local_mirror(options.mirror):  # a folder mirror is not the network
        raise OfflineError(
            f"{name} is not in the cache {cache.root}, and offline mode forbids downloading",
            hint=f"fetch it where the network is reachable, or copy {name} into a folder and name that folder "
                 "as the mirror (allowed offline)",
        )
    _mkdir(cache.root, allow_link=True)
    _mkdir(cache.root / "records")
    _mkdir(cache.lock_path(name).parent)

    from filelock import FileLock, Timeout  # noqa: PLC0415 (only commands that download take the lock)

    lock = FileLock(str(cache.lock_path(name)))
    locked = lock_usable(cache.lock_path(name))
    if not locked:  # the unique partial and the verified rename keep the cache correct without it
        log.warning("%s: ignoring %s: not a regular file of ours; downloading without the lock", name,
                    cache.lock_path(name))
    try:
        if locked:
            lock.acquire(timeout=options.lock_timeout)
    except Timeout:
        locked = False
        log.warning("%s: lock not released after %.0f s; downloading anyway", name, options.lock_timeout)
    try:
        if not options.force and cache.final_stat(name) is not None:
            # another process finished while we waited: verify what it wrote rather than trusting it
            found = _verify_in_place(cache, expected, url)
            if found is not None:
                return FetchResult(entry_name, name, cache.path(name), found[0], found[1], "cache", False,
                                   time.monotonic() - started, hashed=True)
        size, digest = _download_verified(url, cache, expected, options)
        return FetchResult(entry_name, name, cache.path(name), size, digest, redact(url), True,
                           time.monotonic() - started,
                           hashed=True)
    finally:
        if locked:
            lock.release()


def _verify_in_place(cache: Cache, expected: Expected, url: str) -> tuple[int, str] | None:
    """Hash the regular file under the final name (opened without following links); its (size, sha256)
    when it is the expected file. A wrong one stays until our verified file replaces it."""
    try:
        size, hexdigest = hash_regular(cache.path(expected.filename))
    except OSError:
        return None
    if (expected.size is None or size == expected.size) and not expected.hash_problem(hexdigest):
        record = cache.read_record(expected.filename)
        if record is None or (record.size, record.sha256) != (size, hexdigest):
            cache.write_record(expected.filename, size=size, sha256=hexdigest, url=url)
        return size, hexdigest
    return None


def _download_verified(url: str, cache: Cache, expected: Expected, options: FetchOptions) -> tuple[int, str]:
    name = expected.filename
    stale_after = 4 * options.config.read_timeout
    skipped: list[partials.Skipped] = []
    part = partials.claim(cache.root, name, stale_after=stale_after, skipped=skipped)
    for item in skipped:
        log.warning("%s: ignoring %s in the cache: %s (not a partial download of ours)", name, item.path.name, item.why)
    resumed = part is not None and part.size() > 0
    part = part or partials.create(cache.root, name)
    try:
        return _download_into(part, url, cache, expected, options, resumed=resumed)
    finally:
        partials.release(part)


def _download_into(part: partials.Partial, url: str, cache: Cache, expected: Expected, options: FetchOptions, *,
                   resumed: bool) -> tuple[int, str]:
    name = expected.filename
    progress = (lambda done, total: options.progress(name, done, total)) if options.progress else None
    try:
        size, digest = download(url, part.fd, expected, options.config, progress)
        problem = _problem(expected, size, digest)
        if problem and resumed:  # the bytes we resumed from may be at fault: one clean try
            os.ftruncate(part.fd, 0)
            size, digest = download(url, part.fd, expected, options.config, progress)
            problem = _problem(expected, size, digest)
        if problem:
            raise IntegrityError(
                f"{name}: {problem}; the download from {redact(url)} was discarded",
                hint="the server or mirror serves different bytes than the index describes: check the URL, or the "
                     "index's hash and File Size",
            )
        cache.write_record(name, size=size, sha256=digest, url=url)
        try:
            partials.install(part, cache.path(name))
        except FileNotFoundError:
            # our partial looked abandoned to a process on another host (a stall longer than its
            # staleness limit) and was claimed by it; that process finishes the file
            raise DownloadError(
                f"{name}: the partial download was taken over by another process sharing the cache {cache.root}",
                hint="run the same command again: it uses the file once the other process has verified it",
            ) from None
        return size, digest
    except IntegrityError:
        _unlink_ours(part)  # wrong bytes are never worth resuming
        raise
    except BaseException:
        try:
            empty = part.size() == 0
        except OSError:
            empty = False
        if empty:
            _unlink_ours(part)
        raise  # DownloadError, KeyboardInterrupt: keep the partial file for a resume


def _unlink_ours(part: partials.Partial) -> None:
    """Remove our partial, only if its name still holds the file behind our descriptor."""
    try:
        st = os.lstat(part.path)
        if (st.st_dev, st.st_ino) == part.inode:
            os.unlink(part.path)
    except OSError:
        pass


def _problem(expected: Expected, size: int, digest: str) -> str | None:
    if expected.size is not None and size != expected.size:
        return f"received {size} bytes, the index's File Size is {expected.size}"
    return expected.hash_problem(digest)


# --- trying an entry's sources in order ---------------------------------------------------------------


def fetch_entry(entry, options: FetchOptions, *, say: Callable[[str], None] | None = None) -> FetchResult:
    """The verified cached file of ``entry`` from its first source that works, downloading it if needed.

    Every source's file is checked in the cache before any network request. ``say`` receives one line per
    source that was passed over (default: stderr); they are also kept on ``result.notes``.
    """
    passed = say or (lambda line: warnings.warn(line, SourceWarning, stacklevel=3))  # a source passed over
    say = say or (lambda line: warnings.warn(line, ZooWarning, stacklevel=3))
    planned = plan(entry, options.mirror)
    if options.public_key:  # the mirror's signature: one more pin, applied before the cache is looked at
        from .signing import signed_pins  # noqa: PLC0415 (the sign extra, only with a public key)

        planned = signed_pins(entry, planned, options, say)
    if not options.force:  # a verified file of any source: no network at all
        for one in planned:
            if cached_record(options.cache, one.expected) is not None:
                return fetch_one(one, options)
    planned = pin_mirror(entry, planned, options.mirror, offline=options.offline,
                         timeout=options.config.read_timeout, say=say)
    notes: list[SourceNote] = []
    first_error: DownloadError | None = None
    for number, one in enumerate(planned, 1):
        where = redact(one.url)
        try:
            result = fetch_one(one, options)
        except OfflineError:
            raise
        except IntegrityError as exc:
            if isinstance(exc, UnpinnedError):  # refused before any byte was read: nothing was served
                note = SourceNote("unpinned", number, where, exc.message)
            else:
                note = SourceNote("mismatch", number, where, exc.message)
                if number < len(planned):  # reported now, even when a later source succeeds
                    passed(f"error: {entry.name}: {note}")
            first_error = first_error or exc
        except DownloadError as exc:
            kind = "dead" if isinstance(exc, DeadSourceError) else "unavailable"
            note = SourceNote(kind, number, where, exc.message)
            first_error = first_error or exc
        else:
            return replace(result, notes=notes)
        notes.append(note)
        if number < len(planned):
            detail = "" if note.kind == "mismatch" else f": {note.message}"
            passed(f"warning: {entry.name}: source {number} ({where}) {note.what}{detail}; trying source "
                   f"{number + 1} of {len(planned)}")
    assert first_error is not None
    if len(planned) == 1:
        raise first_error
    e = first_error  # one line: each source's host and what it met (the whole messages: ``notes``)
    raise type(e)(f"none of its {len(planned)} sources worked: " + "; ".join(
        f"source {n.source} ({urlsplit(n.url).hostname or n.url}) {n.what}" for n in notes), hint=e.hint,
                  url=e.url, status=e.status, path=e.path, entry=entry.name, notes=notes) from e
