"""Transports: where bytes come from (http, file, object store), behind one small interface (``base``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..._urls import is_object_store
from ..hashes import Expected
from .base import DownloadConfig, Progress, Source, check_url_allowed, transfer
from .file import FileSource
from .http import HttpSource
from .objectstore import ObjectStoreSource

__all__ = ["open_source", "download"]


def open_source(url: str, filename: str, config: DownloadConfig) -> Source:
    """The source for ``url``: an HTTP(S) URL, or a ``file://`` mirror folder URL joined with ``filename``."""
    if is_object_store(url):
        return ObjectStoreSource(url, config=config)
    check_url_allowed(url, config)
    if urlsplit(url).scheme == "file":
        return FileSource.from_url(url, filename)
    return HttpSource(url, config, filename)


def download(url: str, fd: int, expected: Expected, config: DownloadConfig,
             progress: Progress | None = None) -> tuple[int, str]:
    """Fill the partial file open at ``fd`` with the file at ``url``, resuming from what it already holds.

    Returns (size, sha256 hex). Raises DownloadError (network, HTTP, limits) or IntegrityError (more
    bytes than the index's File Size, or fewer at the end). The partial keeps what arrived, for a later resume.
    """
    source = open_source(url, expected.filename, config)
    try:
        return transfer(source, fd, expected, config, progress)
    finally:
        source.close()
