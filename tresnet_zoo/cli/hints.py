"""The one table that turns an error into a hint a user can run as printed.

Every hint is one shell line: a command, then ``  # what it does`` (see :func:`as_command`), so that
pasting the whole hint runs it. Library errors carry data (the index paths, the missing extra, the model
name) and hints that name no CLI flag; here the CLI adds what the user typed: every ``tresnet-zoo ...``
command in a hint gets the same ``--index`` and ``--cache-dir`` the failing command was given
(shell-quoted), and install hints say how to install an extra in the way this copy was installed (a
checkout, or a wheel whose extras are not published under our name).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Callable

from .._urls import is_object_store
from ..errors import (
    BundledRegistryError,
    CachedFileDamagedError,
    CacheFolderError,
    DeadSourceError,
    DownloadError,
    IndexNotFoundError,
    InvalidIndexError,
    LockDisagreesError,
    MissingDependencyError,
    NetworkError,
    OfflineError,
    UnboundedDownloadError,
    UnknownModelError,
    UrlPolicyError,
    UsageError,
    WouldOverwriteError,
    ZooEnvironmentError,
    ZooError,
)
from .context import State

__all__ = ["hint_for", "command", "install_command", "set_argv", "as_command"]

# The words the failing command was typed with (after ``tresnet-zoo``): a network hint repeats them whole.
_argv: list[str] | None = None
_tree = None  # the click command tree of the app being run (``main`` passes it: importing main here is a cycle)


def set_argv(argv: list[str] | None, tree=None) -> None:
    """Remember the command line being run (``main`` calls this first), so a hint can repeat it."""
    global _argv, _tree
    _argv = list(argv) if argv is not None else None
    _tree = tree

_COMMAND = re.compile(r"`tresnet-zoo(?= )")
_INSTALL = re.compile(r"""pip install (?:-e )?["']?(?:tresnet-zoo|\.)\[(?P<extra>[A-Za-z0-9_-]+)\]["']?""")


def quote(word: str | os.PathLike) -> str:
    """``word`` quoted for a POSIX shell; one holding bytes that are not UTF-8 (a file name) or control
    characters as bash's ``$'...'``, byte by byte, so that the hint names the very file and runs as printed."""
    raw = os.fsencode(word)
    text = os.fsdecode(raw)
    if text.isprintable():  # a lone surrogate (an undecodable byte) is not
        return shlex.quote(text)
    return "$'" + "".join(chr(b) if 32 <= b < 127 and b not in b"'\\" else f"\\x{b:02x}" for b in raw) + "'"


def command(state: State | None, *words: str) -> str:
    """``tresnet-zoo [--index I] [--cache-dir C] WORDS``, quoted for a POSIX shell.

    Only options typed on the command line are repeated: one set in the environment applies to the
    hinted command as well.
    """
    return " ".join([_prefix(state), *(quote(w) for w in words)])


def _prefix(state: State | None) -> str:
    parts = ["tresnet-zoo"]
    if state is not None and state.index is not None and "index" in state.typed:
        parts += ["--index", quote(state.index)]
    if state is not None and state.cache_dir is not None and "cache_dir" in state.typed:
        parts += ["--cache-dir", quote(state.cache_dir)]
    return " ".join(parts)


def _checkout_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "tresnet_zoo").is_dir() else None


def install_command(extra: str) -> str:
    """How to add ``extra`` to this installation, as a command that works where it is printed."""
    python = shlex.quote(sys.executable)
    root = _checkout_root()
    if root is not None:  # a checkout (editable install): the extra comes from its pyproject.toml
        try:
            here = Path.cwd().resolve() == root
        except OSError:
            here = False
        target = "." if here else str(root)
        return f"{python} -m pip install -e {shlex.quote(f'{target}[{extra}]')}"
    try:  # a wheel: tresnet-zoo is not on PyPI, so name the extra's requirements themselves
        from importlib.metadata import requires  # noqa: PLC0415  (only on this rare path; ~10 ms)

        marker = re.compile(r"""extra\s*==\s*["']""" + re.escape(extra) + r"""["']""")
        names = [r.split(";")[0].strip() for r in requires("tresnet-zoo") or () if marker.search(r)]
    except Exception:  # noqa: BLE001 - metadata missing or odd: fall back to the extra's name
        names = []
    return f"{python} -m pip install " + " ".join(shlex.quote(n) for n in (names or [extra]))


def _invalid_index(exc: InvalidIndexError, state: State | None) -> str:
    return f"`{command(state, 'validate')}` lists every problem"


def _unknown_model(exc: UnknownModelError, state: State | None) -> str:
    return f"`{command(state, 'list')}` shows every model"


def _missing_dependency(exc: MissingDependencyError, state: State | None) -> str | None:
    if exc.extra:
        return f"`{install_command(exc.extra)}` installs the {exc.extra} extra"
    return _rewrite(exc.hint, state)


def _index_not_found(exc: IndexNotFoundError, state: State | None) -> str:
    unset = "env -u TRESNET_ZOO_INDEX " if os.environ.get("TRESNET_ZOO_INDEX") and not (
        state is not None and "index" in state.typed) else ""
    return (f"`{unset}tresnet-zoo validate` checks the bundled registry; or name an existing .yml/.yaml/.json/.md "
            "index file or folder")


# error class -> hint builder; the first class in this order that the error is an instance of wins
_BUILDERS: list[tuple[type, Callable[..., str | None]]] = [
    (IndexNotFoundError, _index_not_found),
    (InvalidIndexError, _invalid_index),
    (UnknownModelError, _unknown_model),
    (MissingDependencyError, _missing_dependency),
    (BundledRegistryError, lambda exc, state: _rewrite(
        "tresnet-zoo lock --output tresnet-zoo.lock  (then export TRESNET_ZOO_LOCK=tresnet-zoo.lock)", state)),
    (CachedFileDamagedError, lambda exc, state: _rewrite("`tresnet-zoo verify --repair` fetches it again", state)),
    (LockDisagreesError, lambda exc, state: _rewrite(
        "the index changed since the lock was written: check the change, then run `tresnet-zoo lock --update`", state)),
    (DeadSourceError, lambda exc, state: _rewrite(
        "push it with `tresnet-zoo mirror push`, or fetch without --mirror"
        if exc.status == 404 and is_object_store(exc.url or "") else exc.hint, state)),
]


def _rewrite(hint: str | None, state: State | None) -> str | None:
    if not hint:
        return hint
    hint = _INSTALL.sub(lambda m: install_command(m["extra"]), hint)
    prefix = "`" + _prefix(state)
    return _COMMAND.sub(lambda _: prefix, hint)  # a template would read the path's backslashes as escapes


# The library names no flags; what the CLI adds to a hint, by the error's type and fields.
_MIRROR_FLAGS = "mirror: --mirror DIR or TRESNET_ZOO_MIRROR"
_FLAG_HINTS: list[tuple[type, str]] = [
    (UnboundedDownloadError, "limit: --max-bytes N"),
    (UrlPolicyError, "--allow-http permits plain http if you trust the network"),
    (CacheFolderError, "another folder: --cache-dir DIR or TRESNET_ZOO_CACHE"),
    (WouldOverwriteError, "--force replaces it, or choose another --out folder"),
]


def _wants_mirror(exc: ZooError) -> bool:
    """A mirror helps where the network failed (or a web source is gone)."""
    web_dead = isinstance(exc, DeadSourceError) and (exc.url or "").startswith(("http://", "https://"))
    return isinstance(exc, (NetworkError, OfflineError)) or web_dead


def _flags(exc: ZooError) -> str | None:
    """The flags that help with ``exc``, by its type."""
    if _wants_mirror(exc):
        return _MIRROR_FLAGS
    return next((text for cls, text in _FLAG_HINTS if isinstance(exc, cls)), None)


def hint_for(exc: ZooError, state: State | None, *, own_checkpoint: str | None = None) -> str:
    """The hint to print for ``exc``: built from its data where a builder knows it, else its own, completed,
    plus the flags that help with its type; every error gets one, as a command (:func:`as_command`).
    ``own_checkpoint`` (an entry name) adds how to use a weights file of one's own instead."""
    for cls, build in _BUILDERS:
        if isinstance(exc, cls):
            hint = build(exc, state)
            break
    else:
        hint = _rewrite(exc.hint, state)
    again = _mirror_hint() if _wants_mirror(exc) else None
    if again:  # the same command reading a folder of the files: one command, the prose short
        then = "without offline mode" if isinstance(exc, OfflineError) else "once the network is back"
        hint = f"{again}  # with the files copied into ./weights; or run it again {then}"
    elif _flags(exc):
        hint = f"{hint} ({_flags(exc)})" if hint else _flags(exc)
    hint = as_command(hint or _fallback(exc, state), usage=isinstance(exc, UsageError))
    if own_checkpoint is None and isinstance(exc, (DownloadError, OfflineError)) and _argv and "predict" in _argv \
            and "--checkpoint" not in _argv and _argv.index("predict") + 1 < len(_argv):
        own_checkpoint = _argv[_argv.index("predict") + 1]
    if own_checkpoint:  # in the comment: a placeholder command is not run
        hint += ("; or" if "  # " in hint else "  # or") + (
            f" a weights file of your own: tresnet-zoo predict {shlex.quote(own_checkpoint)} IMAGE --checkpoint PATH")
    return hint


_TICKED = re.compile(r"`([^`]+)`")


def as_command(hint: str, *, usage: bool = False) -> str:
    """A hint as one shell line that runs as printed: its first backticked command, then ``  # `` and the rest.

    A hint with no command names one: ``--help`` for a usage error, else the failing command again (the
    prose says what to change first). Idempotent: a hint already in this form is returned as it is.
    """
    hint = hint.strip()
    found = next((m for m in _TICKED.finditer(hint) if _is_command(m[1])), None)  # not a quoted field name
    if found is None:
        if _is_command(hint):  # a command, and maybe prose after two spaces: the prose becomes its comment
            command, _, rest = hint.partition("  ")
            rest = rest.strip().removeprefix("#").strip(" ()")
            return f"{command}  # {rest}" if rest else command
        again = _help() if usage or _argv is None else " ".join(["tresnet-zoo", *(quote(w) for w in _argv)])
        return f"{again}  # {hint}"
    rest = (hint[:found.start()] + hint[found.end():]).replace("``", "")
    rest = re.sub(r"\s+", " ", rest).strip(" :;,.")
    rest = re.sub(r"^(run|install it|see)\b:?\s*", "", rest).strip(" :;,.")
    return f"{found[1]}  # {rest}" if rest else found[1]


def _help() -> str:
    """``tresnet-zoo [COMMAND] --help`` for the command being run (its first words that are not options)."""
    words, group = ["tresnet-zoo"], _tree
    for word in _argv or ():
        sub = getattr(group, "commands", {}).get(word)  # a leaf command has none: the rest are its arguments
        if sub is not None:
            words.append(word)
            group = sub
    return " ".join(words + ["--help"])


def _is_command(hint: str) -> bool:
    """Whether ``hint`` starts with a command of ours (an option or a command name after ``tresnet-zoo``: prose
    that starts with the word "tresnet-zoo" is not one) or a pip install."""
    first = hint.split("  # ", 1)[0]
    found = re.match(r"(?:[A-Z_]+=\S+ )*(?:env -u \S+ )*(?:(tresnet-zoo)|\S*python\S* -m pip) (\S*)", first + " ")
    if found is None or found[1] is None:
        return found is not None
    return found[2].startswith("-") or found[2] in getattr(_tree, "commands", _COMMANDS)


_COMMANDS = {"list", "info", "validate", "check", "fetch", "verify", "cache", "mirror", "lock", "predict", "docs",
             "sign", "verify-signature", "export"}  # when no command tree was handed over (the library's own use)


def _mirror_hint() -> str | None:
    """The failing command again, reading the files from a folder ``./weights``: runnable as printed
    (None where the command already names a mirror: then the library's hint and the flags).

    The environment variable rather than ``--mirror`` because every command that fetches honours it
    (``predict`` has no ``--mirror`` option). A command that already names a mirror (the one that failed)
    gets the plain reminder of the option: the user knows its syntax, and which folder to use instead.
    """
    given = _argv is None or any(w == "--mirror" or w.startswith("--mirror=") for w in _argv)
    if given or os.environ.get("TRESNET_ZOO_MIRROR"):
        return None
    return 'TRESNET_ZOO_MIRROR="$PWD/weights" ' + " ".join(["tresnet-zoo", *(quote(w) for w in _argv)])


def _fallback(exc: ZooError, state: State | None) -> str:
    if isinstance(exc, UsageError):
        return "`tresnet-zoo --help` shows the commands and options"
    if isinstance(exc, ZooEnvironmentError):
        return "check the network, free disk space and permissions, then run the same command again"
    return f"`{command(state, 'validate')}` checks the index; `tresnet-zoo --help` shows the commands"
