"""The model index: reading files (YAML, JSON, Markdown), following imports, typed records."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import IndexNotFoundError, InvalidIndexError
from .problems import Location, Problem, display_path
from .records import Collection, Index, Metadata, ModelEntry, Paper, Result, build_index
from .source import paused_gc

__all__ = [
    "Collection",
    "Index",
    "Location",
    "Metadata",
    "ModelEntry",
    "Paper",
    "Problem",
    "Result",
    "load_index",
    "resolve_roots",
    "INDEX_ENV",
]

INDEX_ENV = "TRESNET_ZOO_INDEX"
_DIR_SUFFIXES = (".yml", ".yaml", ".json")


def resolve_roots(paths: Iterable[str | os.PathLike] | str | os.PathLike | None = None) -> list[Path]:
    """The root files of an index: the given paths, else ``$TRESNET_ZOO_INDEX``, else the bundled registry.

    A directory stands for the YAML/JSON files directly in it (regular files, not symbolic links). A path
    that does not exist is a usage error (exit 2), not an invalid index.
    """
    if paths is None or isinstance(paths, (str, os.PathLike)):
        paths = [paths] if paths is not None else []
    paths = [Path(p) for p in paths]
    if not paths and os.environ.get(INDEX_ENV):
        paths = [Path(os.environ[INDEX_ENV])]
    if not paths:
        from .._resources import registry_dir  # noqa: PLC0415  (importlib.resources only when it is needed)

        paths = [registry_dir()]
    roots: list[Path] = []
    for path in paths:
        if not path.exists():
            raise IndexNotFoundError(
                f"index file {display_path(path)} does not exist",
                hint="name an existing .yml/.json/.md file or folder, or none to use the bundled registry",
                path=str(path),
            )
        if path.is_dir():
            # regular files only: a symbolic link in the folder may lead anywhere (an import through one
            # is refused when it leaves the folder; a link listed here would make its target a root)
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in _DIR_SUFFIXES and p.is_file() and not p.is_symlink()
            )
            if not found:
                raise IndexNotFoundError(
                    f"folder {display_path(path)} holds no .yml/.yaml/.json index file", path=str(path)
                )
            roots.extend(found)
        else:
            roots.append(path)
    return roots


def load_index(
    paths: Iterable[str | os.PathLike] | str | os.PathLike | None = None, *, cache_dir: Path | None = None
) -> Index:
    """Read, validate and type an index; raises InvalidIndexError listing every problem.

    With ``cache_dir``, a file set that validated before skips the JSON Schema pass (see
    ``tresnet_zoo.index.validate.validate_paths``).
    """
    from .validate import validate_paths  # noqa: PLC0415  (validate imports the records this package exports)

    roots = resolve_roots(paths)
    with paused_gc():  # see paused_gc: reading builds many objects and no cycles
        report, docs = validate_paths(roots, verdicts=cache_dir)
        if report.problems:
            raise InvalidIndexError(report.problems, paths=roots)
        return build_index(roots, docs)
