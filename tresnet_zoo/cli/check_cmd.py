"""`check`: every entry against the reference implementation; `--fix` writes measured values back.

The command calls ``tresnet_zoo.check.run_check`` (and ``tresnet_zoo.fix``), prints, and exits.
"""

from __future__ import annotations

import shlex
from typing import List, Optional

import typer

from ..check import DEFAULT_FLOPS_RTOL, FIELDS, CheckReport, run_check
from ..fix import fix as fix_index
from . import output
from .context import State
from .hints import command
from .mirror import check_links_command
from .output import Column, Format, choose, format_option, json_option, print_json


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or fnmatch patterns [default: every entry]."),
    fmt: Optional[Format] = format_option(),
    as_json: bool = json_option(),
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
    fmt = choose(fmt, as_json)
    if links:
        check_links_command(index_path or state.index, names, as_json=fmt is Format.json, timeout=link_timeout)
        return
    paths = index_path or state.index
    report = run_check(paths, names or None, flops_rtol=flops_rtol)
    written = []
    if fix and report.fixable:
        written = fix_index(report)
        report = run_check(paths, names or None, flops_rtol=flops_rtol)

    if fmt is Format.json:
        data = report.to_dict()
        if fix:
            data["fixed"] = [
                {"file": str(e.file), "line": e.line, "entry": e.entry, "field": e.field, "old": e.old, "new": e.new}
                for e in written
            ]
        print_json(data)
    else:
        if fix:
            for edit in written:
                output.line(f"fixed: {edit.describe()}", err=True)
            output.line(f"{len(written)} value(s) written" + ("; checked again" if written else ""), err=True)
        _print_report(state, report, paths, names, flops_rtol, fmt, fixed=fix)
    if not report.ok:
        raise typer.Exit(1)


# styled cells, not markup: the console renders no markup, so nothing from an index can smuggle any in
_MARKS = {"ok": "ok", "wrong": "WRONG", "skip": "-", "inferred": "inferred", "unpinned": "unpinned"}
_STYLES = {"ok": "green", "WRONG": "bold red", "-": "dim", "inferred": "yellow", "unpinned": "yellow"}


def _print_report(state: State, report: CheckReport, paths, names, flops_rtol: float, fmt: Format, *,
                  fixed: bool) -> None:
    if report.problems:
        for problem in report.problems:
            output.line(problem)
        output.line(f"{len(report.problems)} schema problem(s): fix these first; no entry was checked")
        return
    rows, narrow = [], []
    for entry in report.entries:
        marks = {v.field: _MARKS.get(v.status, v.status) for v in entry.verdicts}
        rows.append([entry.name, *(marks.get(f, "") for f in FIELDS)])
        odd = [f"{f} {m}" for f, m in marks.items() if m not in ("ok", "-")]
        narrow.append([entry.name, ", ".join(odd) or "ok"])
    columns = [Column("entry", keep=100), *(Column(f, keep=100) for f in FIELDS)]
    output.table(f"check: {len(report.entries)} entries against the reference TResNet", columns, rows, fmt,
                 narrow=([Column("entry", keep=100), Column("verdicts", keep=100)], narrow), styles=_STYLES)
    wrong = [(e, v) for e in report.entries for v in e.wrong]
    notes = [(e, v) for e in report.entries for v in e.verdicts if v.status in ("inferred", "unpinned")]
    for entry, verdict in notes + wrong:
        where = f"{verdict.location}: " if verdict.location else ""
        output.line(f"{where}{entry.name} > {verdict.field}: {verdict.message}")
    caveats = []
    for status, what in (("inferred", "value(s) fit but were inferred, not measured"),
                         ("unpinned", "weights file(s) unpinned, acknowledged by the index: no download of them "
                                      "can be verified")):
        n = sum(1 for _, v in notes if v.status == status)
        if n:
            caveats.append(f"{n} {what}")
    tail = f" ({'; '.join(caveats)}: see above)" if caveats else ""
    if not wrong:
        output.line(f"All {len(report.entries)} entries agree with the reference implementation{tail}.")
        return
    bad_entries = sum(1 for e in report.entries if not e.ok)
    unverifiable = sum(v.unpinned for _, v in wrong)
    if unverifiable:
        tail += (f"; {unverifiable} of them weights no download of which can be verified (no hash, not "
                 "acknowledged with x-tresnet-zoo: unpinned)")
    output.line(f"{len(wrong)} wrong field(s) in {bad_entries} of {len(report.entries)} entries{tail}")
    fixable = {(e.name, v.field) for e, v in report.fixable}
    if fixed:  # what --fix cannot write: where the right value is found
        for entry, verdict in wrong:
            if (entry.name, verdict.field) not in fixable:
                output.line(f"not fixed: {entry.name} > {verdict.field}: {_where_right(state, entry.name, verdict)}")
    if fixable and not fixed:
        output.line(f"hint: {_fix_command(paths, names, flops_rtol)}  # writes the {len(fixable)} measured "
                    "value(s) back", err=True)


def _where_right(state: State, name: str, verdict) -> str:
    """Where the right value of a field that --fix cannot measure can be found."""
    return {
        "File Size": f"the size of the file itself: `{command(state, 'check', '--links', name)}` asks its server",
        "Weights": f"the release page of the weights; a download's sha256: `{command(state, 'fetch', name)}` "
                   "prints it (record it as Metadata > SHA256)",
        "Lock": f"`{command(state, 'lock', '--update', name)}` rewrites the lock line from the verified file",
        "Architecture": "the entry's name or ID must start with a variant `tresnet-zoo list` shows",
    }.get(verdict.field, "the paper or the model's published config (timm's pretrained_cfg)")


def _fix_command(paths, names, flops_rtol: float) -> str:
    """The command that writes the fixes, with the user's index, names and tolerance spelled out so that it
    runs as printed and fixes what this run reported."""
    args = ["tresnet-zoo", "check"]
    if paths is not None:
        args += ["--index", str(paths)]
    if flops_rtol != DEFAULT_FLOPS_RTOL:
        args += ["--flops-rtol", repr(flops_rtol)]
    return shlex.join(args + ["--fix", *(names or ())])
