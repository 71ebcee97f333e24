"""Shared output helpers: consoles, number formats, JSON.

Every value printed here may come from a stranger's index, so the consoles interpret nothing: no rich
markup (``[red]``), no emoji codes (``:x:`` would turn ``root:x:0:0`` into an emoji), no highlighting.
Styles are given as rich ``Text`` objects where a command wants them. Text from an index also passes through
``printable``: control characters (ESC starts terminal escape sequences), line separators and bidi overrides
are shown as ``\\xNN`` / ``\\uNNNN`` instead of being sent to the terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from ..errors import ZooError


def console(stderr: bool = False):
    from rich.console import Console  # noqa: PLC0415  (rich only when something is printed through it)

    stream = sys.stderr if stderr else sys.stdout
    # Rich assumes 80 columns when the output is not a terminal; tables piped to a file or a pager
    # should not be cut, so give them room unless the user set COLUMNS.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width, markup=False, emoji=False)


# ... and lone surrogates: a file name that is not UTF-8 holds them, and a strict UTF-8 stdout cannot write them
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """``str(value)`` safe for a terminal: one line, no escape sequences, no direction overrides."""
    return _UNPRINTABLE.sub(_escape, str(value))


# _UNPRINTABLE less what json.dumps escapes itself (below U+0020) and the newlines of its indentation
_JSON_UNPRINTABLE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _json_safe(text: str) -> str:
    """JSON text with the characters ``printable`` escapes written as ``\\uNNNN`` escapes.

    Why: ``ensure_ascii=False`` keeps names readable but passes C1 controls (U+009B starts an escape
    sequence on many terminals), line separators and bidi overrides through raw. Outside strings JSON
    text is ASCII, so each such character is inside a string, where the escape means the same value.
    """
    return _JSON_UNPRINTABLE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def print_json(data: Any) -> None:
    """Strict JSON on stdout: NaN or infinity (never valid JSON) is an error, not a bare ``NaN``."""
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ZooError("a value is NaN or infinite, which JSON cannot hold") from None
    # A file name that is not UTF-8 reaches us holding lone surrogates, which a strict UTF-8 stdout cannot
    # encode: write them as the JSON escapes they are (json.loads gives the same string back).
    text = _json_safe(text).encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        sys.stdout.write(text + "\n")
    except UnicodeEncodeError:  # a stdout that is not UTF-8: all-ASCII JSON says the same
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False) + "\n")


def print_json_records(records: list) -> None:
    """A JSON list with one compact record per line: the C encoder (``indent`` is pure Python and was
    a fifth of `list --json` on a 6000-entry index), still one record per line for grep and diff."""
    try:
        body = ",\n".join(json.dumps(record, ensure_ascii=False, allow_nan=False) for record in records)
    except ValueError:
        raise ZooError("a value is NaN or infinite, which JSON cannot hold") from None
    sys.stdout.write("[\n" + _json_safe(body) + "\n]\n" if records else "[]\n")


def millions(value: int | None) -> str:
    return f"{value / 1e6:.2f}" if value is not None else "-"


def giga(value: int | None) -> str:
    return f"{value / 1e9:.2f}" if value is not None else "-"


def megabytes(value: int | None) -> str:
    return f"{value / 1e6:.1f}" if value is not None else "-"


def number(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"
