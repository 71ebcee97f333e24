"""`fetch`, `verify` and `cache`: the weight files."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import replace
from typing import List, Optional

import typer

from .context import State
from .output import console, megabytes, print_json

cache_app = typer.Typer(help="Show or prune the weight cache.", no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch)
    app.command("verify")(verify)
    app.add_typer(cache_app, name="cache")


def _entries(state: State, names: Optional[List[str]], all_: bool, *, command: str):
    from ..errors import UsageError

    index = state.load_index()
    if names and all_:
        raise UsageError(f"give model names or --all, not both (`tresnet-zoo {command} --help`)")
    if not names and not all_:
        raise UsageError(f"name the models to {command}, or pass --all", hint="`tresnet-zoo list` shows the names")
    return index.select(names or None)


def _options(state: State, *, mirror, offline=False, force=False, allow_http=False, timeout=None, retries=None, progress=None):
    from ..weights import Cache, DownloadConfig, FetchOptions

    config = DownloadConfig(allow_http=allow_http)
    if timeout is not None:
        config = replace(config, read_timeout=timeout, connect_timeout=min(timeout, config.connect_timeout))
    if retries is not None:
        config = replace(config, retries=retries)
    return FetchOptions.from_env(cache=Cache(state.cache_root()), mirror=mirror, offline=offline or None, force=force,
                                 config=config, progress=progress)


@contextmanager
def _progress(quiet: bool):
    """A rich progress bar on a terminal (size, rate, ETA); nothing when piped or --quiet."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    bars: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console(stderr=True), transient=True) as progress:

        def update(name: str, done: int, total: int | None) -> None:
            if name not in bars:
                bars[name] = progress.add_task(name, total=total)
            progress.update(bars[name], completed=done, total=total)

        yield update


def fetch(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or fnmatch patterns."),
    all_: bool = typer.Option(False, "--all", help="Every entry of the index."),
    verify_: bool = typer.Option(False, "--verify", help="Deep check: load into the reference model and run it."),
    force: bool = typer.Option(False, "--force", help="Download again even if cached."),
    mirror: Optional[str] = typer.Option(None, "--mirror", envvar="TRESNET_ZOO_MIRROR", help="Base URL, file:// folder or object store (s3://bucket/prefix) with the same file names."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (env TRESNET_ZOO_OFFLINE=1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    allow_http: bool = typer.Option(False, "--allow-http", help="Permit plain http to non-loopback hosts."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds without data before a transfer counts as stalled."),
    retries: int = typer.Option(5, "--retries", min=0, help="Retries per download (connection errors, 429/5xx, broken bodies)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Download weights into the cache, checking File Size and sha256 (the hash prefix in the file name)."""
    from ..errors import ZooError
    from ..weights.fetch import fetch_entry

    state: State = ctx.obj
    entries = _entries(state, names, all_, command="fetch")
    out = console()
    results, failures = [], 0
    with _progress(quiet or as_json) as bar:
        options = _options(state, mirror=mirror, offline=offline, force=force, allow_http=allow_http, timeout=timeout, retries=retries, progress=bar)
        for entry in entries:
            record: dict = {"name": entry.name, "file": entry.weights_filename, "ok": False}
            try:
                result = fetch_entry(entry, options)
                record.update(result.to_dict(), ok=True, checks={"size": "ok", "sha256": "ok"})
                if verify_:
                    from ..weights.verify import deep_check

                    record["deep"] = deep_check(entry, result.path)
                    record["checks"]["deep"] = "ok"
            except ZooError as exc:
                failures += 1
                record.update(ok=False, error=exc.message, hint=exc.hint)
            results.append(record)
    if not as_json:  # after the progress bar is gone, so the two do not interleave
        for record in results:
            _print_fetch(out, record)
    if as_json:
        print_json({"ok": failures == 0, "results": results})
    elif len(entries) > 1:
        out.print(f"{len(entries) - failures} of {len(entries)} files ok", markup=False)
    if failures:
        raise typer.Exit(1)


def _print_fetch(out, record: dict) -> None:
    if not record["ok"]:
        sys.stderr.write(f"error: {record['name']}: {record['error']}\n")
        if record.get("hint"):
            sys.stderr.write(f"hint: {record['hint']}\n")
        return
    how = f"downloaded from {record['source']}" if record["downloaded"] else "already cached"
    checks = ", ".join(f"{k}: {v}" for k, v in record["checks"].items())
    out.print(f"{record['name']}: {record['path']}", markup=False)
    out.print(f"  {record['size']} bytes, sha256 {record['sha256']}, {how}", markup=False)
    deep = record.get("deep")
    extra = f" ({deep['layout']} layout, {deep['parameters']} parameters, logits {deep['logits_shape']})" if deep else ""
    out.print(f"  {checks}{extra}", markup=False)


def verify(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or patterns [default: every cached file of the index]."),
    deep: bool = typer.Option(False, "--deep", help="Also load each file into the reference model and run it."),
    repair: bool = typer.Option(False, "--repair", help="Remove bad files and fetch them again."),
    mirror: Optional[str] = typer.Option(None, "--mirror", envvar="TRESNET_ZOO_MIRROR", help="Where --repair fetches from."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Re-check cached weight files: size and full sha256 against the index (and the record of the download)."""
    from ..errors import ZooError
    from ..weights import Cache
    from ..weights.fetch import expected_for, fetch_entry
    from ..weights.verify import check_file

    state: State = ctx.obj
    index = state.load_index()
    cache = Cache(state.cache_root())
    chosen = index.select(names or None)
    if not names:
        chosen = [e for e in chosen if e.weights_filename and cache.path(e.weights_filename).exists()]
    out = console()
    checks, bad = [], 0
    for entry in chosen:
        expected = expected_for(entry)
        result = check_file(entry, cache, expected, deep=deep)
        repaired = None
        if not result.ok and repair:
            cache.remove(expected.filename)
            try:
                fetch_entry(entry, _options(state, mirror=mirror, force=True))
                result = check_file(entry, cache, expected, deep=deep)
                repaired = result.ok
            except ZooError as exc:
                result.problems.append(f"repair failed: {exc.message}")
                repaired = False
        bad += not result.ok
        data = result.to_dict() | ({"repaired": repaired} if repaired is not None else {})
        checks.append(data)
        if not as_json:
            if result.ok:
                note = " (repaired: fetched again)" if repaired else ""
                deep_note = f", deep: ok ({result.deep['layout']} layout)" if result.deep else ""
                out.print(f"ok: {entry.name}: {result.path} ({result.size} bytes, sha256 ok{deep_note}){note}", markup=False)
            else:
                sys.stderr.write(f"error: {entry.name}: {result.path}: {'; '.join(result.problems)}\n")
    if as_json:
        print_json({"ok": bad == 0, "files": checks})
    elif not checks:
        out.print(f"no cached weights to verify in {cache.root} (`tresnet-zoo fetch NAME` downloads some)", markup=False)
    elif bad:
        sys.stderr.write(f"{bad} of {len(checks)} files bad" + ("" if repair else "; `tresnet-zoo verify --repair` fetches them again") + "\n")
    if bad:
        raise typer.Exit(1)


@cache_app.callback(invoke_without_command=True)
def cache_default(ctx: typer.Context) -> None:
    """With no subcommand: the same as `cache info`."""
    if ctx.invoked_subcommand is None:
        cache_info(ctx, as_json=False)


@cache_app.command("info")
def cache_info(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print machine-readable data.")) -> None:
    """Where the cache is and what it holds: verified files, partial downloads, other files."""
    from ..weights import Cache
    from ..weights.cache import writer_alive

    state: State = ctx.obj
    cache = Cache(state.cache_root())
    names = {}
    try:
        names = {e.weights_filename: e.name for e in state.load_index() if e.weights_filename}
    except Exception:  # the cache must be inspectable even with a broken index
        pass
    files = []
    for path in cache.files():
        record = cache.cached_record(path.name)
        files.append({"file": path.name, "size": path.stat().st_size, "verified": record is not None,
                      "sha256": record.sha256 if record else None, "entry": names.get(path.name)})
    partials = [{"file": p.name, "size": p.stat().st_size, "writer_alive": writer_alive(p)} for p in cache.partials()]
    total = sum(f["size"] for f in files) + sum(p["size"] for p in partials)
    if as_json:
        print_json({"root": str(cache.root), "files": files, "partials": partials, "total_bytes": total})
        return
    from rich.table import Table

    out = console()
    table = Table(title=f"cache {cache.root}: {megabytes(total)} MB", title_justify="left")
    for column in ("file", "entry", "MB", "state"):
        table.add_column(column, justify="right" if column == "MB" else "left")
    for f in files:
        table.add_row(f["file"], f["entry"] or "-", megabytes(f["size"]), "verified" if f["verified"] else "not ours / unverified")
    for p in partials:
        label = "being downloaded now" if p["writer_alive"] else "partial download (resumable)"
        table.add_row(p["file"], "-", megabytes(p["size"]), label)
    out.print(table)


@cache_app.command("clear")
def cache_clear(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Only these models' files [default: everything tresnet-zoo put there]."),
    partials_only: bool = typer.Option(False, "--partials", help="Only remove partial downloads."),
) -> None:
    """Remove cached weights, their records and partial downloads. Files tresnet-zoo did not write stay."""
    import shutil

    from ..weights import Cache

    state: State = ctx.obj
    cache = Cache(state.cache_root())
    removed, busy = [], []
    if partials_only:
        removed, busy = cache.remove_partials()
    elif names:
        for entry in state.load_index().select(names):
            if entry.weights_filename:
                removed += cache.remove(entry.weights_filename)
    else:
        for path in cache.files():
            if cache.read_record(path.name) is not None:
                removed += cache.remove(path.name)
        more, busy = cache.remove_partials()
        removed += more
        for sub in ("records", "locks", "validated"):
            if (cache.root / sub).is_dir():
                shutil.rmtree(cache.root / sub, ignore_errors=True)
    console().print(f"removed {len([p for p in removed if p.suffix != '.json'])} file(s) from {cache.root}", markup=False)
    if busy:
        console().print(f"kept {len(busy)} partial download(s) that a running process is writing", markup=False)
