"""`check --fix`: write measured values back into the index file, touching nothing else.

Edits are made on the text, line by line, so that key order, quoting, comments and the rest of a Markdown
page stay as they were. Only values `check` measured are written (Parameters, and FLOPs outside the
tolerance); a value it could not measure is never invented. A value a model inherits from its collection
is not changed there (that would change the collection's other models): the model gets its own line.
The file is replaced atomically.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ._fs import atomic_write
from .check import WRONG, CheckReport
from .index import Index

__all__ = ["Edit", "plan_fixes", "apply_fixes", "FIXABLE"]

FIXABLE = ("Parameters", "FLOPs")


@dataclass
class Edit:
    file: Path
    line: int  # 1-based: the line replaced, or the line after which a new one is inserted
    entry: str
    field: str
    old: object
    new: int
    insert: str | None = None  # the full text of an inserted line
    skipped: str | None = None  # why this value cannot be written automatically


def plan_fixes(report: CheckReport, index: Index) -> list[Edit]:
    edits: list[Edit] = []
    for entry_report in report.entries:
        entry = index.get(entry_report.name)
        for verdict in entry_report.wrong:
            if verdict.field not in FIXABLE or verdict.measured is None:
                continue
            own = ("Metadata", verdict.field) in entry.locations and verdict.field not in entry.inherited
            if own:
                where = entry.locations[("Metadata", verdict.field)]
                edits.append(Edit(where.file, where.line, entry.name, verdict.field, verdict.value, verdict.measured))
                continue
            meta = entry.locations.get(("Metadata",))
            if meta is None or meta.line is None:
                edits.append(Edit(entry.location.file, entry.location.line or 0, entry.name, verdict.field, verdict.value, verdict.measured,
                                  skipped="the entry has no Metadata mapping of its own; add one"))
                continue
            edits.append(Edit(meta.file, meta.line, entry.name, verdict.field, verdict.value, verdict.measured, insert=""))
    return edits


_YAML_VALUE = r"^(?P<pre>\s*(?:-\s+)?{key}\s*:[ \t]*)(?P<val>[^#\r\n]*?)(?P<post>[ \t]*(?:#.*)?)$"
_JSON_VALUE = r'(?P<pre>"{key}"\s*:\s*)(?P<val>-?\d+(?:\.\d+)?|"[^"]*")'


def apply_fixes(edits: list[Edit]) -> list[Edit]:
    """Apply the edits file by file (bottom-up, so line numbers stay valid); returns the applied ones."""
    applied: list[Edit] = []
    by_file: dict[Path, list[Edit]] = {}
    for edit in edits:
        if edit.skipped is None:
            by_file.setdefault(edit.file, []).append(edit)
    for file, file_edits in by_file.items():
        text = file.read_text(encoding="utf-8")
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        for edit in sorted(file_edits, key=lambda e: e.line, reverse=True):
            idx = edit.line - 1
            if edit.insert is not None:
                inserted = _insert_line(lines, idx, edit)
                if inserted is None:
                    edit.skipped = "Metadata is written in flow style ({...}); edit it by hand"
                    continue
                lines.insert(idx + 1, inserted)
                edit.insert = inserted
            else:
                key = re.escape(edit.field)
                line = lines[idx]
                new, n = re.subn(_YAML_VALUE.format(key=key), lambda m: f"{m['pre']}{edit.new}{m['post']}", line, count=1)
                if not n:
                    new, n = re.subn(_JSON_VALUE.format(key=key), lambda m: f"{m['pre']}{edit.new}", line, count=1)
                if not n:
                    edit.skipped = f"line {edit.line} is not a plain '{edit.field}: value' line; edit it by hand"
                    continue
                lines[idx] = new
            applied.append(edit)
        try:
            atomic_write(file, newline.join(lines))
        except OSError as exc:
            from .errors import ZooError

            raise ZooError(f"{file}: cannot write the fixes ({exc.strerror or exc}); the file is unchanged",
                           hint="make the index file writable, or apply the values `tresnet-zoo check` reports by hand") from None
    return applied


def _insert_line(lines: list[str], idx: int, edit: Edit) -> str | None:
    """The line to insert after the entry's ``Metadata:`` line, indented like its children."""
    meta_line = lines[idx]
    if not re.match(r"^\s*(?:-\s+)?Metadata\s*:\s*(#.*)?$", meta_line):
        return None
    indent = len(meta_line) - len(meta_line.lstrip(" -"))
    child = next((ln for ln in lines[idx + 1:] if ln.strip()), "")
    child_indent = len(child) - len(child.lstrip(" "))
    if child_indent <= indent:
        child_indent = indent + 2
    return " " * child_indent + f"{edit.field}: {edit.new}"
