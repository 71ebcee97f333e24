"""What "expected" is for a file, decided once per fetch: the index's pins for each source (size, hash
prefix in the name, SHA256), then the lock file's, then the mirror's manifest. ``plan`` applies the index
and the lock; ``pin_mirror`` adds the manifest once the cache has been looked at (a cache hit reads no
mirror). Lock and manifest files are read by ``lockfile`` and ``mirror``; they are applied only here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .._urls import Mirror, redact
from ..errors import DownloadError, UsageError
from .hashes import Expected
from .lockfile import apply_lock
from .mirror import apply_manifest, read_manifest
from .sources import SourceSpec, entry_sources, is_local_mirror, mirror_folder_error, mirror_host_error

__all__ = ["Planned", "expected_for", "pinned", "plan", "pin_mirror"]


def expected_for(entry) -> Expected:
    """What the primary ``Weights`` file must be: its source's pins (``entry.sources``, the one place file
    names and hashes are worked out), then the lock file's."""
    if not entry.weights_filename:
        raise UsageError(f"{entry.name} has no usable weights URL in the index",
                         hint=f"see `tresnet-zoo info {entry.name}`")
    return apply_lock(entry, entry_sources(entry)[0].expected())


def _url(spec: SourceSpec, mirror: str | None) -> str:
    """Where a source's bytes come from: its URL, or its strict cache file name under the mirror."""
    return Mirror.parse(mirror).url_of(spec.filename) if mirror else spec.url


@dataclass(frozen=True)
class Planned:
    """One source of an entry, ready to fetch: where from, and what its bytes must be (every pin applied)."""

    entry: str  # the entry's name
    url: str  # the source's URL, or its file under the mirror
    expected: Expected


def pinned(entry) -> list[Expected]:
    """What each of the entry's sources' files must be (index and lock file), in source order."""
    return [apply_lock(entry, spec.expected()) for spec in entry_sources(entry)]


def plan(entry, mirror: str | None = None) -> list[Planned]:
    """The entry's sources in order, each held to the index and the lock file (``pin_mirror`` adds the
    mirror's manifest once the cache has been looked at)."""
    specs = entry_sources(entry)
    if not specs:
        raise DownloadError(f"{entry.name} has no weights URL in the index",
                            hint=f"see `tresnet-zoo info {entry.name}`", entry=entry.name)
    return [Planned(entry.name, _url(spec, mirror), apply_lock(entry, spec.expected())) for spec in specs]


def pin_mirror(entry, planned: list[Planned], mirror: str | None, *, offline: bool, timeout: float,
               say: Callable[[str], None]) -> list[Planned]:
    """``planned`` held to the mirror's manifest too, when a mirror is read (offline: only a folder); a
    mirror that cannot be read is an error before any source is tried."""
    host = mirror_host_error(mirror)  # offline or not: a folder on another host is never read as a local one
    if host is not None:
        raise host
    # offline: fetch_one refuses before any request, except from a folder mirror (not the network)
    if not mirror or (offline and not is_local_mirror(mirror)):
        return planned
    missing = mirror_folder_error(mirror, [entry.name], [planned[0].expected.filename])
    if missing is not None:
        raise missing
    manifest = read_manifest(mirror, timeout=timeout)
    if manifest is None:
        say(f"note: the mirror {redact(mirror)} has no manifest; files are checked by name and the index only")
    elif not any(p.expected.filename in manifest for p in planned):
        say(f"note: {entry.name}: the mirror's manifest has no line for its files; they are checked by name and "
            "the index only")
    return [replace(p, expected=apply_manifest(manifest, entry.name, p.expected, say=say)) for p in planned]
