"""The exception hierarchy of tresnet-zoo.

Library code raises these; only the CLI turns them into a message and an exit code (see
``tresnet_zoo.cli``). Every error carries a one-line message that says what went wrong and where, and
optionally a hint that says what to do next.

Exit codes: 0 ok, 1 the data or a file is bad (invalid index, wrong hash, failed check), 2 usage (missing
file, unknown name or option).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .index.problems import Problem

__all__ = [
    "ZooError",
    "UsageError",
    "IndexNotFoundError",
    "UnknownModelError",
    "InvalidIndexError",
    "CheckFailedError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "DownloadError",
    "IntegrityError",
    "OfflineError",
    "CacheError",
    "MissingDependencyError",
    "MissingExtraError",
]

EXIT_OK = 0
EXIT_BAD_DATA = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3  # the network, the disk, permissions: not the data, not the command line


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


class IndexNotFoundError(UsageError):
    """An index path given by the user does not exist."""


class UnknownModelError(UsageError):
    """A model name is not in the index."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), *, index: str | None = None) -> None:
        where = f" in {index}" if index else ""
        message = f"unknown model {name!r}{where}"
        if suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        super().__init__(message, hint="run `tresnet-zoo list` to see every model")
        self.name = name
        self.suggestions = list(suggestions)


class InvalidIndexError(ZooError):
    """An index file (or a file it imports) is malformed or breaks the schema."""

    def __init__(self, problems: Sequence["Problem"], *, source: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        if count == 1:
            message = f"invalid model index: {self.problems[0]}"
        elif count:
            message = f"invalid model index ({count} problems), first: {self.problems[0]}"
        else:
            message = f"invalid model index{': ' + source if source else ''}"
        super().__init__(message, hint="run `tresnet-zoo validate` to see every problem")


class CheckFailedError(ZooError):
    """`check` found metadata that the reference implementation contradicts."""


class CheckpointError(ZooError):
    """A checkpoint does not fit the architecture it is said to belong to."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds pickled code, which tresnet-zoo never executes."""


class DownloadError(ZooError):
    """A weight file could not be downloaded (network, HTTP status, server behaviour): the environment."""

    exit_code = EXIT_ENVIRONMENT


class IntegrityError(DownloadError):
    """A file's size or hash differs from what the index declares: the data is wrong."""

    exit_code = EXIT_BAD_DATA


class CacheError(ZooError):
    """The weight cache cannot be written (not a folder, no permission, disk full): the environment."""

    exit_code = EXIT_ENVIRONMENT


class OfflineError(UsageError):
    """Offline mode forbids the network and the file is not in the cache."""


class MissingDependencyError(UsageError):
    """An optional dependency (torch) is needed for this command."""


class MissingExtraError(MissingDependencyError):
    """An optional extra (s3fs for s3:// mirrors) is not installed: the environment, not the input (exit 3)."""

    exit_code = EXIT_ENVIRONMENT
