"""Optional dependencies: say which extra is missing before any work starts, instead of an ImportError."""

from __future__ import annotations

from importlib.util import find_spec

from .errors import MissingDependencyError

__all__ = ["require"]

# import name -> the name users know it by
_DISPLAY = {"torch": "PyTorch", "PIL": "Pillow", "safetensors": "safetensors", "numpy": "NumPy",
            "material": "MkDocs Material", "mkdocs": "MkDocs", "jinja2": "Jinja2", "markupsafe": "MarkupSafe"}


def require(*modules: str, extra: str, purpose: str) -> None:
    """Raise ``MissingDependencyError`` (exit 3, naming ``extra``) unless every module can be imported.

    ``find_spec`` looks the modules up without importing them, so the check costs nothing when they are
    there (torch's import takes seconds, and the caller may not need it yet)."""
    missing = [_DISPLAY.get(m, m) for m in modules if not _importable(m)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise MissingDependencyError(f"{purpose} needs {', '.join(missing)}, which {verb} not installed", extra=extra)


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked installation is as good as none
        return False
