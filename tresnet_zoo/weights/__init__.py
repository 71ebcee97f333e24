"""Weight files: transports (``transports/``: http, file, object store), the sink, the cache, partial
downloads, fetch (``plan`` then ``fetch_one``), lock file and mirror pins, verify, load and repair, mirror
push and link checks.

Only ``cache`` is imported eagerly: `list` needs it, and nothing else of the package.
"""

from __future__ import annotations

from .cache import Cache, clear, default_cache_dir, inventory

__all__ = ["Cache", "default_cache_dir", "inventory", "clear", "repair", "DownloadConfig", "FetchOptions",
           "FetchResult", "fetch_entry"]


_LAZY = {"DownloadConfig": "transports", "repair": "repair", "FetchOptions": "fetch", "FetchResult": "fetch",
         "fetch_entry": "fetch"}


def __getattr__(name: str):
    # deliberate lazy imports: `list` imports only the cache module; the rest loads when it is used
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415 (lazy attribute: `list` imports only the cache module)

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
