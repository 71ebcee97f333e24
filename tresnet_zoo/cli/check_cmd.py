"""`check`: every entry against the reference implementation; `--fix` writes measured values back."""

from __future__ import annotations

from typing import List, Optional

import typer

from .context import State
from .output import console, print_json


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            "`check` builds the reference models and needs PyTorch, which is not installed",
            hint='pip install "tresnet-zoo[torch]"',
        ) from None


def check(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or fnmatch patterns [default: every entry]."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
    index_path: Optional[str] = typer.Option(None, "--index", help="Index to check (same as the global --index)."),
    flops_rtol: float = typer.Option(0.01, "--flops-rtol", min=0.0, help="Relative tolerance for FLOPs (MACs)."),
    fix: bool = typer.Option(False, "--fix", help="Write measured Parameters/FLOPs back into the index file."),
    links: bool = typer.Option(False, "--links", help="Instead: ask every weights source for its size (network; no model is built)."),
    link_timeout: float = typer.Option(10.0, "--link-timeout", min=0.1, help="Seconds per request for --links."),
) -> None:
    """Check every entry's metadata against the reference TResNet: parameters, FLOPs, file size, weights URL."""
    from ..check import FIELDS, check_index
    from ..index import resolve_roots
    from ..index.validate import validate_paths

    state: State = ctx.obj
    if links:  # issue 12: the links, not the models
        from .mirror import check_links_command

        check_links_command(index_path or state.index, names, as_json=as_json, timeout=link_timeout)
        return
    roots = resolve_roots(index_path or state.index)
    report_v, docs = validate_paths(roots)
    if not report_v.ok:
        if as_json:
            print_json({"ok": False, "problems": [p.to_dict() for p in report_v.problems], "entries": []})
        else:
            out = console()
            for problem in report_v.problems:
                out.print(str(problem), markup=False)
            out.print(f"{len(report_v.problems)} schema problem(s): fix these first (`tresnet-zoo validate`)", markup=False)
        raise typer.Exit(1)

    _require_torch()
    from ..index.records import build_index

    index = build_index(roots, docs)
    report = check_index(index, names or None, flops_rtol=flops_rtol)

    if fix:
        report = _fix(report, index, roots, names, flops_rtol, quiet=as_json)

    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report, FIELDS)
    if not report.ok:
        raise typer.Exit(1)


def _fix(report, index, roots, names, flops_rtol, *, quiet: bool):
    from ..check import check_index
    from ..fix import apply_fixes, plan_fixes
    from ..index import load_index
    from ..index.problems import display_path

    edits = plan_fixes(report, index)
    applied = apply_fixes(edits)
    if not quiet:
        out = console(stderr=True)
        for edit in edits:
            if edit.skipped:
                out.print(f"not fixed: {display_path(edit.file)}:{edit.line}: {edit.entry} > Metadata > {edit.field}: {edit.skipped}", markup=False)
            else:
                what = f"added {edit.field}: {edit.new}" if edit.insert is not None else f"{edit.field}: {edit.old} -> {edit.new}"
                out.print(f"fixed: {display_path(edit.file)}:{edit.line}: {edit.entry}: {what}", markup=False)
        out.print(f"{len(applied)} value(s) written; checking again", markup=False)
    if not applied:
        return report
    return check_index(load_index(roots), names or None, flops_rtol=flops_rtol)


def _print_report(report, fields) -> None:
    from rich.table import Table

    out = console()
    table = Table(title=f"check: {len(report.entries)} entries against the reference TResNet", title_justify="left")
    table.add_column("entry", no_wrap=True)
    for name in fields:
        table.add_column(name, justify="center", no_wrap=True)
    marks = {"ok": "[green]ok[/]", "wrong": "[bold red]WRONG[/]", "skip": "[dim]-[/]"}
    for entry in report.entries:
        cells = {v.field: marks[v.status] for v in entry.verdicts}
        table.add_row(entry.name, *(cells.get(f, "") for f in fields))
    out.print(table)
    wrong = [(e, v) for e in report.entries for v in e.wrong]
    for entry, verdict in wrong:
        where = f"{verdict.location}: " if verdict.location else ""
        out.print(f"{where}{entry.name} > {verdict.field}: {verdict.message}", markup=False, highlight=False)
    bad_entries = sum(1 for e in report.entries if not e.ok)
    if wrong:
        out.print(
            f"{len(wrong)} wrong field(s) in {bad_entries} of {len(report.entries)} entries "
            "(`tresnet-zoo check --fix` writes measured Parameters/FLOPs back)",
            markup=False,
        )
    else:
        out.print(f"All {len(report.entries)} entries agree with the reference implementation.", markup=False)
