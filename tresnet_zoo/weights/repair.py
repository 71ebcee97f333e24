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
    """Check ``entry``'s cached file; when bad, remove what is ours of it and fetch it again.

    Returns (the check after any repair, whether a repair was tried and worked: None when none was needed).
    A file under the final name that tresnet-zoo did not write is not deleted: the verified download
    replaces it by an atomic rename.
    """
    cache = options.cache
    result = check_entry(entry, cache, deep=deep)  # the file it would load: a fallback source's, if that one
    if result.ok:
        return result, None
    clear(cache, [result.filename])
    try:
        fetched = fetch_entry(entry, replace(options, force=True))  # sources in order: maybe another file
    except ZooError as exc:
        result.problems.append(f"repair failed: {exc.message}")
        return result, False
    result = check_file(entry, cache, fetched.expected, deep=deep)
    return result, result.ok
