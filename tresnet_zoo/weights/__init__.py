"""Weight files: the cache (``cache.py``), downloads (``download.py``), hashes (``hashes.py``),
the fetch algorithm with locks and resume (``fetch.py``) and checking cached files (``verify.py``).

Only ``cache`` is imported eagerly: `list` needs it, and nothing else of the package.
"""

from __future__ import annotations

from .cache import Cache, default_cache_dir

__all__ = ["Cache", "default_cache_dir", "DownloadConfig", "FetchOptions", "FetchResult", "fetch_entry"]


def __getattr__(name: str):
    # deliberate lazy imports: requests/urllib3 load only when something is downloaded
    if name == "DownloadConfig":
        from .download import DownloadConfig

        return DownloadConfig
    if name in ("FetchOptions", "FetchResult", "fetch_entry"):
        from . import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
