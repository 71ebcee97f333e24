"""The docs build on hostile input: index text, the current folder and the output folders are all untrusted.

Each class of attack from issue 10 is built for real (the CLI in a child process, from a folder laid with
traps) and the result is parsed as HTML: no command runs, nothing outside the output folders changes,
no index text becomes markup, and folders the user owns are never cleaned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from tresnet_zoo.docs.safe import Slugs, http_url, slug, text

from .helpers.paths import REGISTRY, REPO

pytest.importorskip("mkdocs")

HOSTILE_COLLECTION = "!!python/object/apply:os.system [touch PWNED]"
HOSTILE_COLLECTION_2 = "!!python%2Fobject%2Fapply:os.system [touch PWNED2]"
XSS = '<script>alert("x1")</script><img src=x onerror=alert(1)><svg onload=alert(2)><a href="javascript:alert(9)">a</a>'
MARKDOWN = ('[click](javascript:alert(3)) {: onclick="alert(4)" } ![i](javascript:alert(5)) <https://evil.example> '
            '`code` *em* _u_ | pipe &lt;b&gt; \x02wzxhzdk:0\x03 ${x}')
TRAPS = {  # modules a careless build imports from the current folder: each leaves a marker if imported
    "yaml.py": "open('IMPORTED-yaml', 'w').close()\n",
    "markdown.py": "open('IMPORTED-markdown', 'w').close()\n",
    "mkdocs/__init__.py": "open('IMPORTED-mkdocs', 'w').close()\n",
    "mkdocs/__main__.py": "open('IMPORTED-mkdocs-main', 'w').close()\n",
    "jinja2.py": "open('IMPORTED-jinja2', 'w').close()\n",
    "mkdocs.yml": "site_name: !!python/object/apply:os.system ['touch PWNED-cwd-config']\n",
}


def hostile_index(folder: Path) -> Path:
    """Three bundled entries whose every text field is an attack; written with safe_dump (valid YAML data)."""
    reg = yaml.safe_load(REGISTRY.read_text())
    coll = reg["Collections"][0]
    coll.update({"Name": HOSTILE_COLLECTION, "Paper": {"Title": XSS, "URL": "javascript://%0aalert(6)"}})
    collections = [
        coll,
        {"Name": f"../../../../{folder.name}/evil",
         "Paper": {"Title": MARKDOWN, "URL": 'https://example.org/p?a=<b>&c="d"'}},
        {"Name": "/etc/tresnet-zoo-absolute"},
        {"Name": HOSTILE_COLLECTION_2},
        {"Name": "TResNet"},
        {"Name": "tresnet"},
        {"Name": "index"},
    ]
    models = reg["Models"][:4]
    for m, c in zip(models, (HOSTILE_COLLECTION, collections[1]["Name"], collections[2]["Name"], "index")):
        m["In Collection"] = c
    m = models[0]
    m["Code"] = "javascript://%0aalert(7)"
    m["Metadata"]["Training Resources"] = XSS
    m["Metadata"]["Architecture"] = [MARKDOWN, XSS]
    m["Metadata"]["Training Data"] = [XSS, "ImageNet"]  # shown as the pretraining column and on the card
    m["Metadata"][XSS] = MARKDOWN  # an unknown Metadata key is kept and shown
    m["Results"][0]["Dataset"] = XSS
    m["Results"][0]["Metrics"] = {XSS: "80%", "Top 1 Accuracy": "80.8%"}
    m["Provenance"] = {"File Size": "inferred: " + XSS, "Weights": MARKDOWN}
    path = folder / "hostile.yml"
    path.write_text(yaml.safe_dump({"Type": "model-index", "Collections": collections, "Models": models},
                                   sort_keys=False))
    return path


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """Every path under root (links not followed) with its type, size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p in skip:
                continue
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size if not p.is_dir() else 0, st.st_mtime_ns)
    return out


MPL_CACHE = os.environ.get("MPLCONFIGDIR") or str(Path.home() / ".cache" / "matplotlib")


def run_cli(args: list, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """``tresnet-zoo ARGS`` in a child process started with ``-P`` (so only the docs code could import cwd files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRESNET_ZOO", "PYTHON"))}
    env.update(PYTHONPATH=str(REPO), HOME=str(home), TRESNET_ZOO_CACHE=str(home / "cache"),
               MPLCONFIGDIR=MPL_CACHE)  # matplotlib's font cache is its own business, not a file the build writes
    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-P", "-c", code, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


class PageParser(HTMLParser):
    """Collects what matters for XSS: elements, attributes, script bodies and visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        (self.scripts if self._in else self.text).append(data)


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _shown(value: str) -> str:
    """A hostile string as the page shows it: one line, control characters dropped."""
    return " ".join("".join(ch for ch in value if ch >= " " or ch in "\t\n").split())


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    home, cwd = root / "home", root / "work"
    home.mkdir()
    cwd.mkdir()
    for name, body in TRAPS.items():
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text(body)
    index = hostile_index(root)
    before = snapshot(root)
    done = run_cli(["docs", "build", "--index", index, "--out", root / "out" / "site", "--pages",
                    root / "out" / "pages"], cwd, home)
    after = snapshot(root, skip=(root / "out",))
    return {"root": root, "cwd": cwd, "done": done, "before": before, "after": after, "site": root / "out" / "site",
            "pages": root / "out" / "pages"}


def test_hostile_index_builds_and_runs_no_command(hostile_build):
    done = hostile_build["done"]
    assert done.returncode == 0, done.stdout + done.stderr
    root = hostile_build["root"]
    assert not [p for p in root.rglob("*") if "PWNED" in p.name or p.name.startswith("IMPORTED-")]
    assert not [p for p in Path.cwd().iterdir() if "PWNED" in p.name]


def test_nothing_outside_the_output_folders_changes(hostile_build):
    before = {k: v for k, v in hostile_build["before"].items() if not k.startswith("out")}
    assert hostile_build["after"] == before
    # the hostile names wrote nowhere but in the site: no evil.md/absolute.md beside the index or in /
    for name in ("evil.md", "absolute.md", "evil.yml"):
        assert not (hostile_build["root"] / name).exists()


def test_page_files_are_slugs_inside_the_site(hostile_build):
    site = hostile_build["site"]
    names = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    for name in names:
        assert all(part == part.lower() and all(c.isalnum() or c in "-_." for c in part)
                   for part in name.split("/")), name
    assert "python-object-apply-os-system-touch-pwned.html" in names
    assert "index.html" in names and "index-2.html" in names  # a collection called "index" does not replace home
    assert "tresnet.html" in names and "tresnet-2.html" in names  # TResNet and tresnet: no collision
    assert not (site / "tresnet.md").exists()


def test_mkdocs_config_quotes_every_name(hostile_build):
    config = (hostile_build["pages"] / "mkdocs.yml").read_text()
    assert "!!python" not in config.replace("'!!python", "")  # never a bare tag
    data = yaml.safe_load(config)
    titles = [next(iter(item)) for item in data["nav"]]
    for t in titles:  # MkDocs' theme prints titles unescaped: only plain ones reach it
        assert all(c.isalnum() or c in " _.-" for c in t), t


def test_no_index_text_is_markup(hostile_build):
    site = hostile_build["site"]
    pages = list(site.rglob("*.html"))
    assert len(pages) > 10
    text_of: dict[str, str] = {}
    links: list[str] = []
    for page in pages:
        parsed = parse(page)
        for tag, attrs in parsed.tags:
            assert not [a for a in attrs if a.lower().startswith("on")], (page, tag, attrs)
            for key in ("href", "src", "action", "srcset", "data", "formaction"):
                value = (attrs.get(key) or "").strip().lower()
                assert not value.startswith(("javascript:", "data:text", "vbscript:")), (page, tag, attrs)
            if tag == "img":
                assert attrs.get("src") != "x", page
            if tag == "a" and "example.org" in (attrs.get("href") or ""):
                links.append(attrs["href"])
        for body in parsed.scripts:
            assert "alert(" not in body, page
        text_of[page.relative_to(site).as_posix()] = " ".join(" ".join(parsed.text).split())
    assert set(links) == {'https://example.org/p?a=<b>&c="d"'}  # an http(s) URL is linked, its quotes escaped
    everything = " ".join(text_of.values())
    for hostile in (XSS, MARKDOWN, HOSTILE_COLLECTION, HOSTILE_COLLECTION_2):
        assert _shown(hostile) in everything, hostile  # shown, as text
    # Material renders search results from the index as HTML: its titles and texts must be inert as well
    for doc in json.loads((site / "search" / "search_index.json").read_text())["docs"]:
        for field in ("title", "text"):
            parsed = PageParser()
            parsed.feed(doc[field])
            assert {t for t, _ in parsed.tags} <= {"p", "ul", "ol", "li", "code", "pre", "table", "thead", "tbody",
                                                   "tr", "th", "td", "strong", "em", "span", "div", "a", "b", "i"}, doc
            assert not [a for _, attrs in parsed.tags for a in attrs if a.lower().startswith("on")], doc
            assert not [t for t, attrs in parsed.tags if t == "a" and "javascript" in (attrs.get("href") or "").lower()]
    model = text_of["models/tresnet_l.html"]
    assert _shown(XSS) in model and _shown(MARKDOWN) in model
    assert "javascript://%0aalert(7) (not an http(s) URL: not linked)" in model


def test_no_absolute_path_on_any_page(hostile_build):
    site = hostile_build["site"]
    for page in [*site.rglob("*.html"), site / "search" / "search_index.json", *site.rglob("*.xml")]:
        body = page.read_text(encoding="utf-8")
        assert str(REPO) not in body and str(hostile_build["root"].parent) not in body.replace("\\/", "/"), page
    model = (site / "models" / "tresnet_l.html").read_text()
    assert "hostile.yml:" in model  # the location is shown, relative to the index


@pytest.fixture(scope="module")
def trapped_cwd_build(tmp_path_factory):
    """One plain `docs build` (a child process) run from a current folder that holds every trap: the modules of
    TRAPS, a mkdocs.yml that runs a command, and a matplotlibrc. The folder's snapshot before and after, the
    finished process, and the site."""
    tmp_path = tmp_path_factory.mktemp("trapped")
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    for name, body in TRAPS.items():
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text(body)
    (cwd / "matplotlibrc").write_text("text.usetex: True\nsvg.fonttype: none\nsvg.hashsalt: other\n")
    before = snapshot(cwd)
    done = run_cli(["docs", "build", "--out", tmp_path / "site"], cwd, home)
    return before, done, snapshot(cwd), tmp_path / "site"


def test_cwd_traps_are_not_imported_by_a_plain_build(trapped_cwd_build):
    before, done, after, _ = trapped_cwd_build
    assert done.returncode == 0, done.stderr
    assert after == before


# --- output folders ------------------------------------------------------------------------------------


def _foreign(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.tex").write_text("years of work")
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "index.md").write_text("mine")
    (folder / "mkdocs.yml").write_text("site_name: mine\n")
    return snapshot(folder)


@pytest.mark.parametrize("option", ["--out", "--pages"])
def test_a_foreign_folder_is_refused_and_untouched(tmp_path, option):
    target = tmp_path / "mine"
    before = _foreign(target)
    args = ["docs", "build", "--out", tmp_path / "site"] if option == "--pages" else ["docs", "build"]
    done = run_cli([*args, option, target], tmp_path, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing" in done.stderr and "not empty" in done.stderr and len(done.stderr.strip().splitlines()) <= 3
    assert snapshot(target) == before
    assert not (tmp_path / "site").exists()  # refused before anything was built


@pytest.mark.parametrize("where", [".", "~", "..", "/"])
def test_current_home_and_root_folders_are_refused(tmp_path, where):
    home, cwd = tmp_path / "home", tmp_path / "home" / "work"
    cwd.mkdir(parents=True)
    before = snapshot(tmp_path)
    done = run_cli(["docs", "build", "--out", where], cwd, home)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing" in done.stderr
    assert snapshot(tmp_path) == before


def test_a_previous_build_is_replaced_but_not_a_changed_one(tmp_path):
    from tresnet_zoo.docs.place import MARKER, check_target, new_build_folder, place

    def build(content: str) -> Path:
        folder = new_build_folder(tmp_path / "site")
        (folder / "index.html").write_text(content)
        (folder / "sub").mkdir()
        (folder / "sub" / "page.html").write_text(content)
        return place(folder, tmp_path / "site", "site")

    site = build("one")
    assert json.loads((site / MARKER).read_text())["files"] == ["index.html", "sub/page.html"]
    build("two")
    assert (site / "index.html").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temporary folder left behind
    (site / "notes.txt").write_text("added by the user")
    with pytest.raises(Exception, match="notes.txt was not written by it"):
        check_target(site, "site")
    (site / "notes.txt").unlink()
    (site / "link").symlink_to(tmp_path)
    with pytest.raises(Exception, match="not empty"):
        check_target(site, "site")
    (site / "link").unlink()
    with pytest.raises(Exception, match="not empty"):
        check_target(site, "pages")  # a site is not a pages folder: the marker says which


def test_an_empty_folder_is_used(tmp_path):
    from tresnet_zoo.docs.place import new_build_folder, place

    (tmp_path / "empty").mkdir()
    folder = new_build_folder(tmp_path / "empty")
    (folder / "a.html").write_text("a")
    place(folder, tmp_path / "empty", "site")
    assert (tmp_path / "empty" / "a.html").read_text() == "a"


# --- the rules, one by one -------------------------------------------------------------------------------


def test_slugs_are_strict_bounded_and_distinct():
    assert slug("tresnet_xl_448") == "tresnet_xl_448"
    assert slug("../../etc/passwd") == "etc-passwd"
    assert slug("/abs/path") == "abs-path"
    assert slug("") == slug("...") == slug("\x00") == "item"
    assert slug("Ünïcödé TResNet") == "unicode-tresnet"
    assert len(slug("a" * 1000)) == 64
    taken = Slugs(frozenset({"index"}))
    assert [taken(n) for n in ("TResNet", "tresnet", "TRESNET", "index", "a" * 100, "a" * 100)] == [
        "tresnet", "tresnet-2", "tresnet-3", "index-2", "a" * 64, "a" * 62 + "-2"]


def test_text_is_inert_in_markdown_and_html():
    import markdown

    for hostile in (XSS, MARKDOWN, "# heading", "<!-- x", "a\n\n<script>", "{: #id .class onclick=x }", "a  \nb"):
        html = markdown.markdown(f"| a |\n|---|\n| {text(hostile)} |\n\n{text(hostile)}",
                                 extensions=["tables", "attr_list"])
        parsed = PageParser()
        parsed.feed(html)
        assert {t for t, _ in parsed.tags} <= {"table", "thead", "tbody", "tr", "th", "td", "p"}, html
        assert all(not attrs for _, attrs in parsed.tags), html
        assert _shown(hostile) in " ".join(" ".join(parsed.text).split())


def test_only_http_urls_become_links():
    assert http_url("https://example.org/a?b=c") == "https://example.org/a?b=c"
    assert http_url("HTTP://example.org") == "HTTP://example.org"
    for bad in ("javascript://%0aalert(1)", "javascript:alert(1)", "data:text/html,x", "//example.org", "https://",
                "https://exa mple.org", "https://example.org/\nx", "ftp://example.org", None, 42):
        assert http_url(bad) is None, bad


def test_the_docs_package_does_not_import_the_cli():
    code = ("import sys, tresnet_zoo.docs.build, tresnet_zoo.docs.reference; "
            "sys.exit(1 if [m for m in sys.modules if m.startswith('tresnet_zoo.cli')] else 0)")
    assert subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          check=False).returncode == 0
    source = "\n".join(p.read_text() for p in (REPO / "tresnet_zoo" / "docs").glob("*.py"))
    assert "from ..cli" not in source and "tresnet_zoo.cli" not in source


def test_a_matplotlibrc_in_the_current_folder_does_not_reach_the_chart(trapped_cwd_build):
    """matplotlib reads ./matplotlibrc on import: usetex there ran latex (exit 70 without it), svg.fonttype
    put names in the SVG as text. The chart is drawn under matplotlib's own defaults."""
    before, done, after, site = trapped_cwd_build
    assert done.returncode == 0, done.stdout + done.stderr
    assert after == before
    charts = list((site / "assets").glob("accuracy_vs_gmacs*.svg"))
    assert charts and all("<text" not in svg.read_text() for svg in charts)


@pytest.mark.parametrize("case", ["file-above", "file-two-above", "read-only-parent", "read-only-empty-target"])
def test_an_unusable_output_place_is_one_clean_error_and_nothing_changes(tmp_path, case):
    """A file where a folder must be crashed (exit 70); a read-only folder was written into (or replaced)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "afile").write_text("mine")
    (work / "ro").mkdir()
    target = {"file-above": work / "afile" / "site", "file-two-above": work / "afile" / "x" / "site",
              "read-only-parent": work / "ro" / "site", "read-only-empty-target": work / "ro"}[case]
    os.chmod(work / "ro", 0o555)
    before = snapshot(tmp_path)
    done = run_cli(["docs", "build", "--out", target], tmp_path, tmp_path)
    os.chmod(work / "ro", 0o755)
    assert done.returncode == (2 if case.startswith("file") else 3), done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: refusing") and len(lines) == 2 and lines[1].startswith("hint: "), done.stderr
    os.chmod(work / "ro", 0o555)
    assert snapshot(tmp_path) == before


def test_a_placed_folder_gets_the_umask_permissions_not_mkdtemps(tmp_path):
    from tresnet_zoo.docs.place import new_build_folder, place

    folder = new_build_folder(tmp_path / "site")
    (folder / "index.html").write_text("a")
    place(folder, tmp_path / "site", "site")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "site").stat().st_mode & 0o777 == 0o777 & ~umask  # a web server reads it


def test_bidirectional_controls_do_not_reach_page_text_or_links():
    """An RLO in a collection name ran the rest of its sentence right to left on the page ("top-5 96.0%"
    shown reversed); in a URL it spoofs the link text. Page text drops bidi controls; such a URL is no link."""
    for ch in "\u202e\u202d\u202a\u202b\u202c\u2066\u2067\u2068\u2069\u200e\u200f\u061c":
        shown = str(text(f"TResNet{ch} top-5 96.0%"))
        assert ch not in shown and shown == "TResNet top-5 96.0%", (hex(ord(ch)), shown)
        assert http_url(f"https://example.org/{ch}fdp.exe") is None
    assert str(text("日本語 — ünïcödé 😀")) == "日本語 — ünïcödé 😀"  # other non-ASCII text is kept


@pytest.mark.parametrize("out, pages", [("same", "same"), ("p/site", "p"), ("q", "q/pages")])
def test_site_and_pages_folders_that_overlap_are_refused_before_anything_is_built(tmp_path, out, pages):
    """The site was written, then the pages were refused with "nothing was changed"; or the pages went into
    the published site, which then no longer counted as a previous build."""
    before = snapshot(tmp_path)
    done = run_cli(["docs", "build", "--out", tmp_path / out, "--pages", tmp_path / pages], tmp_path, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "overlap" in done.stderr and len(done.stderr.strip().splitlines()) == 2, done.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("trouble", ["host", "port"])
def test_serve_on_a_bad_host_or_a_busy_port_is_a_clean_environment_error(tmp_path, trouble):
    """Both ended in `internal error` (exit 70) after a whole build; now they fail first, with exit 3."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        where = ["--host", "no-such-host.invalid"] if trouble == "host" else ["--port", str(busy.getsockname()[1])]
        done = run_cli(["docs", "serve", "--out", tmp_path / "site", *where], tmp_path, tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: cannot serve on") and lines[1].startswith("hint: tresnet-zoo docs serve"), lines
    assert not (tmp_path / "site").exists()  # refused before building


@pytest.mark.parametrize("option", ["--site-url", "--repo-url"])
def test_site_and_repo_urls_with_markup_characters_are_refused(tmp_path, option):
    """Material prints site_url into the canonical link unescaped: `https://y.example/"><img onerror=...>` became
    an element on every page. URLs for MkDocs' configuration hold RFC 3986 characters only."""
    from tresnet_zoo.docs.safe import config_url

    hostile = 'https://y.example/"><img/src=x/onerror=alert(2)>/'
    done = run_cli(["docs", "build", "--out", tmp_path / "site", option, hostile], tmp_path, tmp_path)
    assert done.returncode == 2 and "not an http(s) URL" in done.stderr, done.stdout + done.stderr
    assert not (tmp_path / "site").exists()
    assert config_url("https://github.com/o/r-1_2.x~y?a=b&c=%20#L3") == "https://github.com/o/r-1_2.x~y?a=b&c=%20#L3"
    for bad in (hostile, "https://x.example/<b>", "https://x.example/a`b", "https://x.example/a\\b", "javascript:x"):
        assert config_url(bad) is None, bad


@pytest.mark.parametrize("plant", ["fifo", "deep"])
def test_a_planted_marker_that_is_a_fifo_or_deeply_nested_is_foreign(tmp_path, plant):
    """The marker file decides whether a folder is a previous build: a FIFO there must not block the build,
    and JSON nested past the parser's depth must not crash it; either way the folder is foreign (refused)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "site"
    out.mkdir()
    (out / "keep.txt").write_text("theirs")
    marker = out / ".tresnet-zoo-build"
    if plant == "fifo":
        os.mkfifo(marker)
    else:
        marker.write_text("[" * 200_000 + "]" * 200_000)
    code = "from tresnet_zoo.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "docs", "build", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "internal error" not in done.stderr and (out / "keep.txt").read_text() == "theirs"
