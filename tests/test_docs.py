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

from .conftest import REPO

pytest.importorskip("mkdocs")
pytest.importorskip("torch")

BUILD = REPO / "docs" / "_build"  # CI artefacts: the site and a screenshot (git-ignored)
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def site():
    from tresnet_zoo.docs import build_site

    out = BUILD / "site"
    shutil.rmtree(out, ignore_errors=True)
    result = build_site(out, pages=BUILD / "pages")
    return result


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
    assert site.corrections == 8 + 4  # and the four entries the upstream index lacks (issue 11)


def test_collection_table_equals_the_registry(site):
    html = (site.site / "tresnet.html").read_text()
    for entry in load_index():
        md = entry.metadata
        row = re.search(rf"<tr>\s*<td><a href=\"models/{entry.name}.html\">.*?</tr>", html, re.S)
        assert row, entry.name
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
        accuracy = [f"{entry.top1:.2f}", f"{entry.top5:.2f}"] if entry.top1 is not None else ["-", "-"]  # in21k heads
        assert cells[1:7] == [f"{md.parameters / 1e6:.2f}", f"{md.flops / 1e9:.2f}", str(md.image_size),
                              *accuracy, f"{md.file_size / 1e6:.1f}"]
        assert entry.weights in cells[7]
        prefix = entry.sources[0].sha256_prefix
        assert prefix is None or prefix[:8] in cells[7]


def test_corrections_page_lists_old_new_and_how(site):
    html = (site.site / "corrections.html").read_text()
    assert "41282200" in html and "31389032" in html
    assert "inferred, not measured" in html and "tresnet_l_448-940d0cd1.pth" in html
    assert html.count("measured by <code>tresnet-zoo check</code>") == 6


def test_cli_reference_is_generated_from_the_app(site):
    html = (site.site / "cli.html").read_text()
    for command in ("tresnet-zoo list", "tresnet-zoo check", "tresnet-zoo fetch", "tresnet-zoo docs build", "tresnet-zoo cache clear"):
        assert command in html
    assert "--flops-rtol" in html and "--mirror" in html


def test_a_changed_index_value_shows_in_the_built_site(tmp_path):
    from tresnet_zoo.docs import build_site

    from .conftest import REGISTRY

    changed = tmp_path / "tresnet.yml"
    changed.write_text(REGISTRY.read_text().replace("Top 1 Accuracy: 80.8%", "Top 1 Accuracy: 79.12%"))
    result = build_site(tmp_path / "site", index=changed)
    assert "79.12" in (result.site / "tresnet.html").read_text()
    assert "79.12" in (result.site / "models" / "tresnet_m.html").read_text()
    assert "Top 1 Accuracy" in (result.site / "corrections.html").read_text()  # and it is listed as a change


def test_docs_build_cli(cli, tmp_path):
    result = cli("docs", "build", "--out", tmp_path / "site")
    assert result.code == 0, result.text
    assert "built 15 pages (12 corrections listed)" in result.out
    missing = cli("docs", "build", "--out", tmp_path / "s2", "--upstream", tmp_path / "none.md")
    assert missing.code == 2


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_collection_page_in_a_real_browser(served):
    from playwright.sync_api import sync_playwright

    index = load_index()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{served}/tresnet.html", wait_until="networkidle")

        rows = page.locator("article table").first.locator("tbody tr")
        assert rows.count() == len(index)
        shown = {}
        for i in range(len(index)):
            cells = rows.nth(i).locator("td").all_inner_texts()
            shown[cells[0].strip()] = [c.strip() for c in cells[1:7]]
        for entry in index:
            md = entry.metadata
            accuracy = [f"{entry.top1:.2f}", f"{entry.top5:.2f}"] if entry.top1 is not None else ["-", "-"]
            assert shown[entry.name] == [f"{md.parameters / 1e6:.2f}", f"{md.flops / 1e9:.2f}", str(md.image_size),
                                         *accuracy, f"{md.file_size / 1e6:.1f}"]

        chart = page.locator("img[src*='accuracy_vs_gmacs']")
        assert chart.evaluate("img => img.complete && img.naturalWidth") > 0

        # sortable: clicking the top-1 header sorts the rows by it
        page.locator("article table").first.locator("th", has_text="top-1").click()
        top1 = [float(t) for t in rows.locator("td:nth-child(5)").all_inner_texts() if t.strip() != "-"]
        before = [float(shown[e.name][3]) for e in index if shown[e.name][3] != "-"]
        assert top1 in (sorted(top1), sorted(top1, reverse=True)) and top1 != before

        BUILD.mkdir(parents=True, exist_ok=True)
        (BUILD / "screenshots").mkdir(exist_ok=True)
        page.screenshot(path=str(BUILD / "screenshots" / "tresnet.png"), full_page=True)

        box = page.locator("input.md-search__input")
        results = page.locator(".md-search-result__item")
        for _ in range(4):  # the search index loads in a web worker: type again until it answers
            box.click()
            box.fill("")
            box.press_sequentially("tresnet_xl", delay=30)
            try:
                results.first.wait_for(timeout=5000)
                break
            except Exception:
                continue
        assert "tresnet_xl" in " ".join(results.all_inner_texts())
        browser.close()
    assert errors == []


def test_docs_serve_builds_and_serves(tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESNET_ZOO")}
    env["TRESNET_ZOO_CACHE"] = str(tmp_path / "cache")
    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-u", "-c", code, "docs", "serve", "--out", str(tmp_path / "site"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"docs serve exited {proc.returncode}: {proc.stderr.read()}")
        url = re.search(r"at (http://\S+/)", line).group(1)
        with urllib.request.urlopen(url + "tresnet.html", timeout=10) as response:
            assert response.status == 200 and b"tresnet_xl_448" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
