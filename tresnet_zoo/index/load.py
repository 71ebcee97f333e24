"""Following a model index from its root file(s) through ``Import:`` lists.

The model-index format lets a file import others (relative paths or globs, resolved against the
importing file's folder). ``collect_documents`` reads every file once, in depth-first order, and reports
missing files, globs that match nothing and import cycles as problems rather than exceptions.

An index comes from strangers, so an import may name only index files (``.yml``, ``.yaml``, ``.json``,
``.md``, ``.markdown``) inside the folder of the root file it was reached from: absolute paths, ``..``
and symbolic links that resolve outside are refused before anything is opened, and no message ever
quotes a refused file's content. Globs are expanded by a bounded walk (entries visited, matches, time)
that never follows symbolic links into folders. The number of files and their total size are capped.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path, PurePosixPath

from .problems import Location, Problem
from .source import MAX_FILE_BYTES, Document, ValueBudget, paused_gc, read_documents

__all__ = ["collect_documents", "INDEX_SUFFIXES", "MAX_FILES", "MAX_TOTAL_BYTES", "MAX_GLOB_ENTRIES",
           "MAX_IMPORT_DEPTH"]

INDEX_SUFFIXES = (".yml", ".yaml", ".json", ".md", ".markdown")
MAX_FILES = 1000  # files in one index, imports included
MAX_IMPORT_DEPTH = 100  # files in one chain of imports (a real index nests two or three)
MAX_TOTAL_BYTES = 4 * MAX_FILE_BYTES
MAX_GLOB_ENTRIES = 20_000  # folder entries one glob may look at
MAX_GLOB_SECONDS = 1.0
_GLOB_CHARS = set("*?[")


class _GlobTooLarge(Exception):
    pass


class _GlobBudget:
    """Folder entries and seconds for every glob of one index together (1000 imports of '**' share it)."""

    def __init__(self) -> None:
        self.entries = MAX_GLOB_ENTRIES
        self.deadline = time.monotonic() + MAX_GLOB_SECONDS

    def spend(self) -> None:
        self.entries -= 1
        if self.entries < 0 or time.monotonic() > self.deadline:
            raise _GlobTooLarge("looks at too many files to expand: name the files, or a narrower glob")


def collect_documents(roots: list[Path]) -> tuple[list[Document], list[Problem]]:
    """Read ``roots`` and everything they import. Paths are resolved; each file is read once."""
    docs: list[Document] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    budget = {"files": MAX_FILES, "bytes": MAX_TOTAL_BYTES}
    globs = _GlobBudget()
    values = ValueBudget()

    # depth first in import order, walked with a stack of (file, the chain that imported it, where): a chain of
    # imports is bounded by MAX_IMPORT_DEPTH, not by Python's recursion limit
    todo: list[tuple[Path, Path, tuple[Path, ...], Location | None]] = [
        (root.resolve(), root.resolve().parent, (), None) for root in reversed(roots)]
    with paused_gc():  # see paused_gc: reading builds many objects and no cycles
        while todo:
            path, home, chain, via = todo.pop()
            if path in chain:
                cycle = " -> ".join(p.name for p in chain[chain.index(path):] + (path,))
                problems.append(Problem(via or Location(path), f"Import cycle: {cycle}; remove one of these imports"))
                continue
            if path in seen or values.left < 0:  # a file read once; none after the value budget ran out (said once)
                continue
            seen.add(path)
            budget["files"] -= 1
            if len(chain) >= MAX_IMPORT_DEPTH:
                why = f"imports nest deeper than {MAX_IMPORT_DEPTH} files ({chain[0].name} ... {path.name}): refused"
            elif budget["files"] < 0:
                why = f"the index reaches more than {MAX_FILES} files: refused"
            elif path.suffix.lower() not in INDEX_SUFFIXES:  # never parse (and quote) a file that is not an index
                why = f"is not an index file: expected {', '.join(INDEX_SUFFIXES)}"
            else:
                why = None
            if why:
                problems.append(Problem(via or Location(path), why))
                continue
            limit = min(MAX_FILE_BYTES, max(budget["bytes"], 0))
            found_docs, found = read_documents(path, limit=limit, budget=values)
            try:
                budget["bytes"] -= os.lstat(path).st_size if found_docs else 0
            except OSError:
                pass
            problems.extend(found)
            imported = []
            for doc in found_docs:
                docs.append(doc)
                for i, target, where in _imports(doc):
                    matches, why = _resolve(home, doc.path.parent, target, globs)
                    if why:
                        problems.append(Problem(where, f"{target!r} {why}", field=(f"Import[{i}]",)))
                    imported.extend((match, home, chain + (path,), where) for match in matches)
            todo.extend(reversed(imported))
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


def _real(path: Path) -> Path | None:
    """``path`` with its links resolved, or None when the system cannot follow them. ``os.stat`` first: the
    kernel follows at most 40 links, and ``Path.resolve`` recurses once per link (a 1500-link chain was a
    RecursionError)."""
    try:
        os.stat(path)
    except (OSError, ValueError):
        return None
    return path.resolve()


def _inside(path: Path, home: Path) -> bool:
    return path == home or home in path.parents


def _resolve(home: Path, base: Path, target: str, globs: _GlobBudget) -> tuple[list[Path], str | None]:
    """The files an import names, or why it names none. Never opens anything outside ``home``."""
    if "://" in target:
        return [], "is a URL: imports are relative paths to index files"
    if "\x00" in target or "\\" in target:
        return [], "is not a usable relative path (NUL or backslash)"
    pure = PurePosixPath(target)
    if pure.is_absolute() or target.startswith("~"):
        return [], f"is an absolute path: imports must be relative paths inside {home}"
    if ".." in pure.parts:
        return [], f"leaves the index folder ('..'): imports must stay inside {home}"
    globbed = bool(_GLOB_CHARS & set(target))
    if not globbed:
        candidate = base / pure
        if not os.path.lexists(candidate):
            return [], f"does not exist (relative to {base})"
        resolved = _real(candidate)
        if resolved is None:
            return [], "cannot be followed (a dangling symbolic link, a loop, or more links than the system follows)"
        if not _inside(resolved, home):
            return [], f"leads outside the index folder {home} (a symbolic link?): refused"
        if resolved.suffix.lower() not in INDEX_SUFFIXES:
            return [], f"is not an index file: imports name {', '.join(INDEX_SUFFIXES)} files"
        return [resolved], None
    try:
        found = _glob(base, pure.parts, globs)
    except _GlobTooLarge as exc:
        return [], str(exc)
    matches = []
    for path in found:
        resolved = _real(path)
        if resolved is not None and _inside(resolved, home) and resolved.suffix.lower() in INDEX_SUFFIXES:
            matches.append(resolved)
    if not matches:
        return [], f"matches no file (relative to {base}; imports name index files)"
    return sorted(dict.fromkeys(matches)), None


def _glob(base: Path, parts: tuple[str, ...], budget: _GlobBudget) -> list[Path]:
    """Expand a relative glob under ``base``: bounded in entries visited and time, links not followed."""
    out: list[Path] = []

    def entries(folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                found = []
                for entry in it:
                    budget.spend()
                    found.append(entry)
                return found
        except OSError:
            return []

    def hidden(name: str, pattern: str) -> bool:
        return name.startswith(".") and not pattern.startswith(".")

    todo = [(base, tuple(p for p in parts if p not in ("", ".")))]  # a stack: folders nest deeper than recursion
    while todo:
        folder, rest = todo.pop()
        if not rest:
            continue
        part, more = rest[0], rest[1:]
        if part == "**":
            todo.append((folder, more))  # zero folders
            todo.extend((Path(e.path), rest) for e in entries(folder)
                        if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
        elif not _GLOB_CHARS & set(part):
            child = folder / part
            if not more:
                if os.path.lexists(child):
                    out.append(child)
            elif child.is_dir() and not child.is_symlink():
                todo.append((child, more))
        else:
            for entry in entries(folder):
                if hidden(entry.name, part) or not fnmatch.fnmatchcase(entry.name, part):
                    continue
                if not more:
                    out.append(Path(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    todo.append((Path(entry.path), more))
    return out
