"""`list`, `info` and `validate`: reading the index. None of these imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .._urls import redact
from ..index import resolve_roots
from ..index.problems import display_path
from ..index.validate import validate_paths
from ..weights.cache import Cache
from ..weights.sources import cached_file, entry_files
from . import output
from .context import State
from .hints import command
from .output import (
    Column,
    Format,
    choose,
    format_option,
    giga,
    json_option,
    megabytes,
    millions,
    number,
    print_json,
)


def register(app: typer.Typer) -> None:
    app.command("list")(list_models)
    app.command("info")(info)
    app.command("validate")(validate)


def _cached_lookup(state: State):
    """entry -> the file name its weights would come from in the cache (a fallback source's too), or None;
    one cache, each file name looked up once (copies of an entry share files)."""
    is_cached = Cache(state.cache_root()).cached_lookup()
    return lambda entry: cached_file(entry, is_cached)


def _shown(entry) -> dict:
    """``entry.to_dict()`` with every URL's credentials redacted (``user:password@`` is never printed)."""
    data = entry.to_dict()
    for key in ("weights", "code"):
        if isinstance(data.get(key), str):
            data[key] = redact(data[key])
    if isinstance(data.get("paper"), dict) and isinstance(data["paper"].get("url"), str):
        data["paper"] = dict(data["paper"], url=redact(data["paper"]["url"]))
    extra = data["metadata"].get("extra") or {}
    zoo = extra.get("x-tresnet-zoo")
    if isinstance(zoo, dict) and isinstance(zoo.get("sources"), list):  # copies: the entry's own dicts stay as read
        sources = [dict(s, url=redact(s["url"])) if isinstance(s, dict) and isinstance(s.get("url"), str) else s
                   for s in zoo["sources"]]
        data["metadata"]["extra"] = dict(extra, **{"x-tresnet-zoo": dict(zoo, sources=sources)})
    return data


def list_models(
    ctx: typer.Context,
    pattern: Optional[str] = typer.Argument(None, help="fnmatch pattern on model names, e.g. 'tresnet_m*'."),
    fmt: Optional[Format] = format_option(),
    as_json: bool = json_option(),
) -> None:
    """List the models of the index."""
    state: State = ctx.obj
    index = state.load_index()
    entries = index.select([pattern] if pattern else None)
    is_cached = _cached_lookup(state)
    fmt = choose(fmt, as_json)
    if fmt is Format.json:
        print_json([dict(_shown(m), cached=is_cached(m) is not None) for m in entries], records=True)
        return
    if pattern and not entries:  # not an error (a filter may match nothing), but never a silent empty table
        close = index.suggest(pattern.strip("*?[]"))
        output.line(f"no model matches {pattern!r} in {index.describe()}"
                    + (f"; did you mean {', '.join(close)}?" if close else "")
                    + f" (`{command(state, 'list')}` shows all {len(index.models)})", err=True)
        return
    columns = [Column("name", keep=100), Column("timm tag"), Column("params (M)", True, 90), Column("GMACs", True, 60),
               Column("image size", True, 20), Column("top-1", True, 80), Column("top-5", True, 40),
               Column("weights (MB)", True, 30), Column("cached", keep=50)]
    rows, unusable = [], []
    for m in entries:
        md = m.metadata
        if any(not s.pinned for s in m.sources[1:]):
            unusable.append(m.name)
        rows.append([m.name, ", ".join(m.timm_tags) or "-", millions(md.parameters), giga(md.flops),
                     str(md.image_size) if md.image_size else "-", number(m.top1), number(m.top5),
                     megabytes(md.file_size), "yes" if is_cached(m) else "no"])
    output.table(f"{len(entries)} models in {index.describe()}", columns, rows, fmt)
    if unusable and fmt is not Format.tsv:
        output.line(f"note: {len(unusable)} of these have a further source with no hash, which fetch never uses "
                    f"(`{command(state, 'info', unusable[0])}` marks it)", err=True)


def info(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name, e.g. tresnet_xl."),
    fmt: Optional[Format] = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Show everything the index knows about one model, and where each value was written."""
    state: State = ctx.obj
    entry = state.load_index().get(name)
    found = _cached_lookup(state)(entry)
    shown = found or entry.weights_filename or next(iter(entry_files(entry)), None)
    cache_file = state.cache_root() / shown if shown else None
    fmt = choose(fmt, as_json)
    if fmt is Format.json:
        cache_path = str(cache_file) if cache_file else None
        print_json(dict(_shown(entry), cached=found is not None, cache_path=cache_path))
        return
    rows: list[list[str]] = []

    def row(label: str, value, *path: str) -> None:
        if value is None or value == ():
            return
        if isinstance(value, tuple):
            value = ", ".join(value)
        where = entry.where(*path) if path else None
        rows.append([label, str(value), str(where) if where else ""])

    row("In Collection", entry.collection, "In Collection")
    row("timm tags", entry.timm_tags, "Metadata", "x-tresnet-zoo", "timm")
    classes_at = ("Metadata", "x-tresnet-zoo", "num_classes")
    row("Classes", entry.num_classes, *(classes_at if classes_at in entry.locations else ()))  # else the default
    row("License", entry.license, "Metadata", "x-tresnet-zoo", "license")
    row("Note", entry.note, "Metadata", "x-tresnet-zoo", "note")
    row("Unpinned", entry.unpinned, "Metadata", "x-tresnet-zoo", "unpinned")
    for key, value in entry.metadata.items():
        if key != "x-tresnet-zoo":  # shown as the rows above and the sources below
            row(key, value, "Metadata", key)
    for i, result in enumerate(entry.results):
        for metric, value in result.metrics.items():
            row(f"{metric} ({result.dataset})", f"{value:g}%", "Results", str(i), "Metrics", metric)
    row("Weights", redact(entry.weights) if entry.weights else None, "Weights")
    for j, source in enumerate(entry.sources[1:]):
        pin = f" (sha256 {source.sha256})" if source.sha256 else "" if source.pinned else " (no hash: never fetched)"
        row(f"Source {j + 2}", source.redacted_url + pin, "Metadata", "x-tresnet-zoo", "sources", str(j))
    row("Code", redact(entry.code) if entry.code else None, "Code")
    if entry.paper:
        row("Paper", entry.paper.title + (f" <{redact(entry.paper.url)}>" if entry.paper.url else ""), "Paper")
    for key, note in entry.provenance.items():
        row(f"note on {key}", note, "Provenance", key)
    row("Cached", ("yes: " if found else "no: ") + str(cache_file) if cache_file else None)
    columns = [Column("field", keep=100), Column("value", keep=100, wrap=True),
               Column("written at", style="dim")]
    output.table(f"{entry.name}  ({entry.location})", columns, rows, fmt)


def validate(
    ctx: typer.Context,
    paths: Optional[List[Path]] = typer.Argument(
        None, help="Index files or folders [default: the --index, else the bundled registry]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Validate model-index files: the JSON Schema plus the rules a schema cannot express."""

    state: State = ctx.obj
    roots = resolve_roots(paths or state.index)
    report, _ = validate_paths(roots)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "files": [str(f) for f in report.files],
                "models": report.model_count,
                "problems": [p.to_dict() for p in report.problems],
            }
        )
    else:
        for problem in report.problems:
            output.line(problem)
        files = len(report.files) or len(roots)
        where = ", ".join(display_path(r) for r in roots)
        if report.ok:
            plural = "s" if files != 1 else ""
            output.line(f"OK: {report.model_count} models in {files} file{plural} ({where})")
        else:
            n = len(report.problems)
            output.line(f"{n} problem{'s' if n != 1 else ''} in {where}")
    if not report.ok:
        raise typer.Exit(1)
