"""Reading one model-index document from disk, keeping the line of every value.

A *document* is the parsed content of one YAML/JSON file, or of one ``<!-- Type: model-index ... -->``
block in a Markdown page. Values are plain Python (dict/list/str/int/float/bool/None); ``lines`` maps each
value's path (a tuple of keys and list indices) to its 1-based line, so that every later message can say
``file:line``. Reading never raises on bad content: it returns the problems it found instead.

Index files come from strangers, so every resource a file drives is bounded here:

- bytes: a file is opened without following a final symlink and without blocking (a FIFO or a device
  never hangs the reader), must be a regular file, and may hold at most ``MAX_FILE_BYTES``;
- values: a document may build at most ``MAX_VALUES`` values, where an alias counts as every value it
  stands for (so "billion laughs" alias bombs, list or ``<<`` merge shaped, stop at once), and nest at
  most ``MAX_DEPTH`` levels;
- scalars: numbers longer than ``MAX_NUMBER_CHARS`` are refused before conversion (Python's
  int-from-string limit, YAML 1.1's base-60 integers), NaN and infinities are refused, and explicit tags
  other than the JSON-compatible core ones are refused: the values must be what JSON could hold.

Lines are counted the way an editor counts them (``\\n``, ``\\r\\n`` or a lone ``\\r`` end a line), from
each value's character position, not by YAML's own counter (which also breaks lines at U+2028, U+2029
and NEL and would shift every later line number).

Two readers build the same values. The fast one (:func:`_parse_events`) reads the common case, plain
mappings, lists and untagged scalars, in one flat loop that resolves each distinct plain scalar once; a
6000-entry index is read in a fraction of the time the general builder takes. It takes nothing on trust:
anything outside that case (anchors, aliases, tags, merge keys, duplicate or complex keys, deep nesting,
long numbers, NaN/inf, U+2028/U+2029/NEL, several documents, any error) makes it give up, and the bounded
builder (:class:`_Builder`) reads the text again and reports. Both count values against the same budget.
"""

from __future__ import annotations

import bisect
import errno
import gc
import hashlib
import json
import math
import os
import re
import stat
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
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

from .problems import Location, Problem

try:  # libyaml is ~10x faster; the pure-Python parser gives the same events
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = [
    "Document",
    "read_documents",
    "read_index_bytes",
    "MARKDOWN_SUFFIXES",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "MAX_DEPTH",
    "ValueBudget",
    "paused_gc",
]

MARKDOWN_SUFFIXES = {".md", ".markdown"}
# The bounds fit the largest index tresnet-zoo is built to serve (issue 13): 6000 entries of the bundled
# registry's shape are a 9.3 MiB file of ~500,000 values (the registry itself: 16 KB, ~830 values).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_VALUES = 750_000  # values in one index (all its files), alias expansions included
MAX_BLOCKS = 100  # model-index blocks in one Markdown page (a real page has one)
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 64  # longer YAML integers/floats are refused before Python converts them

_BLOCK_START = re.compile(r"\s*Type:\s*['\"]?model-index['\"]?\s*$", re.MULTILINE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ANY_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")  # where str.splitlines() splits
_CORE = "tag:yaml.org,2002:"
_ODD_BREAKS = "\u2028\u2029\x85"
_STAND_INS = "\ue000\ue001\ue002"
_TO_STAND_INS = str.maketrans(_ODD_BREAKS, _STAND_INS)
_FROM_STAND_INS = str.maketrans(_STAND_INS, _ODD_BREAKS)
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,17})\Z")
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAP_TAGS = {None, "!", _CORE + "map"}
_SEQ_TAGS = {None, "!", _CORE + "seq"}


@dataclass
class Document:
    """One parsed model-index document and the line of each of its values."""

    path: Path
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)
    digest: str = ""  # sha256 of the file's bytes (every block of one Markdown page shares it)
    # value paths the reader already reported (a too-long number, a bad tag): validation says nothing more there
    reported: set[tuple] = field(default_factory=set)
    _locations: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def location(self, path: tuple = ()) -> Location:
        """The location of the value at ``path``, or of its nearest ancestor that has one."""
        line = self.lines.get(path) if type(path) is tuple else None
        if line is None:
            path = tuple(path)
            while path and path not in self.lines:
                path = path[:-1]
            line = self.lines.get(path)
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


class ValueBudget:
    """How many more values an index may build: shared by every document of one index, so that neither one
    alias bomb nor a thousand small ones (blocks of a page, imported files) can outgrow it."""

    def __init__(self, total: int = MAX_VALUES) -> None:
        self.total = total
        self.left = total


class _Unreadable(Exception):
    """A file that cannot be an index (not regular, too large, unreadable); the message says why."""


def read_index_bytes(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; ``_Unreadable`` otherwise.

    Opened with O_NOFOLLOW (callers resolve paths first, so a final symlink here means a race) and
    O_NONBLOCK (so a FIFO or a device never blocks), then checked with fstat before any byte is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise _Unreadable("is a directory, not an index file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Unreadable("is a symbolic link that changed while reading; refused") from None
        raise _Unreadable(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _Unreadable("is a directory, not an index file")
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable("is not a regular file (a FIFO, socket or device), not an index file")
        if info.st_size > limit:
            raise _Unreadable(f"is larger than {limit // (1024 * 1024)} MiB: too large for a model index")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # the file grew while we read it
                raise _Unreadable(f"is larger than {limit // (1024 * 1024)} MiB: too large for a model index")
        return b"".join(chunks)
    except OSError as exc:
        raise _Unreadable(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)


def read_documents(
    path: Path, *, limit: int = MAX_FILE_BYTES, budget: ValueBudget | None = None
) -> tuple[list[Document], list[Problem]]:
    """Read ``path`` (YAML, JSON or Markdown) into documents; never raises on bad content."""
    budget = budget if budget is not None else ValueBudget()
    where = Location(path, None)
    try:
        raw = read_index_bytes(path, limit=limit)
    except _Unreadable as exc:
        return [], [Problem(where, str(exc))]
    if b"\x00" in raw[:8192]:
        return [], [Problem(where, "is a binary file, not a model index (YAML, JSON or Markdown)")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = _LineMap(raw[: exc.start].decode("utf-8", "replace")).line(exc.start) if exc.start else 1
        return [], [Problem(Location(path, line), "is not UTF-8 text: a model index is YAML, JSON or Markdown")]
    if not text.strip():
        return [], [Problem(where, "is empty: expected a model index with a 'Models' list")]

    lines = _LineMap(text)
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        docs, problems = _read_markdown(path, text, lines, budget)
    elif path.suffix.lower() == ".json":
        docs, problems = _read_json(path, text, lines, budget)
    else:
        doc, problems = _parse_yaml(path, text, lines, budget, base=0)
        docs = [doc] if doc is not None else []
    digest = hashlib.sha256(raw).hexdigest()
    for doc in docs:
        doc.digest = digest
    return docs, problems


class _LineMap:
    """Character index -> 1-based line, counting ``\\n``, ``\\r\\n`` and a lone ``\\r`` as an editor does.

    Why lazy and compact: a file of 16 MiB can hold 8 million lines, and a list of as many ints took
    ~450 MB. The fast reader asks only a few lines (it counts by libyaml's marks), answered by counting
    line feeds; many lookups (the builder, a CR file) build the table once, 8 bytes a line.
    """

    _COUNTED = 64  # lookups answered by counting before the table pays off

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: array | None = None
        self._counted = 0 if "\r" not in text else self._COUNTED

    def line(self, index: int) -> int:
        if self._starts is None:
            if self._counted < self._COUNTED:
                self._counted += 1
                return self.text.count("\n", 0, max(index, 0)) + 1
            self._starts = array("q", [0])
            self._starts.extend(m.end() for m in _LINE_BREAK.finditer(self.text))
        return bisect.bisect_right(self._starts, index)


def _read_json(path: Path, text: str, lines: _LineMap, budget: ValueBudget) -> tuple[list[Document], list[Problem]]:
    # YAML's parser knows lines and is bounded (aliases, values); JSON is (nearly) its subset. The JSON
    # parser then decides whether the text is JSON at all, and what its values are: where YAML 1.1 reads a
    # JSON number as text (``1e5``, ``2E+3``: YAML wants a dot and a signed exponent), JSON's number wins.
    yaml_text = _join_surrogate_pairs(text)  # "\ud83d\ude00" is JSON's one emoji; YAML refuses it
    yaml_lines = lines if yaml_text == text else _LineMap(yaml_text)  # same lines, shorter ones
    doc, problems = _parse_yaml(path, yaml_text, yaml_lines, budget, base=0)
    if doc is None and any(p.message.startswith(_TOO_MANY) for p in problems):
        return [], problems
    duplicates: list[str] = []
    try:
        data = json.loads(
            text, parse_constant=_no_constant, parse_int=_json_int, object_pairs_hook=_first_key_wins(duplicates)
        )
    except json.JSONDecodeError as exc:
        return [], [Problem(Location(path, exc.lineno), f"is not valid JSON: {exc.msg} (column {exc.colno})")]
    except ValueError as exc:  # Python's int-from-string limit, or NaN/Infinity
        return [], [Problem(Location(path, None), f"is not usable JSON: {_first_line(exc)}")]
    except RecursionError:
        return [], [Problem(Location(path, None), "nests too deeply to read")]
    if doc is None:  # JSON that YAML cannot read (a long key, a tab before the text): no lines to tell
        if _too_large(data, budget):
            message = f"holds more than {budget.total} values or nests deeper than {MAX_DEPTH} levels: refused"
            return [], [Problem(Location(path, None), message)]
        refused = _json_refusal(data, duplicates)
        if refused:
            return [], [Problem(Location(path, None), refused)]
        return [Document(path, data, {})], []  # no line is better than a wrong one
    return [doc], problems + _take_json_numbers(doc, data)


_SURROGATE_PAIR = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def _join_surrogate_pairs(text: str) -> str:
    """JSON's UTF-16 surrogate-pair escapes as the one ``\\U`` escape YAML reads (only ever inside strings)."""

    def one(m: re.Match) -> str:
        code = 0x10000 + ((int(m[2], 16) - 0xD800) << 10) + (int(m[3], 16) - 0xDC00)
        return f"{m[1]}\\U{code:08x}"

    return _SURROGATE_PAIR.sub(one, text) if "\\u" in text else text


def _first_key_wins(duplicates: list[str]):
    # YAML keeps the first of duplicate keys (and reports it); JSON's default keeps the last
    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(key)
            else:
                out[key] = value
        return out

    return hook


def _json_refusal(data: Any, duplicates: list[str]) -> str | None:
    """Why JSON data read without YAML (so without its refusals) is refused, or None."""
    if duplicates:
        return f"has a duplicate key {duplicates[0]!r}; keep one"
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return "holds a number that is not finite (too large for a float)"
        elif isinstance(item, str) and _has_surrogate(item):
            return "holds a \\u escape of a lone UTF-16 surrogate, which is not text"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _take_json_numbers(doc: Document, data: Any) -> list[Problem]:
    """Put JSON's numbers where YAML read the same JSON text as a string; refuse the ones not finite."""
    problems: list[Problem] = []
    stack: list[tuple[Any, Any, tuple]] = [(doc.data, data, ())]
    while stack:
        ours, theirs, at = stack.pop()
        if isinstance(ours, dict) and isinstance(theirs, dict):
            pairs = [(k, theirs[k]) for k in ours if k in theirs]
        elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
            pairs = list(enumerate(theirs))
        else:
            continue
        for key, value in pairs:
            mine = ours[key]
            if isinstance(mine, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
                if isinstance(value, float) and not math.isfinite(value):
                    problems.append(Problem(doc.location(at + (key,)), f"{mine!r} is not a finite number"))
                    doc.reported.add(at + (key,))
                    ours[key] = None
                else:
                    ours[key] = value
            elif isinstance(mine, (dict, list)):
                stack.append((mine, value, at + (key,)))
    return problems


def _json_int(text: str) -> int | str:
    # Python refuses int(text) past 4300 digits with a ValueError; the YAML reading reports the length
    return int(text) if len(text) <= MAX_NUMBER_CHARS else text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a model index may hold")


def _too_large(data: Any, budget: ValueBudget) -> bool:
    """More values than the budget holds, or nesting deeper than MAX_DEPTH (JSON read without the YAML reader)."""
    stack = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        budget.left -= 1
        if budget.left < 0 or depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _read_markdown(
    path: Path, text: str, lines: _LineMap, budget: ValueBudget
) -> tuple[list[Document], list[Problem]]:
    docs: list[Document] = []
    problems: list[Problem] = []
    pos = blocks = 0
    while True:  # one pass: every find starts where the last comment ended (a regex here was quadratic)
        start = text.find("<!--", pos)
        if start < 0:
            break
        end = text.find("-->", start + 4)
        if end < 0:
            break  # an unclosed comment runs to the end of the page
        body_start, pos = start + 4, end + 3
        body = text[body_start:end]
        # the first non-blank line, without splitting a long comment into a list of all its lines
        rest = body.lstrip()
        cut = _ANY_BREAK.search(rest)
        first = rest[: cut.start()] if cut else rest
        if not _BLOCK_START.fullmatch(first):
            continue
        blocks += 1
        if blocks > MAX_BLOCKS:
            message = f"holds more than {MAX_BLOCKS} model-index blocks"
            problems.append(Problem(Location(path, lines.line(start)), message))
            break
        doc, found = _parse_yaml(path, body, lines, budget, base=body_start)
        problems += found
        if doc is not None:
            docs.append(doc)
        if budget.left < 0:
            break  # said once; the rest of the page is not read
    if not docs and not problems:
        problems.append(
            Problem(
                Location(path, None),
                "has no model-index block: expected an HTML comment starting with 'Type: model-index'",
            )
        )
    return docs, problems


_TOO_MANY = "holds too many values (aliases count as every value they repeat)"


class _Refused(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _parse_yaml(
    path: Path, text: str, lines: _LineMap, budget: ValueBudget, *, base: int
) -> tuple[Document | None, list[Problem]]:
    """Parse ``text`` (which starts at character ``base`` of the file) into one document."""
    odd = any(c in text for c in _ODD_BREAKS)
    if not odd:  # the fast reader leaves line-separator characters to the builder (stand-ins, editor lines)
        try:
            fast = _parse_events(path, text, lines, budget, base)
        except _Refused as exc:  # the budget ran out: said where, as the builder says it
            return None, [Problem(Location(path, exc.line), exc.message)]
        if fast is not None:
            return fast, []
    return _parse_built(path, text, lines, budget, base=base)


def _parse_built(
    path: Path, text: str, lines: _LineMap, budget: ValueBudget, *, base: int
) -> tuple[Document | None, list[Problem]]:
    """The bounded builder alone: every YAML feature, every refusal with its message (the tests' reference)."""
    # libyaml (YAML 1.1) breaks lines at U+2028, U+2029 and NEL: a comment holding one would end there and
    # its rest be read as content. YAML 1.2 and editors treat them as ordinary characters; so do we, by
    # parsing them as private-use stand-ins of the same length (positions stay true) and restoring them.
    odd = any(c in text for c in _ODD_BREAKS)
    restore = odd and not any(c in text for c in _STAND_INS)
    loader = _Loader(text.translate(_TO_STAND_INS) if restore else text)
    builder = _Builder(path, loader, lines, base, budget, restore=restore)
    try:
        data = builder.document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = lines.line(base + mark.index) if mark is not None else None
        reason = exc.problem or exc.context or "syntax error"
        return None, [Problem(Location(path, line), f"is not valid YAML: {reason}")]
    except yaml.YAMLError as exc:  # e.g. a reader error on control characters
        return None, [Problem(Location(path, None), f"is not valid YAML: {_first_line(exc)}")]
    except _Refused as exc:
        return None, [Problem(Location(path, exc.line), exc.message)]
    finally:
        loader.dispose()
    if data is _EMPTY:
        return None, [Problem(Location(path, None), "is empty: expected a model index with a 'Models' list")]
    return Document(path, data, builder.lines, reported=builder.reported), builder.problems


_EMPTY = object()


class _Builder:
    """Turns the parser's event stream into plain values, recording each value's line.

    Built from events, not from a composed node graph, so that nothing is expanded before it is counted:
    an alias costs as many values as it repeats and is handed out as the same (read-only) object.
    """

    def __init__(
        self, path: Path, loader: Any, lines: _LineMap, base: int, budget: ValueBudget, *, restore: bool = False
    ) -> None:
        self.restore = restore
        self.path = path
        self.loader = loader
        self.map = lines
        self.base = base
        self.lines: dict[tuple, int] = {}
        self.problems: list[Problem] = []
        self.reported: set[tuple] = set()
        # anchor -> (value, values it holds, its scalar text, how many levels it nests below itself)
        self.anchors: dict[str, tuple[Any, int, str | None, int]] = {}
        self.deepest = 0  # the deepest level reached so far in the value being built
        self.budget = budget

    def line(self, mark: Any) -> int:
        return self.map.line(self.base + mark.index)

    def spend(self, count: int, mark: Any) -> None:
        self.budget.left -= count
        if self.budget.left < 0:
            raise _Refused(self.line(mark), f"{_TOO_MANY} (more than {self.budget.total} in one index): refused")

    def report(self, at: tuple, line: int, message: str) -> None:
        self.problems.append(Problem(Location(self.path, line), message))
        self.reported.add(at)

    def document(self) -> Any:
        get = self.loader.get_event
        get()  # StreamStart
        if self.loader.check_event(yaml.StreamEndEvent):
            return _EMPTY
        get()  # DocumentStart
        value, _ = self.value((), 0)
        get()  # DocumentEnd
        if not self.loader.check_event(yaml.StreamEndEvent):
            event = get()
            raise _Refused(self.line(event.start_mark), "holds more than one YAML document ('---'): expected one")
        return value

    def value(self, at: tuple, depth: int) -> tuple[Any, int]:
        """Build the next value; returns it and how many values it holds (aliases expanded)."""
        event = self.loader.get_event()
        line = self.line(event.start_mark)
        self.lines[at] = line
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                self.report(at, line, f"alias *{event.anchor} names no anchor defined before it")
                return None, 1
            value, count, _, height = self.anchors[event.anchor]
            self.spend(count, event.start_mark)
            if depth + height > MAX_DEPTH:  # aliases could stack nesting past what any reader recurses into
                self.report(at, line, f"nests deeper than {MAX_DEPTH} levels (through aliases)")
                return None, count
            self.deepest = max(self.deepest, depth + height)
            return value, count
        self.spend(1, event.start_mark)
        self.deepest = max(self.deepest, depth)
        if isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event, at, line)
            self.anchor(event, value, 1, self.text(event.value), 0)
            return value, 1
        if depth >= MAX_DEPTH:
            self.report(at, line, f"nests deeper than {MAX_DEPTH} levels")
            self.skip()
            return None, 1
        outer, self.deepest = self.deepest, depth
        if isinstance(event, yaml.SequenceStartEvent):
            value, count = self.sequence(event, at, line, depth)
        else:
            value, count = self.mapping(event, at, line, depth)
        self.anchor(event, value, count, None, self.deepest - depth)
        self.deepest = max(outer, self.deepest)
        return value, count

    def anchor(self, event: Any, value: Any, count: int, text: str | None, height: int) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, count, text, height)

    def sequence(self, event: Any, at: tuple, line: int, depth: int) -> tuple[list | None, int]:
        if event.tag not in _SEQ_TAGS:
            self.report(at, line, f"tag {event.tag!r} is not supported: a model index holds plain lists")
        items: list[Any] = []
        count = 1
        while not self.loader.check_event(yaml.SequenceEndEvent):
            item, n = self.value(at + (len(items),), depth + 1)
            items.append(item)
            count += n
        self.loader.get_event()
        return (items if event.tag in _SEQ_TAGS else None), count

    def mapping(self, event: Any, at: tuple, line: int, depth: int) -> tuple[dict | None, int]:
        if event.tag not in _MAP_TAGS:
            self.report(at, line, f"tag {event.tag!r} is not supported: a model index holds plain mappings")
        out: dict[str, Any] = {}
        count = 1
        while not self.loader.check_event(yaml.MappingEndEvent):
            key_event = self.loader.peek_event()
            key_line = self.line(key_event.start_mark)
            key = self.key()
            if key is None:
                self.report(at, key_line, "a mapping key must be a plain value, not a list or a mapping")
                self.value(at + ("?",), depth + 1)  # consumed (and counted), not kept
                continue
            plain = isinstance(key_event, yaml.ScalarEvent) and key_event.tag is None and key_event.implicit[0]
            if key == "<<" and plain:
                self.report(at + (key,), key_line, "merge keys ('<<') are not supported: write the keys out")
            if key in out:
                first = self.lines.get(at + (key,))
                message = f"duplicate key {key!r} (first defined at line {first}); keep one"
                self.problems.append(Problem(Location(self.path, key_line), message))
                self.value(at + (key, "?"), depth + 1)
                continue
            out[key], n = self.value(at + (key,), depth + 1)
            count += n + 1
            self.lines[at + (key,)] = key_line
        self.loader.get_event()
        return (out if event.tag in _MAP_TAGS else None), count

    def key(self) -> str | None:
        """The next mapping key as the text its author wrote, or None (and consumed) for a list or mapping."""
        event = self.loader.peek_event()
        if isinstance(event, yaml.ScalarEvent):
            self.loader.get_event()
            self.spend(1, event.start_mark)
            key = self.text(event.value)
            self.anchor(event, key, 1, key, 0)
            return key
        if isinstance(event, yaml.AliasEvent) and event.anchor in self.anchors:
            _, count, text, _ = self.anchors[event.anchor]
            if text is not None:
                self.loader.get_event()
                self.spend(count, event.start_mark)
                return text
        event = self.loader.get_event()  # a list or mapping as a key: consumed, counted, dropped
        if isinstance(event, yaml.AliasEvent):
            self.spend(self.anchors[event.anchor][1] if event.anchor in self.anchors else 1, event.start_mark)
        else:
            self.spend(1, event.start_mark)
            self.skip()
        return None

    def text(self, value: str) -> str:
        return value.translate(_FROM_STAND_INS) if self.restore else value

    def skip(self) -> None:
        """Consume the rest of the collection just opened (counted, so that skipping is bounded too)."""
        depth = 1
        while depth:
            event = self.loader.get_event()
            self.spend(1, event.start_mark)
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1

    def scalar(self, event: Any, at: tuple, line: int) -> Any:
        tag = event.tag
        if tag is None and not event.implicit[0]:
            return self.text(event.value)  # quoted: a string
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == _CORE + "int" and _PLAIN_INT.match(event.value):
                return int(event.value)  # the common case, without a node and a constructor call
        if tag not in _SCALAR_TAGS:
            self.report(at, line, f"tag {tag!r} is not supported: a model index holds strings, numbers and booleans")
            return None
        if tag in (_CORE + "str", _CORE + "timestamp"):
            return self.text(event.value)  # dates stay the text the author wrote
        kind = tag[len(_CORE):]
        text = event.value
        if kind in ("int", "float") and len(text) > MAX_NUMBER_CHARS:
            self.report(at, line, f"a {len(text)}-character number is too long for a model index")
            return None
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        try:
            value = yaml.SafeLoader.yaml_constructors[tag](self.loader, node)
        except (ValueError, TypeError, ArithmeticError, LookupError, yaml.YAMLError):  # !!bool maybe: KeyError
            shown = text if len(text) <= 40 else text[:37] + "..."
            self.report(at, line, f"{shown!r} is not a valid {kind} (tagged !!{kind})")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.report(at, line, f"{text!r} is not a finite number")
            return None
        return value


class _Unsupported(Exception):
    """Something the fast reader leaves to the bounded builder (which reads it again and reports it)."""


_NUMBER_TAGS = {_CORE + "int", _CORE + "float"}


def _parse_events(path: Path, text: str, lines: _LineMap, budget: ValueBudget, base: int) -> Document | None:
    """The same Document as :class:`_Builder` builds, straight from the parser's events, or None.

    Why: the builder makes a method call, a line lookup and a tag resolution (a dozen regular expressions)
    per value, which was most of the time spent reading a large index. Here each distinct plain scalar is
    resolved and constructed once, with the same resolver and constructors and the same refusals. Anything
    beyond plain mappings, sequences and untagged scalars (anchors, aliases, tags, merge or duplicate or
    complex keys, nesting to ``MAX_DEPTH``, numbers longer than ``MAX_NUMBER_CHARS``, NaN/inf, values the
    builder would refuse, several documents, any error) returns None, and the builder reads the text again
    with its bounds and messages. Values are counted against ``budget`` as the builder counts them (every
    key, scalar and collection); running out raises ``_Refused`` with the builder's message and line. The
    tests hold the two to equal results. The caller leaves text holding U+2028/U+2029/NEL to the builder,
    so libyaml's line counter agrees with an editor's here whenever the text has no carriage return;
    otherwise lines come from ``lines``, as in the builder.
    """
    loader = _Loader(text)
    get_event = loader.get_event
    constructors = yaml.SafeLoader.yaml_constructors
    plain: dict[str, Any] = {}
    found: dict[tuple, int] = {}
    # editor lines: libyaml's counter is right unless a carriage return is about (a lone CR, CRLF)
    by_mark = "\r" not in text
    first_line = lines.line(base)
    line_of = lines.line
    # the open containers: (container, its path, the key awaiting its value, that key's line)
    stack: list[tuple[Any, tuple, Any, int]] = []
    container: Any = None
    at: tuple = ()
    key: str | None = None
    key_line = 0
    root: Any = None
    documents = 0
    values = 0
    left = budget.left

    def over(line: int) -> None:
        # the same refusal, at the same value, as the builder's: re-reading would only spend the time again
        budget.left -= values
        raise _Refused(line, f"{_TOO_MANY} (more than {budget.total} in one index): refused")

    def plain_value(value: str) -> Any:
        tag = loader.resolve(yaml.ScalarNode, value, (True, False))
        if tag not in _SCALAR_TAGS:
            raise _Unsupported("a tag the builder refuses")
        if tag == _CORE + "str" or tag == _CORE + "timestamp":
            result: Any = value  # dates stay the text the author wrote
        else:
            if tag in _NUMBER_TAGS and len(value) > MAX_NUMBER_CHARS:
                raise _Unsupported("a number too long to convert")
            result = constructors[tag](loader, yaml.ScalarNode(tag, value))
            if isinstance(result, float) and not math.isfinite(result):
                raise _Unsupported("NaN or infinity")
        plain[value] = result
        return result

    try:
        while True:
            event = get_event()
            kind = event.__class__
            if kind is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unsupported("anchor or tag")
                values += 1
                mark = event.start_mark
                line = first_line + mark.line if by_mark else line_of(base + mark.index)
                if values > left:
                    over(line)
                if container.__class__ is dict:
                    if key is None:  # a key
                        key = event.value
                        if key in container or key == "<<":
                            raise _Unsupported("duplicate or merge key")
                        key_line = line
                        continue
                    value = event.value
                    if event.implicit[0]:  # plain, untagged: what the builder asks the resolver
                        value = plain[value] if value in plain else plain_value(value)
                    container[key] = value
                    found[at + (key,)] = key_line  # a mapping value's line is its key's line
                    key = None
                elif container is not None:
                    value = event.value
                    if event.implicit[0]:
                        value = plain[value] if value in plain else plain_value(value)
                    found[at + (len(container),)] = line
                    container.append(value)
                else:
                    if documents != 1 or root is not None:
                        raise _Unsupported("several documents")
                    value = event.value
                    root = (plain[value] if value in plain else plain_value(value)) if event.implicit[0] else value
                    found[()] = line
                if len(at) >= MAX_DEPTH:
                    raise _Unsupported("deep nesting")
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unsupported("anchor or tag")
                values += 1
                mark = event.start_mark
                if values > left:
                    over(first_line + mark.line if by_mark else line_of(base + mark.index))
                value = {} if kind is MappingStartEvent else []
                if container.__class__ is dict:
                    if key is None:
                        raise _Unsupported("complex key")
                    child = at + (key,)
                    container[key] = value
                    found[child] = key_line
                    key = None
                elif container is not None:
                    child = at + (len(container),)
                    container.append(value)
                    found[child] = first_line + mark.line if by_mark else line_of(base + mark.index)
                else:
                    if documents != 1 or root is not None:
                        raise _Unsupported("several documents")
                    child = ()
                    root = value
                    found[()] = first_line + mark.line if by_mark else line_of(base + mark.index)
                if len(child) >= MAX_DEPTH:
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
                raise _Unsupported(kind.__name__)  # an alias, above all
    except (_Unsupported, yaml.YAMLError, RecursionError, ValueError, TypeError, ArithmeticError, LookupError):
        return None
    finally:
        loader.dispose()
    if documents != 1:
        return None  # an empty stream: the builder says so
    budget.left -= values
    return Document(path, root, found)
