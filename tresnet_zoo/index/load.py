"""Following a model index from its root file(s) through ``Import:`` lists.

The model-index format lets a file import others (relative paths or globs, resolved against the
importing file's folder). ``collect_documents`` reads every file once, in depth-first order, and reports
missing files, globs that match nothing and import cycles as problems rather than exceptions.
"""

from __future__ import annotations

import glob
from pathlib import Path

from .problems import Location, Problem
from .source import Document, paused_gc, read_documents

__all__ = ["collect_documents", "INDEX_SUFFIXES"]

INDEX_SUFFIXES = (".yml", ".yaml", ".json", ".md", ".markdown")
_GLOB_CHARS = set("*?[")


def collect_documents(roots: list[Path]) -> tuple[list[Document], list[Problem]]:
    """Read ``roots`` and everything they import. Paths are resolved; each file is read once."""
    docs: list[Document] = []
    problems: list[Problem] = []
    seen: set[Path] = set()

    def visit(path: Path, stack: tuple[Path, ...], via: Location | None) -> None:
        path = path.resolve()
        if path in stack:
            cycle = " -> ".join(p.name for p in stack[stack.index(path):] + (path,))
            problems.append(Problem(via or Location(path), f"Import cycle: {cycle}; remove one of these imports"))
            return
        if path in seen:
            return
        seen.add(path)
        found_docs, found = read_documents(path)
        problems.extend(found)
        for doc in found_docs:
            docs.append(doc)
            for i, target, where in _imports(doc):
                matches = _resolve(doc.path.parent, target)
                if not matches:
                    what = "matches no file" if _GLOB_CHARS & set(target) else "does not exist"
                    problems.append(
                        Problem(where, f"{target!r} {what} (relative to {doc.path.parent})", field=(f"Import[{i}]",))
                    )
                for match in matches:
                    visit(match, stack + (path,), where)

    with paused_gc():
        for root in roots:
            visit(root, (), None)
    return docs, problems


def _imports(doc: Document):
    if not isinstance(doc.data, dict):
        return
    items = doc.data.get("Import")
    if not isinstance(items, list):
        return  # the schema reports a non-list Import
    for i, item in enumerate(items):
        if isinstance(item, str) and item.strip():
            yield i, item.strip(), doc.location(("Import", i))


def _resolve(base: Path, target: str) -> list[Path]:
    if "://" in target:
        return []
    pattern = Path(target) if Path(target).is_absolute() else base / target
    if _GLOB_CHARS & set(target):
        return [Path(p) for p in sorted(glob.glob(str(pattern), recursive=True)) if Path(p).is_file()]
    return [pattern] if pattern.exists() else []
