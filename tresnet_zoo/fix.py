"""`check --fix`: write measured values back into the index file, touching nothing else.

Edits are made by exact character position, never by line: the file's text is composed again with
PyYAML (JSON is YAML; a Markdown page's model-index blocks are composed where they lie), the entry is
found by its ``Name`` in ``Models``, and the span of the one scalar to replace comes from the node's
start and end marks. Only that span changes, in the quoting style it was written in (``'123'`` stays
quoted); a missing key is inserted as its own line before the entry's first Metadata key (indented like
it, ending with the line break that line already uses) or, in a flow mapping, as its first pair. Line
endings, comments, key order, a byte-order mark and the rest of a Markdown page stay byte for byte.

Only values ``check`` measured are written (Parameters, and FLOPs outside the tolerance); a value it
could not measure is never invented. A value a model inherits from its collection is not changed there
(that would change the collection's other models): the model gets its own key.

Nothing is guessed. When a span cannot be determined unambiguously (the entry is not found exactly
once, the value is an alias shared with other places, a block scalar, or not the value ``check`` read),
when the result would not parse to exactly the old data plus the new values, or when the file changed
since it was planned, ``FixError`` is raised and no file is written. A read-only file or folder raises
``IndexNotWritableError`` (the environment: exit 3), also before anything is written. Files are
replaced atomically (``tresnet_zoo._fs``).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shlex
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ._fs import ReadOnlyTargetError, atomic_write, ensure_writable
from .check import FIXABLE, CheckReport
from .errors import FixError, IndexNotWritableError
from .index.problems import display_path
from .index.source import _ODD_BREAKS, _STAND_INS, _TO_STAND_INS, MARKDOWN_SUFFIXES

__all__ = ["Edit", "FixPlan", "FixError", "IndexNotWritableError", "plan_fixes", "apply_fixes", "fix", "FIXABLE"]

MAX_FILE_BYTES = 16 * 1024 * 1024  # an index file larger than this is not one `check` read either
MAX_NODE_VISITS = 200_000  # aliases make a tree exponentially larger than its text: bound the walk
_BOM = "\ufeff"
_LINE_BREAK = re.compile("\r\n|[\r\n]")  # lines counted as the index reader (and an editor) counts them


@dataclass(frozen=True)
class Edit:
    """One value written back: ``text`` replaces the characters ``start:end`` of the file's text (the
    text after any byte-order mark; ``start == end`` for an inserted key)."""

    file: Path
    entry: str
    field: str
    old: Any  # the value check judged; None when the key is added
    new: int
    start: int
    end: int
    text: str
    line: int  # 1-based, counted as the index reader counts lines (CR LF, CR, LF)

    @property
    def inserted(self) -> bool:
        return self.start == self.end

    def describe(self) -> str:
        where = f"{display_path(self.file)}:{self.line}"
        if self.inserted:
            return f"{where}: {self.entry} > Metadata > {self.field}: added {self.new}"
        return f"{where}: {self.entry} > Metadata > {self.field}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class _Source:
    """An index file as read for fixing."""

    path: Path
    digest: str  # sha256 of the bytes
    bom: bool
    text: str  # decoded without newline translation, byte-order mark removed


@dataclass(frozen=True)
class FixPlan:
    """The edits for every file, and each file as it was when they were planned."""

    edits: tuple[Edit, ...]
    sources: tuple[_Source, ...]

    def __bool__(self) -> bool:
        return bool(self.edits)


def fix(report: CheckReport) -> list[Edit]:
    """Write every fixable value of ``report`` back into its file; returns the edits made."""
    return apply_fixes(plan_fixes(report))


def plan_fixes(report: CheckReport) -> FixPlan:
    """Locate every fixable value of ``report`` in its file; raises ``FixError`` if one cannot be located
    exactly. Reads the files, writes nothing."""
    wanted: dict[Path, list[tuple[str, str, Any, int]]] = {}
    for entry, verdict in report.fixable:
        if entry.location is None:
            raise FixError(f"{entry.name}: its file is unknown; nothing was written")
        wanted.setdefault(entry.location.file, []).append((entry.name, verdict.field, verdict.value, verdict.measured))
    edits: list[Edit] = []
    sources: list[_Source] = []
    for path, items in wanted.items():
        source = _read(path)
        checked = report.digests.get(path)
        if checked is not None and checked != source.digest:  # the measurement belongs to the old text
            raise FixError(f"{display_path(path)} changed after it was checked; nothing was written",
                           hint="run the check again, then fix")
        sources.append(source)
        segments = _segments(source)
        for name, field, old, new in items:
            edits.append(_locate(source, segments, name, field, old, new))
        _splice(source, [e for e in edits if e.file == path], verify=segments)
    return FixPlan(tuple(edits), tuple(sources))


def apply_fixes(plan: FixPlan) -> list[Edit]:
    """Write the planned edits; returns them. All files are checked (writable, unchanged since planned)
    before the first is written."""
    pending: list[tuple[_Source, bytes]] = []
    for source in plan.sources:
        edits = [e for e in plan.edits if e.file == source.path]
        if not edits:
            continue
        _ensure_writable(source.path)
        now = _read(source.path)
        if now.digest != source.digest:
            raise FixError(f"{display_path(source.path)} changed while it was being fixed; nothing was written")
        text = _splice(source, edits)
        pending.append((source, ((_BOM if source.bom else "") + text).encode("utf-8")))
    for source, payload in pending:
        try:
            atomic_write(source.path, payload)
        except ReadOnlyTargetError as exc:
            raise _not_writable(source.path, exc) from None
        except OSError as exc:
            raise IndexNotWritableError(
                f"{display_path(source.path)}: cannot write the fixes ({exc.strerror or exc}); the file is unchanged"
            ) from None
    return [e for e in plan.edits if any(e.file == s.path for s, _ in pending)]


# --- reading ---------------------------------------------------------------------------------------------


def _read(path: Path) -> _Source:
    """The file's text, read without following it into a FIFO or device, bounded, newlines untouched."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FixError(f"{display_path(path)} cannot be read ({exc.strerror or exc}); nothing was written") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FixError(f"{display_path(path)} is not a regular file; nothing was written")
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise FixError(f"{display_path(path)} is larger than {MAX_FILE_BYTES} bytes; nothing was written")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FixError(f"{display_path(path)} is not UTF-8 text; nothing was written") from None
    bom = text.startswith(_BOM)
    return _Source(Path(path), hashlib.sha256(raw).hexdigest(), bom, text[1:] if bom else text)


@dataclass(frozen=True)
class _Segment:
    """One YAML document in the file: the whole file, or one Markdown model-index block."""

    start: int  # offset of the document's first character in the file's text
    root: Any  # the composed node
    data: Any  # the constructed value


def _segments(source: _Source, text: str | None = None) -> list[_Segment]:
    text = source.text if text is None else text
    if source.path.suffix.lower() in MARKDOWN_SUFFIXES:
        spans = _markdown_blocks(text)
    else:
        spans = [(0, len(text))]
    segments = []
    for start, end in spans:
        root, data = _compose(text[start:end], source.path)
        segments.append(_Segment(start, root, data))
    return segments


_BLOCK_START = re.compile(r"\s*Type:\s*['\"]?model-index['\"]?\s*")


def _markdown_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of the body of every ``<!-- ... -->`` comment whose first non-blank line is
    ``Type: model-index`` (as the reader finds them). Linear: one scan for each opener and its closer."""
    spans = []
    pos = 0
    while True:
        opened = text.find("<!--", pos)
        if opened < 0:
            break
        start = opened + 4
        end = text.find("-->", start)
        if end < 0:
            break
        body = text[start:end]
        first = next((ln for ln in body.splitlines() if ln.strip()), "")
        if _BLOCK_START.fullmatch(first):
            spans.append((start, end))
        pos = end + 3
    return spans


@lru_cache(maxsize=1)
def _loader_class():
    """libyaml's loader when its marks count characters (as the pure-Python one's do), else the latter.

    Checked on text with 2-, 3- and 4-byte UTF-8 characters and a U+2028 in a comment: a loader that
    counted bytes would put the value elsewhere.
    """
    probe = "a: \u00e9\u20ac\U0001f600 # x\u2028# y\r\nb: '7'\n"
    fast = getattr(yaml, "CSafeLoader", None)  # absent where PyYAML was built without libyaml
    if fast is None:
        return yaml.SafeLoader
    try:
        loader = fast(probe)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        value = node.value[1][1]
        if probe[value.start_mark.index : value.end_mark.index] == "'7'":
            return fast
    except yaml.YAMLError:
        pass
    return yaml.SafeLoader


def _compose(text: str, path: Path) -> tuple[Any, Any]:
    """The node tree and data of ``text``, read as the index reader reads it (``index.source``): U+2028,
    U+2029 and NEL are ordinary characters (YAML 1.2, editors), not line breaks as PyYAML's 1.1 has them,
    so a comment holding one cannot hide a second reading of the file from ``check`` and show it here.
    They are parsed as private-use stand-ins of the same length, so every position stays true."""
    if any(c in text for c in _ODD_BREAKS) and not any(c in text for c in _STAND_INS):  # the reader's rule
        text = text.translate(_TO_STAND_INS)
    loader = _loader_class()(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise FixError(f"{display_path(path)} holds no model index now; nothing was written")
        _bounded_walk(root, path)
        data = loader.construct_document(root)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FixError(
            f"{display_path(path)} does not read as a model index now ({reason}); nothing was written"
        ) from None
    finally:
        loader.dispose()
    return root, data


def _bounded_walk(root: Any, path: Path) -> None:
    visits = 0
    stack = [root]
    while stack:
        node = stack.pop()
        visits += 1
        if visits > MAX_NODE_VISITS:
            raise FixError(
                f"{display_path(path)}: its aliases expand to more than {MAX_NODE_VISITS} values; nothing was written"
            )
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _references(root: Any) -> dict[int, int]:
    """How many times each node is reached from its parents: more than once means an alias shares it."""
    seen: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        seen[id(node)] = seen.get(id(node), 0) + 1
        if seen[id(node)] > 1:
            continue
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return seen


# --- locating one value ----------------------------------------------------------------------------------


def _pairs(node: Any, key: str) -> list[tuple[Any, Any]]:
    return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key]


def _locate(source: _Source, segments: list[_Segment], name: str, field: str, old: Any, new: int) -> Edit:
    where = f"{display_path(source.path)}: {name} > Metadata > {field}"

    def refuse(why: str) -> FixError:
        return FixError(f"{where}: {why}, so the measured {new} was not written (nothing was); write it by hand")

    found = []
    for segment in segments:
        models = _pairs(segment.root, "Models") if isinstance(segment.root, yaml.MappingNode) else []
        for _, seq in models:
            if isinstance(seq, yaml.SequenceNode):
                for i, item in enumerate(seq.value):
                    if isinstance(item, yaml.MappingNode) and any(
                        isinstance(v, yaml.ScalarNode) and v.value == name for _, v in _pairs(item, "Name")
                    ):
                        found.append((segment, item, i))
    if len(found) != 1:
        raise refuse(f"the entry is written {len(found)} times in the file now, not once")
    segment, item, _ = found[0]
    refs = _references(segment.root)
    metas = _pairs(item, "Metadata")
    if len(metas) != 1 or not isinstance(metas[0][1], yaml.MappingNode):
        raise refuse("the entry has no Metadata mapping of its own to write into")
    meta = metas[0][1]
    if refs[id(item)] > 1 or refs[id(meta)] > 1:
        raise refuse("the entry's Metadata is an alias shared with other places")
    own = _pairs(meta, field)
    if len(own) > 1:
        raise refuse(f"the key is written {len(own)} times")
    if own:
        return _replace(source, segment, own[0][1], refs, refuse, name, field, old, new)
    return _insert(source, segment, meta, refuse, name, field, new)


def _replace(source, segment, node, refs, refuse, name, field, old, new) -> Edit:
    if not isinstance(node, yaml.ScalarNode):
        raise refuse("the value is not a single scalar")
    if refs[id(node)] > 1:
        raise refuse("the value is an alias shared with other places")
    if old is None or _as_int(node.value) != old:
        raise refuse(f"the file now holds {node.value!r}, not the value {old!r} that was checked")
    style = node.style or None
    if style is None:
        token, new_token = node.value, str(new)
    elif style == "'":
        token, new_token = "'" + node.value.replace("'", "''") + "'", f"'{new}'"
    elif style == '"' and not set('"\\') & set(node.value):
        token, new_token = f'"{node.value}"', f'"{new}"'
    else:
        raise refuse("the value is written in a form tresnet-zoo does not rewrite (a block scalar or escapes)")
    end = segment.start + node.end_mark.index
    start = end - len(token)
    prefix = source.text[segment.start + node.start_mark.index : start]  # a tag or anchor, if any
    if source.text[start:end] != token or (prefix and not (prefix[0] in "!&" and prefix[-1] in " \t")):
        raise refuse("the value's text could not be located exactly (a multi-line scalar?)")
    return Edit(source.path, name, field, old, new, start, end, new_token, _line(source.text, start))


def _insert(source, segment, meta, refuse, name, field, new) -> Edit:
    text = source.text
    if meta.flow_style:
        brace = segment.start + meta.start_mark.index
        if text[brace : brace + 1] != "{":
            raise refuse("the Metadata flow mapping could not be located exactly")
        quoted = source.path.suffix.lower() == ".json" or (meta.value and meta.value[0][0].style == '"')
        pair = f'"{field}": {new}' if quoted else f"{field}: {new}"
        if not meta.value:
            return Edit(source.path, name, field, None, new, brace + 1, brace + 1, pair, _line(text, brace))
        at = segment.start + meta.value[0][0].start_mark.index
        line_start = _line_start(text, at, " \t")
        if line_start is not None:  # pretty-printed (JSON): the pair gets its own line, indented like the next
            newline = _newline_before(text, line_start)
            piece = text[line_start:at] + pair + "," + newline
            return Edit(source.path, name, field, None, new, line_start, line_start, piece, _line(text, line_start))
        return Edit(source.path, name, field, None, new, at, at, pair + ", ", _line(text, at))
    key_at = segment.start + meta.value[0][0].start_mark.index
    line_start = _line_start(text, key_at, " ")
    if line_start is None:
        raise refuse("the entry's first Metadata key does not start its own line")
    line = text[line_start:key_at] + f"{field}: {new}" + _newline_before(text, line_start)
    return Edit(source.path, name, field, None, new, line_start, line_start, line, _line(text, line_start))


def _line_start(text: str, at: int, blanks: str) -> int | None:
    """Where the line holding ``at`` starts, if only ``blanks`` precede ``at`` on it and it follows a CR or
    LF (a NEL or U+2028 ends a line for YAML 1.1 but not for 1.2: no new line is started after one)."""
    start = at
    while start > 0 and text[start - 1] in blanks:
        start -= 1
    return start if start > 0 and text[start - 1] in "\r\n" else None


def _newline_before(text: str, line_start: int) -> str:
    """The line break that ends the line before ``line_start``: a new line keeps the file's style."""
    return "\r\n" if text[line_start - 2 : line_start] == "\r\n" else text[line_start - 1]


def _as_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _line(text: str, pos: int) -> int:
    return len(_LINE_BREAK.findall(text, 0, pos)) + 1


# --- splicing and proving the result ---------------------------------------------------------------------


def _splice(source: _Source, edits: list[Edit], *, verify: list[_Segment] | None = None) -> str:
    """The file's text with ``edits`` made. With ``verify`` (the segments of the text as read), the new text
    is parsed again and must hold exactly the old data with the new values: nothing else may change."""
    out: list[str] = []
    pos = 0
    for seq, edit in sorted(enumerate(edits), key=lambda pair: (pair[1].start, pair[0])):
        if edit.start < pos:
            raise FixError(f"{display_path(source.path)}: two edits overlap; nothing was written")
        out += (source.text[pos : edit.start], edit.text)
        pos = edit.end
    out.append(source.text[pos:])
    text = "".join(out)
    if verify is not None:
        _prove(source, edits, verify, text)
    return text


def _prove(source: _Source, edits: list[Edit], before: list[_Segment], text: str) -> None:
    after = _segments(source, text)
    expected = [_plain(s.data) for s in before]
    for edit in edits:
        seg, idx = _entry_at(before, edit)
        metadata = expected[seg]["Models"][idx]["Metadata"]
        as_text = not edit.inserted and isinstance(metadata.get(edit.field), str)  # '123' stays a string
        metadata[edit.field] = str(edit.new) if as_text else edit.new
    if len(after) != len(before) or expected != [_plain(s.data) for s in after]:
        values = ", ".join(f"{e.entry} > {e.field} = {e.new}" for e in edits)
        raise FixError(
            f"{display_path(source.path)}: the edited file would not read back as the old one with only "
            f"the measured values changed, so nothing was written; set them by hand: {values}"
        )


def _entry_at(segments: list[_Segment], edit: Edit) -> tuple[int, int]:
    for s, segment in enumerate(segments):
        models = segment.data.get("Models") if isinstance(segment.data, dict) else None
        for i, item in enumerate(models if isinstance(models, list) else ()):
            if isinstance(item, dict) and str(item.get("Name")) == edit.entry:
                return s, i
    raise FixError(f"{display_path(edit.file)}: {edit.entry} not found again; nothing was written")


def _plain(value: Any) -> Any:
    """A fresh copy for comparing (shared alias objects are copied apart; NaN compares equal to NaN)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return value


# --- errors ----------------------------------------------------------------------------------------------


def _ensure_writable(path: Path) -> None:
    try:
        ensure_writable(path)
    except ReadOnlyTargetError as exc:
        raise _not_writable(path, exc) from None


def _not_writable(path: Path, exc: ReadOnlyTargetError) -> IndexNotWritableError:
    target = Path(exc.filename) if exc.filename else path
    return IndexNotWritableError(
        f"{display_path(path)}: not fixed, {exc.strerror} ({display_path(target)}); the file is unchanged",
        hint=f"chmod u+w {shlex.quote(display_path(target))}",
    )
