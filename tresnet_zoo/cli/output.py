"""Shared output helpers: consoles, number formats, JSON."""

from __future__ import annotations

import json
import sys
from typing import Any


def console(stderr: bool = False):
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Rich assumes 80 columns when the output is not a terminal; tables piped to a file or a pager
    # should not be cut, so give them room unless the user set COLUMNS.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_json_records(records: list) -> None:
    """A JSON list with one compact record per line: the C encoder (``indent`` is pure Python and was
    a fifth of `list --json` on a 6000-entry index), still one record per line for grep and diff."""
    body = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    sys.stdout.write("[\n" + body + "\n]\n" if records else "[]\n")


def millions(value: int | None) -> str:
    return f"{value / 1e6:.2f}" if value is not None else "-"


def giga(value: int | None) -> str:
    return f"{value / 1e9:.2f}" if value is not None else "-"


def megabytes(value: int | None) -> str:
    return f"{value / 1e6:.1f}" if value is not None else "-"


def number(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"
