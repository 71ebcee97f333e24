"""Rendering the docs pages from the index, then building the site with MkDocs (strict).

Nothing on the pages that the index knows is typed by hand: tables, model pages, the chart and the
corrections are computed from the index (and from ``check``'s verdicts) on every build. Hand-written
prose (a collection's description, how to train, its BibTeX) lives in
``docs/templates/collections/<collection>.yml``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ZooError
from ..index import Index, load_index
from ..index.problems import display_path

__all__ = ["BuildResult", "build_site", "render_pages"]

CHART = "assets/accuracy_vs_gmacs.svg"


@dataclass
class BuildResult:
    site: Path
    pages: Path
    page_count: int
    corrections: int


def _cell(value) -> str:
    """A value fit for a Markdown table cell."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _environment(templates: Path):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["cell"] = _cell
    return env


def _model_page(name: str) -> str:
    return f"models/{name}.md"


def _model_context(entry, verdicts, unchecked_reason: str | None) -> dict:
    from .._urls import hub_parts

    md = entry.metadata
    parts = hub_parts(entry.weights_filename or "")
    fmt = lambda value, spec: format(value, spec) if value is not None else "-"  # noqa: E731
    return {
        "name": entry.name,
        "page": _model_page(entry.name),
        "collection": entry.collection,
        "source": str(entry.location),
        "params_m": fmt(md.parameters / 1e6 if md.parameters else None, ".2f"),
        "gmacs": fmt(md.flops / 1e9 if md.flops else None, ".2f"),
        "image_size": md.image_size or "-",
        "top1": fmt(entry.top1, ".2f"),
        "top5": fmt(entry.top5, ".2f"),
        "size_mb": fmt(md.file_size / 1e6 if md.file_size else None, ".1f"),
        "file_size": md.file_size,
        "sha256": md.sha256,
        "weights": entry.weights,
        "filename": entry.weights_filename,
        "hash_prefix": parts[1] if parts else None,
        "metadata": list(entry.metadata.items()),
        "results": entry.results,
        "provenance": dict(entry.provenance),
        "verdicts": verdicts,
        "unchecked_reason": unchecked_reason,
    }


def _verdicts(index: Index):
    """check's verdicts per entry, or the reason there are none (torch is not installed)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return {}, "PyTorch is not installed where the site was built"
    from ..check import check_index

    report = check_index(index)
    return {e.name: [v.to_dict() for v in e.verdicts] for e in report.entries}, None


_FIELD_LABELS = {"weights": "Weights"}


def corrections(index: Index, upstream: Index) -> list[dict]:
    """Every value that differs from the upstream index: model, field, old, new, how established."""
    from ..index.records import METADATA_FIELDS

    attr_to_key = {attr: key for key, (attr, _) in METADATA_FIELDS.items()}
    measured = {"Parameters": "measured by `tresnet-zoo check`: the parameters of the reference model",
                "FLOPs": "measured by `tresnet-zoo check`: FlopCounterMode / 2 at the image size"}
    rows = []
    for entry in index:
        if entry.name not in upstream:
            rows.append({"model": entry.name, "page": _model_page(entry.name), "field": "(entry)", "old": "absent", "new": "added",
                         "how": "not in the upstream index"})
            continue
        old = upstream.get(entry.name)
        changes = []
        for attr, key in attr_to_key.items():
            a, b = getattr(old.metadata, attr), getattr(entry.metadata, attr)
            if a != b:
                changes.append((key, a, b))
        if old.weights != entry.weights:
            changes.append(("Weights", old.weights, entry.weights))
        for name in sorted({*(m for r in old.results for m in r.metrics), *(m for r in entry.results for m in r.metrics)}):
            if old.metric(name) != entry.metric(name):
                changes.append((name, old.metric(name), entry.metric(name)))
        for key, a, b in changes:
            how = entry.provenance.get(key) or measured.get(key) or "edited in the index (no provenance recorded)"
            rows.append({"model": entry.name, "page": _model_page(entry.name), "field": key,
                         "old": "-" if a is None else a, "new": "-" if b is None else b, "how": how})
    return rows


def render_pages(index: Index, pages: Path, *, upstream_path: Path | None = None) -> tuple[int, int]:
    """Write the site's Markdown, assets, chart and mkdocs.yml under ``pages``; returns (pages, corrections)."""
    import yaml

    from .._resources import docs_dir
    from .chart import accuracy_chart
    from .reference import api_functions, cli_commands

    source = docs_dir()
    env = _environment(source / "templates")
    docs = pages / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    (docs / "models").mkdir(parents=True)
    shutil.copytree(source / "assets", docs / "assets")
    verdicts, unchecked = _verdicts(index)
    models = [_model_context(e, verdicts.get(e.name, []), unchecked) for e in index]
    by_name = {m["name"]: m for m in models}
    accuracy_chart(list(index), docs / CHART)

    collections = []
    for name, coll in index.collections.items():
        members = [by_name[e.name] for e in index if e.collection == name]
        slug = name.lower().replace(" ", "-")
        collections.append({"name": name, "page": f"{slug}.md", "paper": coll.paper, "models": members})
    orphans = [m for m in models if not any(m in c["models"] for c in collections)]
    if orphans:
        collections.append({"name": "Other models", "page": "other.md", "paper": None, "models": orphans})
    first_paper = next((c["paper"] for c in collections if c["paper"]), None)

    written: list[str] = []

    def write(page: str, template: str, **context) -> None:
        (docs / page).write_text(env.get_template(template).render(**context), encoding="utf-8")
        written.append(page)

    write("index.md", "index.md.j2", models=models, collections=collections, checked_ok=sum(
        1 for m in models if m["verdicts"] and all(v["status"] != "wrong" for v in m["verdicts"])),
        paper_title=first_paper.title if first_paper else "TResNet", paper_url=(first_paper.url if first_paper else "") or "")
    for c in collections:
        notes_file = source / "templates" / "collections" / f"{c['name']}.yml"
        notes = yaml.safe_load(notes_file.read_text()) if notes_file.is_file() else {}
        notes = {"description": "", "training": "", "bibtex": "", **(notes or {})}
        example = next((e for e in index if e.collection == c["name"]), next(iter(index)))
        write(c["page"], "collection.md.j2", c=c, notes=notes, chart=CHART,
              example={"name": example.name, "image_size": example.metadata.image_size or 224,
                       "crop_pct": example.metadata.crop_pct or 0.875, "interpolation": example.metadata.interpolation or "bilinear"})
    for m in models:
        coll = next(c for c in collections if m in c["models"])
        write(m["page"], "model.md.j2", m=m, collection_page=f"../{coll['page']}")
    rows = []
    upstream_label = None
    if upstream_path is not None:
        rows = corrections(index, load_index(upstream_path))
        upstream_label = display_path(upstream_path)
    write("corrections.md", "corrections.md.j2", corrections=rows, upstream=upstream_label)
    write("cli.md", "cli.md.j2", commands=cli_commands())
    write("api.md", "api.md.j2", functions=api_functions())
    (pages / "mkdocs.yml").write_text(env.get_template("mkdocs.yml.j2").render(docs_dir="docs", collections=collections, models=models))
    return len(written), len(rows)


def build_site(out: Path, *, index=None, upstream: Path | None = None, pages: Path | None = None, strict: bool = True) -> BuildResult:
    """Render the pages and build the static site into ``out`` with MkDocs (``--strict``)."""
    from .._resources import upstream_page

    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError as exc:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(f"`docs build` needs {exc.name}, which is not installed", hint='pip install "tresnet-zoo[docs]"') from None
    loaded = load_index(index)
    upstream = upstream if upstream is not None else upstream_page()
    workdir = Path(pages) if pages else Path(tempfile.mkdtemp(prefix="tresnet-zoo-docs-"))
    count, fixes = render_pages(loaded, workdir, upstream_path=upstream)
    out = Path(out).resolve()
    command = [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(workdir / "mkdocs.yml"), "-d", str(out)]
    if strict:
        command.append("--strict")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        detail = next((ln.strip() for ln in (done.stderr + done.stdout).splitlines() if "ERROR" in ln or "WARNING" in ln or "Error" in ln), "")
        raise ZooError(f"mkdocs build failed ({detail or 'exit ' + str(done.returncode)})",
                       hint=f"the rendered pages are in {workdir}; run `mkdocs build --strict -f {workdir / 'mkdocs.yml'}` to see everything")
    if pages is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return BuildResult(site=out, pages=workdir, page_count=count, corrections=fixes)
