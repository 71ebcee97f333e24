"""What a mirror string names is decided once, by ``_urls.Mirror``: a folder (path or local file:// URL),
an object store, a folder on another host (never read as a local one), or a web base URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tresnet_zoo._urls import Mirror


@pytest.mark.parametrize("text, kind, folder", [
    ("/srv/weights", "folder", Path("/srv/weights")),
    ("file:///srv/w%20x", "folder", Path("/srv/w x")),
    ("file://localhost/srv/weights", "folder", Path("/srv/weights")),
    ("file://server/share", "other-host", None),
    ("s3://bucket/prefix", "store", None),
    ("https://mirror.example/weights", "web", None),
    ("http://[x", "web", None),
])
def test_a_mirror_string_is_parsed_once(text, kind, folder):
    parsed = Mirror.parse(text)
    assert (parsed.kind, parsed.folder) == (kind, folder)


def test_a_files_url_in_the_mirror(tmp_path):
    assert Mirror.parse(str(tmp_path)).url_of("a.pth") == (tmp_path.resolve().as_uri() + "/a.pth")
    assert Mirror.parse("https://m.example/w/").url_of("a.pth") == "https://m.example/w/a.pth"
    assert Mirror.parse("file://server/share").host == "server"


def test_the_weights_code_parses_mirrors_only_through_mirror():
    """No other module of weights/ splits a mirror string itself."""
    package = Path(__file__).resolve().parents[1] / "tresnet_zoo" / "weights"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "urlsplit(mirror" not in text and "as_uri()" not in text, path
