"""Sizes and hashes declared more than once, in every form the schema accepts (a string, an integral float, a
source's size): each declaration is compared, and none hides another. Found by attacking validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)

A = "a" * 64
B = "b" * 64


# --- a cache folder that is a link the user made ---------------------------------------------------------


# --- index validation: one cache file, declared twice ----------------------------------------------------

HEAD = "Collections:\n- Name: C\nModels:\n"


def _model(name: str, weights: str, *meta: str) -> str:
    lines = [f"- Name: {name}", "  In Collection: C", "  Metadata:", "    Parameters: 1", *(f"    {m}" for m in meta),
             f"  Weights: {weights}"]
    return "\n".join(lines) + "\n"


def _validate(cli, tmp_path: Path, text: str):
    path = tmp_path / "index.yml"
    path.write_text(HEAD + text)
    return cli("validate", path, "--json")


def _problems(got) -> list[dict]:
    assert got.code in (0, 1), got.text  # never 70
    return json.loads(got.out)["problems"]


def _also_from(name: str, url: str, *declared: str) -> str:
    """An entry of its own whose further source is ``url`` (so the same cache file), declaring ``declared``."""
    return _model(name, f"https://example.org/{name}-bbbbbbbb.pth", "x-tresnet-zoo:", "  sources:",
                  f"  - url: {url}", f"    file: {url.rsplit('/', 1)[1]}", *(f"    {d}" for d in declared))


def _line_of(tmp_path: Path, needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate((tmp_path / "index.yml").read_text().splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_a_file_size_written_as_a_string_is_compared(cli, tmp_path):
    """The schema takes File Size as an integer or a string of digits, and the index reads both: "100" and
    a source's 200 for one cache file are two sizes, and validation said OK."""
    url = "https://example.com/w/x-aaaaaaaa.pth"
    got = _validate(cli, tmp_path, _model("m1", url, 'File Size: "100"') + _also_from("m2", url, "size: 200"))
    problems = _problems(got)
    assert len(problems) == 1 and "200 bytes are declared for it here and 100" in problems[0]["message"], got.text
    assert problems[0]["line"] == _line_of(tmp_path, "size: 200"), problems  # the source's size


def test_a_file_size_written_as_an_integral_float_is_compared(cli, tmp_path):
    url = "https://example.com/w/x-aaaaaaaa.pth"
    got = _validate(cli, tmp_path, _model("m1", url, "File Size: 100.0") + _also_from("m2", url, "size: 200"))
    problems = _problems(got)
    assert len(problems) == 1 and "200 bytes are declared for it here and 100" in problems[0]["message"], got.text


def test_a_source_size_written_as_a_float_is_compared(cli, tmp_path):
    url = "https://example.com/w/x-aaaaaaaa.pth"
    got = _validate(cli, tmp_path, _model("m1", url, "File Size: 100") + _also_from("m2", url, "size: 300.0"))
    problems = _problems(got)
    assert len(problems) == 1 and "300 bytes are declared for it here and 100" in problems[0]["message"], got.text


def test_a_later_size_does_not_hide_the_first_sha256(cli, tmp_path):
    """m1 gives the sha256 (no size), m2's source the size (no sha256), m3's source both, with another
    sha256: m2 replaced m1 as the use to compare with, and m3's other sha256 passed."""
    url = "https://example.com/w/x.pth"
    text = (_model("m1", url, f"SHA256: {A}") + _also_from("m2", url, "size: 100")
            + _also_from("m3", url, "size: 100", f"sha256: {B}"))
    problems = _problems(_validate(cli, tmp_path, text))
    assert len(problems) == 1 and "sha256 here differs" in problems[0]["message"], problems
    assert problems[0]["entry"] == "m3" and problems[0]["line"] == _line_of(tmp_path, f"sha256: {B}"), problems


def test_two_entries_weights_disagreeing_stay_checks_finding(cli, tmp_path):
    """Two entries' own Weights on one file with other sizes or hashes: upstream's kind of mistake (an entry
    pointing at another model's weights), which `check` names; validation does not refuse the index."""
    url = "https://example.com/w/x-aaaaaaaa.pth"
    for meta in (("File Size: 100", "File Size: 200"), (f"SHA256: {A}", f"SHA256: {B}")):
        got = _validate(cli, tmp_path, _model("m1", url, meta[0]) + _model("m2", url, meta[1]))
        assert got.code == 0 and _problems(got) == [], got.text


def test_the_source_with_the_primary_url_must_agree_with_its_metadata(cli, tmp_path):
    """A source with the Weights URL names the primary's file: its sha256 and size declare that file
    again. The index reads Metadata's and silently drops the source's; validation said OK."""
    url = "https://example.com/w/model.safetensors"
    text = _model("m1", url, "File Size: 100", f"SHA256: {A}", "x-tresnet-zoo:", "  sources:", f"  - url: {url}",
                  "    file: m1.safetensors", f"    sha256: {B}")
    problems = _problems(_validate(cli, tmp_path, text))
    assert len(problems) == 1 and "sha256 here differs" in problems[0]["message"], problems
    assert problems[0]["line"] == 14, problems  # the source's sha256
    text = _model("m1", url, "File Size: 100", "x-tresnet-zoo:", "  sources:", f"  - url: {url}",
                  "    file: m1.safetensors", "    size: 99")
    problems = _problems(_validate(cli, tmp_path, text))
    assert len(problems) == 1 and "99 bytes are declared for it here and 100" in problems[0]["message"], problems


def test_the_bundled_registry_and_the_upstream_page_still_validate(cli):
    got = cli("validate", "--json")
    assert got.code == 0 and json.loads(got.out)["ok"], got.text
    upstream = Path("/work/shared/upstream/tresnet.md")
    if upstream.exists():
        got = cli("validate", upstream, "--json")
        assert got.code == 0, got.text


# --- check --links: a DNS failure behind an upper-case scheme --------------------------------------------


# --- file:// mirrors ----------------------------------------------------------------------------------------

