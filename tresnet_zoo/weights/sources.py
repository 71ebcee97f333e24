"""Where weight bytes come from: an entry's sources in order, and object stores (S3 and other fsspec protocols).

Three kinds of source stand behind one small interface (``ObjectStore`` for object stores; https and
``file://`` stay with ``download.py``, which already streams, resumes and bounds them):

- an https URL (the index's ``Weights``, then the ``x-tresnet-zoo.sources`` of the entry);
- a ``file://`` URL or plain folder mirror holding the same file names;
- an object store, ``s3://bucket/prefix`` (and any other fsspec protocol whose backend is installed):
  credentials and the endpoint come from the standard AWS chain (``AWS_ENDPOINT_URL`` or
  ``AWS_ENDPOINT_URL_S3`` for MinIO/Ceph, ``AWS_PROFILE``, the key variables, instance roles). Nothing of
  them is printed or stored: messages name the bucket and key only, and URLs pass through ``redact``.

``fetch_sources`` tries an entry's sources in order. A dead link (HTTP 403, 404, 410, a host name that does
not resolve, an object that is not there) moves on to the next source and says so; bytes that do not match
(size, hash prefix, full sha256 of the index, the lock file or the mirror's manifest) are an error for that
source, reported even when a later source succeeds. ``HF_ENDPOINT`` replaces ``https://huggingface.co``
for Hugging Face URLs (a hub mirror behind a firewall).
"""

from __future__ import annotations

import os
import re
import shlex
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote, urlsplit

from .._urls import filename_problem, hub_parts, redact, weights_filename
from ..errors import (
    DownloadError,
    IntegrityError,
    MissingExtraError,
    OfflineError,
    SourceWarning,
    UsageError,
    ZooError,
    ZooWarning,
)
from .download import DownloadConfig, RestartFromZero, TransientError, transfer
from .hashes import CHUNK, Expected

__all__ = [
    "SourceSpec",
    "cached_file",
    "entry_files",
    "entry_sources",
    "files_of",
    "own_files",
    "cached_ok",
    "hf_url",
    "HF_ENDPOINT_ENV",
    "is_object_store",
    "ObjectStore",
    "ObjectStoreSource",
    "copy_object",
    "fetch_sources",
    "is_local_mirror",
    "mirror_folder",
    "mirror_folder_error",
    "mirror_host_error",
    "SourceNote",
]

HF_ENDPOINT_ENV = "HF_ENDPOINT"
_HF_HOST = "https://huggingface.co"
# schemes download.py handles itself; any other scheme is an fsspec protocol (s3, gs, az, ...)
_OWN_SCHEMES = {"http", "https", "file", ""}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\Z")
READ_BLOCK = 8 << 20  # bytes per ranged GET from an object store: few requests, bounded memory


@dataclass(frozen=True)
class SourceSpec:
    """One place an entry's weights can be read from, and what its bytes must be."""

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None

    @property
    def redacted_url(self) -> str:
        return redact(self.url)

    def expected(self) -> Expected:
        return Expected(filename=self.filename, size=self.size, sha256_prefix=self.sha256_prefix, sha256=self.sha256)


def entry_sources(entry) -> list[SourceSpec]:
    """The entry's sources, primary ``Weights`` first, Hugging Face URLs sent to ``$HF_ENDPOINT``."""
    records = getattr(entry, "sources", None)
    if records is not None:
        specs = [SourceSpec(s.url, s.filename, s.size, s.sha256, s.sha256_prefix) for s in records]
    else:
        specs = _sources_from_metadata(entry)  # until records land
    return [replace(s, url=hf_url(s.url)) for s in specs]


def entry_files(entry) -> list[str]:
    """The cache file names the entry's weights may have: every source's, primary first."""
    files = getattr(entry, "weights_files", None)  # an index record: its names without building its sources
    if files is not None:
        return list(files)
    return list(dict.fromkeys(spec.filename for spec in entry_sources(entry)))


def cached_file(entry, is_cached: Callable[[str], bool]) -> str | None:
    """The first of the entry's file names (``Weights``, then the fallbacks) that ``is_cached`` finds in the
    cache: the file its weights would come from. None when none is there."""
    return next((name for name in entry_files(entry) if is_cached(name)), None)


def files_of(entries) -> dict[str, str]:
    """Cache file name -> entry name, for every source of every entry (the first entry wins a shared name)."""
    names: dict[str, str] = {}
    for entry in entries:
        for filename in entry_files(entry):
            names.setdefault(filename, entry.name)
    return names


def own_files(selected, entries) -> tuple[list[str], dict[str, str]]:
    """The cache file names of the ``selected`` entries that no other entry of ``entries`` uses, and the
    ones another entry uses too (file name -> that entry's name): ``cache clear NAME`` removes the first
    and keeps the second (a fallback source of one entry may be another entry's ``Weights``)."""
    chosen = {entry.name for entry in selected}
    others = files_of(entry for entry in entries if entry.name not in chosen)
    files = list(dict.fromkeys(f for entry in selected for f in entry_files(entry)))
    return [f for f in files if f not in others], {f: others[f] for f in files if f in others}


def _sources_from_metadata(entry) -> list[SourceSpec]:
    """The contract's ``entry.sources`` built from the raw record (until records land)."""
    specs: list[SourceSpec] = []
    filename = entry.weights_filename
    if entry.weights and filename:
        parts = hub_parts(filename)
        specs.append(
            SourceSpec(
                entry.weights, filename, entry.metadata.file_size, entry.metadata.sha256, parts[1] if parts else None
            )
        )
    extra = entry.metadata.extra.get("x-tresnet-zoo") or {}
    for raw in (extra.get("sources") or []) if isinstance(extra, dict) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
            continue
        name = str(raw.get("file") or "")
        if not name:
            try:
                name = weights_filename(raw["url"])
            except ValueError:
                continue
        if filename_problem(name):
            continue
        parts = hub_parts(name)
        size = raw.get("size")
        sha = raw.get("sha256")
        specs.append(
            SourceSpec(
                raw["url"],
                name,
                int(size) if isinstance(size, int) else None,
                sha if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) else None,
                parts[1] if parts else None,
            )
        )
    return specs


def hf_url(url: str) -> str:
    """``url`` on ``$HF_ENDPOINT`` when it is a Hugging Face URL and the variable is set."""
    endpoint = os.environ.get(HF_ENDPOINT_ENV, "").strip().rstrip("/")
    if endpoint and (url == _HF_HOST or url.startswith(_HF_HOST + "/")):
        try:
            parsed = urlsplit(endpoint)
        except ValueError:
            parsed = None
        if parsed is None or not parsed.scheme or any(ord(c) < 33 for c in endpoint):
            raise UsageError(f"{HF_ENDPOINT_ENV}={endpoint!r} is not a URL, so the Hugging Face sources cannot be "
                             "rewritten to it",
                             hint=f"set {HF_ENDPOINT_ENV} to the Hub mirror's base URL (https://...), or unset it")
        return endpoint + url[len(_HF_HOST) :]
    return url


# --- object stores --------------------------------------------------------------------------------------


def is_object_store(url: str) -> bool:
    """Whether ``url`` names an object store (an fsspec protocol other than http(s) and file)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme not in _OWN_SCHEMES and bool(_SCHEME.match(scheme))


class ObjectStore:
    """An fsspec file system for one URL scheme; S3's endpoint from ``AWS_ENDPOINT_URL(_S3)``.

    fsspec and its backends are an optional extra: a missing one is ``MissingExtraError`` (exit 3) with the
    install command. Listing caches are off: a mirror may change between two reads, and we must see it.
    """

    def __init__(self, url: str, *, writing: bool = False) -> None:
        self.scheme = url.split("://", 1)[0].lower()
        try:  # deliberate lazy import: fsspec/s3fs are the optional `s3` extra
            import fsspec  # noqa: PLC0415 (fsspec/s3fs: only object-store mirrors)

            kwargs: dict = {"skip_instance_cache": True}
            if self.scheme in ("s3", "s3a"):
                kwargs["use_listings_cache"] = False
                if writing:
                    kwargs["fixed_upload_size"] = True  # equal parts: the multipart ETag can be checked
                endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                if endpoint:
                    kwargs["client_kwargs"] = {"endpoint_url": endpoint}
            self.fs = fsspec.filesystem(self.scheme, **kwargs)
        except ImportError as exc:
            extra = "s3" if self.scheme in ("s3", "s3a") else None
            hint = (
                'pip install "tresnet-zoo[s3]"'
                if extra
                else f"install the fsspec backend for {self.scheme}:// (see fsspec's list of implementations)"
            )
            raise MissingExtraError(
                f"reading {self.scheme}:// needs {'s3fs' if extra else 'an fsspec backend'}, which is not installed "
                f"({_first_line(exc)})",
                hint=hint,
                extra=extra,
            ) from None
        except ValueError as exc:  # fsspec: unknown protocol
            raise DownloadError(
                f"unsupported mirror scheme {self.scheme}:// ({_first_line(exc)})",
                hint="use s3://bucket/prefix, an https URL or a folder",
            ) from None

    @staticmethod
    def path(url: str) -> str:
        return url.split("://", 1)[1]

    def size(self, url: str) -> int:
        """The object's size in bytes; DownloadError when it is missing or unreadable."""
        try:
            info = self.fs.info(self.path(url))
        except Exception as exc:
            raise _store_error(url, exc, "cannot read") from None
        if info.get("type") not in (None, "file"):
            raise DownloadError(
                f"{redact(url)} is not a file (a folder or prefix)",
                hint="point the mirror at the folder that holds the files",
            )
        return int(info["size"])

    def info(self, url: str) -> dict:
        try:
            return self.fs.info(self.path(url))
        except Exception as exc:
            raise _store_error(url, exc, "cannot read") from None

    def read_from(self, url: str, offset: int) -> Iterator[bytes]:
        """The object's bytes from ``offset`` on, in chunks (ranged reads, one block in memory at a time)."""
        try:
            with self.fs.open(self.path(url), "rb", block_size=READ_BLOCK, cache_type="readahead") as handle:
                if offset:
                    handle.seek(offset)
                while True:
                    block = handle.read(CHUNK)
                    if not block:
                        return
                    yield block
        except ZooError:
            raise
        except Exception as exc:
            raise _store_error(url, exc, "cannot read") from None

    def read_small(self, url: str, limit: int) -> bytes | None:
        """A small object (a manifest) whole, or None when there is none; more than ``limit`` bytes is an error."""
        try:
            size = self.size(url)
        except DownloadError as exc:
            if getattr(exc, "dead", False):
                return None
            raise
        if size > limit:
            raise IntegrityError(f"{redact(url)} is {size} bytes, more than the {limit} a manifest may take")
        return b"".join(self.read_from(url, 0))

    def exists(self, url: str) -> bool:
        try:
            return bool(self.fs.exists(self.path(url)))
        except Exception as exc:
            raise _store_error(url, exc, "cannot read") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _store_error(url: str, exc: BaseException, what: str) -> DownloadError:
    """A DownloadError for a failed object-store call; ``dead`` is set for missing/forbidden objects."""
    if isinstance(exc, ZooError) and isinstance(exc, DownloadError):
        return exc
    name = redact(url)
    if isinstance(exc, FileNotFoundError):
        error = DownloadError(
            f"{name}: not found in the object store",
            hint="push it with `tresnet-zoo mirror push`, or fetch without --mirror",
        )
        error.dead = True  # type: ignore[attr-defined]
        error.missing = True  # type: ignore[attr-defined]
        return error
    if isinstance(exc, PermissionError):
        error = DownloadError(
            f"{name}: access denied by the object store",
            hint="check the credentials (AWS_PROFILE or the AWS_* variables) and the bucket policy",
        )
        error.dead = True  # type: ignore[attr-defined]
        return error
    text = _first_line(exc)
    for secret in _secrets():
        text = text.replace(secret, "***")
    hint = "check AWS_ENDPOINT_URL and the network, then run the same command again"
    if _no_credentials(exc):  # botocore found no key at all: the endpoint and network are not the problem
        hint = ("give the object store's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), "
                "then run the same command again")
    return DownloadError(f"{name}: {what} the object store: {type(exc).__name__}: {text}", hint=hint)


def _no_credentials(exc: BaseException) -> bool:
    """botocore's NoCredentialsError anywhere in the chain, matched by name (botocore is an optional extra)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
            return True
        current = current.__cause__ or current.__context__
    return False


def _secrets() -> list[str]:
    """Values that must never appear in a message (defence in depth: botocore does not print them)."""
    return [
        v
        for k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
        if len(v := os.environ.get(k, "")) >= 4
    ]


def copy_object(
    url: str, part: Path, expected: Expected, progress: Callable[[int, int | None], None] | None = None, config=None
) -> tuple[int, str]:
    """Fill ``part`` from an object-store URL, resuming from what it holds; returns (size, sha256).

    The shared pipeline (``download.transfer``) does the work, with the same guarantees as an HTTP
    download: the announced size is checked against the index before a byte is read, no more than the
    index's File Size is accepted, every byte is hashed as it arrives (the resumed prefix first), and the
    partial keeps what arrived if the transfer breaks. ``fetch`` reaches the same code through
    ``download.open_source``; this is the direct call.
    """
    source = ObjectStoreSource(url)
    fd = os.open(part, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        return transfer(source, fd, expected, config or DownloadConfig(), progress)
    finally:
        os.close(fd)
        source.close()


class ObjectStoreSource:
    """An object as a ``download.Source``: ``open(start)`` is one streaming ranged GET from ``start`` on.

    The shared pipeline (``download.transfer``) then applies every rule it applies to HTTP: the byte limit,
    the announced size, minimum speed, deadline, resume from every byte received.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.display = redact(url)
        self.store = ObjectStore(url)

    def open(self, start: int) -> _ObjectStream:
        fs = self.store.fs
        if not hasattr(fs, "_call_s3"):  # other fsspec protocols: a file object with ranged block reads
            try:
                handle = fs.open(self.store.path(self.url), "rb", block_size=READ_BLOCK, cache_type="readahead")
                size = int(handle.size)
                if start:
                    handle.seek(start)
            except Exception as exc:
                raise _store_error(self.url, exc, "cannot read") from None
            return _ObjectStream(start, size - start, handle.read, handle.close)
        from fsspec.asyn import sync  # noqa: PLC0415 (fsspec/s3fs: only object-store mirrors)

        bucket, key, version = fs.split_path(self.store.path(self.url))
        extra = {"VersionId": version} if version else {}
        try:
            response = sync(
                fs.loop, fs._call_s3, "get_object", Bucket=bucket, Key=key, Range=f"bytes={start}-", **extra
            )
        except Exception as exc:
            if start and "InvalidRange" in str(exc):
                raise RestartFromZero() from None
            raise _store_error(self.url, exc, "cannot read") from None
        body = response["Body"]
        length = response.get("ContentLength")

        def read(n: int) -> bytes:
            try:
                return sync(fs.loop, body.read, n)
            except Exception as exc:
                raise TransientError(f"the object store's stream broke ({type(exc).__name__})") from None

        return _ObjectStream(start, int(length) if length is not None else None, read, body.close)

    def close(self) -> None:
        pass


class _ObjectStream:
    def __init__(
        self, start: int, length: int | None, read: Callable[[int], bytes], close: Callable[[], object]
    ) -> None:
        self.start = start
        self.length = length
        self.read = read
        self._close = close

    def close(self) -> None:
        try:
            self._close()
        except Exception:
            pass


# --- trying an entry's sources in order ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceNote:
    """What happened to one source that was not used: ``kind`` is "dead", "unavailable", "mismatch" or
    "unpinned" (no hash to check its bytes against: refused before any request)."""

    kind: str
    source: int  # 1-based position
    url: str  # redacted
    message: str

    def __str__(self) -> str:
        return f"source {self.source} ({self.url}): {self.message}"

    @property
    def what(self) -> str:
        """What this source met, in a few words: a local file that is not there is missing, not a dead link."""
        return {"dead": "is missing" if self.url.startswith("file:") else "is a dead link",
                "unavailable": "is unavailable", "mismatch": "served wrong bytes",
                "unpinned": "has no hash to check against"}[self.kind]


class _SourceEntry:
    """An entry seen through one of its sources: what ``fetch.py`` fetches (name, URL, file, size, hash)."""

    def __init__(self, entry, spec: SourceSpec, expected: Expected) -> None:
        self.name = entry.name
        self.weights = spec.url
        self.weights_filename = spec.filename
        self.location = getattr(entry, "location", None)
        self.metadata = _Meta(expected.size, expected.sha256)
        self.entry = entry


@dataclass(frozen=True)
class _Meta:
    file_size: int | None
    sha256: str | None


def _dead(exc: DownloadError) -> bool:
    if getattr(exc, "dead", False) or getattr(exc, "status", None) in (403, 404, 410):
        return True
    text = exc.message
    return (
        bool(re.search(r"answered HTTP (403|404|410)\b", text))
        or "cannot resolve the host name" in text
        or "not in the mirror folder" in text
    )


def mirror_folder(mirror: str | None) -> Path | None:
    """The folder on this machine a mirror names (a path, or a ``file://`` URL without a host or with
    ``localhost``), or None for any other mirror. A ``file://`` URL naming another host is a UsageError: that
    host's folder is never read (or written) as a local one."""
    if not mirror or is_object_store(mirror):
        return None
    if "://" not in mirror:
        return Path(mirror).expanduser()
    host = mirror_host_error(mirror)
    if host is not None:
        raise host
    try:
        parts = urlsplit(mirror)
    except ValueError:
        return None  # the download refuses it with the URL policy's message
    path = unquote(parts.path)
    return Path(path) if parts.scheme == "file" and path else None


def is_local_mirror(mirror: str | None) -> bool:
    """Whether ``mirror`` is a folder on this machine: reading it is not the network, so offline mode
    allows it."""
    try:
        return mirror_folder(mirror) is not None
    except UsageError:
        return False


def mirror_host_error(mirror: str | None) -> UsageError | None:
    """The error for a ``file://`` mirror that names another host (``file://server/share``: a folder on that
    machine, RFC 8089), else None. Its path is not read here as a local folder, online or offline."""
    if not mirror or "://" not in mirror or is_object_store(mirror):
        return None
    try:
        parts = urlsplit(mirror)
    except ValueError:
        return None  # the download refuses it with the URL policy's message
    host = parts.netloc.lower()
    if parts.scheme != "file" or host in ("", "localhost"):
        return None
    return UsageError(
        f"the mirror {redact(mirror)} names the host {parts.netloc!r}: a file:// URL names a folder on this machine "
        "(file:///path or file://localhost/path), not one on another host",
        hint="mount the other host's folder here and name the local path, or serve it over https",
    )


def mirror_folder_error(mirror: str | None, names: list[str], files: list[str]) -> ZooError | None:
    """The error for a local mirror (a folder or ``file://`` URL) that is not a folder, else None.

    Said once, before any source is tried: every file of every entry would otherwise fail the same way,
    each with a note that the mirror has no manifest. The hint fills the folder from a cache that holds the
    files (``mirror push``; ``names`` empty: every entry of the index).
    """
    try:
        folder = mirror_folder(mirror)
    except UsageError as exc:
        return exc
    if folder is None:
        return None
    if folder.is_dir():
        return None
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    if os.path.lexists(folder):  # a file, FIFO or dangling link: pushing there would fail the same way
        error = DownloadError(f"the mirror folder {folder} is not a folder",
                              hint=f"name the folder that holds the weight files under their cache names ({shown})")
    else:
        push = " ".join(["tresnet-zoo mirror push", shlex.quote(str(folder)), *(shlex.quote(n) for n in names)])
        error = DownloadError(
            f"the mirror folder {folder} does not exist",
            hint=f"a mirror folder holds the weight files under their cache names ({shown}); fill it from a cache "
            f"that holds them: `{push}`",
        )
    error.missing_mirror = True  # type: ignore[attr-defined]
    return error


def fetch_sources(entry, options, fetch_one: Callable, *, say: Callable[[str], None] | None = None):
    """Fetch ``entry`` from its first source that works; returns ``fetch_one``'s result with ``notes``.

    ``fetch_one(source_entry, options)`` is ``fetch.py``'s single-source fetch (lock, resume, verify,
    rename). Every source's file is checked in the cache before any network request. ``say`` receives one
    line per source that was passed over (default: stderr); mismatches are also kept on ``result.notes``.
    """
    from .lockfile import apply_lock  # noqa: PLC0415 (import cycle: lockfile imports this module)
    from .mirror import apply_manifest, read_manifest  # noqa: PLC0415 (import cycle: mirror imports this module)

    passed = say or (lambda line: warnings.warn(line, SourceWarning, stacklevel=3))  # a source passed over
    say = say or (lambda line: warnings.warn(line, ZooWarning, stacklevel=3))
    specs = entry_sources(entry)
    if not specs:
        raise DownloadError(
            f"{entry.name} has no weights URL in the index", hint=f"see `tresnet-zoo info {entry.name}`"
        )
    mirror = getattr(options, "mirror", None)
    planned = [(spec, apply_lock(entry, spec.expected())) for spec in specs]
    if getattr(options, "public_key", None):  # the mirror's signature: one more pin (signing.py)
        from .signing import signed_pins  # noqa: PLC0415 (only with a public key)

        planned = signed_pins(entry, planned, options, say)
    if not getattr(options, "force", False):  # a verified file of any source: no network at all
        for spec, expected in planned:
            if cached_ok(options.cache, expected):
                return _with(fetch_one(_SourceEntry(entry, spec, expected), options), expected, [])
    host = mirror_host_error(mirror)  # offline or not: a folder on another host is never read as a local one
    if host is not None:
        raise host
    # offline: fetch_one refuses before any request, except from a folder mirror (not the network)
    if mirror and (not getattr(options, "offline", False) or is_local_mirror(mirror)):
        missing = mirror_folder_error(mirror, [entry.name], [specs[0].filename])
        if missing is not None:
            raise missing
        config = getattr(options, "config", None)
        manifest = read_manifest(mirror, timeout=config.read_timeout if config is not None else 30.0)
        if manifest is None:
            say(f"note: the mirror {redact(mirror)} has no manifest; files are checked by name and the index only")
        elif not any(spec.filename in manifest for spec, _ in planned):
            say(
                f"note: {entry.name}: the mirror's manifest has no line for its files; they are checked by name and "
                "the index only"
            )
        planned = [(spec, apply_manifest(manifest, entry.name, expected, say=say)) for spec, expected in planned]
    notes: list[SourceNote] = []
    first_error: ZooError | None = None
    for number, (spec, expected) in enumerate(planned, 1):
        where = redact(_effective_url(spec, mirror))
        try:
            result = fetch_one(_SourceEntry(entry, spec, expected), options)
        except OfflineError:
            raise
        except IntegrityError as exc:
            if getattr(exc, "unpinned", False):  # refused before any byte was read: nothing was served
                note = SourceNote("unpinned", number, where, exc.message)
            else:
                note = SourceNote("mismatch", number, where, exc.message)
                if number < len(planned):  # reported now, even when a later source succeeds
                    passed(f"error: {entry.name}: {note}")
            first_error = first_error or exc
        except DownloadError as exc:
            kind = "dead" if _dead(exc) else "unavailable"
            note = SourceNote(kind, number, where, exc.message)
            first_error = first_error or exc
        else:
            return _with(result, expected, notes)
        notes.append(note)
        if number < len(planned):
            detail = "" if note.kind == "mismatch" else f": {note.message}"
            passed(
                f"warning: {entry.name}: source {number} ({where}) {note.what}{detail}; trying source {number + 1} of "
                f"{len(planned)}"
            )
    assert first_error is not None
    if len(planned) > 1:  # one line: each source's host and what it met (the whole messages: ``notes``)
        first_error.message = f"none of its {len(planned)} sources worked: " + "; ".join(
            f"source {n.source} ({urlsplit(n.url).hostname or n.url}) {n.what}" for n in notes)
        first_error.args = (first_error.message,)
    first_error.notes = notes  # type: ignore[attr-defined]
    raise first_error


def _with(result, expected: Expected, notes: list[SourceNote]):
    """The result with what its file was held to (``expected``: the source's file, lock and manifest applied;
    a loader must check the bytes against this, not the primary's) and the sources passed over."""
    result.expected = expected
    result.notes = notes
    return result


def _effective_url(spec: SourceSpec, mirror: str | None) -> str:
    if not mirror:
        return spec.url
    base = mirror if "://" in mirror else Path(mirror).resolve().as_uri()
    return base.rstrip("/") + "/" + spec.filename


def cached_ok(cache, expected: Expected) -> bool:
    """Whether our record of ``expected``'s file in the cache matches it (size, hash): the claim a cache hit
    starts from; the bytes are hashed when they are loaded."""
    record = cache.cached_record(expected.filename)
    if record is None or (expected.size is not None and record.size != expected.size):
        return False
    return expected.hash_problem(record.sha256) is None
