"""An entry's sources, in the order ``fetch`` tries them, and what a mirror names.

Sources: the index's ``Weights``, then the ``x-tresnet-zoo.sources`` of the entry; a mirror (a folder,
``file://`` URL, https base or object store) holds the same file names. ``HF_ENDPOINT`` replaces
``https://huggingface.co`` for Hugging Face URLs (a hub mirror behind a firewall).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .._urls import Mirror, redact
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
    "cached_record",
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
    return [SourceSpec(hf_url(s.url), s.filename, s.size, s.sha256, s.sha256_prefix) for s in entry.sources]


def entry_files(entry) -> list[str]:
    """The cache file names the entry's weights may have: every source's, primary first (without building
    the sources: ``list`` needs only the names)."""
    return list(entry.weights_files)


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

    @property
    def what(self) -> str:
        """What this source met, in a few words: a local file that is not there is missing, not a dead link."""
        return {"dead": "is missing" if self.url.startswith("file:") else "is a dead link",
                "unavailable": "is unavailable", "mismatch": "served wrong bytes",
                "unpinned": "has no hash to check against"}[self.kind]


def mirror_folder(mirror: str | None) -> Path | None:
    """The folder on this machine a mirror names, or None for any other mirror. A ``file://`` URL naming
    another host is a UsageError: that host's folder is never read (or written) as a local one."""
    host = mirror_host_error(mirror)
    if host is not None:
        raise host
    return Mirror.parse(mirror).folder if mirror else None


def is_local_mirror(mirror: str | None) -> bool:
    """Whether ``mirror`` is a folder on this machine: reading it is not the network, so offline mode
    allows it."""
    return bool(mirror) and Mirror.parse(mirror).kind == "folder"


def mirror_host_error(mirror: str | None) -> UsageError | None:
    """The error for a ``file://`` mirror that names another host, else None."""
    parsed = Mirror.parse(mirror) if mirror else None
    if parsed is None or parsed.kind != "other-host":
        return None
    return UsageError(
        f"the mirror {redact(mirror)} names the host {parsed.host!r}: a file:// URL names a folder on this machine "
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


def cached_record(cache, expected: Expected):
    """Our record of ``expected``'s file in the cache when it matches (size, hash), else None: the claim a
    cache hit starts from; the bytes are hashed when they are loaded."""
    record = cache.cached_record(expected.filename)
    if record is None or (expected.size is not None and record.size != expected.size):
        return None
    return None if expected.hash_problem(record.sha256) else record
