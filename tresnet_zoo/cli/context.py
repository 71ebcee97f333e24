"""What the global options hand to every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..index import Index


@dataclass
class State:
    index: Optional[Path] = None
    cache_dir: Optional[Path] = None
    _loaded: "Index | None" = field(default=None, repr=False)

    def load_index(self) -> "Index":
        if self._loaded is None:
            from ..index import load_index

            self._loaded = load_index(self.index, cache_dir=self.cache_root())
            # A CLI process lives for one command and the index lives as long: move it out of the cyclic
            # collector's sight (it holds no cycles), or each collection walks every record again.
            import gc

            gc.freeze()
        return self._loaded

    def cache_root(self) -> Path:
        from ..weights.cache import default_cache_dir

        return self.cache_dir.expanduser() if self.cache_dir else default_cache_dir()
