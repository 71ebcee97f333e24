"""Repairing the cache: re-check a cached file and, when it is bad, fetch it again (``verify --repair``).

A library function so that the Python API can repair too; the CLI only prints what it returns.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ZooError
from .cache import clear
from .fetch import FetchOptions, fetch_entry
from .verify import FileCheck, check_entry, check_file

__all__ = ["repair"]


def repair(entry, options: FetchOptions, *, deep: bool = False) -> tuple[FileCheck, bool | None]:
    """Check ``entry``'s cached file; when bad, fetch it again over it.

    Returns (the check after any repair, whether a repair was tried and worked: None when none was needed).
    Nothing is deleted first: only a verified download replaces the file (an atomic rename), so a repair
    that fails leaves the cache as it found it.
    """
    cache = options.cache
    result = check_entry(entry, cache, deep=deep)  # the file it would load: a fallback source's, if that one
    if result.ok:
        return result, None
    # idle partials of the file go (a resume must not start from bytes that may be the bad ones); the file
    # itself stays until a verified download replaces it by an atomic rename: a download that fails leaves
    # it as it was (it may be another entry's good file, held to this entry's different File Size)
    clear(cache, [result.filename], partials_only=True)
    try:
        fetched = fetch_entry(entry, replace(options, force=True))  # sources in order: maybe another file
    except ZooError as exc:
        result.problems.append(f"repair failed: {exc.message}")
        return result, False
    result = check_file(entry, cache, fetched.expected, deep=deep)
    return result, result.ok
