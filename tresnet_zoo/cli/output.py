"""The one output path of the CLI: nothing else in tresnet-zoo writes to stdout or stderr.

Every value printed may come from a stranger's index, cache, server or file name, so two rules hold for
every byte written here:

- Data is made ``printable``: control characters (ESC and the C1 CSI start escape sequences), line and
  paragraph separators, bidi overrides and zero-width characters are shown as ``\\xNN`` / ``\\uNNNN``.
  Rich renders no markup or emoji codes (``[red]``, ``:x:``) and tables are built only from printable cells.
- Text is encoded for the stream it goes to: a stream that is not UTF-8 (``PYTHONIOENCODING=latin-1``)
  gets ``\\uNNNN`` replacements, never an exception. JSON is always ASCII (``\\u`` escapes): exact for
  ``json.loads`` on any stream.

Formats (``--format``): ``table`` (rich, fitted to the width: low-priority columns are dropped, then rows
stacked, so that no number is ever cut), ``plain`` (aligned columns, the default when stdout is not a
terminal), ``tsv`` and ``json``. ``NO_COLOR`` and ``COLUMNS`` are honoured.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Sequence

import typer

from ..errors import ZooError


class Format(str, Enum):
    table = "table"
    plain = "plain"
    tsv = "tsv"
    json = "json"


def format_option(help_: str = "Output format [default: table on a terminal, else plain].") -> Any:
    return typer.Option(None, "--format", case_sensitive=False, help=help_)


def json_option() -> Any:
    return typer.Option(False, "--json", help="Same as --format json.")


def choose(fmt: Format | None, as_json: bool = False) -> Format:
    """The format to write: ``--json`` wins, then ``--format``, then table on a terminal, plain otherwise."""
    if as_json:
        return Format.json
    if fmt is not None:
        return Format(fmt)
    return Format.table if _isatty(sys.stdout) else Format.plain


# C0/C1 controls, DEL, soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width and direction
# marks, line/paragraph separators, bidi embeddings/overrides/isolates, word joiner and invisible operators,
# BOM, interlinear annotation; and lone surrogates (a file name that is not UTF-8 holds them)
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff]"
)


def _escape(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """``str(value)`` safe for a terminal: one line, no escape sequences, no direction overrides."""
    return _UNPRINTABLE.sub(_escape, str(value))


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _for_stream(stream, text: str) -> str:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: ASCII is safe everywhere
        return text.encode("ascii", "backslashreplace").decode("ascii")


def _write(text: str, err: bool) -> None:
    """Write text whose data parts are already printable (our own layout: newlines, table borders, colours)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(_for_stream(stream, text))


def line(text: Any = "", *, err: bool = False) -> None:
    """One line of text (each embedded newline escaped: one line is one line)."""
    _write(printable(text) + "\n", err)


def lines(text: Any, *, err: bool = False) -> None:
    """Several lines (help text, a report): each made printable on its own."""
    _write("".join(printable(part) + "\n" for part in str(text).rstrip("\n").split("\n")), err)


def error(message: Any, hint: Any = None) -> None:
    """``error: <what, where>`` and ``hint: <a command that runs as printed>`` on stderr, one line each."""
    line(f"error: {str(message).strip()}", err=True)
    if hint:
        line(f"hint: {str(hint).strip()}", err=True)


_said: set[str] = set()


def warning(message: Any) -> None:
    """A ``warning:`` (or ``note:``) line on stderr, each text once per command."""
    text = str(message).strip()
    if not text.startswith(("warning: ", "note: ", "error: ")):
        text = f"warning: {text}"
    if text not in _said:
        _said.add(text)
        line(text, err=True)


def capture_warnings() -> None:
    """Python warnings (the library's ``warnings.warn``) become ``warning:`` lines through this path;
    ``-W``/``PYTHONWARNINGS`` filters still apply (this only replaces how a shown warning is written)."""
    _said.clear()
    warnings.showwarning = lambda message, *args, **kwargs: warning(message)


def print_json(data: Any, *, records: bool = False) -> None:
    """Strict, ASCII JSON on stdout: exact on any stream; NaN or infinity is an error, not a bare ``NaN``.
    ``records``: a list written one compact record per line (the C encoder; grep- and diff-friendly)."""
    try:
        if records:
            text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=True, allow_nan=False) for r in data) + "\n]" \
                if data else "[]"
        else:
            text = json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)
    except ValueError:
        raise ZooError("a value is NaN or infinite, which JSON cannot hold") from None
    _write(text + "\n", False)


def width() -> int:
    """Columns to fit: ``COLUMNS``, else the terminal's, else 200 (a pipe or file is not cut)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    if _isatty(sys.stdout):
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            return 80
    return 200


def _console(stream, *, columns: int | None = None):
    from rich.console import Console  # noqa: PLC0415  (rich only when something is drawn)

    class Buffer(io.StringIO):  # rich picks ASCII boxes and bars for a stream that is not UTF-8
        encoding = getattr(stream, "encoding", None) or "utf-8"

    tty = _isatty(stream)
    colour = tty and not os.environ.get("NO_COLOR")
    return Console(file=Buffer(), width=columns or width(), force_terminal=colour, no_color=not colour,
                   color_system="standard" if colour else None, highlight=False, markup=False, emoji=False,
                   soft_wrap=False, legacy_windows=False)


@contextmanager
def progress(enabled: bool, *, files: bool):
    """A transient rich progress bar on stderr when it is a terminal, else None: ``update(name, done, total)``
    (``name`` None: one bar for the whole run). ``files``: bytes and rate per file; else a count of items."""
    if not enabled or not _isatty(sys.stderr):
        yield None
        return
    from rich.console import Console  # noqa: PLC0415  (rich only when something is drawn)
    from rich.progress import (  # noqa: PLC0415  (progress bars: terminal path only)
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    middle = (DownloadColumn(), TransferSpeedColumn()) if files else (MofNCompleteColumn(),)
    console = Console(file=sys.stderr, highlight=False, markup=False, emoji=False,
                      no_color=bool(os.environ.get("NO_COLOR")))
    bars: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), *middle, TimeRemainingColumn(), console=console,
                  transient=True) as shown:

        def update(name: str | None, done: int, total: int | None = None) -> None:
            name = printable(name or "classifying")
            if name not in bars:
                bars[name] = shown.add_task(name, total=total)
            shown.update(bars[name], completed=done, total=total)

        yield update


@dataclass(frozen=True)
class Column:
    name: str
    right: bool = False  # numbers are right-aligned
    keep: int = 0  # higher is dropped later when the table is too wide
    style: str = ""
    wrap: bool = False  # long text: folded onto more lines in a table (numbers never are)


def table(title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], fmt: Format, *,
          narrow: tuple[Sequence[Column], list[list[Any]]] | None = None, styles: dict[str, str] | None = None) -> None:
    """Write rows as ``fmt`` (table, plain or tsv). Every cell passes through ``printable``.

    A table wider than the screen drops its lowest-``keep`` columns first (those with ``keep`` >= 100
    stay), then uses ``narrow`` (another layout of the same facts), and otherwise stacks each row as
    ``column: value`` lines: never an empty or cut number. ``styles`` maps a cell's text to a rich style.
    """
    cells = [[printable(c) for c in row] for row in rows]
    title = printable(title)
    if fmt is Format.tsv:
        text = "\t".join(c.name for c in columns) + "\n" + "".join("\t".join(r) + "\n" for r in cells)
        _write(text, False)
        return
    if fmt is Format.plain:
        _write(title + "\n" + _aligned(columns, cells), False)
        return
    room = width()
    shown = _fit(columns, cells, room)
    if shown is None and narrow is not None:
        columns, cells = narrow[0], [[printable(c) for c in row] for row in narrow[1]]
        shown = _fit(columns, cells, room)
    if shown is None:
        _write(title + "\n" + "".join(
            row[0] + "\n" + "".join(f"  {c.name}: {v}\n" for c, v in zip(columns[1:], row[1:]) if v)
            for row in cells), False)
        return
    from rich.table import Table  # noqa: PLC0415  (rich's tables only when one is drawn)
    from rich.text import Text  # noqa: PLC0415  (styled cells: no markup is ever parsed)

    drawn = Table(title=title, title_justify="left")
    for i in shown:
        drawn.add_column(columns[i].name, justify="right" if columns[i].right else "left",
                         no_wrap=not columns[i].wrap, overflow="fold", style=columns[i].style or None)
    for row in cells:
        drawn.add_row(*(Text(row[i], style=(styles or {}).get(row[i], "")) for i in shown))
    console = _console(sys.stdout, columns=room)
    console.print(drawn)
    _write(console.file.getvalue(), False)


def _widths(columns: Sequence[Column], cells: list[list[str]]) -> list[int]:
    return [max([len(c.name)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]


def _fit(columns: Sequence[Column], cells: list[list[str]], room: int) -> list[int] | None:
    """The indexes of the columns to draw within ``room`` (a box table takes 3 per column + 1), or None."""
    widths = [min(w, 24) if c.wrap else w for c, w in zip(columns, _widths(columns, cells))]
    shown = list(range(len(columns)))
    for i in sorted(shown, key=lambda i: columns[i].keep):
        if sum(widths[j] + 3 for j in shown) + 1 <= room:
            return shown
        if columns[i].keep >= 100:
            break
        shown.remove(i)
    return shown if sum(widths[j] + 3 for j in shown) + 1 <= room else None


def _aligned(columns: Sequence[Column], cells: list[list[str]]) -> str:
    widths = _widths(columns, cells)

    def one(row: Sequence[str]) -> str:
        parts = [v.rjust(w) if c.right else v.ljust(w) for c, v, w in zip(columns, row, widths)]
        return "  ".join(parts).rstrip() + "\n"

    return one([c.name for c in columns]) + "".join(one(r) for r in cells)


def millions(value: int | None) -> str:
    return f"{value / 1e6:.2f}" if value is not None else "-"


def giga(value: int | None) -> str:
    return f"{value / 1e9:.2f}" if value is not None else "-"


def megabytes(value: int | None) -> str:
    return f"{value / 1e6:.1f}" if value is not None else "-"


def number(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"
