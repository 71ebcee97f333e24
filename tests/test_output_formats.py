"""`--format table|plain|tsv|json` on list, info, check, cache and verify; plain when stdout is not a terminal;
tables that fit the width (COLUMNS) without an empty or cut number; NO_COLOR; whole --help summaries."""

from __future__ import annotations

import io
import json
import re

import pytest

from tresnet_zoo import load_index
from tresnet_zoo.cli import main

BOX = re.compile("[┏┃│└━─+|]")


@pytest.mark.parametrize("args", [("list",), ("info", "tresnet_m"), ("cache",), ("cache", "info"), ("verify",)])
def test_every_format_of_the_reading_commands(cli, zoo, args):
    assert cli(*zoo.args("fetch", "tresnet_m", "-q")).code == 0  # a file in the cache to show and verify
    args = zoo.args(*args)
    plain = cli(*args)
    assert plain.code == 0, plain.text
    assert not BOX.search(plain.out), plain.out  # stdout is not a terminal here: plain, no box drawing
    assert cli(*args, "--format", "plain").out == plain.out
    as_json = cli(*args, "--format", "json")
    assert as_json.code == 0 and json.loads(as_json.out) == json.loads(cli(*args, "--json").out)
    tsv = cli(*args, "--format", "tsv")
    assert tsv.code == 0
    lines = tsv.out.splitlines()  # a header line, then rows with as many fields
    assert len(lines) >= 2 and len({line.count("\t") for line in lines}) == 1 and "\t" in lines[0], tsv.out
    table = cli(*args, "--format", "table")
    assert table.code == 0 and table.out != plain.out


def test_an_unknown_format_is_a_usage_error(cli):
    result = cli("list", "--format", "yaml")
    assert result.code == 2 and "yaml" in result.err


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]


@pytest.mark.parametrize("columns", [80, 200])
def test_list_fits_the_width_without_empty_or_cut_numbers(cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("list", "--format", "table")
    assert result.code == 0
    lines = result.out.splitlines()
    assert all(len(line) <= columns for line in lines), lines
    assert "…" not in result.out and "..." not in result.out
    header = _cells(next(line for line in lines if "name" in line and "┃" in line))
    rows = [_cells(line) for line in lines if line.startswith("│")]
    index = load_index()
    assert [row[0] for row in rows] == index.names()  # every name, whole
    assert all(all(cell for cell in row) for row in rows), rows  # no empty cell
    for row, entry in zip(rows, index):
        assert row[header.index("params (M)")] == f"{entry.metadata.parameters / 1e6:.2f}"
        assert row[header.index("GMACs")] == f"{entry.metadata.flops / 1e9:.2f}"
        assert row[header.index("top-1")] == (f"{entry.top1:.2f}" if entry.top1 is not None else "-")
    if columns == 200:
        assert len(header) == 9
    else:  # at 80 columns some are dropped, never squeezed
        assert 4 <= len(header) < 9


@pytest.mark.parametrize("columns", [80, 200])
def test_check_fits_the_width_without_cut_verdicts(cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("check", "--format", "table")
    assert result.code == 0, result.text
    table = [line for line in result.out.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= columns for line in table), table
    assert "…" not in result.out
    rows = [_cells(line) for line in table if line.startswith("│")]
    assert [row[0] for row in rows] == load_index().names()
    if columns == 80:  # one verdict column: what is not ok, else "ok"
        verdicts = dict(rows)
        assert verdicts["tresnet_m"] == "ok"
        assert verdicts["tresnet_v2_l_miil_in21k"] == "File Size inferred, Weights unpinned"
    else:
        assert all(len(row) == 9 and all(row) for row in rows), rows
    assert "1 weights file(s) unpinned, acknowledged by the index" in result.out


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_table_and_no_color_is_honoured(monkeypatch):
    for no_color, coloured in (("", True), ("1", False)):
        monkeypatch.setenv("NO_COLOR", no_color)
        screen = _Terminal()
        monkeypatch.setattr("sys.stdout", screen)
        assert main(["list"]) == 0
        assert BOX.search(screen.getvalue())
        assert ("\x1b[" in screen.getvalue()) is coloured


def test_help_summaries_are_whole_at_80_columns(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for args in (("--help",), ("cache", "--help"), ("docs", "--help"), ("mirror", "--help")):
        result = cli(*args)
        assert result.code == 0
        commands = result.out.split("Commands:")[1].split("Exit codes:")[0]
        assert "..." not in commands and "…" not in commands, commands
