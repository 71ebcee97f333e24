"""Partial downloads: the one module that decides which ``.part`` file may be resumed, and by whom.

The cache folder is shared, untrusted space (an NFS share, a cluster scratch folder): anyone who can write
there can plant a file under a name we would use. So a partial is trusted only through an open file
descriptor, never through its name:

- our names are parsed strictly (``<file>.<pid>@<host>.<id>.part``, the file a strict slug, the pid 1 to
  ``PID_MAX``); anything else ending in ``.part`` is foreign: listed as such, never opened, never removed;
- a partial is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a planted symlink fails, a planted FIFO does not
  block) and kept only when ``fstat`` says: a regular file, one link, owned by us;
- claiming renames the fd-checked name to a fresh name of our own, then ``lstat`` of the new name must
  show the same inode (someone may have swapped the file between the open and the rename); if not, the
  rename is undone and the file is left alone;
- only the file behind our descriptor is renamed to the final name, checked the same way once more.

Who may resume: a thread of this process is writing it (``_WRITING``): no; a live process on this host: no;
a dead one (or an impossible pid, which no live writer can have): yes; another host (NFS): once it has not
changed for ``stale_after`` seconds. Containers sharing a host name with separate pid namespaces can make a
live writer look dead; then two downloads may append to one file, and the hash check before the rename
still keeps the cache correct.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .._fs import open_regular
from .._urls import filename_problem

__all__ = [
    "PART_SUFFIX",
    "PID_MAX",
    "NotOurs",
    "Partial",
    "PartialName",
    "claim",
    "create",
    "install",
    "list_partials",
    "open_checked",
    "parse_name",
    "release",
    "busy",
    "Skipped",
    "this_host",
    "umask_mode",
    "writer_alive",
]

PART_SUFFIX = ".part"
PID_MAX = 1 << 22  # Linux's PID_MAX_LIMIT; no process anywhere has a larger pid

# <file>.<pid>@<host>.<id>.part; the pid is matched loosely (up to 20 digits) so that an impossible one
# is recognised and answered ("no live writer") instead of crashing int() or os.kill().
_NAME = re.compile(
    r"(?P<file>[A-Za-z0-9][A-Za-z0-9._-]{0,199})\.(?P<pid>[0-9]{1,20})@(?P<host>[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8})"
    r"\.(?P<id>[A-Za-z0-9_]{1,32})\.part\Z"
)
# before partials carried their writer (older tresnet-zoo): <file>.<id>.part
_LEGACY = re.compile(r"(?P<file>[A-Za-z0-9][A-Za-z0-9._-]{0,199})\.(?P<id>[A-Za-z0-9_]{1,32})\.part\Z")


class NotOurs(OSError):
    """A path under one of our names that is not a regular file we own with one link."""


@dataclass(frozen=True)
class PartialName:
    """What a partial's name says: the cache file it belongs to and, if given, its writer."""

    filename: str
    pid: int | None  # None for a legacy name without a writer
    host: str | None

    @property
    def pid_possible(self) -> bool:
        return self.pid is not None and 0 < self.pid <= PID_MAX


def parse_name(name: str, filename: str | None = None) -> PartialName | None:
    """The parts of one of our partial names, or None for a name tresnet-zoo would not create."""
    if not name.endswith(PART_SUFFIX) or (filename is not None and not name.startswith(filename + ".")):
        return None
    for pattern in (_NAME, _LEGACY):
        match = pattern.match(name)
        if match is None:
            continue
        base = match["file"]
        if filename is not None and base != filename:
            # "a.pth.1@h.x.part" also reads as the legacy name of "a.pth.1@h"; only the given file counts
            continue
        if filename_problem(base) is not None:
            continue
        if pattern is _NAME:
            return PartialName(base, int(match["pid"]), match["host"])
        return PartialName(base, None, None)
    return None


def this_host() -> str:
    """This machine's name as it appears in partial file names."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()).strip(".")
    host = re.sub(r"\.{2,}", ".", host)[:200]
    return host or "localhost"


def writer_alive(name: PartialName) -> bool | None:
    """Whether the process that created this partial still runs: None where that cannot be told (another
    host, or a legacy name). An impossible pid (0, negative, beyond ``PID_MAX``) has no live writer: pid 0
    would otherwise ask the whole process group and count as alive forever."""
    if name.pid is None or name.host != this_host():
        return None
    if not name.pid_possible:
        return False
    try:
        os.kill(name.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process (EPERM), or a platform that cannot tell: assume alive
    return True


def umask_mode() -> int:
    """The mode a new shared-cache file gets: 0o666 less the umask, as git and pip do (mkstemp's 0600
    would hide the cache from the other users it is shared with)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# Partials this process is writing now (any thread). Creating or claiming a partial happens under
# _CLAIMING, so no thread can claim a file another thread has just created but not yet registered.
_CLAIMING = threading.Lock()
_WRITING: set[str] = set()


@dataclass
class Partial:
    """A partial download we own: its path and an open descriptor (read/write, append) on that file."""

    path: Path
    fd: int
    inode: tuple[int, int]  # (st_dev, st_ino) checked when it was opened

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _check_fd(fd: int, where: Path) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise NotOurs(errno.EINVAL, "not a regular file", str(where))
    if st.st_nlink != 1:
        raise NotOurs(errno.EMLINK, f"a file with {st.st_nlink} links", str(where))
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise NotOurs(errno.EPERM, "owned by another user", str(where))
    return st


def open_checked(path: Path, flags: int = os.O_RDONLY) -> tuple[int, os.stat_result]:
    """``_fs.open_regular``, and the file must have one link and be owned by us, else NotOurs (an
    OSError: EINVAL for a file that is not regular, ELOOP for a symlink)."""
    try:
        fd, _ = open_regular(path, flags)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise NotOurs(errno.EINVAL, "not a regular file", str(path)) from None
        raise
    try:
        return fd, _check_fd(fd, Path(path))
    except BaseException:
        os.close(fd)
        raise


def _append_mode(fd: int) -> None:
    import fcntl  # noqa: PLC0415 (POSIX only: the module still imports where fcntl is missing)

    fcntl.fcntl(fd, fcntl.F_SETFL, (fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND) & ~os.O_NONBLOCK)


def list_partials(root: Path, filename: str | None = None) -> tuple[list[tuple[Path, PartialName]], list[Path]]:
    """(our partials with their parsed names, foreign ``*.part`` names) in ``root``; names only, nothing opened."""
    ours, foreign = [], []
    try:
        names = sorted(os.listdir(root))
    except OSError:  # no folder, a file, a link loop, no permission: no partials of ours to be found there
        return [], []
    for name in names:
        if not name.endswith(PART_SUFFIX) or (filename is not None and not name.startswith(filename + ".")):
            continue
        parsed = parse_name(name, filename)
        (ours.append((root / name, parsed)) if parsed else foreign.append(root / name))
    return ours, foreign


def _new_name(root: Path, filename: str) -> tuple[Path, int]:
    owner = f"{os.getpid()}@{this_host()}."
    fd, name = tempfile.mkstemp(dir=root, prefix=filename + "." + owner, suffix=PART_SUFFIX)
    try:
        os.fchmod(fd, umask_mode())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return Path(name), fd


def create(root: Path, filename: str) -> Partial:
    """A fresh, uniquely named partial next to the final file (same folder: the rename is atomic), open."""
    with _CLAIMING:
        path, fd = _new_name(root, filename)
        _append_mode(fd)
        st = os.fstat(fd)
        _WRITING.add(str(path))
        return Partial(path, fd, (st.st_dev, st.st_ino))


def release(partial: Partial) -> None:
    """This thread is done writing ``partial`` (closes its descriptor)."""
    partial.close()
    with _CLAIMING:
        _WRITING.discard(str(partial.path))


def busy(path: Path, name: PartialName) -> bool:
    """Whether a live writer is writing this partial: a thread of this process, or a live process here."""
    with _CLAIMING:
        if str(path) in _WRITING:
            return True
    return writer_alive(name) is True


def _abandoned(path: Path, name: PartialName, st: os.stat_result, *, now: float, stale_after: float) -> bool:
    if name.pid is not None and (name.pid, name.host) == (os.getpid(), this_host()):
        return str(path) not in _WRITING
    alive = writer_alive(name)
    if alive is False:
        return True
    if alive is True:
        return False
    return now - st.st_mtime >= stale_after


@dataclass(frozen=True)
class Skipped:
    path: Path
    why: str


def claim(root: Path, filename: str, *, stale_after: float, skipped: list[Skipped] | None = None) -> Partial | None:
    """Claim an interrupted download of ``filename`` to resume it, or None.

    The biggest abandoned one wins. Renaming is atomic, so only one process gets it. Anything under one
    of our names that is not a regular one-link file of ours is left where it is and reported in ``skipped``.
    """
    now = time.time()
    ours, _ = list_partials(root, filename)
    candidates = []
    for path, name in ours:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        candidates.append((st.st_size, path, name))
    with _CLAIMING:
        for _, old, name in sorted(candidates, key=lambda c: c[0], reverse=True):
            try:
                fd, st = open_checked(old, os.O_RDWR)
            except FileNotFoundError:
                continue  # another process claimed it first
            except OSError as exc:  # a symlink (ELOOP), a FIFO, a hard link, someone else's file
                if skipped is not None:
                    skipped.append(Skipped(old, _why(exc)))
                continue
            try:
                if not _abandoned(old, name, st, now=now, stale_after=stale_after):
                    os.close(fd)
                    continue
                fresh, fresh_fd = _new_name(root, filename)
                os.close(fresh_fd)
                try:
                    os.replace(old, fresh)
                except FileNotFoundError:
                    os.unlink(fresh)
                    os.close(fd)
                    continue
                now_st = os.lstat(fresh)
                if (now_st.st_dev, now_st.st_ino) != (st.st_dev, st.st_ino):
                    # swapped between our open and our rename: put back what we moved, leave it alone
                    try:
                        os.rename(fresh, old)
                    except OSError:
                        pass
                    os.close(fd)
                    if skipped is not None:
                        skipped.append(Skipped(old, "replaced while being claimed"))
                    continue
                _append_mode(fd)
                _WRITING.add(str(fresh))
                return Partial(fresh, fd, (st.st_dev, st.st_ino))
            except BaseException:
                try:
                    os.close(fd)
                except OSError:
                    pass
                raise
    return None


def install(partial: Partial, final: Path) -> None:
    """Rename the verified ``partial`` to ``final``: only the very file behind our descriptor.

    A symlink, FIFO or file planted under the final name is replaced (the rename replaces the name, never
    what a link points to). Raises FileNotFoundError when the partial was taken (another host's claim).
    """
    st = _check_fd(partial.fd, partial.path)
    named = os.lstat(partial.path)
    if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
        raise FileNotFoundError(errno.ENOENT, "the partial download was replaced", str(partial.path))
    os.replace(partial.path, final)
    # a concurrent writer (locks do nothing on NFS) may replace it at once with its own verified copy: fine


def _why(exc: OSError) -> str:
    if isinstance(exc, NotOurs):
        return exc.strerror or "not ours"
    if exc.errno == errno.ELOOP:
        return "a symbolic link"
    return exc.strerror or type(exc).__name__
