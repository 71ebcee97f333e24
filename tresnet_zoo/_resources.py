"""Where the bundled registry and schema live.

In a wheel they are package data under ``tresnet_zoo/_data/`` (pyproject's force-include); in a source
checkout or an editable install they are the repository's top-level ``registry/`` and ``schemas/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tresnet-zoo's bundled {name}/ folder is missing; reinstall tresnet-zoo")


def registry_dir() -> Path:
    """The folder of the bundled index (its ``*.yml`` files are the default index)."""
    return _data_dir("registry")


def schema_path() -> Path:
    return _data_dir("schemas") / "model-index.schema.json"


def docs_dir() -> Path:
    """Templates (``templates/``) and static files (``assets/``) of the docs site."""
    return _data_dir("docs")


def upstream_page() -> Path | None:
    """The verbatim upstream TResNet model-index page (the test fixture), for the corrections page."""
    for candidate in (_PACKAGE / "_data" / "upstream" / "tresnet.md",
                      _PACKAGE.parent / "tests" / "fixtures" / "upstream_tresnet.md"):
        if candidate.is_file():
            return candidate
    return None
