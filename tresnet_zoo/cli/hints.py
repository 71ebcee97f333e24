"""The one table that turns an error into a hint a user can run as printed.

Library errors carry data (the index paths, the missing extra, the model name) and hints that name no
CLI flag; here the CLI adds what the user typed: every backticked ``tresnet-zoo ...`` command in a hint
gets the same ``--index`` and ``--cache-dir`` the failing command was given (shell-quoted), and install
hints say how to install an extra in the way this copy was installed (a checkout, or a wheel whose
extras are not published under our name).
"""

from __future__ import annotations

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

__all__ = ["hint_for", "command", "install_command"]

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


# error class -> hint builder; the first class in this order that the error is an instance of wins
_BUILDERS: list[tuple[type, Callable[..., str | None]]] = [
    (InvalidIndexError, _invalid_index),
    (UnknownModelError, _unknown_model),
    (MissingDependencyError, _missing_dependency),
]


def _rewrite(hint: str | None, state: State | None) -> str | None:
    if not hint:
        return hint
    hint = _INSTALL.sub(lambda m: install_command(m["extra"]), hint)
    return _COMMAND.sub("`" + _prefix(state), hint)


def hint_for(exc: ZooError, state: State | None) -> str:
    """The hint to print for ``exc``: built from its data where a builder knows it, else its own, completed;
    every error gets one."""
    for cls, build in _BUILDERS:
        if isinstance(exc, cls):
            hint = build(exc, state)
            break
    else:
        hint = _rewrite(exc.hint, state)
    return hint or _fallback(exc, state)


def _fallback(exc: ZooError, state: State | None) -> str:
    if isinstance(exc, IndexNotFoundError):
        return "name an existing .yml/.yaml/.json/.md file or folder, or none for the bundled registry"
    if isinstance(exc, UsageError):
        return "`tresnet-zoo --help` shows the commands and options"
    if isinstance(exc, ZooEnvironmentError):
        return "check the network, free disk space and permissions, then run the same command again"
    return f"`{command(state, 'validate')}` checks the index; `tresnet-zoo --help` shows the commands"
