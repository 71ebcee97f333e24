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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

from .._urls import filename_problem, hub_parts, is_object_store, redact, weights_filename
from ..errors import (
    MirrorMissingError,
    UsageError,
    ZooError,
)
from .hashes import Expected

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
    "is_local_mirror",
    "mirror_folder",
    "mirror_folder_error",
    "mirror_host_error",
    "SourceNote",
]

HF_ENDPOINT_ENV = "HF_ENDPOINT"
_HF_HOST = "https://huggingface.co"


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
        return MirrorMissingError(f"the mirror folder {folder} is not a folder", path=str(folder),
                                  hint=f"name the folder that holds the weight files under their cache names ({shown})")
    push = " ".join(["tresnet-zoo mirror push", shlex.quote(str(folder)), *(shlex.quote(n) for n in names)])
    return MirrorMissingError(
        f"the mirror folder {folder} does not exist",
        hint=f"a mirror folder holds the weight files under their cache names ({shown}); fill it from a cache "
        f"that holds them: `{push}`",
        path=str(folder),
    )


def cached_ok(cache, expected: Expected) -> bool:
    """Whether our record of ``expected``'s file in the cache matches it (size, hash): the claim a cache hit
    starts from; the bytes are hashed when they are loaded."""
    record = cache.cached_record(expected.filename)
    if record is None or (expected.size is not None and record.size != expected.size):
        return False
    return expected.hash_problem(record.sha256) is None
