"""What the global options hand to every command."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..index import Index

__all__ = ["State", "current", "set_current"]

_current: "State | None" = None


def current() -> "State | None":
    """The state of the command being run, for the error handler (which runs after click's context is gone)."""
    return _current


def set_current(state: "State | None") -> None:
    global _current
    _current = state


@dataclass
class State:
    index: Optional[Path] = None
    cache_dir: Optional[Path] = None
    typed: frozenset = frozenset()  # global options given on the command line (hints repeat them)
    _loaded: "Index | None" = field(default=None, repr=False)

    def load_index(self) -> "Index":
        if self._loaded is None:
            from ..index import load_index  # noqa: PLC0415  (the index layer only for commands that read it)

            self._loaded = load_index(self.index, cache_dir=self.cache_root())
            # A CLI process lives for one command and the index lives as long: move it out of the cyclic
            # collector's sight (it holds no cycles), or each collection walks every record again.

            gc.freeze()
        return self._loaded

    def cache_root(self) -> Path:
        from ..weights.cache import default_cache_dir  # noqa: PLC0415  (weights code only when a cache is used)

        return self.cache_dir.expanduser() if self.cache_dir else default_cache_dir()
