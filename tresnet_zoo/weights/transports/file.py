"""``file://`` mirrors: a file in a mirror folder, opened without following links."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..._fs import open_regular
from ..._urls import filename_problem
from ...errors import DeadSourceError, DownloadError
from ..hashes import CHUNK


class FileSource:
    """A file in a mirror folder: the folder from the mirror URL, the name only from the strict cache file
    name, the path confined to the folder, opened without following links, a regular file required."""

    def __init__(self, folder: Path, filename: str) -> None:
        problem = filename_problem(filename)
        if problem:
            raise DownloadError(f"refusing to read a mirror file under an unsafe name: {problem}")
        self.folder = folder
        self.filename = filename
        self.path = folder / filename
        self.display = str(self.path)

    @classmethod
    def from_url(cls, url: str, filename: str) -> FileSource:
        """``url`` is the mirror folder joined with the file name (``fetch.plan``); only the folder
        part is taken from it, the file name is the strict one the cache uses."""
        path = unquote(urlsplit(url).path)
        folder = path[: -len(filename)] if path.endswith("/" + filename) else path.rsplit("/", 1)[0]
        return cls(Path(folder or "/"), filename)

    def open(self, start: int) -> _FileStream:
        try:
            folder = self.folder.resolve(strict=True)
        except OSError as exc:
            raise DownloadError(f"{self.filename}: the mirror folder {self.folder} cannot be read: "
                                f"{exc.strerror or exc}",
                                hint="check the mirror path") from None
        target = folder / self.filename
        if target.parent != folder:
            raise DownloadError(f"{self.filename}: would leave the mirror folder {folder}")
        try:
            fd, _ = open_regular(target)
        except FileNotFoundError:
            raise DeadSourceError(f"{self.filename}: not in the mirror folder ({target} does not exist)",
                                  hint="copy the file into the mirror, or fetch without a mirror",
                                  path=str(target)) from None
        except OSError as exc:
            what = ("is not a regular file" if exc.errno == errno.EINVAL else "cannot be read: "
                    + ("a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)))
            raise DownloadError(f"{self.filename}: the mirror's {target} {what}",
                                hint="put the file itself into the mirror folder") from None
        return _FileStream(fd)  # a mirror copy always starts from the first byte (start 0)

    def close(self) -> None:
        pass


class _FileStream:
    start = 0

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.length = os.fstat(fd).st_size

    def read(self, n: int) -> bytes:
        return os.read(self.fd, max(n, CHUNK))  # local disk: big reads, no socket to wait on

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
