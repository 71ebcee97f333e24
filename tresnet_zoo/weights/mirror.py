"""`mirror push`: verified cache files to a folder or an object store, with a manifest written last.

A mirror is a folder (``/shared/weights``, ``file://...``) or a bucket prefix (``s3://bucket/weights``)
holding weight files under their cache names, and ``tresnet-zoo-manifest.json``: for every file its entry,
size and full sha256, and the tresnet-zoo version that wrote it. The manifest is written only after every
file of the push is in place and checked (folders: temp name + fsync + rename, each file and then the
manifest; object stores: each upload's size and ETag are checked, then the manifest object is put), so a
half-pushed mirror is never mistaken for a complete one: its manifest, if any, is the previous one.

Fetching from a mirror reads its manifest and holds each file to the manifest's full sha256 as well as
the index's prefix (and the lock). A manifest line that disagrees with the index is an error, never a
silent override; a mirror without a manifest still works by file name and the index's checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .._fs import ReadOnlyTargetError, atomic_write, ensure_writable, hash_regular, open_regular, read_regular
from .._urls import MIRROR_MANIFEST, Mirror, filename_problem, redact, url_problem
from .._version import __version__
from ..errors import CachedFileDamagedError, CacheError, DeadSourceError, DownloadError, IntegrityError, UsageError
from .hashes import CHUNK, Expected
from .lockfile import apply_lock, format_document
from .sources import entry_sources, mirror_folder
from .transports import http
from .transports.base import read_bounded
from .transports.objectstore import ObjectStore, _store_error

__all__ = ["MANIFEST", "ManifestLine", "read_manifest", "apply_manifest", "push", "PushReport"]

MANIFEST = MIRROR_MANIFEST  # a reserved file name (_urls): no weights file can be called so
FORMAT = "tresnet-zoo-mirror/1"
MAX_MANIFEST_BYTES = 4 << 20
UPLOAD_PART = 16 << 20  # object-store multipart size: fixed, so the ETag can be computed while reading


@dataclass(frozen=True)
class ManifestLine:
    entry: str
    file: str
    size: int
    sha256: str

    def to_dict(self) -> dict:
        return {"entry": self.entry, "file": self.file, "size": self.size, "sha256": self.sha256}


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _parse_manifest(where: str, raw: bytes) -> dict[str, ManifestLine]:
    def bad(why: str) -> IntegrityError:
        return IntegrityError(
            f"mirror manifest {where}: {why}", hint="push the mirror again with `tresnet-zoo mirror push`"
        )

    data = format_document(raw, FORMAT, list, bad, what="manifest")
    lines: dict[str, ManifestLine] = {}
    for item in data["files"]:
        try:
            line = ManifestLine(str(item["entry"]), str(item["file"]), item["size"], item["sha256"])
        except (KeyError, TypeError):
            raise bad("every file needs entry, file, size and sha256") from None
        if (
            filename_problem(line.file)
            or not isinstance(line.size, int)
            or isinstance(line.size, bool)
            or not 0 <= line.size < 1 << 63  # a file size a file system can hold
            or not isinstance(line.sha256, str)
            or len(line.sha256) != 64
            or set(line.sha256) - set("0123456789abcdef")
        ):
            raise bad(f"the line for {line.file!r} is malformed")
        lines[line.file] = line
    return lines


def read_manifest(base: str, *, timeout: float = 30.0) -> dict[str, ManifestLine] | None:
    """The mirror's manifest lines by file name, or None when the mirror has no manifest."""
    where = redact(_join(base, MANIFEST))
    try:
        raw = read_root_file(base, MANIFEST, MAX_MANIFEST_BYTES, timeout)
    except OSError as exc:
        raise IntegrityError(f"mirror manifest {where}: cannot be read ({exc.strerror or exc})",
                             hint="the manifest must be a regular file: push the mirror again") from None
    if raw is None:
        return None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise IntegrityError(f"mirror manifest {where}: more than {MAX_MANIFEST_BYTES} bytes")
    return _parse_manifest(where, raw)


def read_root_file(base: str, name: str, limit: int, timeout: float) -> bytes | None:
    """A small file at the mirror's root (its manifest, its signature), None when the mirror has none: read
    from a folder only as a regular file (never a link or FIFO), from a store or over http(s) with at most
    ``limit`` + 1 bytes actually read and a deadline. OSError for a folder's file that cannot be read."""
    folder = mirror_folder(base)
    if folder is not None:
        try:
            return read_regular(folder / name, limit)
        except FileNotFoundError:
            return None
    if Mirror.parse(base).kind == "store":
        return ObjectStore(base).read_small(_join(base, name), limit, timeout)
    return _http_small(_join(base, name), limit, timeout)


def _http_small(url: str, limit: int, timeout: float) -> bytes | None:
    """A small file over http(s) through the one HTTP policy, bounded in bytes and time; None when the
    mirror has none or cannot be reached (the file's own download then reports the network error)."""
    import requests  # noqa: PLC0415 (network stack: only when a mirror is read over http)
    import urllib3  # noqa: PLC0415 (network stack: only when a mirror is read over http)

    if url_problem(url) is not None:
        return None  # the download refuses such a mirror with its own message
    try:
        with http.session() as client, client.get(url, stream=True, timeout=(min(timeout, 10.0), timeout),
                                                  allow_redirects=False) as response:
            if response.status_code in (403, 404, 410):
                return None
            if response.status_code != 200:
                raise DownloadError(f"mirror file {redact(url)}: HTTP {response.status_code}")
            read = response.raw.read1  # what arrived, never more

            return read_bounded(lambda n: read(n, decode_content=True), limit, timeout, f"mirror file {redact(url)}")
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        return None


def apply_manifest(
    lines: dict[str, ManifestLine] | None, entry_name: str, expected: Expected, *, say: Callable[[str], None]
) -> Expected:
    """``expected`` held to the manifest's line for its file (full sha256, size); unchanged without one."""
    if lines is None:
        return expected
    line = lines.get(expected.filename)
    if line is None:
        return expected  # fetch.pin_mirror says so when no file of the entry has a line
    if expected.size is not None and line.size != expected.size:
        raise IntegrityError(
            f"{expected.filename}: the mirror's manifest says {line.size} bytes, the index's File Size is "
            f"{expected.size}",
            hint="the mirror was pushed from another index: push it again with `tresnet-zoo mirror push`",
        )
    problem = expected.hash_problem(line.sha256)
    if problem:
        raise IntegrityError(
            f"{expected.filename}: the mirror's manifest disagrees with the index or lock: {problem}",
            hint="the mirror was pushed from another index: push it again with `tresnet-zoo mirror push`",
        )
    return replace(expected, size=line.size, sha256=line.sha256)


# --- pushing --------------------------------------------------------------------------------------------


@dataclass
class PushReport:
    dest: str  # redacted
    pushed: list[ManifestLine] = field(default_factory=list)
    already: list[ManifestLine] = field(default_factory=list)  # the mirror held the same bytes
    # how each "already" file was found the same: "sha256" (its bytes hashed now) or "etag" (same size, and
    # the store's ETag is the MD5 of our bytes; a fetch from the mirror still hashes what it receives)
    checked_by: dict[str, str] = field(default_factory=dict)
    not_cached: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    manifest: str | None = None  # where the manifest was written (None: not written)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Hashes:
    """sha256, plain md5 and the multipart ETag's per-part md5s, all from one read of the bytes."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.part = hashlib.md5(usedforsecurity=False)
        self.part_fill = 0
        self.part_digests: list[bytes] = []
        self.size = 0

    def update(self, block: bytes) -> None:
        self.sha.update(block)
        self.md5.update(block)
        self.size += len(block)
        view = memoryview(block)
        while view:
            take = min(len(view), UPLOAD_PART - self.part_fill)
            self.part.update(view[:take])
            self.part_fill += take
            view = view[take:]
            if self.part_fill == UPLOAD_PART:
                self.part_digests.append(self.part.digest())
                self.part, self.part_fill = hashlib.md5(usedforsecurity=False), 0

    def etags(self) -> set[str]:
        """The ETags S3 gives this object: single PUT (md5) or fixed-size multipart (md5 of part md5s)."""
        digests = self.part_digests + ([self.part.digest()] if self.part_fill else [])
        multi = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest() + f"-{len(digests)}"
        return {self.md5.hexdigest(), multi}


def _open_cached(cache, filename: str):
    return os.fdopen(open_regular(cache.path(filename))[0], "rb")  # no link, no blocking FIFO, regular files only


def push(
    dest: str,
    entries,
    cache,
    *,
    require_all: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> PushReport:
    """Copy the cached, verified files of ``entries`` to ``dest``, then write its manifest (only if all went well).

    ``require_all``: every entry must have a file in the cache (the user named them); one missing is a
    problem, and then no manifest is written either.
    """
    folder = mirror_folder(dest)
    if folder is None and Mirror.parse(dest).kind != "store":
        raise UsageError(
            f"cannot push to {redact(dest)}: a mirror to push to is a folder or an object store (s3://bucket/prefix)"
        )
    report = PushReport(redact(dest))
    target = _FolderTarget(folder) if folder is not None else _StoreTarget(dest)
    old = read_manifest(dest) or {}
    for entry in entries:
        found = False
        for spec in entry_sources(entry):
            record = cache.cached_record(spec.filename)
            if record is None:
                continue
            found = True
            try:
                expected = apply_lock(entry, spec.expected())
                line, same_by = target.put(cache, entry.name, expected, record.sha256, progress)
            except (IntegrityError, DownloadError, CacheError) as exc:
                report.problems.append(f"{entry.name}: {exc.message}")
                continue
            except OSError as exc:
                report.problems.append(
                    f"{entry.name}: {spec.filename}: cannot be read from the cache ({exc.strerror or exc})"
                )
                continue
            if same_by is None:
                report.pushed.append(line)
            else:
                report.already.append(line)
                report.checked_by[line.file] = same_by
        if not found:
            report.not_cached.append((entry.name, entry_sources(entry)[0].filename if entry_sources(entry) else "-"))
            if require_all:
                report.problems.append(
                    f"{entry.name}: {report.not_cached[-1][1]} is not in the cache (`tresnet-zoo fetch {entry.name}` "
                    "first)"
                )
    if report.problems:
        return report  # no manifest: what was pushed so far is not vouched for
    lines = {line.file: line for line in old.values() if target.holds(line)}
    lines.update({line.file: line for line in report.already + report.pushed})
    if lines:
        manifest = {
            "format": FORMAT,
            "tresnet_zoo": __version__,
            "files": [lines[name].to_dict() for name in sorted(lines)],
        }
        report.manifest = target.write_manifest((json.dumps(manifest, indent=2) + "\n").encode())
    return report


def _stream(handle, expected: Expected, hashes: _Hashes, write: Callable[[bytes], object], progress) -> None:
    while block := handle.read(CHUNK):
        if expected.size is not None and hashes.size + len(block) > expected.size:
            raise CachedFileDamagedError(
                f"{expected.filename} in the cache is larger than the index's File Size {expected.size}; not pushed",
                path=expected.filename,
            )
        hashes.update(block)
        write(block)
        if progress:
            progress(expected.filename, hashes.size, expected.size)


def _check_bytes(expected: Expected, hashes: _Hashes, recorded: str) -> None:
    digest = hashes.sha.hexdigest()
    problem = (
        f"{hashes.size} bytes, the index's File Size is {expected.size}"
        if expected.size is not None and hashes.size != expected.size
        else expected.hash_problem(digest)
    )
    if problem is None and digest != recorded:
        problem = "sha256 differs from the one recorded at download (changed in the cache)"
    if problem:
        raise CachedFileDamagedError(
            f"{expected.filename} in the cache: {problem}; not pushed", path=expected.filename,
        )


class _FolderTarget:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if os.path.lexists(folder) and not folder.is_dir():
            raise CacheError(f"the mirror folder {folder} exists and is not a folder",
                             hint="name a folder (new or holding a mirror) to push to")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ensure_writable(folder / MANIFEST)  # refused whole, before any file is copied (root too)
        except ReadOnlyTargetError:
            raise CacheError(f"the mirror folder {folder} is read-only; nothing was pushed",
                             hint="push to a folder you may write to, or make this one writable") from None
        except OSError as exc:
            raise CacheError(f"cannot create the mirror folder {folder}: {exc.strerror or exc}") from None

    def holds(self, line: ManifestLine) -> bool:
        try:
            return (self.folder / line.file).lstat().st_size == line.size
        except OSError:
            return False

    def put(self, cache, entry_name: str, expected: Expected, recorded: str,
            progress) -> tuple[ManifestLine, str | None]:
        """Copy the cached file in; (its manifest line, None), or (line, "sha256") when the folder already
        holds the same bytes. Other bytes under the name are never replaced."""
        final = self.folder / expected.filename
        if os.path.lexists(final):
            existing = _Hashes()
            try:
                hash_regular(final, existing.update)
            except OSError as exc:  # a link, FIFO or folder under the name: not ours to read or replace
                raise IntegrityError(
                    f"{final} exists and is not a regular file ({exc.strerror or exc}); "
                    "tresnet-zoo does not replace it",
                    hint=f"remove {final} yourself, then push again",
                ) from None
            line = ManifestLine(entry_name, expected.filename, existing.size, existing.sha.hexdigest())
            hashes = _Hashes()
            with _open_cached(cache, expected.filename) as source:
                _stream(source, expected, hashes, lambda block: None, progress)
            _check_bytes(expected, hashes, recorded)
            if (existing.size, line.sha256) != (hashes.size, hashes.sha.hexdigest()):
                raise IntegrityError(
                    f"{final} exists with other bytes; tresnet-zoo does not overwrite it",
                    hint=f"remove {final} yourself, then push again",
                )
            return line, "sha256"
        source = _open_cached(cache, expected.filename)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{expected.filename}.", suffix=".tmp")
        try:
            with source, os.fdopen(fd, "wb") as out:
                hashes = _Hashes()
                _stream(source, expected, hashes, out.write, progress)
                _check_bytes(expected, hashes, recorded)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ManifestLine(entry_name, expected.filename, hashes.size, hashes.sha.hexdigest()), None

    def write_manifest(self, payload: bytes) -> str:
        atomic_write(self.folder / MANIFEST, payload, refuse_read_only=True)
        return str(self.folder / MANIFEST)


class _StoreTarget:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.store = ObjectStore(base, writing=True)

    def holds(self, line: ManifestLine) -> bool:
        try:
            return self.store.size(_join(self.base, line.file)) == line.size
        except DownloadError:
            return False

    def put(self, cache, entry_name: str, expected: Expected, recorded: str,
            progress) -> tuple[ManifestLine, str | None]:
        """Upload the cached file; (its manifest line, None), or (line, how it was found the same) when the
        store already holds those bytes. An object with other bytes under the name is never overwritten
        (checked just before the upload: a writer racing us in that moment is not detected)."""
        url = _join(self.base, expected.filename)
        there = self._stat(url)
        if there is not None:
            return self._same_or_refuse(cache, entry_name, expected, recorded, url, there, progress)
        hashes = _Hashes()
        with _open_cached(cache, expected.filename) as source:  # OSError here: the cache's fault, not the store's
            try:
                out = self.store.fs.open(self.store.path(url), "wb", block_size=UPLOAD_PART)
            except Exception as exc:
                raise _store_error(url, exc, "cannot write to") from None
            try:
                # an upload becomes visible only when it completes (one PUT, or the multipart commit); a
                # failure before that (bytes in the cache that do not match) aborts it: nothing is left behind
                _stream(source, expected, hashes, out.write, progress)
                _check_bytes(expected, hashes, recorded)
            except BaseException as exc:
                try:
                    out.discard()
                finally:
                    out.closed = True
                if isinstance(exc, Exception) and not isinstance(exc, (IntegrityError, OSError)):
                    raise _store_error(url, exc, "cannot write to") from None
                raise
            try:
                out.close()
            except Exception as exc:
                raise _store_error(url, exc, "cannot write to") from None
        info = self.store.info(url)
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if int(info.get("size", -1)) != hashes.size or (etag and etag not in hashes.etags()):
            raise IntegrityError(
                f"{redact(url)}: the store holds {info.get('size')} bytes (ETag {etag or '-'}) after the upload of "
                f"{hashes.size}",
                hint="push again; if it persists, the store alters what it is sent",
            )
        return ManifestLine(entry_name, expected.filename, hashes.size, hashes.sha.hexdigest()), None

    def _stat(self, url: str) -> dict | None:
        """The object's info, or None when there is none."""
        try:
            return self.store.info(url)
        except DeadSourceError as exc:
            if exc.status == 404:
                return None
            raise

    def _same_or_refuse(self, cache, entry_name: str, expected: Expected, recorded: str, url: str, info: dict,
                        progress) -> tuple[ManifestLine, str]:
        if info.get("type") not in (None, "file"):
            raise IntegrityError(f"{redact(url)} is a folder (a prefix) in the store; tresnet-zoo does not replace it",
                                 hint=f"remove {redact(url)} yourself, then push again")
        hashes = _Hashes()
        with _open_cached(cache, expected.filename) as source:
            _stream(source, expected, hashes, lambda block: None, progress)
        _check_bytes(expected, hashes, recorded)
        line = ManifestLine(entry_name, expected.filename, hashes.size, hashes.sha.hexdigest())
        size = info.get("size")
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if size == hashes.size:
            if etag and etag in hashes.etags():
                return line, "etag"
            theirs = hashlib.sha256()  # another part size, or no ETag: hash what the store holds
            read = 0
            for block in self.store.read_from(url, 0):
                read += len(block)
                if read > hashes.size:
                    break
                theirs.update(block)
            if read == hashes.size and theirs.hexdigest() == line.sha256:
                return line, "sha256"
        raise IntegrityError(
            f"{redact(url)} exists with other bytes ({size} bytes, ETag {etag or '-'}); tresnet-zoo does not "
            "overwrite it",
            hint=f"remove {redact(url)} yourself, then push again",
        )

    def write_manifest(self, payload: bytes) -> str:
        url = _join(self.base, MANIFEST)
        try:
            self.store.fs.pipe_file(self.store.path(url), payload)
        except Exception as exc:
            raise _store_error(url, exc, "cannot write to") from None
        if self.store.size(url) != len(payload):
            raise IntegrityError(f"{redact(url)}: the manifest did not arrive whole")
        return redact(url)
