"""Weight files: transports (``transports/``: http, file, object store), the sink, the cache, partial
downloads, fetch (``plan`` then ``fetch_one``), lock file and mirror pins, verify, load and repair, mirror
push and link checks.

Only ``cache`` is imported eagerly: `list` needs it, and nothing else of the package.
"""

from __future__ import annotations

from .cache import Cache, clear, default_cache_dir, inventory

__all__ = ["Cache", "default_cache_dir", "inventory", "clear", "repair", "DownloadConfig", "FetchOptions",
           "FetchResult", "fetch_entry"]


def __getattr__(name: str):
    # deliberate lazy imports: requests/urllib3 load only when something is downloaded
    if name == "DownloadConfig":
        from .transports import DownloadConfig  # noqa: PLC0415 (lazy attribute: `list` imports only the cache module)

        return DownloadConfig
    if name == "repair":
        from .repair import repair  # noqa: PLC0415 (lazy attribute: `list` imports only the cache module)

        return repair
    if name in ("FetchOptions", "FetchResult", "fetch_entry"):
        from . import fetch  # noqa: PLC0415 (lazy attribute: `list` imports only the cache module)

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
