"""The local weight cache: where files live and how to tell that one is there.

Location: ``$TRESNET_ZOO_CACHE``, else ``$XDG_CACHE_HOME/tresnet-zoo``, else ``~/.cache/tresnet-zoo``.
Files are stored under their URL's base name, the torch.hub habit.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_dir", "cached_path"]

CACHE_ENV = "TRESNET_ZOO_CACHE"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tresnet-zoo"


def cached_path(cache_dir: Path, filename: str) -> Path:
    return cache_dir / filename
