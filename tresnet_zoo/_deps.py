"""Optional dependencies: say which extra is missing before any work starts, instead of an ImportError."""

from __future__ import annotations

from importlib.util import find_spec

from .errors import MissingDependencyError

__all__ = ["require", "missing_extra"]

# import name -> the name users know it by
_DISPLAY = {"torch": "PyTorch", "PIL": "Pillow", "safetensors": "safetensors", "numpy": "NumPy",
            "material": "MkDocs Material", "mkdocs": "MkDocs", "jinja2": "Jinja2", "markupsafe": "MarkupSafe",
            "model_signing": "model-signing", "OpenSSL": "pyOpenSSL"}


def require(*modules: str, extra: str, purpose: str) -> None:
    """Raise ``MissingDependencyError`` (exit 3, naming ``extra``) unless every module can be imported.

    ``find_spec`` looks the modules up without importing them, so the check costs nothing when they are
    there (torch's import takes seconds, and the caller may not need it yet)."""
    missing = [_DISPLAY.get(m, m) for m in modules if not _importable(m)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise MissingDependencyError(f"{purpose} needs {', '.join(missing)}, which {verb} not installed (the "
                                     f"{extra!r} extra)", extra=extra)


# top-level module -> the extra of pyproject.toml that installs it
_EXTRAS = {"torch": "torch", "numpy": "torch", "safetensors": "torch", "PIL": "torch", "jinja2": "docs",
           "markupsafe": "docs", "matplotlib": "docs", "mkdocs": "docs", "material": "docs", "s3fs": "s3",
           "boto3": "s3", "botocore": "s3", "aiobotocore": "s3", "model_signing": "sign", "OpenSSL": "sign",
           "onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx"}


def missing_extra(exc: ModuleNotFoundError) -> MissingDependencyError | None:
    """An import that failed deep inside a command, as the error naming the extra that provides it."""
    top = (exc.name or "").split(".")[0]
    extra = _EXTRAS.get(top)
    if extra is None:
        return None
    return MissingDependencyError(f"{_DISPLAY.get(top, top)} is not installed (the {extra!r} extra)", extra=extra)


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked installation is as good as none
        return False
