"""The docs site: built strictly from the index, and checked in a real browser (Debian's Chromium)."""

from __future__ import annotations

import functools
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tresnet_zoo import load_index
from tresnet_zoo.docs.build import GUIDES, SEARCH_SEPARATOR

from .helpers.paths import REPO

pytest.importorskip("mkdocs")
pytest.importorskip("torch")

BUILD = REPO / "docs" / "_build"  # CI artefacts: the site and a screenshot (git-ignored)
CHROMIUM = Path("/usr/bin/chromium")
CORRECTIONS = 14  # 8 values, and the V100 typo in six entries (the four entries upstream lacks add none)


def _commands():
    import typer.main

    from tresnet_zoo.cli.main import app

    return typer.main.get_command(app)


@pytest.fixture(scope="module")
def site():
    from tresnet_zoo.docs import build_site

    out = BUILD / "site"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(BUILD / "pages", ignore_errors=True)
    return build_site(out, pages=BUILD / "pages", commands=_commands(),
                      repo_url="https://github.com/example/tresnet-zoo",
                      site_url="https://example.org/tresnet-zoo/")


def _members(collection: str) -> list:
    return [e for e in load_index() if e.collection == collection]


def _cells(html: str, first_link: str) -> list[str] | None:
    """The text of each cell of the table row whose first cell links to ``first_link`` (parsed, not grepped)."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.rows, self.row, self.cell, self.links = [], None, None, []

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.row, self.links = [], []
            elif tag in ("td", "th") and self.row is not None:
                self.cell = ""
            elif tag == "a" and self.row is not None:
                self.links.append(dict(attrs).get("href"))

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.row is not None and self.cell is not None:
                self.row.append(self.cell.strip())
                self.cell = None
            elif tag == "tr" and self.row is not None:
                self.rows.append((self.links, self.row))
                self.row = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Rows()
    parser.feed(html)
    return next((cells for links, cells in parser.rows if links and links[0] == first_link), None)


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(_QuietHandler, directory=str(site.site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_site_builds_strictly_with_every_page(site):
    names = {p.relative_to(site.site).as_posix() for p in site.site.rglob("*.html")}
    for page in ("index.html", "tresnet.html", "corrections.html", "cli.html", "api.html"):
        assert page in names
    for entry in load_index():
        assert f"models/{entry.name}.html" in names
    assert (site.site / "assets" / "accuracy_vs_gmacs.svg").stat().st_size > 5000
    assert (site.site / "assets" / "accuracy_vs_gmacs_narrow.svg").stat().st_size > 5000
    assert site.corrections == CORRECTIONS
    assert not list(site.site.rglob("README*"))  # the vendored tablesort README is not a page
    assert "https://example.org/tresnet-zoo/models/tresnet_xl.html" in (site.site / "sitemap.xml").read_text()


def test_collection_table_equals_the_registry(site):
    html = (site.site / "tresnet.html").read_text()
    for entry in _members("TResNet"):
        md = entry.metadata
        cells = _cells(html, f"models/{entry.name}.html")
        assert cells, entry.name
        inferred = "inferred" in entry.provenance.get("File Size", "")
        size = f"{md.file_size / 1e6:.1f}" + (" (inferred)" if inferred else "")
        top1 = f"{entry.top1:.2f}" if entry.top1 is not None else "-"  # in21k heads have no top-1
        assert cells[:6] == [entry.name, top1, f"{md.flops / 1e9:.2f}", f"{md.parameters / 1e6:.2f}",
                             str(md.image_size), size]


def test_models_are_ordered_by_family_and_size(site):
    html = (site.site / "index.html").read_text()
    order = [name for name in re.findall(r'href="models/([a-z0-9_]+)\.html"', html)]
    order = list(dict.fromkeys(order))
    v1 = ["tresnet_m", "tresnet_m_448", "tresnet_l", "tresnet_l_448", "tresnet_xl", "tresnet_xl_448"]
    assert [name for name in order if name in v1] == v1  # by family, then size (the in21k variants sit with m)
    assert order[-2:] == ["tresnet_v2_l", "tresnet_v2_l_miil_in21k"] and len(order) == len(load_index())


def test_pareto_front_marks_the_beaten(site):
    html = (site.site / "tresnet.html").read_text()
    # 22.9 GMACs / 81.72 < 8.8 / 83.91, and tresnet_v2_l saw more data
    assert _cells(html, "models/tresnet_m_448.html")[-1] == "tresnet_v2_l (more data)"
    assert _cells(html, "models/tresnet_xl.html")[-1] == "tresnet_v2_l (more data)"
    assert _cells(html, "models/tresnet_m.html")[-1] == "-"  # the fewest GMACs
    assert _cells(html, "models/tresnet_v2_l.html")[-1] == "-"  # the best top-1
    card = (site.site / "models" / "tresnet_m_448.html").read_text()
    assert "Another model is better on both counts" in card and 'href="tresnet_v2_l.html"' in card


def test_model_page_is_a_model_card(site):
    import html

    card = (site.site / "models" / "tresnet_xl.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", card))
    for needle in ("78.44 M parameters", "15.16 GMACs", "224 px", "top-1 82.05%", "314.4 MB",
                   'create_model("tresnet_xl", pretrained=True)', "num_classes=0", "forward_features",
                   "num_classes=10", "only the 8-hex-digit prefix", "a2d51b00", "@misc{ridnik2020tresnet",
                   "1060 images/s", "MACs, not FLOPs", "Check results", "registry/tresnet.yml:"):
        assert needle in text or needle in card, needle
    assert 'href="https://arxiv.org/abs/2003.13630"' in card and "paperswithcode" not in card
    assert 'href="https://github.com/example/tresnet-zoo/blob/HEAD/registry/tresnet.yml#L' in html.unescape(card)
    assert card.index("Use it in code") < card.index("Check results")
    inferred = (site.site / "models" / "tresnet_xl_448.html").read_text()
    assert re.search(r"<td>File Size</td>\s*<td>inferred</td>", inferred)  # not "ok"
    assert not re.search(r"<td>File Size</td>\s*<td>ok</td>", inferred)


def test_corrections_page_lists_old_new_how_and_why(site):
    html = (site.site / "corrections.html").read_text()
    assert "41282200" in html and "31389032" in html
    assert "8x NVIDIA 100 GPUs" in html and "8x NVIDIA V100 GPUs" in html
    assert "tresnet_l_448-940d0cd1.pth" in html.replace("&#95;", "_")
    plain = re.sub(r"<[^>]+>", "", html).replace("&#95;", "_").replace("&#39;", "'")
    assert "copied from another entry: the upstream value is tresnet_l_448's Weights" in plain
    assert plain.count("How it was established:") == 14 and "Likely cause:" in plain and "Cross-check:" in plain
    assert "(inferred, not measured)" in plain


def _text(page: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_cards_start_with_a_quick_start_and_say_what_their_weights_are(site):
    for entry in load_index():
        card = (site.site / "models" / f"{entry.name}.html").read_text()
        text = _text(card[card.index("<article"):card.index("</article>")])
        start = text.index(f'tresnet_zoo.create_model("{entry.name}", pretrained=True)')
        quick = text[start:text.index("Use it in code")]
        assert "num_classes=10).train()" in quick and "model.train()" in text  # fine-tuning needs train mode
        if entry.timm_tags:
            assert f'timm.create_model("{entry.timm_tags[0]}", pretrained=True)' in text[:text.index("Use it in code")]
        in21k = entry.num_classes == 11221
        assert ("11221 classes" in text and "arXiv 2104.10972" in text and "labels_for(model)" in text
                and "no ImageNet-1k top-1" in text) == in21k, entry.name
        assert ("classes, pretrained on ImageNet-21K-P" in text) == ("ImageNet-21K-P" in entry.metadata.training_data
                                                            and not in21k), entry.name
        if entry.metadata.image_size == 448:
            assert "448 px" in text and "at 224 px only" in text
            assert "The paper measures 2930" not in text and "The paper measures 1060" not in text
        unusable = [s for s in entry.sources[1:] if not (s.sha256 or s.sha256_prefix)]
        assert ("not usable" in text) == bool(unusable), entry.name
        for source in unusable:  # shown, never linked
            assert f'href="{source.url}"' not in card
    table = (site.site / "tresnet.html").read_text()
    assert _cells(table, "models/tresnet_m.html")[6] == "none"
    assert _cells(table, "models/tresnet_v2_l.html")[6] == "ImageNet-21K-P"


def test_corrections_page_opens_with_a_summary_of_changes(site):
    html = (site.site / "corrections.html").read_text()
    row = _cells(html, "models/tresnet_m.html")
    assert row[:5] == ["tresnet_m", "Parameters", "41282200", "31389032", "-24.0%"]
    assert html.index("Summary") < html.index("How it was established")


def test_pages_describe_themselves_and_name_the_repository(site):
    descriptions = set()
    for page in ("index.html", "tresnet.html", "corrections.html", "api.html", "models/tresnet_xl.html",
                 *(guide.replace(".md", ".html") for guide in GUIDES.values())):
        found = re.search(r'<meta name="description" content="([^"]+)"', (site.site / page).read_text())
        assert found, page
        descriptions.add(found[1])
    assert len(descriptions) >= 8  # one each, not the site's one line everywhere
    home = (site.site / "index.html").read_text()
    assert 'href="https://github.com/example/tresnet-zoo"' in home
    assert re.search(r'class="md-source__repository">\s*example/tresnet-zoo\s*<', home)
    assert "pip install &#39;tresnet-zoo[torch] @ git+https://github.com/example/tresnet-zoo&#39;" in home or \
        "pip install 'tresnet-zoo[torch] @ git+https://github.com/example/tresnet-zoo'" in _text(home)
    for page in site.site.rglob("*.html"):
        assert not re.search(r"pip install (-q )?[\"']?tresnet-zoo(?!\[torch\] @ git\+)", _text(page.read_text())), page


def test_site_and_repository_urls_are_a_project_setting(tmp_path):
    from tresnet_zoo.docs.build import project_settings
    from tresnet_zoo.errors import UsageError

    pyproject = tmp_path / "pyproject.toml"
    assert project_settings(pyproject) == {}
    pyproject.write_text('[tool.tresnet-zoo.docs]\nrepo-url = "https://github.com/o/r"\n'
                         'site-url = "https://o.github.io/r/"\n')
    assert project_settings(pyproject) == {"repo-url": "https://github.com/o/r", "site-url": "https://o.github.io/r/"}
    pyproject.write_text("[tool.tresnet-zoo.docs\n")
    with pytest.raises(UsageError):
        project_settings(pyproject)


def test_a_configured_site_url_and_repository_reach_the_built_site(tmp_path, monkeypatch):
    from tresnet_zoo.docs import build

    monkeypatch.setattr(build, "project_settings", lambda: {"repo-url": "https://github.com/o/r",
                                                            "site-url": "https://o.example.org/zoo/"})
    result = build.build_site(tmp_path / "site")
    assert "https://o.example.org/zoo/models/tresnet_m.html" in (result.site / "sitemap.xml").read_text()
    home = (result.site / "index.html").read_text()
    assert 'href="https://github.com/o/r"' in home and "git+https://github.com/o/r" in _text(home)


def test_cli_reference_is_generated_from_the_app(site):
    html = (site.site / "cli.html").read_text()
    for command in ("tresnet-zoo list", "tresnet-zoo check", "tresnet-zoo fetch", "tresnet-zoo docs build",
                    "tresnet-zoo cache clear"):
        assert command in html
    assert "--flops-rtol" in html and "--mirror" in html


def test_no_page_holds_the_checkout_path(site):
    for page in [*site.site.rglob("*.html"), site.site / "search" / "search_index.json"]:
        assert str(REPO) not in page.read_text(encoding="utf-8"), page


def test_a_changed_index_value_shows_in_the_built_site(tmp_path):
    from tresnet_zoo.docs import build_site

    from .helpers.paths import REGISTRY

    changed = tmp_path / "tresnet.yml"
    changed.write_text(REGISTRY.read_text().replace("Top 1 Accuracy: 80.8%", "Top 1 Accuracy: 79.12%"))
    result = build_site(tmp_path / "site", index=changed)
    assert "79.12" in (result.site / "tresnet.html").read_text()
    assert "79.12" in (result.site / "models" / "tresnet_m.html").read_text()
    assert "Top 1 Accuracy" in (result.site / "corrections.html").read_text()  # and it is listed as a change


def test_an_added_entry_gets_its_card(tmp_path):
    from tresnet_zoo.docs import build_site

    from .helpers.paths import REGISTRY

    text = REGISTRY.read_text()
    first = text.index("- Name: tresnet_m\n")
    block = text[first:text.index("- Name: tresnet_m_448")]
    index = tmp_path / "tresnet.yml"
    block = block.replace("- Name: tresnet_m\n", "- Name: tresnet_m_copy\n")
    block = block.replace("- tresnet_m.", "- tresnet_m_copy.")
    index.write_text(text + block)  # a copy under its own name and timm tags (a tag names one entry)
    result = build_site(tmp_path / "site", index=index)
    assert "tresnet_m_copy" in (result.site / "models" / "tresnet_m_copy.html").read_text().replace("&#95;", "_")


def test_docs_build_cli(cli, tmp_path):
    result = cli("docs", "build", "--out", tmp_path / "site")
    assert result.code == 0, result.text
    index = load_index()
    pages = 4 + len(GUIDES) + len(index.collections) + len(index)
    assert f"built {pages} pages ({CORRECTIONS} corrections listed)" in result.out
    missing = cli("docs", "build", "--out", tmp_path / "s2", "--upstream", tmp_path / "none.md")
    assert missing.code == 2
    bad_url = cli("docs", "build", "--out", tmp_path / "s3", "--repo-url", "javascript:alert(1)")
    assert bad_url.code == 2 and not (tmp_path / "s3").exists()
    again = cli("docs", "build", "--out", tmp_path / "site")  # a previous build is replaced
    assert again.code == 0, again.text


SHOTS = BUILD / "screenshots"
PAGES = {"home": "index.html", "collection": "tresnet.html", "model": "models/tresnet_xl_448.html",
         "corrections": "corrections.html", "api": "api.html"}
TABLE_OVERFLOW = """() => Array.from(document.querySelectorAll('article table')).map(t => {
    const box = t.closest('article').getBoundingClientRect();
    const r = t.getBoundingClientRect();
    return {wider: t.scrollWidth - t.clientWidth, right: r.right - box.right, head: t.rows[0].innerText.slice(0, 60)};
}).filter(t => t.wider > 1 || t.right > 1)"""


CODE_OVERFLOW = """() => [...document.querySelectorAll('article pre > code')]
    .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText.slice(0, 60))"""


def _search(page, query: str, served: str) -> list[str]:
    """The pages MkDocs Material's search lists for ``query``, best first (site-relative paths)."""
    box = page.locator("input.md-search__input")
    results = page.locator(".md-search-result__item > a")
    for _ in range(6):  # the search index loads in a web worker: type again until it answers
        page.locator("label.md-search__icon, .md-search__input").first.click()
        box.fill("")
        box.press_sequentially(query, delay=20)
        try:
            results.first.wait_for(timeout=5000)
            break
        except Exception:
            continue
    page.wait_for_timeout(300)  # the list is replaced as the last keystrokes are processed
    base = served + "/"
    hrefs = [a.split("#")[0].split("?")[0] for a in results.evaluate_all("els => els.map(e => e.href)")]
    page.keyboard.press("Escape")
    return list(dict.fromkeys(h[len(base):] if h.startswith(base) else h for h in hrefs))


def _open_browser(p):
    return p.chromium.launch(executable_path=str(CHROMIUM),
                             args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                   "--disable-background-networking"])


def _guard(page, errors: list, outside: list, base: str) -> None:
    """Record console errors and every request to a host other than the loopback server (and block it)."""
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_site_in_a_real_browser(served):
    from playwright.sync_api import sync_playwright

    index = _members("TResNet")
    served_root = BUILD / "site"
    errors: list[str] = []
    outside: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = _open_browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _guard(page, errors, outside, served)
        for label, path in PAGES.items():
            page.goto(f"{served}/{path}", wait_until="networkidle")
            assert page.evaluate(TABLE_OVERFLOW) == [], f"{path}: a table is wider than its column at 1280 px"
            page.screenshot(path=str(SHOTS / f"desktop-{label}.png"), full_page=label != "corrections")

        page.goto(f"{served}/tresnet.html", wait_until="networkidle")
        rows = page.locator("article table").first.locator("tbody tr")
        assert rows.count() == len(index)
        shown = {}
        for i in range(rows.count()):
            cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
            shown[cells[0]] = cells[1:6]
        for entry in index:
            md = entry.metadata
            inferred = "inferred" in entry.provenance.get("File Size", "")
            size = f"{md.file_size / 1e6:.1f}" + (" (inferred)" if inferred else "")
            top1 = f"{entry.top1:.2f}" if entry.top1 is not None else "-"  # in21k heads have no top-1
            assert shown[entry.name] == [top1, f"{md.flops / 1e9:.2f}", f"{md.parameters / 1e6:.2f}",
                                         str(md.image_size), size]
        chart = page.locator("img.zoo-chart")
        assert chart.evaluate("img => img.complete && img.naturalWidth") > 0
        assert "GMACs" in chart.get_attribute("alt")

        # sortable: clicking the top-1 header sorts the rows by it
        page.locator("article table").first.locator("th", has_text="top-1").click()
        top1 = [float(t) for t in rows.locator("td:nth-child(2)").all_inner_texts() if t.strip() != "-"]
        assert top1 in (sorted(top1), sorted(top1, reverse=True))

        # search: a name or timm tag finds its own card first; `xl` ranks tresnet_xl above the corrections;
        # `83.9` is one word (a dot followed by a digit does not split)
        assert _search(page, "tresnet_m.miil_in1k", served)[0] == "models/tresnet_m.html"  # it ranked 13th
        for query in ("xl", "XL", "TResNet_XL"):
            found = _search(page, query, served)
            assert found[0] == "models/tresnet_xl.html", (query, found)
        found = _search(page, "83.9", served)
        assert "models/tresnet_v2_l.html" in found
        assert all("83.9" in (served_root / page_path).read_text() for page_path in found), found
        for entry in load_index():  # an exact name finds its card first; a timm tag among the first two (a
            # tag and a name can extend each other: tresnet_v2_l.miil_in21k and tresnet_v2_l)
            assert _search(page, entry.name, served)[0] == f"models/{entry.name}.html", entry.name
            for tag in entry.timm_tags:
                assert f"models/{entry.name}.html" in _search(page, tag, served)[:2], tag

        # the palette toggle switches to dark and back; the chart follows the dark scheme
        page.goto(f"{served}/index.html", wait_until="networkidle")
        scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        page.locator("form[data-md-component=palette] label:visible").first.click()
        dark = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert {scheme, dark} == {"slate", "default"}
        chart_filter = page.locator("img.zoo-chart").evaluate("img => getComputedStyle(img).filter")
        assert ("invert" in chart_filter) == (dark == "slate"), chart_filter

        # code and signatures wrap: no code block scrolls sideways, at 1280 px or on a phone
        page.goto(f"{served}/api.html", wait_until="networkidle")
        assert page.evaluate(CODE_OVERFLOW) == []

        # a tablet: nothing makes the page itself wider than the screen
        tablet = browser.new_page(viewport={"width": 768, "height": 1024})
        _guard(tablet, errors, outside, served)
        for path in (*PAGES.values(), "models/tresnet_m_miil_in21k.html"):
            tablet.goto(f"{served}/{path}", wait_until="networkidle")
            assert tablet.evaluate("document.documentElement.scrollWidth") <= 768, path
            assert tablet.evaluate(CODE_OVERFLOW) == [], path
        tablet.close()

        mobile = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
        _guard(mobile, errors, outside, served)
        for label, path in PAGES.items():
            mobile.goto(f"{served}/{path}", wait_until="networkidle")
            mobile.screenshot(path=str(SHOTS / f"mobile-{label}.png"), full_page=label != "corrections")
        mobile.goto(f"{served}/tresnet.html", wait_until="networkidle")
        first = mobile.locator("article table").first.locator("tbody tr").first
        name_box = first.locator("td").nth(0).bounding_box()
        top1_box = first.locator("td").nth(1).bounding_box()
        # accuracy beside the name
        assert top1_box["x"] + top1_box["width"] <= 390 and abs(top1_box["y"] - name_box["y"]) < 2
        # the models table scrolls inside its wrapper on a phone; the page itself does not
        wrap = mobile.locator("article .zoo-models .md-typeset__scrollwrap").first
        scrolls = wrap.evaluate("w => w.scrollWidth > w.clientWidth && getComputedStyle(w).overflowX")
        assert scrolls in ("auto", "scroll")
        assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
        for path in ("api.html", "models/tresnet_m.html", "index.html"):
            mobile.goto(f"{served}/{path}", wait_until="networkidle")
            assert mobile.evaluate(CODE_OVERFLOW) == [], path
        mobile.goto(f"{served}/tresnet.html", wait_until="networkidle")
        shown_chart = mobile.locator("img.zoo-chart").evaluate("img => img.currentSrc")
        assert shown_chart.endswith("accuracy_vs_gmacs_narrow.svg")
        browser.close()
    assert outside == []
    assert errors == []


def test_docs_serve_builds_and_serves(tmp_path):
    import os
    import subprocess
    import sys
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESNET_ZOO")}
    env["TRESNET_ZOO_CACHE"] = str(tmp_path / "cache")
    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-u", "-c", code, "docs", "serve", "--out", str(tmp_path / "site"),
                             "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = ""
        while "serving" not in line:  # the build's lines, then the address (a hang is pytest-timeout's)
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"docs serve exited {proc.returncode}: {proc.stderr.read()}")
        url = re.search(r"at (http://\S+/)", line).group(1)
        with urllib.request.urlopen(url + "tresnet.html", timeout=10) as response:
            assert response.status == 200 and b"tresnet_xl_448" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_a_600_entry_index_builds_with_search(tmp_path):
    """Issue 13: the docs of a 600-entry index (copies of the bundled entries) build, one page and one search
    entry each. The time (issue 13: under a minute) is `benchmarks/run.py docs`, against plain MkDocs on the
    same pages."""
    import json
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from docs_scale import grow_index

    from tresnet_zoo.docs import build_site

    index = grow_index(600, tmp_path / "grown.yml")
    result = build_site(tmp_path / "site", index=index)
    assert len(list((result.site / "models").glob("*.html"))) == 600
    docs = json.loads((result.site / "search" / "search_index.json").read_text())["docs"]
    assert {d["location"].split("#")[0] for d in docs} >= {f"models/{m.name}.html" for m in load_index(index)}
    config = json.loads((result.site / "search" / "search_index.json").read_text())["config"]
    assert config["separator"] == SEARCH_SEPARATOR


def test_order_and_pareto_front_rules():
    from types import SimpleNamespace

    from tresnet_zoo.docs.cards import order_key, pareto_front

    def entry(name, size):
        return SimpleNamespace(name=name, metadata=SimpleNamespace(id=None, image_size=size))

    names = [("tresnet_v2_l", 224), ("tresnet_xl_448", 448), ("other", 224), ("tresnet_m_448", 448), ("tresnet_l", 224),
             ("tresnet_m", 224), ("tresnet_xl", 224)]
    ordered = [e.name for e in sorted((entry(n, s) for n, s in names), key=order_key)]
    assert ordered == ["tresnet_m", "tresnet_m_448", "tresnet_l", "tresnet_xl", "tresnet_xl_448", "tresnet_v2_l",
                       "other"]
    beaten = pareto_front({"m": (5.7, 80.8), "m448": (22.9, 81.72), "xl": (15.2, 82.05), "twin": (15.2, 82.05),
                           "l": (10.9, 81.49)})
    assert beaten == {"m448": "xl"}  # an identical twin beats nobody
