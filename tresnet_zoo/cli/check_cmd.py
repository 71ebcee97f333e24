"""`check`: every entry against the reference implementation; `--fix` writes measured values back.

The command calls ``tresnet_zoo.check.run_check`` (and ``tresnet_zoo.fix``), prints, and exits.
"""

from __future__ import annotations

import shlex
from typing import List, Optional

import typer

from ..check import DEFAULT_FLOPS_RTOL, FIELDS, CheckReport, run_check
from ..fix import fix as fix_index
from .context import State
from .mirror import check_links_command
from .output import console, print_json


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or fnmatch patterns [default: every entry]."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
    index_path: Optional[str] = typer.Option(None, "--index", help="Index to check (same as the global --index)."),
    flops_rtol: float = typer.Option(
        DEFAULT_FLOPS_RTOL, "--flops-rtol", min=0.0, help="Relative tolerance for FLOPs (MACs)."
    ),
    fix: bool = typer.Option(False, "--fix", help="Write measured Parameters/FLOPs back into the index file."),
    links: bool = typer.Option(
        False, "--links", help="Instead: ask every weights source for its size (network; no model is built)."
    ),
    link_timeout: float = typer.Option(10.0, "--link-timeout", min=0.1, help="Seconds per request for --links."),
) -> None:
    """Check every entry's metadata against the reference TResNet: parameters, FLOPs, file size, weights URL."""
    state: State = ctx.obj
    if links:  # issue 12: the links, not the models

        check_links_command(index_path or state.index, names, as_json=as_json, timeout=link_timeout)
        return
    paths = index_path or state.index
    report = run_check(paths, names or None, flops_rtol=flops_rtol)
    written = []
    if fix and report.fixable:
        written = fix_index(report)
        report = run_check(paths, names or None, flops_rtol=flops_rtol)

    if as_json:
        data = report.to_dict()
        if fix:
            data["fixed"] = [
                {"file": str(e.file), "line": e.line, "entry": e.entry, "field": e.field, "old": e.old, "new": e.new}
                for e in written
            ]
        print_json(data)
    else:
        if fix:
            _print_fixes(written)
        _print_report(report, paths, names, flops_rtol, fixed=fix)
    if not report.ok:
        raise typer.Exit(1)


def _print_fixes(written) -> None:
    out = console(stderr=True)
    for edit in written:
        out.print(f"fixed: {edit.describe()}", markup=False, highlight=False, emoji=False)
    out.print(
        f"{len(written)} value(s) written" + ("; checked again" if written else ""),
        markup=False,
        highlight=False,
        emoji=False,
    )


def _print_report(report: CheckReport, paths, names, flops_rtol: float, *, fixed: bool) -> None:
    from rich.table import Table  # noqa: PLC0415  (rich's table only when one is printed: `check` is in every start-up)
    from rich.text import Text  # noqa: PLC0415  (with the table: only when a report is printed)

    out = console()
    if report.problems:
        for problem in report.problems:
            out.print(str(problem), markup=False, highlight=False, emoji=False)
        out.print(
            f"{len(report.problems)} schema problem(s): fix these first; no entry was checked",
            markup=False,
            highlight=False,
            emoji=False,
        )
        return
    table = Table(title=f"check: {len(report.entries)} entries against the reference TResNet", title_justify="left")
    table.add_column("entry", no_wrap=True)
    for name in FIELDS:
        table.add_column(name, justify="center", no_wrap=True)
    # styled Text, not markup: the console renders no markup, so nothing from an index can smuggle any in
    marks = {"ok": ("ok", "green"), "wrong": ("WRONG", "bold red"), "skip": ("-", "dim"),
             "inferred": ("inferred", "yellow"), "unpinned": ("unpinned", "yellow")}
    for entry in report.entries:
        cells = {v.field: Text(*marks.get(v.status, (v.status, ""))) for v in entry.verdicts}
        table.add_row(Text(entry.name), *(cells.get(f, Text("")) for f in FIELDS))
    out.print(table)
    wrong = [(e, v) for e in report.entries for v in e.wrong]
    notes = [(e, v) for e in report.entries for v in e.verdicts if v.status in ("inferred", "unpinned")]
    for entry, verdict in notes + wrong:
        where = f"{verdict.location}: " if verdict.location else ""
        out.print(
            f"{where}{entry.name} > {verdict.field}: {verdict.message}", markup=False, highlight=False, emoji=False
        )
    bad_entries = sum(1 for e in report.entries if not e.ok)
    if not wrong:
        caveats = []
        inferred = sum(1 for _, v in notes if v.status == "inferred")
        unpinned = sum(1 for _, v in notes if v.status == "unpinned")
        if inferred:
            caveats.append(f"{inferred} value(s) fit but were inferred, not measured")
        if unpinned:
            caveats.append(f"{unpinned} weights file(s) have no hash pinned and cannot be fetched yet")
        tail = f" ({'; '.join(caveats)}: see above)" if caveats else ""
        out.print(f"All {len(report.entries)} entries agree with the reference implementation{tail}.", markup=False)
        return
    summary = f"{len(wrong)} wrong field(s) in {bad_entries} of {len(report.entries)} entries"
    fixable = len(report.fixable)
    if fixable and not fixed:
        summary += f" ({fixable} can be written back with the measured value: {_fix_command(paths, names, flops_rtol)})"
    out.print(summary, markup=False, highlight=False, emoji=False)


def _fix_command(paths, names, flops_rtol: float) -> str:
    """The command that writes the fixes, with the user's index, names and tolerance spelled out so that it
    runs as printed and fixes what this run reported."""
    args = ["tresnet-zoo", "check"]
    if paths is not None:
        args += ["--index", str(paths)]
    if flops_rtol != DEFAULT_FLOPS_RTOL:
        args += ["--flops-rtol", repr(flops_rtol)]
    return "`" + shlex.join(args + ["--fix", *(names or ())]) + "`"
