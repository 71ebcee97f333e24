"""`fetch`, `verify` and `cache`: the weight files."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import replace
from typing import List, Optional

import typer

from ..errors import MirrorMissingError, SourceWarning, UsageError, ZooError
from ..weights.cache import Cache, clear, inventory
from ..weights.sources import files_of, own_files
from . import output
from .context import State
from .hints import command, hint_for
from .output import Column, Format, choose, format_option, json_option, megabytes, print_json

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
    given = dict(read_timeout=timeout, retries=retries, low_speed_limit=speed_limit, low_speed_time=speed_time)
    if timeout is not None:
        given["connect_timeout"] = min(timeout, config.connect_timeout)
    config = replace(config, **{k: v for k, v in given.items() if v is not None})
    return FetchOptions.from_env(cache=Cache(state.cache_root()), mirror=mirror, offline=offline or None, force=force,
                                 config=config, progress=progress)


def _log_to_stderr() -> None:
    """Library warnings (a lock given up on, a foreign partial ignored) as `warning: ...` lines on stderr."""
    class Stderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # through the one output path, once each
            output.warning(record.getMessage())

    logger = logging.getLogger("tresnet_zoo")
    if not any(type(h).__name__ == "Stderr" for h in logger.handlers):
        logger.addHandler(Stderr())
        logger.setLevel(logging.WARNING)


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
    public_key: Optional[str] = typer.Option(None, "--public-key", envvar="TRESNET_ZOO_PUBLIC_KEY",
                                             help="With --mirror: the mirror's tresnet-zoo.sig must verify with this "
                                                  "PEM key; each file is held to its signed sha256."),
) -> None:
    """Download weights into the cache, checking File Size and sha256 (the hash prefix in the file name)."""
    state: State = ctx.obj
    entries = _entries(state, names, all_, command="fetch")
    results, failures, code = [], 0, 0
    _log_to_stderr()
    try:
        with output.progress(not (quiet or as_json), files=True) as bar:
            options = _options(state, mirror=mirror, offline=offline, force=force, allow_http=allow_http,
                               timeout=timeout, retries=retries, progress=bar, max_bytes=max_bytes,
                               speed_limit=speed_limit, speed_time=speed_time, deadline=deadline)
            options.public_key = public_key or options.public_key
            for entry in entries:
                record = _fetch_one(entry, options, state, verify_)
                failures += not record["ok"]
                code = code or record.get("exit_code", 0)
                results.append(record)
    except KeyboardInterrupt:
        done = [r["name"] for r in results if r["ok"]]
        output.error(f"interrupted: {len(done)} of {len(entries)} file(s) complete in {state.cache_root()}; the "
                     "partial download was kept and the next fetch resumes it",
                     f"{command(state, 'fetch', *(names or ['--all']))}  # resumes where this one stopped")
        raise typer.Exit(130) from None
    if as_json:
        print_json({"ok": failures == 0, "results": results})
    else:  # after the progress bar is gone, so the two do not interleave
        for record in results:
            if not record.get("missing_mirror"):
                _print_fetch(state, record)
        _print_missing_mirror(state, options.mirror, entries, results, every=all_)
        if len(entries) > 1:
            output.line(f"{len(entries) - failures} of {len(entries)} files ok")
    if failures:
        raise typer.Exit(code or 1)


def _fetch_one(entry, options, state: State, deep: bool) -> dict:
    record: dict = {"name": entry.name, "file": entry.weights_filename, "ok": False}
    with warnings.catch_warnings(record=True) as said:
        _fetch_into(record, entry, options, state, deep)
    for warning in said:  # a failure's error names every source: the lines about passing them over go
        if record["ok"] or not issubclass(warning.category, SourceWarning):
            output.warning(warning.message)
    return record


def _fetch_into(record: dict, entry, options, state: State, deep: bool) -> None:
    from ..api import fetch_checked  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    try:
        result, checked = fetch_checked(entry, options, verify=deep)
        # say what was hashed in this operation; a cache hit is only a record
        record.update(result.to_dict(), ok=True, hashed=result.hashed,
                      passed_over=[str(note) for note in result.notes],  # earlier sources
                      checks={"size": "ok", "sha256": "ok" if result.hashed else "recorded, not hashed now"})
        if checked is not None:
            record.update(deep=checked, hashed=True, sha256=checked["sha256"], size=checked["size"])
            record["checks"].update(sha256="ok", deep="ok")
    except ZooError as exc:
        record.update(ok=False, error=exc.message, hint=hint_for(exc, state, own_checkpoint=entry.name),
                      exit_code=exc.exit_code, sources=[str(n) for n in getattr(exc, "notes", ())])
        if isinstance(exc, MirrorMissingError):
            record["missing_mirror"] = True


def _print_missing_mirror(state: State, mirror: str | None, entries, results: list[dict], *, every: bool) -> None:
    """A mirror folder that is not there: one error for all the entries that needed it, not one each."""
    from ..weights.sources import entry_sources, mirror_folder, mirror_folder_error  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    needed = [e for e, r in zip(entries, results) if r.get("missing_mirror")]
    if not needed:
        return
    names = [] if every and len(needed) == len(entries) else [e.name for e in needed]
    error = mirror_folder_error(mirror, names, [entry_sources(e)[0].filename for e in needed])
    if error is None:  # the folder appeared meanwhile: say what each entry met
        for record in results:
            if record.get("missing_mirror"):
                _print_fetch(state, record)
        return
    # the files are not in this cache either (that is why they were fetched): fetch them from their own
    # sources (no mirror), then fill the folder from the cache
    words = names or ["--all"]
    fetch = command(state, "fetch", *words)
    if os.environ.get("TRESNET_ZOO_MIRROR"):
        fetch = f"env -u TRESNET_ZOO_MIRROR {fetch}"
    folder = str(mirror_folder(mirror) or mirror)
    if os.path.lexists(folder):  # a file, FIFO or dangling link: a push there would fail the same way
        output.error(error.message, f"{fetch}  # from the files' own sources; a mirror is a folder of the files")
    else:
        output.error(error.message, f"{fetch} && {command(state, 'mirror', 'push', folder, *names)}  # fills the "
                                    "folder from the files' own sources")


def _print_fetch(state: State, record: dict) -> None:
    """Two lines for a failure (error, hint); three for a file fetched."""
    if not record["ok"]:
        error, name = record["error"], record["name"]
        if not error.startswith(f"{name}: "):  # some library messages already begin with the entry's name
            error = f"{name}: {error}"
        output.error(error, record.get("hint"))
        return
    how = f"downloaded from {record['source']}" if record["downloaded"] else "already cached"
    checks = ", ".join(f"{k}: {v}" for k, v in record["checks"].items())
    deep = record.get("deep")
    extra = (f" ({deep['layout']} layout, {deep['parameters']} parameters, logits {deep['logits_shape']})"
             if deep else "")
    output.line(f"{record['name']}: {record['path']}")
    output.line(f"  {record['size']} bytes, sha256 {record['sha256']}, {how}")
    output.line(f"  {checks}{extra}")


def verify(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or patterns [default: every cached file of the "
                                                           "index]."),
    deep: bool = typer.Option(False, "--deep", help="Also load each file into the reference model and run it."),
    repair: bool = typer.Option(False, "--repair", help="Fetch bad files again: a verified download replaces each; "
                                                        "a failed one leaves it as it was."),
    mirror: Optional[str] = typer.Option(None, "--mirror", envvar="TRESNET_ZOO_MIRROR",
                                         help="Where --repair fetches from."),
    fmt: Optional[Format] = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Re-check cached weight files: size and full sha256 against the index (and the record of the download)."""
    from ..weights.repair import repair as repair_entry  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)
    from ..weights.verify import cached_expected, check_entry  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    state: State = ctx.obj
    fmt = choose(fmt, as_json)
    index = state.load_index()
    cache = Cache(state.cache_root())
    chosen = index.select(names or None)
    if not names:
        # the entries with a file of theirs in the cache: a fallback source's counts; a planted link is reported
        chosen = [e for e in chosen if cached_expected(e, cache) is not None]
    checks, rows, bad_names, problems = [], [], [], []
    _log_to_stderr()
    options = _options(state, mirror=mirror) if repair else None
    for entry in chosen:
        repaired = None
        if options is not None:
            result, repaired = repair_entry(entry, options, deep=deep)
        else:
            result = check_entry(entry, cache, deep=deep)
        checks.append(result.to_dict() | ({"repaired": repaired} if repaired is not None else {}))
        if result.ok:
            state_ = "ok" + (f", deep ok ({result.deep['layout']} layout)" if result.deep else "")
            state_ += " (repaired: fetched again)" if repaired else ""
        else:
            bad_names.append(entry.name)
            problems.append(f"{entry.name}: {result.path}: {'; '.join(result.problems)}")
            state_ = "BAD (error below)"
        rows.append([entry.name, str(result.path), str(result.size) if result.size is not None else "-", state_])
    bad = len(bad_names)
    if fmt is Format.json:
        print_json({"ok": bad == 0, "files": checks})
    elif not checks:
        output.line(f"no cached weights to verify in {cache.root}")
        output.line(f"hint: {command(state, 'fetch', '--all')}  # downloads and verifies them", err=True)
    else:
        columns = [Column("entry", keep=100), Column("file", keep=10), Column("bytes", True, 20),
                   Column("state", keep=100)]
        output.table(f"verify: {len(checks)} cached file(s) in {cache.root}", columns, rows, fmt)
    if bad and fmt is not Format.json:
        for problem in problems:
            output.error(problem)
        output.line(f"{bad} of {len(checks)} files bad", err=True)
        if not repair:  # the same cache and index, and these names: a bare `verify --repair` skips uncached files
            typed_mirror = ["--mirror", mirror] if mirror and mirror != os.environ.get("TRESNET_ZOO_MIRROR") else []
            again = command(state, "verify", "--repair", *typed_mirror, *(["--deep"] if deep else []), *bad_names)
            output.line(f"hint: {again}  # fetches them again", err=True)
    if bad:
        raise typer.Exit(1)


@cache_app.callback(invoke_without_command=True)
def cache_default(ctx: typer.Context, fmt: Optional[Format] = format_option(), as_json: bool = json_option()) -> None:
    """With no subcommand: the same as `cache info`."""
    if ctx.invoked_subcommand is None:
        cache_info(ctx, fmt=fmt, as_json=as_json)


def _index_names(state: State) -> dict[str, str]:
    """Cache file name -> entry name, from the index; empty when the index cannot be read (the cache
    must be inspectable and clearable even with a broken index)."""
    try:
        return files_of(state.load_index())  # fallback sources' files too
    except (ZooError, OSError):
        return {}


@cache_app.command("info")
def cache_info(ctx: typer.Context, fmt: Optional[Format] = format_option(), as_json: bool = json_option()) -> None:
    """Where the cache is and what it holds: verified files, partial downloads, names that are not ours."""
    state: State = ctx.obj
    inv = inventory(Cache(state.cache_root()), _index_names(state))
    fmt = choose(fmt, as_json)
    if fmt is Format.json:
        print_json(inv.to_dict())
        return
    rows = [[f.file, f.entry or "-", megabytes(f.size), "verified" if f.verified else "not ours / unverified"]
            for f in inv.files]
    rows += [[p.file, "-", megabytes(p.size), "being downloaded now" if p.writer_alive
              else "partial download (resumable)"] for p in inv.partials]
    rows += [[str(f.path), "-", "-", f"not ours: {f.why}"] for f in inv.foreign]  # names a neighbour chose
    columns = [Column("file", keep=100), Column("entry", keep=10), Column("MB", True, 50), Column("state", keep=100)]
    output.table(f"cache {inv.root}: {megabytes(inv.total_bytes)} MB", columns, rows, fmt)


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
    output.line(f"removed {len(removed)} file(s) from {cache.root}")
    for filename, other in shared.items():
        if os.path.lexists(cache.path(filename)):
            output.line(f"kept {filename}: {other} uses it too (name {other} as well to remove it)")
    if result.busy:
        output.line(f"kept {len(result.busy)} partial download(s) that a running process is writing")
    if result.left:
        output.line(f"left {len(result.left)} name(s) that tresnet-zoo did not create:")
        for item in result.left[:20]:
            output.line(f"  {item.path} ({item.why})")  # names a neighbour chose
        if len(result.left) > 20:
            output.line(f"  ... and {len(result.left) - 20} more (`{command(state, 'cache', 'info', '--json')}` "
                        "lists them)")
