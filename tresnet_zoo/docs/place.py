"""Putting a built folder where the user asked, without ever deleting what tresnet-zoo did not write.

The site (and, when asked, the rendered pages) is built in a fresh temporary folder next to the target
and moved into place with one rename. The target may be: absent; an empty folder; or a folder that holds
a previous tresnet-zoo build, i.e. a marker file listing every file that build wrote and nothing else
(a file added since, a link or a special file makes it foreign). Anything else is refused, and so are
the current folder, the home folder and their ancestors whatever they hold: ``--out .`` must not even
look like it could clean a working tree.

The folder that receives it must be writable as its mode bits say (the rule of ``tresnet_zoo._fs``: a
read-only folder is refused, even for root, who could write anyway); an operating-system error while
placing is the environment's (``OutputNotWritableError``, exit 3), never a crash. The placed folder gets
the permissions a folder made with ``mkdir`` would get (the umask), not ``mkdtemp``'s private 0700.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import tempfile
from pathlib import Path

from ..errors import UsageError, ZooEnvironmentError

__all__ = ["MARKER", "OutputFolderError", "OutputNotWritableError", "check_target", "new_build_folder", "place"]

MARKER = ".tresnet-zoo-build"
_KIND = "tresnet-zoo docs build"


class OutputFolderError(UsageError):
    """The output folder holds files tresnet-zoo did not write (or is a folder it must never replace)."""


class OutputNotWritableError(ZooEnvironmentError):
    """The output folder (or the folder it goes in) is read-only, or writing there failed."""


def _no_write_bits(path: Path) -> bool:
    return not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _writable_place(target: Path, what: str) -> None:
    """Refuse a target whose nearest existing folder above is not a folder or is read-only, or that is read-only."""
    above = target.parent
    while not os.path.lexists(above) and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise OutputFolderError(f"refusing to build the {what} into {target}: {above} is not a folder",
                                hint="name a folder inside an existing folder")
    for folder in (above, target) if target.exists() else (above,):
        if _no_write_bits(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise OutputNotWritableError(f"refusing to build the {what} into {target}: {folder} is read-only",
                                         hint=f"chmod u+w {shlex.quote(str(folder))}")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path)))


def _listing(folder: Path) -> set[str] | None:
    """Relative paths of the regular files under ``folder``; None if it holds a link or a special file."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                return None
            found.add(os.path.relpath(full, folder).replace(os.sep, "/"))
    return found


def _marker_files(folder: Path, what: str) -> set[str] | None:
    """The files a previous build listed in its marker (None if there is no valid marker of ``what``)."""
    marker = folder / MARKER
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a planted FIFO must not block
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        raw = handle.read(16 * 1024 * 1024)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth: not our marker
        return None
    if not isinstance(data, dict) or data.get("written_by") != _KIND or data.get("what") != what:
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def check_target(target: Path, what: str) -> str:
    """Why ``target`` may receive a build: 'new', 'empty' or 'previous'; raises OutputFolderError if not."""
    target = _absolute(target)
    here = _absolute(Path.cwd())
    home = _absolute(Path.home())
    for protected, label in ((here, "the current folder"), (home, "your home folder")):
        if target == protected or target in protected.parents:
            raise OutputFolderError(f"refusing to build the {what} into {target}: it is {label}"
                                    f"{'' if target == protected else ' or a folder above it'}",
                                    hint=f"name a new folder, e.g. --out {target / 'site'}")
    if target == Path(target.anchor):
        raise OutputFolderError(f"refusing to build the {what} into the file-system root", hint="name a new folder")
    if os.path.islink(target):
        raise OutputFolderError(f"refusing to build the {what} into {target}: it is a symbolic link",
                                hint="name the real folder, or a new one")
    if target.exists() and not target.is_dir():
        raise OutputFolderError(f"refusing to build the {what} into {target}: it is not a folder",
                                hint="name a new folder")
    _writable_place(target, what)
    if not target.exists():
        return "new"
    present = _listing(target)
    if present is not None and not present:
        return "empty"
    listed = _marker_files(target, what)
    if present is None or listed is None or not present <= listed | {MARKER}:
        extra = ("" if present is None or listed is None
                 else f" ({min(present - listed - {MARKER})} was not written by it)")
        raise OutputFolderError(
            f"refusing to build the {what} into {target}: the folder is not empty and does not hold a previous "
            f"tresnet-zoo build{extra}; nothing was changed",
            hint="name a new or empty folder")
    return "previous"


def new_build_folder(target: Path) -> Path:
    """A fresh temporary folder beside ``target`` (same file system, so the final move is one rename)."""
    parent = _absolute(target).parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{_absolute(target).name}.tresnet-zoo-", dir=parent))


def place(built: Path, target: Path, what: str) -> Path:
    """Move the finished folder ``built`` to ``target`` (checked again just before); returns ``target``.

    A previous build is renamed aside first, then removed only after the new one is in place; if the move
    fails the previous build is put back.
    """
    target = _absolute(target)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(built, 0o777 & ~umask)  # mkdtemp made it private; a site is read by a web server
    files = sorted(_listing(built) or ())
    (built / MARKER).write_text(json.dumps({"written_by": _KIND, "what": what, "files": files}, indent=0) + "\n")
    state = check_target(target, what)
    if state == "new":
        os.rename(built, target)
    elif state == "empty":
        os.rmdir(target)  # only an empty folder: os.rmdir refuses anything else
        os.rename(built, target)
    else:
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(aside)
        os.rename(target, aside)
        if not (_listing(aside) or set()) <= (_marker_files(aside, what) or set()) | {MARKER}:
            os.rename(aside, target)  # something was added since the check: leave it all as it was
            raise OutputFolderError(f"refusing to replace {target}: files appeared in it during the build",
                                    hint="run the build again")
        try:
            os.rename(built, target)
        except OSError:
            os.rename(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    return target
