"""The one table that turns an error into a hint a user can run as printed.

Library errors carry data (the index paths, the missing extra, the model name) and hints that name no
CLI flag; here the CLI adds what the user typed: every backticked ``tresnet-zoo ...`` command in a hint
gets the same ``--index`` and ``--cache-dir`` the failing command was given (shell-quoted), and install
hints say how to install an extra in the way this copy was installed (a checkout, or a wheel whose
extras are not published under our name).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Callable

from ..errors import (
    IndexNotFoundError,
    InvalidIndexError,
    MissingDependencyError,
    UnknownModelError,
    UsageError,
    ZooEnvironmentError,
    ZooError,
)
from .context import State

__all__ = ["hint_for", "command", "install_command", "set_argv"]

# The words the failing command was typed with (after ``tresnet-zoo``): a network hint repeats them whole.
_argv: list[str] | None = None


def set_argv(argv: list[str] | None) -> None:
    """Remember the command line being run (``main`` calls this first), so a hint can repeat it."""
    global _argv
    _argv = list(argv) if argv is not None else None

_COMMAND = re.compile(r"`tresnet-zoo(?= )")
_INSTALL = re.compile(r"""pip install (?:-e )?["']?(?:tresnet-zoo|\.)\[(?P<extra>[A-Za-z0-9_-]+)\]["']?""")


def command(state: State | None, *words: str) -> str:
    """``tresnet-zoo [--index I] [--cache-dir C] WORDS``, quoted for a POSIX shell.

    Only options typed on the command line are repeated: one set in the environment applies to the
    hinted command as well.
    """
    return " ".join([_prefix(state), *(shlex.quote(w) for w in words)])


def _prefix(state: State | None) -> str:
    parts = ["tresnet-zoo"]
    if state is not None and state.index is not None and "index" in state.typed:
        parts += ["--index", shlex.quote(str(state.index))]
    if state is not None and state.cache_dir is not None and "cache_dir" in state.typed:
        parts += ["--cache-dir", shlex.quote(str(state.cache_dir))]
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
    return f"run `{command(state, 'validate')}` to see every problem"


def _unknown_model(exc: UnknownModelError, state: State | None) -> str:
    return f"`{command(state, 'list')}` shows every model"


def _missing_dependency(exc: MissingDependencyError, state: State | None) -> str | None:
    if exc.extra:
        return f"install it: `{install_command(exc.extra)}`"
    return _rewrite(exc.hint, state)


def _index_not_found(exc: IndexNotFoundError, state: State | None) -> str:
    bundled = "`tresnet-zoo validate` checks the bundled registry"
    if os.environ.get("TRESNET_ZOO_INDEX") and not (state is not None and "index" in state.typed):
        bundled = ("`env -u TRESNET_ZOO_INDEX tresnet-zoo validate` checks the bundled registry "
                   "(TRESNET_ZOO_INDEX is set)")
    return f"name an existing .yml/.yaml/.json/.md index file or folder, or none: {bundled}"


# error class -> hint builder; the first class in this order that the error is an instance of wins
_BUILDERS: list[tuple[type, Callable[..., str | None]]] = [
    (IndexNotFoundError, _index_not_found),
    (InvalidIndexError, _invalid_index),
    (UnknownModelError, _unknown_model),
    (MissingDependencyError, _missing_dependency),
]


def _rewrite(hint: str | None, state: State | None) -> str | None:
    if not hint:
        return hint
    hint = _INSTALL.sub(lambda m: install_command(m["extra"]), hint)
    return _COMMAND.sub("`" + _prefix(state), hint)


# The library names no flags; what the CLI adds to a hint, by what an error is about (its ``topic``).
_FLAG_HINTS = {
    "network": "mirror: --mirror DIR or TRESNET_ZOO_MIRROR",
    "no-size": "limit: --max-bytes N",
    "url-policy": "--allow-http permits plain http if you trust the network",
    "cache": "another folder: --cache-dir DIR or TRESNET_ZOO_CACHE",
    "overwrite": "--force replaces it, or choose another --out folder",
}


def hint_for(exc: ZooError, state: State | None) -> str:
    """The hint to print for ``exc``: built from its data where a builder knows it, else its own, completed,
    plus the flags that help with its topic; every error gets one."""
    for cls, build in _BUILDERS:
        if isinstance(exc, cls):
            hint = build(exc, state)
            break
    else:
        hint = _rewrite(exc.hint, state)
    topic = getattr(exc, "topic", None) or ""
    flags = _mirror_hint() if topic == "network" else _FLAG_HINTS.get(topic)
    if flags:
        hint = f"{hint} ({flags})" if hint else flags
    return hint or _fallback(exc, state)


def _mirror_hint() -> str | None:
    """The failing command again, reading the files from a folder ``./weights``: runnable as printed.

    The environment variable rather than ``--mirror`` because every command that fetches honours it
    (``predict`` has no ``--mirror`` option). A command that already names a mirror (the one that failed)
    gets the plain reminder of the option: the user knows its syntax, and which folder to use instead.
    """
    given = _argv is None or any(w == "--mirror" or w.startswith("--mirror=") for w in _argv)
    if given or os.environ.get("TRESNET_ZOO_MIRROR"):
        return _FLAG_HINTS["network"]
    again = " ".join(["tresnet-zoo", *(shlex.quote(w) for w in _argv)])
    return f'with the files in a folder ./weights: `TRESNET_ZOO_MIRROR="$PWD/weights" {again}`'


def _fallback(exc: ZooError, state: State | None) -> str:
    if isinstance(exc, IndexNotFoundError):
        return "name an existing .yml/.yaml/.json/.md file or folder, or none for the bundled registry"
    if isinstance(exc, UsageError):
        return "`tresnet-zoo --help` shows the commands and options"
    if isinstance(exc, ZooEnvironmentError):
        return "check the network, free disk space and permissions, then run the same command again"
    return f"`{command(state, 'validate')}` checks the index; `tresnet-zoo --help` shows the commands"
