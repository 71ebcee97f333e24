"""Credentials in an index's URLs: used, never shown (info, list) nor published (the docs site)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)

_SECRET_INDEX = """
    Collections:
    - Name: C
      Paper:
        Title: T
        URL: https://pat:paperpw@papers.example/p
    Models:
    - Name: tresnet_m
      In Collection: C
      Metadata:
        Parameters: 31389032
        File Size: 1000
        x-tresnet-zoo:
          sources:
          - url: https://carol:sourcepw@hub.example/model.safetensors
            file: m.safetensors
      Code: https://cody:codepw@code.example/tresnet.py
      Weights: https://alice:weightspw@h.example/w/tresnet_m-0123abcd.pth
    """
_SECRETS = ("paperpw", "sourcepw", "codepw", "weightspw", "alice", "carol")


@pytest.mark.parametrize("args", [("info", "tresnet_m"), ("info", "tresnet_m", "--json"), ("list", "--json")])
def test_credentials_in_index_urls_are_not_printed_by_info_or_list(cli, write, args):
    """info redacted a further source's URL but printed Weights (and Code, Paper) as written, and info/list
    --json printed every URL with its password: output that ends up pasted into bug reports."""
    index = write("index.yml", _SECRET_INDEX)
    got = cli("--index", index, *args)
    assert got.code == 0, got.text
    assert not [s for s in _SECRETS if s in got.text], got.text
    assert "***@h.example" in got.text


def test_credentials_in_index_urls_are_not_published_on_the_site(write, tmp_path, monkeypatch):
    """The model card linked the Weights URL, the sources and the code as written: a published site gave
    away the password of a private mirror."""
    from tresnet_zoo.docs import build  # noqa: PLC0415 (docs extra: only this test)
    from tresnet_zoo.index import load_index  # noqa: PLC0415 (keeps the module's import light)

    monkeypatch.setattr(build, "_verdicts", lambda index: ({}, "not checked in this test"))
    index = load_index([write("index.yml", _SECRET_INDEX)])
    pages = tmp_path / "pages"
    build.render_pages(index, pages)
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages.rglob("*.md"))
    assert "tresnet_m" in text
    assert not [s for s in _SECRETS if s in text]
