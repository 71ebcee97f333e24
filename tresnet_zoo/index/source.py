"""Reading one model-index document from disk, keeping the line of every value.

A *document* is the parsed content of one YAML/JSON file, or of one ``<!-- Type: model-index ... -->``
block in a Markdown page. Values are plain Python (dict/list/str/int/float/bool/None); ``lines`` maps each
value's path (a tuple of keys and list indices) to its 1-based line, so that every later message can say
``file:line``. Reading never raises on bad content: it returns the problems it found instead.
"""

from __future__ import annotations

import gc
import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from .problems import Location, Problem

try:  # libyaml is ~10x faster; the pure-Python loader gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["Document", "read_documents", "MARKDOWN_SUFFIXES", "paused_gc"]

MARKDOWN_SUFFIXES = {".md", ".markdown"}
_BLOCK = re.compile(r"<!--(.*?)-->", re.DOTALL)
_BLOCK_START = re.compile(r"\s*Type:\s*['\"]?model-index['\"]?\s*$", re.MULTILINE)

Path_ = tuple  # a value's path: keys (str) and list indices (int)


@dataclass
class Document:
    """One parsed model-index document and the line of each of its values."""

    path: Path
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)
    digest: str = ""  # sha256 of the file's bytes (every block of one Markdown page shares it)
    _locations: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def location(self, path: tuple = ()) -> Location:
        """The location of the value at ``path``, or of its nearest ancestor that has one."""
        line = self.lines.get(path) if type(path) is tuple else None
        if line is None:
            path = tuple(path)
            while path and path not in self.lines:
                path = path[:-1]
            line = self.lines.get(path) if type(path) is tuple else None
        # one Location per line: records of a large index ask for hundreds of thousands of them
        try:
            return self._locations[line]
        except KeyError:
            found = self._locations[line] = Location(self.path, line)
            return found


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Why: reading a large index allocates hundreds of thousands of dicts, tuples and records that live on;
    every few thousand allocations Python's collector walks all of them again, which took longer than the
    reading itself for a 6000-entry index. Nothing built here forms cycles, so nothing is lost by waiting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_documents(path: Path) -> tuple[list[Document], list[Problem]]:
    """Read ``path`` (YAML, JSON or Markdown) into documents; never raises on bad content."""
    where = Location(path, None)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        return [], [Problem(where, "is a directory, not an index file")]
    except OSError as exc:
        return [], [Problem(where, f"cannot be read ({exc.strerror or exc})")]
    if b"\x00" in raw[:8192]:
        return [], [Problem(where, "is a binary file, not a model index (YAML, JSON or Markdown)")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [Problem(Location(path, line), "is not UTF-8 text: a model index is YAML, JSON or Markdown")]
    if not text.strip():
        return [], [Problem(where, "is empty: expected a model index with a 'Models' list")]

    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        docs, problems = _read_markdown(path, text)
    elif path.suffix.lower() == ".json":
        docs, problems = _read_json(path, text)
    else:
        doc, problems = _parse_yaml(path, text, line_offset=0)
        docs = [doc] if doc is not None else []
    digest = hashlib.sha256(raw).hexdigest()
    for doc in docs:
        doc.digest = digest
    return docs, problems


def _read_json(path: Path, text: str) -> tuple[list[Document], list[Problem]]:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(Location(path, exc.lineno), f"is not valid JSON: {exc.msg} (column {exc.colno})")]
    except RecursionError:
        return [], [Problem(Location(path, None), "nests too deeply to read")]
    # JSON is YAML's subset, and YAML's parser knows lines; fall back to line-less data if it disagrees.
    doc, problems = _parse_yaml(path, text, line_offset=0)
    if doc is None:
        return [Document(path, data, {(): 1})], []
    return [doc], problems


def _read_markdown(path: Path, text: str) -> tuple[list[Document], list[Problem]]:
    docs: list[Document] = []
    problems: list[Problem] = []
    for match in _BLOCK.finditer(text):
        body = match.group(1)
        first = next((ln for ln in body.splitlines() if ln.strip()), "")
        if not _BLOCK_START.fullmatch(first):
            continue
        offset = text.count("\n", 0, match.start(1))
        doc, found = _parse_yaml(path, body, line_offset=offset)
        problems += found
        if doc is not None:
            docs.append(doc)
    if not docs and not problems:
        problems.append(
            Problem(
                Location(path, None),
                "has no model-index block: expected an HTML comment starting with 'Type: model-index'",
            )
        )
    return docs, problems


def _parse_yaml(path: Path, text: str, *, line_offset: int) -> tuple[Document | None, list[Problem]]:
    fast = _parse_events(path, text, line_offset)
    if fast is not None:
        return fast, []
    return _parse_nodes(path, text, line_offset=line_offset)


def _parse_nodes(path: Path, text: str, *, line_offset: int) -> tuple[Document | None, list[Problem]]:
    """The reference reader: compose the node tree, then build values from it (every YAML feature)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark is not None else None
        reason = exc.problem or exc.context or "syntax error"
        return None, [Problem(Location(path, line), f"is not valid YAML: {reason}")]
    except yaml.YAMLError as exc:  # e.g. a reader error on control characters
        return None, [Problem(Location(path, None), f"is not valid YAML: {exc}".splitlines()[0])]
    finally:
        loader.dispose()
    if node is None:
        return None, [Problem(Location(path, None), "is empty: expected a model index with a 'Models' list")]
    builder = _Builder(path, loader, line_offset)
    data = builder.build(node, ())
    return Document(path, data, builder.lines), builder.problems


class _Builder:
    """Turns a composed YAML node tree into plain values, recording each value's line."""

    def __init__(self, path: Path, loader: Any, line_offset: int) -> None:
        self.path = path
        self.loader = loader
        self.offset = line_offset
        self.lines: dict[tuple, int] = {}
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, at: tuple, depth: int = 0) -> Any:
        self.lines[at] = node.start_mark.line + 1 + self.offset
        if depth > 64:
            self.problems.append(Problem(Location(self.path, self.lines[at]), "nests deeper than 64 levels"))
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar_key(key_node)
                if key in out:
                    first = self.lines.get(at + (key,))
                    self.problems.append(
                        Problem(
                            Location(self.path, key_node.start_mark.line + 1 + self.offset),
                            f"duplicate key {key!r} (first defined at line {first}); keep one",
                        )
                    )
                    continue
                out[key] = self.build(value_node, at + (key,), depth + 1)
                self.lines[at + (key,)] = key_node.start_mark.line + 1 + self.offset
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, at + (i,), depth + 1) for i, item in enumerate(node.value)]
        if node.tag.endswith(":timestamp"):
            return node.value  # keep dates as the text the author wrote
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.append(Problem(Location(self.path, self.lines[at]), f"bad value: {exc}".splitlines()[0]))
            return None

    def _scalar_key(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        return yaml.dump(self.loader.construct_object(node, deep=True), default_flow_style=True).strip()


class _Unsupported(Exception):
    """Something the event reader leaves to the node reader (which reports it or handles it)."""


def _parse_events(path: Path, text: str, line_offset: int) -> Document | None:
    """The same Document as :func:`_parse_nodes`, built straight from the parser's events, or None.

    Why: composing a node tree resolves every scalar's tag with PyYAML's Python resolver (a dozen
    regular expressions per value) and was most of the time spent reading a large index. Here each
    distinct plain scalar is resolved and constructed once, with the same resolver and constructor, and
    nodes are never built. Anything beyond plain mappings, sequences and untagged scalars (anchors,
    aliases, tags, complex keys, duplicate keys, nesting deeper than 64, several documents, any error)
    returns None, and the node reader handles it with its messages. The tests hold the two to equal
    results.
    """
    from yaml.events import (
        DocumentEndEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
        StreamStartEvent,
    )

    loader = _Loader(text)
    get_event = loader.get_event
    plain: dict[str, Any] = {}
    lines: dict[tuple, int] = {}
    # the open containers: (container, its path); for a mapping, `key` is the key awaiting its value
    stack: list[tuple[Any, tuple]] = []
    container: Any = None
    at: tuple = ()
    key: str | None = None
    key_line = 0
    root: Any = None
    documents = 0

    def plain_value(value: str) -> Any:
        tag = loader.resolve(yaml.ScalarNode, value, (True, False))
        result = value if tag.endswith(":timestamp") else loader.construct_object(yaml.ScalarNode(tag, value), deep=True)
        if isinstance(result, (dict, list, set, bytes)):
            raise _Unsupported("a non-scalar value")  # mutable or binary: never shared between paths
        plain[value] = result
        return result

    try:
        while True:
            event = get_event()
            kind = event.__class__
            if kind is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unsupported("anchor or tag")
                line = event.start_mark.line + 1 + line_offset
                if container.__class__ is dict:
                    if key is None:  # a key
                        key = event.value
                        if key in container:
                            raise _Unsupported("duplicate key")
                        key_line = line
                        continue
                    if event.implicit[0]:  # what the composer asks the resolver: plain, untagged
                        value = event.value
                        value = plain[value] if value in plain else plain_value(value)
                    else:
                        value = event.value
                    container[key] = value
                    lines[at + (key,)] = key_line  # a mapping value's line is its key's line
                    key = None
                elif container is not None:
                    value = event.value
                    if event.implicit[0]:
                        value = plain[value] if value in plain else plain_value(value)
                    lines[at + (len(container),)] = line
                    container.append(value)
                else:
                    if documents != 1 or root is not None:
                        raise _Unsupported("several documents")
                    value = event.value
                    root = (plain[value] if value in plain else plain_value(value)) if event.implicit[0] else value
                    lines[()] = line
                if len(at) >= 64:
                    raise _Unsupported("deep nesting")
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unsupported("anchor or tag")
                value = {} if kind is MappingStartEvent else []
                if container.__class__ is dict:
                    if key is None:
                        raise _Unsupported("complex key")
                    child = at + (key,)
                    container[key] = value
                    lines[child] = key_line
                    key = None
                elif container is not None:
                    child = at + (len(container),)
                    container.append(value)
                    lines[child] = event.start_mark.line + 1 + line_offset
                else:
                    if documents != 1 or root is not None:
                        raise _Unsupported("several documents")
                    child = ()
                    root = value
                    lines[()] = event.start_mark.line + 1 + line_offset
                if len(child) > 64:
                    raise _Unsupported("deep nesting")
                stack.append((container, at, key, key_line))
                container, at, key = value, child, None
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                container, at, key, key_line = stack.pop()
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Unsupported("several documents")
            elif kind is StreamEndEvent:
                break
            elif kind is DocumentEndEvent or kind is StreamStartEvent:
                continue
            else:
                raise _Unsupported(kind.__name__)
    except (_Unsupported, yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError):
        return None
    finally:
        loader.dispose()
    if documents != 1:
        return None  # empty stream: the node reader says so
    return Document(path, root, lines)
