"""Weight files: the cache (``cache.py``), downloads (``download.py``), hashes (``hashes.py``),
fetching with locks and resume (``core.py``) and checking cached files (``verify.py``).

Only ``cache`` is imported eagerly: `list` needs it, and nothing else of the package.
"""

from __future__ import annotations

from pathlib import Path

from .cache import Cache, default_cache_dir

__all__ = ["Cache", "default_cache_dir", "DownloadConfig", "FetchOptions", "FetchResult", "fetch", "fetch_entry", "fetch_entry_path"]


def __getattr__(name: str):
    if name == "DownloadConfig":
        from .download import DownloadConfig

        return DownloadConfig
    if name in ("FetchOptions", "FetchResult", "fetch_entry"):
        from . import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fetch(
    name: str,
    *,
    verify: bool = False,
    index=None,
    cache_dir: str | Path | None = None,
    mirror: str | None = None,
    offline: bool | None = None,
    force: bool = False,
    config=None,
) -> Path:
    """The path of entry ``name``'s weights in the cache, downloading and verifying them if needed.

    Size and sha256 are always checked; ``verify=True`` adds the deep check (the file loads into the
    reference model and runs). ``mirror`` and ``offline`` default to ``$TRESNET_ZOO_MIRROR`` and
    ``$TRESNET_ZOO_OFFLINE``. ``config`` is a ``DownloadConfig`` (timeouts, retries).
    """
    from ..index import load_index

    return fetch_entry_path(load_index(index).get(name), verify=verify, cache_dir=cache_dir, mirror=mirror,
                            offline=offline, force=force, config=config)


def fetch_entry_path(entry, *, verify: bool = False, cache_dir=None, mirror=None, offline=None, force=False, config=None) -> Path:
    """``fetch`` for an entry already read from an index."""
    from .core import FetchOptions, fetch_entry
    from .download import DownloadConfig
    from .verify import deep_check

    options = FetchOptions.from_env(
        cache=Cache(Path(cache_dir) if cache_dir else None), mirror=mirror, offline=offline, force=force,
        config=config or DownloadConfig(),
    )
    result = fetch_entry(entry, options)
    if verify:
        deep_check(entry, result.path)
    return result.path
