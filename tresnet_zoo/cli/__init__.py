"""The ``tresnet-zoo`` command line: a thin layer over the library, one module per command group."""

from __future__ import annotations

from .main import app, main

__all__ = ["app", "main"]
