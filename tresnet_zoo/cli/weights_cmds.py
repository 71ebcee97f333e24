"""`fetch`, `verify` and `cache`: the weight files."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import replace
from typing import List, Optional

import typer

from ..errors import MirrorMissingError, UsageError, ZooError
from ..weights.cache import Cache, clear, inventory
from ..weights.sources import files_of, own_files
from .context import State
from .hints import command, hint_for
from .output import console, megabytes, print_json, printable

cache_app = typer.Typer(help="Show or prune the weight cache.", no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.command("fetch")(fetch)
    app.command("verify")(verify)
    app.add_typer(cache_app, name="cache")


def _entries(state: State, names: Optional[List[str]], all_: bool, *, command: str):
    index = state.load_index()
    if names and all_:
        raise UsageError(f"give model names or --all, not both (`tresnet-zoo {command} --help`)")
    if not names and not all_:
        raise UsageError(f"name the models to {command}, or pass --all", hint="`tresnet-zoo list` shows the names")
    return index.select(names or None)


def _options(state: State, *, mirror, offline=False, force=False, allow_http=False, timeout=None, retries=None,
             progress=None, max_bytes=None, speed_limit=None, speed_time=None, deadline=None):
    from ..weights import Cache, DownloadConfig, FetchOptions  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    config = DownloadConfig(allow_http=allow_http, max_bytes=max_bytes, deadline=deadline)
    if timeout is not None:
        config = replace(config, read_timeout=timeout, connect_timeout=min(timeout, config.connect_timeout))
    if retries is not None:
        config = replace(config, retries=retries)
    if speed_limit is not None:
        config = replace(config, low_speed_limit=speed_limit)
    if speed_time is not None:
        config = replace(config, low_speed_time=speed_time)
    return FetchOptions.from_env(cache=Cache(state.cache_root()), mirror=mirror, offline=offline or None, force=force,
                                 config=config, progress=progress)


def _log_to_stderr() -> None:
    """Library warnings (a lock given up on, a foreign partial ignored) as `warning: ...` lines on stderr."""
    class Stderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # sys.stderr of the moment (tests swap it)
            sys.stderr.write(f"warning: {record.getMessage()}\n")

    logger = logging.getLogger("tresnet_zoo")
    if not any(type(h).__name__ == "Stderr" for h in logger.handlers):
        logger.addHandler(Stderr())
        logger.setLevel(logging.WARNING)


@contextmanager
def _progress(quiet: bool):
    """A rich progress bar on a terminal (size, rate, ETA); nothing when piped or --quiet."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn  # noqa: PLC0415 (progress bars: terminal path only)

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
    mirror: Optional[str] = typer.Option(None, "--mirror", envvar="TRESNET_ZOO_MIRROR",
                                         help="Base URL, file:// folder or object store (s3://bucket/prefix) with the "
                                              "same file names."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (env TRESNET_ZOO_OFFLINE=1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    allow_http: bool = typer.Option(False, "--allow-http", help="Permit plain http to non-loopback hosts."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1,
                                  help="Seconds without data before a transfer counts as stalled."),
    retries: int = typer.Option(5, "--retries", min=0,
                                help="Retries per download (connection errors, 429/5xx, broken bodies)."),
    max_bytes: Optional[int] = typer.Option(None, "--max-bytes", min=1,
                                            help="Byte limit for an entry without File Size (required to fetch one)."),
    speed_limit: int = typer.Option(1024, "--speed-limit", min=0,
                                    help="Bytes/s: slower than this for --speed-time seconds resumes the transfer (a "
                                         "retry)."),
    speed_time: float = typer.Option(30.0, "--speed-time", min=0.1,
                                     help="Seconds below --speed-limit before the transfer is resumed."),
    deadline: Optional[float] = typer.Option(None, "--deadline", min=0.1,
                                             help="Seconds for each file's whole download, retries included."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Download weights into the cache, checking File Size and sha256 (the hash prefix in the file name)."""
    from ..api import fetch_checked  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    state: State = ctx.obj
    entries = _entries(state, names, all_, command="fetch")
    out = console()
    results, failures, code = [], 0, 0
    _log_to_stderr()
    with _progress(quiet or as_json) as bar:
        options = _options(state, mirror=mirror, offline=offline, force=force, allow_http=allow_http, timeout=timeout,
                           retries=retries, progress=bar, max_bytes=max_bytes, speed_limit=speed_limit,
                           speed_time=speed_time, deadline=deadline)
        for entry in entries:
            record: dict = {"name": entry.name, "file": entry.weights_filename, "ok": False}
            try:
                result, deep = fetch_checked(entry, options, verify=verify_)
                # say what was hashed in this operation; a cache hit is only a record
                record.update(result.to_dict(), ok=True, hashed=result.hashed,
                              passed_over=[str(note) for note in result.notes],  # earlier sources
                              checks={"size": "ok", "sha256": "ok" if result.hashed else "recorded, not hashed now"})
                if deep is not None:
                    record.update(deep=deep, hashed=True, sha256=deep["sha256"], size=deep["size"])
                    record["checks"].update(sha256="ok", deep="ok")
            except ZooError as exc:
                failures += 1
                code = code or exc.exit_code
                record.update(ok=False, error=exc.message, hint=hint_for(exc, state), exit_code=exc.exit_code)
                if isinstance(exc, MirrorMissingError):
                    record["missing_mirror"] = True
            results.append(record)
    if not as_json:  # after the progress bar is gone, so the two do not interleave
        for record in results:
            if not record.get("missing_mirror"):
                _print_fetch(out, record)
        _print_missing_mirror(state, options.mirror, entries, results, every=all_)
    if as_json:
        print_json({"ok": failures == 0, "results": results})
    elif len(entries) > 1:
        out.print(f"{len(entries) - failures} of {len(entries)} files ok", markup=False)
    if failures:
        raise typer.Exit(code or 1)


def _print_missing_mirror(state: State, mirror: str | None, entries, results: list[dict], *, every: bool) -> None:
    """A mirror folder that is not there: one error for all the entries that needed it, not one each."""
    from ..weights.sources import entry_sources, mirror_folder_error  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    needed = [e for e, r in zip(entries, results) if r.get("missing_mirror")]
    if not needed:
        return
    names = [] if every and len(needed) == len(entries) else [e.name for e in needed]
    error = mirror_folder_error(mirror, names, [entry_sources(e)[0].filename for e in needed])
    if error is None:  # the folder appeared meanwhile: say what each entry met
        for record in results:
            if record.get("missing_mirror"):
                _print_fetch(console(), record)
        return
    sys.stderr.write(f"error: {error.message}\n")
    sys.stderr.write(f"hint: {hint_for(error, state)}\n")


def _print_fetch(out, record: dict) -> None:
    if not record["ok"]:
        error, name = record["error"], record["name"]
        if not error.startswith(f"{name}: "):  # some library messages already begin with the entry's name
            error = f"{name}: {error}"
        sys.stderr.write(f"error: {error}\n")
        if record.get("hint"):
            sys.stderr.write(f"hint: {record['hint']}\n")
        return
    how = f"downloaded from {record['source']}" if record["downloaded"] else "already cached"
    checks = ", ".join(f"{k}: {v}" for k, v in record["checks"].items())
    out.print(f"{record['name']}: {record['path']}", markup=False)
    out.print(f"  {record['size']} bytes, sha256 {record['sha256']}, {how}", markup=False)
    deep = record.get("deep")
    extra = (f" ({deep['layout']} layout, {deep['parameters']} parameters, logits {deep['logits_shape']})"
             if deep else "")
    out.print(f"  {checks}{extra}", markup=False)


def verify(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or patterns [default: every cached file of the "
                                                           "index]."),
    deep: bool = typer.Option(False, "--deep", help="Also load each file into the reference model and run it."),
    repair: bool = typer.Option(False, "--repair", help="Fetch bad files again: a verified download replaces each; "
                                                        "a failed one leaves it as it was."),
    mirror: Optional[str] = typer.Option(None, "--mirror", envvar="TRESNET_ZOO_MIRROR",
                                         help="Where --repair fetches from."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Re-check cached weight files: size and full sha256 against the index (and the record of the download)."""
    from ..weights.repair import repair as repair_entry  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)
    from ..weights.verify import cached_expected, check_entry  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    state: State = ctx.obj
    index = state.load_index()
    cache = Cache(state.cache_root())
    chosen = index.select(names or None)
    if not names:
        # the entries with a file of theirs in the cache: a fallback source's counts; a planted link is reported
        chosen = [e for e in chosen if cached_expected(e, cache) is not None]
    out = console()
    checks, bad, bad_names = [], 0, []
    _log_to_stderr()
    options = _options(state, mirror=mirror) if repair else None
    for entry in chosen:
        repaired = None
        if options is not None:
            result, repaired = repair_entry(entry, options, deep=deep)
        else:
            result = check_entry(entry, cache, deep=deep)
        bad += not result.ok
        if not result.ok:
            bad_names.append(entry.name)
        data = result.to_dict() | ({"repaired": repaired} if repaired is not None else {})
        checks.append(data)
        if not as_json:
            if result.ok:
                note = " (repaired: fetched again)" if repaired else ""
                deep_note = f", deep: ok ({result.deep['layout']} layout)" if result.deep else ""
                out.print(f"ok: {entry.name}: {result.path} ({result.size} bytes, sha256 ok{deep_note}){note}",
                          markup=False)
            else:
                sys.stderr.write(f"error: {entry.name}: {result.path}: {'; '.join(result.problems)}\n")
    if as_json:
        print_json({"ok": bad == 0, "files": checks})
    elif not checks:
        out.print(f"no cached weights to verify in {cache.root} (`tresnet-zoo fetch NAME` downloads some)",
                  markup=False)
    elif bad:
        sys.stderr.write(f"{bad} of {len(checks)} files bad\n")
        if not repair:  # the same cache and index, and these names: a bare `verify --repair` skips uncached files
            typed_mirror = ["--mirror", mirror] if mirror and mirror != os.environ.get("TRESNET_ZOO_MIRROR") else []
            again = command(state, "verify", "--repair", *typed_mirror, *(["--deep"] if deep else []), *bad_names)
            sys.stderr.write(f"hint: `{again}` fetches them again\n")
    if bad:
        raise typer.Exit(1)


@cache_app.callback(invoke_without_command=True)
def cache_default(ctx: typer.Context) -> None:
    """With no subcommand: the same as `cache info`."""
    if ctx.invoked_subcommand is None:
        cache_info(ctx, as_json=False)


def _index_names(state: State) -> dict[str, str]:
    """Cache file name -> entry name, from the index; empty when the index cannot be read (the cache
    must be inspectable and clearable even with a broken index)."""
    try:
        return files_of(state.load_index())  # fallback sources' files too
    except (ZooError, OSError):
        return {}


@cache_app.command("info")
def cache_info(ctx: typer.Context,
               as_json: bool = typer.Option(False, "--json", help="Print machine-readable data.")) -> None:
    """Where the cache is and what it holds: verified files, partial downloads, names that are not ours."""
    state: State = ctx.obj
    inv = inventory(Cache(state.cache_root()), _index_names(state))
    if as_json:
        print_json(inv.to_dict())
        return
    from rich.table import Table  # noqa: PLC0415 (terminal path only: `cache list` draws a table)

    out = console()
    table = Table(title=f"cache {inv.root}: {megabytes(inv.total_bytes)} MB", title_justify="left")
    for column in ("file", "entry", "MB", "state"):
        table.add_column(column, justify="right" if column == "MB" else "left")
    for f in inv.files:
        state = "verified" if f.verified else "not ours / unverified"
        table.add_row(printable(f.file), f.entry or "-", megabytes(f.size), state)
    for p in inv.partials:
        label = "being downloaded now" if p.writer_alive else "partial download (resumable)"
        table.add_row(printable(p.file), "-", megabytes(p.size), label)
    for f in inv.foreign:
        table.add_row(printable(f.path), "-", "", printable(f"not ours: {f.why}"))  # names a neighbour chose
    out.print(table)


@cache_app.command("clear")
def cache_clear(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Only these models' files [default: everything tresnet-zoo "
                                                           "put there]."),
    partials_only: bool = typer.Option(False, "--partials", help="Only remove partial downloads."),
) -> None:
    """Remove cached weights, their records and partial downloads. Files tresnet-zoo did not write stay."""
    state: State = ctx.obj
    cache = Cache(state.cache_root())
    shared: dict[str, str] = {}
    if names:
        index = state.load_index()
        files, shared = own_files(index.select(names), index)  # a file another entry uses too stays
        result = clear(cache, files, partials_only=partials_only)
    else:
        result = clear(cache, partials_only=partials_only, known=set(_index_names(state)))
    removed = [p for p in result.removed if p.parent == cache.root]
    out = console()
    out.print(printable(f"removed {len(removed)} file(s) from {cache.root}"), markup=False)
    for filename, other in shared.items():
        if not os.path.lexists(cache.path(filename)):
            continue
        out.print(printable(f"kept {filename}: {other} uses it too (name {other} as well to remove it)"),
                  markup=False)
    if result.busy:
        out.print(f"kept {len(result.busy)} partial download(s) that a running process is writing", markup=False)
    if result.left:
        out.print(f"left {len(result.left)} name(s) that tresnet-zoo did not create:", markup=False)
        for item in result.left[:20]:
            out.print(printable(f"  {item.path} ({item.why})"), markup=False)  # names a neighbour chose
        if len(result.left) > 20:
            out.print(f"  ... and {len(result.left) - 20} more (`tresnet-zoo cache info --json` lists them)",
                      markup=False)
