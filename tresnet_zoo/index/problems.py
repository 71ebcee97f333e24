"""Where a value came from, and what is wrong with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["Location", "Problem", "display_path", "path_text"]


def path_text(path: str | os.PathLike) -> str:
    """A path as text that any UTF-8 stream or file can hold: bytes of a file name that are not UTF-8
    (which Python keeps as lone surrogates) are shown escaped, ``caf\\xe9.yml``. The one place a path
    becomes text for display; JSON keeps the exact name (its ``\\u`` escapes read back as the same path)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def display_path(path: Path) -> str:
    """A path as a user wants to read it: relative to the working directory when below it (``path_text``)."""
    try:
        return _display_path(path, os.getcwd())
    except OSError:  # the working directory is gone
        return path_text(path)


@lru_cache(maxsize=256)
def _display_path(path: Path, cwd: str) -> str:
    # memoized per working directory: every record and problem of an index names the same few files
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:  # different drive on Windows
        return path_text(path)
    return path_text(rel if not rel.startswith("..") else path)


@dataclass(frozen=True)
class Location:
    """A file and (when known) a 1-based line in it."""

    file: Path
    line: int | None = None

    def __str__(self) -> str:
        name = display_path(self.file)
        return f"{name}:{self.line}" if self.line is not None else name


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an index: where, in which entry and field, and what."""

    location: Location
    message: str
    entry: str | None = None
    field: tuple[str, ...] = ()

    def __str__(self) -> str:
        subject = " > ".join(([self.entry] if self.entry else []) + list(self.field))
        return f"{self.location}: {subject + ': ' if subject else ''}{self.message}"

    def to_dict(self) -> dict:
        return {
            "file": str(self.location.file),  # exact (see path_text)
            "line": self.location.line,
            "entry": self.entry,
            "field": list(self.field),
            "message": self.message,
        }
