"""Rendering the docs pages from the index, then building the site with MkDocs (strict).

Nothing on the pages that the index knows is typed by hand: tables, model cards, the chart and the
corrections are computed from the index (and from ``check``'s verdicts) on every build. Hand-written
prose (a collection's description, how to train, its BibTeX, the paper's throughput table) lives in
``docs/templates/collections/<collection slug>.yml``.

The index is untrusted (anyone can change it in a pull request), so:

- pages are jinja2 templates whose every ``{{ value }}`` goes through ``safe.text`` (the environment's
  finalizer): index text is inert in Markdown and in HTML; links are made only from http(s) URLs;
- file names are slugs (``safe.Slugs``); collection prose is looked up by slug in one fixed folder;
- the MkDocs configuration is a Python dict written with ``yaml.safe_dump`` (MkDocs reads YAML with an
  unsafe loader; safe_dump quotes every string, so no tag reaches it), never a template;
- MkDocs runs as ``python -I -m mkdocs`` in the temporary build folder: neither the current folder nor
  PYTHONPATH is on its import path, so a ``yaml.py`` or ``mkdocs/`` where the user stands is not run;
- the site is built in a fresh folder and moved into place (``place``): nothing the user owns is
  cleaned, and ``--pages`` gets a copy of the rendered pages under the same rule.
"""

from __future__ import annotations

import html
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import check
from .._resources import docs_dir, upstream_page
from .._urls import redact
from ..errors import MissingDependencyError, UsageError, ZooError
from ..index import Index, load_index
from .cards import ModelCard, family, order_key, pareto_front, search_boosts, source_location
from .chart import accuracy_chart
from .corrections import corrections
from .place import OutputNotWritableError, check_target, new_build_folder, place
from .reference import api_functions, cli_commands
from .safe import RESERVED, Slugs, Trusted, config_url, http_url, py_string, text, title

__all__ = ["NAV_MODELS_MAX", "BuildResult", "build_site", "render_pages", "site_config"]

CHART = "assets/accuracy_vs_gmacs.svg"
CHART_NARROW = "assets/accuracy_vs_gmacs_narrow.svg"
NAV_MODELS_MAX = 60  # past this many models the sidebar lists collections only (the tables list models)
ARXIV = "https://arxiv.org/abs/2003.13630"
_GONE_HOSTS = ("paperswithcode.com",)  # shut down: links there lead nowhere
SEARCH_SEPARATOR = r'[\s\-,:!=\[\]()"/]+|&[lg]t;'
_PATH = re.compile(r"(\.\./)*[a-z0-9_\-]+(/[a-z0-9_\-]+)*\.(md|svg)")


@dataclass
class BuildResult:
    site: Path
    pages: Path | None
    page_count: int
    corrections: int
    seconds: float = 0.0


class DocsBuildError(ZooError):
    """MkDocs failed on the rendered pages (strict mode turns broken links into this)."""


def _path(value: str) -> Trusted:
    """An internal link target (built from slugs only); anything else is a bug."""
    if not _PATH.fullmatch(str(value)):
        raise AssertionError(f"not a page path built from slugs: {value!r}")
    return Trusted(value)


def _trusted(value: str) -> Trusted:
    """Prose from the package's ``docs/templates`` (collection notes): Markdown written by the project."""
    return Trusted(value or "")


def _pre(value: str) -> Trusted:
    """Project prose for a raw ``<pre>`` block (the BibTeX): HTML-escaped, new lines kept, no blank lines."""
    return Trusted("\n".join(line for line in html.escape(value or "").splitlines() if line.strip()))


def _environment(templates: Path):
    import jinja2  # noqa: PLC0415 (docs extra, optional)

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=True, finalize=text)
    env.filters["path"] = _path
    env.filters["py"] = py_string
    env.filters["trusted"] = _trusted
    env.filters["pre"] = _pre
    return env


def _verdicts(index: Index) -> tuple[dict[str, list[dict]], str | None]:
    """check's verdicts per entry, or the reason there are none (torch is not installed)."""
    try:
        import torch  # noqa: F401, PLC0415 (check builds models: without torch there are no verdicts)
    except ImportError:
        return {}, "PyTorch is not installed where the site was built"

    report = check.check_index(index)
    return {e.name: [v.to_dict() for v in e.verdicts] for e in report.entries}, None


def _notes(source: Path, slug: str) -> dict:
    notes_file = source / "templates" / "collections" / f"{slug}.yml"  # a slug: never leaves the folder
    notes = yaml.safe_load(notes_file.read_text(encoding="utf-8")) if notes_file.is_file() else None
    return {"description": "", "training": "", "bibtex": "", "paper": None, "code": None, "throughput": None,
            **(notes if isinstance(notes, dict) else {})}


def _paper_url(paper) -> str | None:
    url = http_url(paper.url) if paper else None
    if url and any(host in url.split("/")[2].lower() for host in _GONE_HOSTS):
        return None
    return redact(url) if url else url  # a site is public: never user:password@


def render_pages(index: Index, pages: Path, *, upstream: Index | None = None, upstream_label: str | None = None,
                 commands=None, repo_url: str | None = None,
                 site_url: str | None = None) -> tuple[dict, list[str], int]:
    """Write the site's Markdown, assets and chart under ``pages/docs``; returns (config, pages, corrections)."""

    source = docs_dir()
    env = _environment(source / "templates")
    docs = pages / "docs"
    (docs / "models").mkdir(parents=True)
    shutil.copytree(source / "assets", docs / "assets",
                    ignore=shutil.ignore_patterns("*.md"))  # the vendor README is no page
    shutil.copytree(source / "theme", pages / "theme")
    verdicts, unchecked = _verdicts(index)

    entries = sorted(index, key=order_key)
    coll_slugs = Slugs(RESERVED)
    model_slugs = Slugs()
    collections: list[dict] = []
    for name in index.collections:
        s = coll_slugs(name)
        collections.append({"name": name, "slug": s, "title": title(name, s), "page": f"{s}.md",
                            "record": index.collections[name], "notes": _notes(source, s), "models": []})
    by_coll = {c["name"]: c for c in collections}
    if any(e.collection not in by_coll for e in entries):
        s = coll_slugs("other")
        by_coll[None] = {"name": "Other models", "slug": s, "title": "Other models", "page": f"{s}.md", "record": None,
                         "notes": _notes(source, "-"), "models": []}
        collections.append(by_coll[None])

    cards: list[ModelCard] = []
    for entry in entries:
        coll = by_coll.get(entry.collection) or by_coll[None]
        s = model_slugs(entry.name)
        card = ModelCard(entry=entry, slug=s, title=title(entry.name, s), collection=coll["name"],
                         collection_page=coll["page"], location=source_location(entry.location, index.roots),
                         verdicts=verdicts.get(entry.name, []), unchecked_reason=unchecked, repo_url=repo_url)
        throughput = coll["notes"].get("throughput") or {}
        fam = family(entry.name, entry.metadata.id)
        key = f"tresnet_{'v2_' if fam[0] else ''}{['m', 'l', 'xl'][fam[1]]}" if fam else None
        if isinstance(throughput, dict) and key in (throughput.get("models") or {}):
            card.throughput = {"value": throughput["models"][key], "source": throughput.get("source", ""),
                               "family": key}
        coll["models"].append(card)
        cards.append(card)

    points = {c.name: (c.md.flops, c.entry.top1) for c in cards if c.md.flops and c.entry.top1 is not None}
    beaten = pareto_front(points)
    by_name = {c.name: c for c in cards}
    for c in cards:
        if c.name in beaten:
            c.beaten_by = by_name[beaten[c.name]]
    chart_points = [(c.name, c.md.flops / 1e9, c.entry.top1, c.md.image_size or 0) for c in cards if c.name in points]
    front = {n for n in points if n not in beaten}
    accuracy_chart(chart_points, front, docs / CHART)
    accuracy_chart(chart_points, front, docs / CHART_NARROW, narrow=True)
    if len(chart_points) <= 12:
        alt = "Top-1 accuracy against GMACs: " + "; ".join(f"{n} {x:.1f} GMACs {y:.2f}%" for n, x, y, _ in chart_points)
    else:
        alt = (f"Top-1 accuracy against GMACs for {len(chart_points)} models; "
               "the models table below lists the same numbers")
    chart = {"wide": CHART, "narrow": CHART_NARROW, "alt": alt}

    written: list[str] = []

    def write(page: str, template: str, front: dict, **context) -> None:
        (docs / page).write_text(_front_matter(front) + env.get_template(template).render(**context), encoding="utf-8")
        written.append(page)

    first_paper = next((c["record"].paper for c in collections if c["record"] and c["record"].paper), None)
    checked = [c for c in cards if c.verdicts]
    write("index.md", "index.md.j2", {"description": f"{len(cards)} TResNet image classifiers: sizes, accuracy, "
                                                     "checked weights and how to use them"},
          cards=cards, collections=collections, chart=chart, install=_install_line(repo_url),
          checked_ok=sum(1 for c in checked if all(v["status"] != "wrong" for v in c.verdicts)), checked=len(checked),
          unchecked=unchecked, paper_title=first_paper.title if first_paper else None)
    for c in collections:
        example = c["models"][0] if c["models"] else None
        write(c["page"], "collection.md.j2", {"description": f"The {c['name']} collection: {len(c['models'])} models, "
                                                             "their accuracy, compute and training"},
              c=c, notes=c["notes"], chart=chart, example=example,
              paper_url=c["notes"].get("paper") or _paper_url(c["record"].paper if c["record"] else None))
    boosts = search_boosts([c.entry for c in cards])
    for card in cards:
        notes = by_coll.get(card.entry.collection, by_coll.get(None))["notes"]
        # search tags (MkDocs Material weighs them above all text): the name, the timm tags and the name's
        # words (`xl`); the boost puts an exact name first (see search_boosts)
        tags = [*card.entry.names(), " ".join(w for w in re.split(r"[_.]", card.name) if w)]
        write(card.page, "model.md.j2",
              {"description": card.description, "tags": tags, "search": {"boost": boosts[card.name]}},
              m=card, notes=notes, paper_url=notes.get("paper") or _paper_url(card.entry.paper) or None,
              code_url=notes.get("code") or card.code_url)
    rows: list[dict] = []
    if upstream is not None:
        notes_file = source / "templates" / "corrections.yml"
        field_notes = yaml.safe_load(notes_file.read_text(encoding="utf-8")) if notes_file.is_file() else {}
        rows = corrections(index, upstream, field_notes or {}, {c.name: c.page for c in cards})
    write("corrections.md", "corrections.md.j2",
          {"description": "Every value of the upstream TResNet model index that was wrong, and how it was found"},
          corrections=rows, upstream=upstream_label)
    write("cli.md", "cli.md.j2", {"description": "Every tresnet-zoo command and option"},
          commands=cli_commands(commands))
    write("api.md", "api.md.j2", {"description": "tresnet-zoo's Python API"}, functions=api_functions())
    # the project's own hand-written guides (no index text in them): copied as they are
    for guide in GUIDES.values():
        shutil.copyfile(source / "templates" / guide, docs / guide)
        written.append(guide)

    config = site_config(collections, cards, repo_url=repo_url, site_url=site_url)
    text_config = yaml.safe_dump(config, sort_keys=False, allow_unicode=False, width=1000)
    if yaml.safe_load(text_config) != config:  # safe_dump round-trips plain data; anything else is a bug
        raise AssertionError("the MkDocs configuration does not survive YAML")
    (pages / "mkdocs.yml").write_text(
        "# written by `tresnet-zoo docs build` (yaml.safe_dump of its config)\n" + text_config, encoding="utf-8")
    return config, written, len(rows)


def _front_matter(front: dict) -> str:
    """A page's YAML front matter (description, search tags), written by yaml.safe_dump: index text is data.

    The theme puts the description into a ``<meta>`` attribute without escaping it, so it is escaped here;
    search tags reach the page only as JSON and as text nodes."""
    front = {**front, "description": html.escape(front["description"], quote=True)}
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=False, width=1000) + "---\n\n"


def _install_line(repo_url: str | None) -> Trusted:
    """How to install from source: the package is not published, so never ``pip install tresnet-zoo``.

    ``repo_url`` passed ``config_url`` (RFC 3986 characters only) and is shell-quoted for the code block."""
    if repo_url:
        return Trusted("pip install " + shlex.quote(f"tresnet-zoo[torch] @ git+{repo_url}"))
    return Trusted('pip install -e ".[torch]"')


def project_settings(pyproject: Path | None = None) -> dict:
    """``[tool.tresnet-zoo.docs]`` of the project's pyproject.toml (``repo-url``, ``site-url``), or {}.

    The file is the one beside the package in a source checkout; an installed wheel has none."""
    path = pyproject or Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        import tomllib  # noqa: PLC0415 (only docs builds read the project file)
    except ImportError:  # Python 3.10: no TOML reader in the standard library; flags still work
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the docs settings in {path} ({exc})",
                         hint="fix [tool.tresnet-zoo.docs] in pyproject.toml") from None
    settings = ((data.get("tool") or {}).get("tresnet-zoo") or {}).get("docs") or {}
    return {k: settings[k] for k in ("repo-url", "site-url") if isinstance(settings, dict) and settings.get(k)}


# hand-written guides in docs/templates, by their navigation title
GUIDES = {"Weights and the cache": "weights.md", "Coming from timm": "timm.md",
          "Running on a cluster": "cluster.md",
          "Signing and trust": "signing.md", "The index and check": "index-format.md",
          "Hostile input": "hostile-input.md", "Limits on hostile input": "limits.md",
          "Architecture": "architecture.md", "Benchmarks": "benchmarks.md"}


def site_config(collections: list[dict], cards: list[ModelCard], *, repo_url: str | None = None,
                site_url: str | None = None) -> dict:
    """The MkDocs configuration, as data. Titles come from ``safe.title``, pages from slugs."""
    nav: list = [{"Home": "index.md"}]
    nav += [{c["title"]: c["page"]} for c in collections]
    if len(cards) <= NAV_MODELS_MAX:
        nav.append({"Models": [{c.title: c.page} for c in cards]})
    nav += [{"Corrections to the upstream index": "corrections.md"}]
    nav += [{title: page} for title, page in GUIDES.items()]
    nav += [{"CLI reference": "cli.md"}, {"Python API": "api.md"}]
    config: dict = {
        "site_name": "tresnet-zoo",
        "site_description": "A checked model-index registry and weight cache for the TResNet image classifiers",
        "docs_dir": "docs",
        "strict": True,
        "use_directory_urls": False,
        "theme": {
            "name": "material",
            "custom_dir": "theme",  # docs/theme: the repository link without its GitHub API call
            "font": False,  # no Google Fonts: the site loads nothing from other hosts
            "features": ["navigation.sections", "search.highlight", "content.code.copy"],
            "palette": [
                {"media": "(prefers-color-scheme: light)", "scheme": "default", "primary": "indigo",
                 "toggle": {"icon": "material/brightness-7", "name": "Switch to dark mode"}},
                {"media": "(prefers-color-scheme: dark)", "scheme": "slate", "primary": "indigo",
                 "toggle": {"icon": "material/brightness-4", "name": "Switch to light mode"}},
            ],
        },
        # Material's word separator less `.` and camelCase: names and timm tags in any case, and 83.9, stay
        # whole words (cards add their names' parts as search tags, so `xl` finds tresnet_xl)
        "plugins": [{"search": {"separator": SEARCH_SEPARATOR}}],
        "markdown_extensions": ["tables", "admonition", "attr_list", "md_in_html", {"toc": {"permalink": True}},
                                "pymdownx.highlight", "pymdownx.superfences"],
        "extra_css": ["assets/site.css"],
        "extra_javascript": ["assets/vendor/tablesort/tablesort.min.js",
                             "assets/vendor/tablesort/tablesort.number.min.js",
                             "assets/tablesort-init.js"],
        "exclude_docs": "*.md\n!/*.md\n!/models/*.md\n",
        "not_in_nav": "/models/*.md\n",
        "nav": nav,
    }
    if site_url:
        config["site_url"] = site_url
    if repo_url:
        config["repo_url"] = repo_url
        # the header names the repository ("owner/name"), not only its host
        config["repo_name"] = repo_url.split("://", 1)[-1].split("/", 1)[-1].strip("/") or repo_url
        config["edit_uri"] = ""  # the pages are generated: there is no source page to edit
    return config


def _run_mkdocs(workdir: Path, site: Path) -> None:
    """``python -I -m mkdocs build`` in ``workdir``: the user's folder and PYTHONPATH are not on its path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    command = [sys.executable, "-I", "-m", "mkdocs", "build", "-q", "-f", str(workdir / "mkdocs.yml"), "-d", str(site)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=workdir, env=env, timeout=1800, check=False)
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "ERROR" in ln or "WARNING" in ln or "Error" in ln),
                      lines[-1] if lines else "")
        raise DocsBuildError(f"mkdocs build failed ({detail or 'exit ' + str(done.returncode)})",
                             hint="tresnet-zoo docs build --pages pages  # keeps the rendered pages to inspect")


def _apart(out: Path, pages: Path) -> None:
    """--out and --pages must not be one folder or one inside the other: each is placed (and later replaced)
    whole, so the second would be refused after the first was written, or a site would publish its sources
    and then no longer look like a previous build."""
    a, b = (Path(os.path.realpath(os.path.expanduser(p))) for p in (out, pages))
    if a == b or a in b.parents or b in a.parents:
        raise UsageError(f"the site folder {out} and the pages folder {pages} overlap; nothing was built",
                         hint=f"name two separate folders, e.g. --out {shlex.quote(str(out))} --pages pages")


@contextmanager
def _placing(target: Path, what: str):
    """An operating-system error while writing an output folder is the environment's (exit 3), not a bug."""
    try:
        yield
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write the {what} to {target} ({exc.strerror or exc}); "
                                     f"nothing there was replaced", hint="name a writable folder") from None


def build_site(out: Path, *, index=None, upstream: Path | None = None, pages: Path | None = None, strict: bool = True,
               commands=None, repo_url: str | None = None, site_url: str | None = None) -> BuildResult:
    """Render the pages and build the static site into ``out`` with MkDocs (strict by default).

    ``out`` (and ``pages``, which receives a copy of the rendered Markdown and mkdocs.yml) must be new,
    empty, or hold a previous tresnet-zoo build; ``commands`` is the CLI's click command tree for the CLI
    reference page (none: the page says so).
    """
    started = time.perf_counter()
    settings = project_settings() if repo_url is None or site_url is None else {}
    repo_url = repo_url if repo_url is not None else settings.get("repo-url")
    site_url = site_url if site_url is not None else settings.get("site-url")
    for label, url in (("repository URL", repo_url), ("site URL", site_url)):
        if url is not None and not config_url(url):
            raise UsageError(f"the {label} {url!r} is not an http(s) URL (RFC 3986 characters only)",
                             hint="give a URL such as https://github.com/o/r")
    try:
        import jinja2  # noqa: F401, PLC0415 (docs extra, optional)
        import material  # noqa: F401, PLC0415 (docs extra, optional)
        import matplotlib  # noqa: F401, PLC0415 (docs extra, optional)
        import mkdocs  # noqa: F401, PLC0415 (docs extra, optional)
    except ImportError as exc:
        raise MissingDependencyError(f"`docs build` needs {exc.name}, which is not installed",
                                     hint='pip install -e ".[docs]"') from None
    check_target(out, "site")
    if pages is not None:
        check_target(pages, "pages")
        _apart(out, pages)
    loaded = load_index(index)
    upstream = upstream if upstream is not None else upstream_page()
    up_index = load_index(upstream) if upstream is not None else None
    up_label = (upstream.name if upstream is not None else None)

    workdir = Path(tempfile.mkdtemp(prefix="tresnet-zoo-docs-"))
    built = None
    try:
        config, written, fixes = render_pages(loaded, workdir, upstream=up_index, upstream_label=up_label,
                                              commands=commands, repo_url=repo_url, site_url=site_url)
        if not strict:
            config["strict"] = False
            (workdir / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False, width=1000), encoding="utf-8")
        with _placing(out, "site"):
            built = new_build_folder(out)
        _run_mkdocs(workdir, built)
        with _placing(out, "site"):
            site = place(built, out, "site")
        built = None
        kept = None
        if pages is not None:
            with _placing(pages, "pages"):
                built = new_build_folder(pages)
                shutil.copytree(workdir, built, dirs_exist_ok=True)
                kept = place(built, pages, "pages")
            built = None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if built is not None:
            shutil.rmtree(built, ignore_errors=True)
    return BuildResult(site=site, pages=kept, page_count=len(written), corrections=fixes,
                       seconds=time.perf_counter() - started)
