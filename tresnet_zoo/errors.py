"""The exception hierarchy of tresnet-zoo.

Library code raises these; only the CLI turns them into a message and an exit code (see
``tresnet_zoo.cli``). Every error carries a one-line message that says what went wrong and where, and
optionally a hint that says what to do next.

Exit codes (``EXIT_CODES`` is the one table; the CLI prints it in ``--help`` and README repeats it):
0 ok; 1 the data or a file is wrong; 2 usage; 3 the environment failed; 70 a bug in tresnet-zoo.
Every ``ZooError`` subclass carries its code, chosen by cause, not by the command that raised it.
Hints written here name no CLI flags; the CLI builds runnable hints from the data errors carry
(``tresnet_zoo.cli.hints``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .index.problems import Problem

__all__ = [
    "ZooError",
    "UsageError",
    "WouldOverwriteError",
    "BundledRegistryError",
    "ZooEnvironmentError",
    "EXIT_CODES",
    "IndexNotFoundError",
    "UnknownModelError",
    "InvalidIndexError",
    "CheckFailedError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "DownloadError",
    "IntegrityError",
    "CacheFolderError",
    "LockDisagreesError",
    "CachedFileDamagedError",
    "UnpinnedError",
    "MirrorMissingError",
    "UnboundedDownloadError",
    "UrlPolicyError",
    "DeadSourceError",
    "NetworkError",
    "OfflineError",
    "CacheError",
    "MissingDependencyError",
    "MissingExtraError",
    "FixError",
    "IndexNotWritableError",
    "ImageError",
    "ZooWarning",
    "SourceWarning",
]

EXIT_OK = 0
EXIT_BAD_DATA = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_BUG = 70

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_BAD_DATA: "the data or a file is wrong (invalid index, failed check, wrong size or hash)",
    EXIT_USAGE: "usage (unknown model name or option, missing file)",
    EXIT_ENVIRONMENT: "the environment failed (network, disk, permissions, missing optional dependency)",
    EXIT_BUG: "a bug in tresnet-zoo (please report it); no input should ever cause it",
}


class ZooError(Exception):
    """Base class: a failure tresnet-zoo can explain to a user."""

    exit_code = EXIT_BAD_DATA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ZooError):
    """The command line asked for something that does not exist (file, model, option)."""

    exit_code = EXIT_USAGE


class WouldOverwriteError(UsageError):
    """An output file (``path``) exists and was not asked to be replaced."""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class ZooEnvironmentError(ZooError):
    """The environment failed, not the data or the command line: network, disk, permissions, missing extra."""

    exit_code = EXIT_ENVIRONMENT


class IndexNotFoundError(UsageError):
    """An index path given by the user does not exist."""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class UnknownModelError(UsageError):
    """A model name is not in the index."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), *, index: str | None = None) -> None:
        where = f" in {index}" if index else ""
        message = f"unknown model {name!r}{where}"
        if suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        super().__init__(message, hint="`tresnet-zoo list` shows every model")
        self.name = name
        self.suggestions = list(suggestions)


class InvalidIndexError(ZooError):
    """An index file (or a file it imports) is malformed or breaks the schema."""

    def __init__(
        self, problems: Sequence["Problem"], *, source: str | None = None, paths: Sequence[object] = ()
    ) -> None:
        self.problems = list(problems)
        self.paths = list(paths)  # the index's root files, so that a hint can name them
        count = len(self.problems)
        if count == 1:
            message = f"invalid model index: {self.problems[0]}"
        elif count:
            message = f"invalid model index ({count} problems), first: {self.problems[0]}"
        else:
            message = f"invalid model index{': ' + source if source else ''}"
        super().__init__(message, hint="`tresnet-zoo validate` lists every problem")


class BundledRegistryError(UsageError):
    """A command would write into tresnet-zoo's bundled registry (``path``), which is never written."""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class CheckFailedError(ZooError):
    """`check` found metadata that the reference implementation contradicts."""


class CheckpointError(ZooError):
    """A checkpoint does not fit the architecture it is said to belong to."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds pickled code, which tresnet-zoo never executes."""


class DownloadError(ZooEnvironmentError):
    """A weight file could not be downloaded (network, HTTP status, server behaviour): exit 3.

    Fields, where known: ``url`` (redacted) or ``path`` of the source, its HTTP ``status``, the ``entry``, and
    ``notes``: what each source met when several were tried (``weights.sources.SourceNote``)."""

    def __init__(self, message: str, *, hint: str | None = None, url: str | None = None, status: int | None = None,
                 path: str | None = None, entry: str | None = None, notes: tuple = ()) -> None:
        super().__init__(message, hint=hint)
        self.url, self.status, self.path, self.entry, self.notes = url, status, path, entry, tuple(notes)


class NetworkError(DownloadError):
    """The network or a server failed before the file arrived (connection, redirects, HTTP errors)."""


class DeadSourceError(DownloadError):
    """A source that is not there: HTTP 403/404/410, a host name that does not resolve, a missing object
    or mirror file. The next source is tried."""


class UrlPolicyError(DownloadError):
    """A URL or a redirect that the URL policy refuses (plain http, another scheme, a hop to loopback)."""


class UnboundedDownloadError(DownloadError):
    """No File Size and no byte limit for a download, or a source sending more than the limit."""


class MirrorMissingError(DownloadError):
    """A local mirror (``path``) that is not a folder, or does not exist."""


class IntegrityError(DownloadError):
    """A file's size or hash differs from what the index declares: the data is wrong (exit 1)."""

    exit_code = EXIT_BAD_DATA


class UnpinnedError(IntegrityError):
    """A file with no hash to check its bytes against: refused before any request."""


class CachedFileDamagedError(IntegrityError):
    """A file in the cache differs from what was recorded or declared (``path``)."""


class LockDisagreesError(IntegrityError):
    """The lock file (``path``) pins other bytes than the index declares."""


class CacheError(ZooEnvironmentError):
    """The weight cache cannot be written (not a folder, no permission, disk full)."""


class CacheFolderError(CacheError):
    """The cache folder itself is unusable (``path``): another cache folder helps."""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class OfflineError(UsageError):
    """Offline mode forbids the network and the file is not in the cache."""


class MissingDependencyError(ZooEnvironmentError):
    """An optional dependency (torch, mkdocs) is needed for this command: exit 3.

    ``extra`` names the package extra that provides it (``torch``, ``docs``), so that the CLI can say how
    to install it in the way this copy was installed (a checkout or a wheel).
    """

    def __init__(self, message: str, *, hint: str | None = None, extra: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.extra = extra


class FixError(ZooError):
    """A measured value cannot be written back into an index exactly; no file was changed."""


class IndexNotWritableError(ZooEnvironmentError):
    """The index file or its folder is read-only; no file was changed."""


class ImageError(ZooError):
    """An input image cannot be classified: not an image, damaged, too many pixels, not a regular file."""


class MissingExtraError(MissingDependencyError):
    """An optional extra for one kind of source (s3fs for s3:// mirrors, another fsspec backend) is missing."""


class ZooWarning(UserWarning):
    """Something the user should know that did not stop the operation (a source passed over, a mirror
    without a manifest): issued with ``warnings.warn``, so that ``-W``/``PYTHONWARNINGS`` can filter it."""


class SourceWarning(ZooWarning):
    """One of an entry's sources was passed over (dead, wrong bytes, no hash) and the next one is tried."""
