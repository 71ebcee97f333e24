"""The x-tresnet-zoo records: timm tags, classes, license, sources, and names that resolve without case."""

from __future__ import annotations

import pytest

from tresnet_zoo import load_index
from tresnet_zoo.errors import UnknownModelError
from tresnet_zoo.index.validate import validate_paths

from .helpers.paths import REGISTRY, UPSTREAM

HF = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"
TAGS = {
    "tresnet_l": "tresnet_l.miil_in1k",
    "tresnet_l_448": "tresnet_l.miil_in1k_448",
    "tresnet_m": "tresnet_m.miil_in1k",
    "tresnet_m_448": "tresnet_m.miil_in1k_448",
    "tresnet_xl": "tresnet_xl.miil_in1k",
    "tresnet_xl_448": "tresnet_xl.miil_in1k_448",
    "tresnet_m_miil_in21k_ft_in1k": "tresnet_m.miil_in21k_ft_in1k",
    "tresnet_m_miil_in21k": "tresnet_m.miil_in21k",
    "tresnet_v2_l": "tresnet_v2_l.miil_in21k_ft_in1k",
    "tresnet_v2_l_miil_in21k": "tresnet_v2_l.miil_in21k",
}
SHA = {  # issue 11: full sha256 of three Hugging Face files, each on its own source
    "https://huggingface.co/timm/tresnet_m.miil_in21k/resolve/main/model.safetensors":
        "f0c4dba14875e71f2fbd03f463ad475f0c708a9810be3ec0cc8ec5cfb1e35f24",
    "https://huggingface.co/timm/tresnet_v2_l.miil_in21k_ft_in1k/resolve/main/model.safetensors":
        "c9c65a12d4d20e71162143eecc7346913c1d12b79cd55ab22b6ee719f3b53eba",
    "https://huggingface.co/timm/tresnet_m.miil_in21k_ft_in1k/resolve/main/pytorch_model.bin":
        "5122e23986895cf7dfbd05fc41ae431f2c7026e9bd4f7532c38ede454681e20a",
}


@pytest.fixture(scope="module")
def index():
    return load_index(REGISTRY)


def test_every_entry_has_its_tag_and_the_hf_source(index):
    assert {m.name: m.timm_tags[0] for m in index} == TAGS
    for m in index:
        assert m.license == "apache-2.0"
        urls = [s.url for s in m.sources]
        assert urls[0] == m.weights and HF.format(m.timm_tags[0]) in urls
        hf = next(s for s in m.sources if s.url == HF.format(m.timm_tags[0]))
        assert hf.filename == f"{m.timm_tags[0]}.safetensors"
        for source in m.sources:
            assert source.sha256 == SHA.get(source.url), (m.name, source.url)
            assert source.location is not None and source.location.line
        assert len({s.filename for s in m.sources}) == len(m.sources)


@pytest.mark.parametrize("name", sorted(TAGS))
def test_every_tag_and_name_resolves_in_any_case(index, name):
    tag = TAGS[name]
    for spelling in (name, name.upper(), tag, tag.upper(), tag.title(), name.swapcase()):
        assert index.get(spelling).name == name
    assert [m.name for m in index.select([tag])] == [name]
    assert [m.name for m in index.select([tag.upper()])] == [name]


def test_classes_and_primary_sources(index):
    assert {m.name for m in index if m.num_classes == 11221} == {"tresnet_m_miil_in21k", "tresnet_v2_l_miil_in21k"}
    in21k = ("tresnet_m_miil_in21k", "tresnet_v2_l_miil_in21k")
    assert all(m.num_classes == 1000 for m in index if m.name not in in21k)
    assert all(m.top1 is None for m in index if m.num_classes == 11221)
    m = index.get("tresnet_m")
    first = m.sources[0]
    assert (first.filename, first.sha256_prefix, first.size) == ("tresnet_m_80_8-dbc13962.pth", "dbc13962", 125861314)
    assert m.weights_filename == first.filename
    # the v2 in21k weights exist only on Hugging Face: the primary is the HF URL, cached under the tag's name
    v2 = index.get("tresnet_v2_l.miil_in21k")
    assert v2.weights == HF.format("tresnet_v2_l.miil_in21k") and len(v2.sources) == 1
    assert v2.weights_filename == "tresnet_v2_l.miil_in21k.safetensors"
    assert index.get("tresnet_v2_l").top1 == 83.91 and index.get("tresnet_v2_l").top5 == 96.49
    assert index.get("TResNet_M.miil_in21k_ft_in1k").top1 == 83.09
    for name in ("tresnet_m_miil_in21k_ft_in1k", "tresnet_m_miil_in21k", "tresnet_v2_l", "tresnet_v2_l_miil_in21k"):
        assert index.get(name).provenance["File Size"].startswith("inferred, not measured")


def test_tresnet_m_ambiguity_note(index):
    for name in ("tresnet_m", "tresnet_m.miil_in21k_ft_in1k"):  # what timm's bare name loads, said on both
        assert "timm's plain 'tresnet_m' (timm 1.0.31) loads" in index.get(name).note
        assert "83.1%" in index.get(name).note and "80.8%" in index.get(name).note
    assert index.get("tresnet_l").note is None


def test_suggestions_cover_names_and_tags_without_case(index):
    with pytest.raises(UnknownModelError) as err:
        index.get("TRESNET_M.MIIL_IN1K_44")
    assert "tresnet_m.miil_in1k_448" in str(err.value)
    assert index.suggest("tresnet_v2_l.miil_in21") [0] == "tresnet_v2_l.miil_in21k"
    assert "tresnet_xl" in index.suggest("TResNet_XXL")


def test_redacted_url_hides_credentials(write):
    path = write("i.yml", """
Models:
- Name: a
  Weights: https://example.org/a-0123abcd.pth
  Metadata:
    x-tresnet-zoo:
      timm: [tresnet_m.x]
      sources:
      - url: https://user:secret@example.org/b.safetensors
        file: b.safetensors
        size: 10
""")
    m = load_index(path).get("a")
    assert m.sources[1].redacted_url == "https://***@example.org/b.safetensors" and m.sources[1].size == 10
    assert "secret" not in repr(m.sources[1].redacted_url)


@pytest.mark.parametrize(
    "zoo, fragment",
    [
        ("timm: [Tresnet_M]", "timm[0]: expected a timm pretrained tag"),
        ("num_classes: 0", "num_classes: expected a number of classes"),
        ("num_classes: '1000'", "num_classes: expected a number of classes"),
        ("sources: [{url: 'http://example.org/b.pth', file: b.pth}]",
         "url: source URL 'http://example.org/b.pth': only https is allowed"),
        ("sources: [{url: 'https://example.org/b.pth', file: ../b.pth}]", "file: expected a file name"),
        ("sources: [{url: 'https://example.org/b.pth'}]", "file: missing (required)"),
        ("sources: [{url: 'https://example.org/b.pth', file: b.pth, sha256: ABC}]",
         "sha256: expected 64 lower-case hex"),
        ("licence: mit", "licence: unknown field; did you mean 'license'?"),
        ("sources: [{url: 'https://example.org/x/a-0123abcd.pth', file: a-0123abcd.pth}]",
         "cache file name 'a-0123abcd.pth' is already used"),
    ],
)
def test_bad_zoo_metadata_is_reported_with_its_line(write, zoo, fragment):
    path = write("i.yml", "Models:\n- Name: a\n  Weights: https://example.org/a-0123abcd.pth\n"
                          "  Metadata:\n    x-tresnet-zoo:\n      " + zoo + "\n- Name: b\n")
    report, _ = validate_paths([path])
    text = "\n".join(str(p) for p in report.problems)
    assert fragment in text, text
    assert all(p.location.line for p in report.problems)


def test_a_tag_may_not_name_another_entry(write):
    path = write("i.yml", "Models:\n- Name: a\n  Metadata: {x-tresnet-zoo: {timm: [m.a]}}\n"
                          "- Name: b\n  Metadata: {x-tresnet-zoo: {timm: [m.a]}}\n- Name: m.a\n")
    report, _ = validate_paths([path])
    assert [(p.entry, p.location.line) for p in report.problems] == [("b", 5), ("m.a", 6)]
    assert "already names a" in str(report.problems[0]) and "is a timm tag of a" in str(report.problems[1])


def test_same_file_name_is_fine_for_the_same_file(write):
    sha = "ab" * 32
    path = write("i.yml", f"""
Models:
- Name: a
  Weights: https://example.org/a-0123abcd.pth
  Metadata: {{x-tresnet-zoo: {{sources: [{{url: 'https://mirror.org/w.bin', file: w.bin, sha256: '{sha}'}}]}}}}
- Name: b
  Weights: https://example.org/a-0123abcd.pth
  Metadata: {{x-tresnet-zoo: {{sources: [{{url: 'https://other.org/w.bin', file: w.bin, sha256: '{sha}'}}]}}}}
""")
    report, _ = validate_paths([path])
    assert report.ok, report.problems


def test_upstream_fixture_still_validates_and_yields_its_eight_errors():
    from tresnet_zoo.check import check_index

    report, _ = validate_paths([UPSTREAM])
    assert report.ok
    wrong = [(e.name, v.field) for e in check_index(load_index(UPSTREAM)).entries for v in e.wrong]
    assert len(wrong) == 8


def test_list_and_info_show_tags_and_the_note(cli):
    listed = cli("list", "tresnet_v2*")
    assert listed.code == 0 and "tresnet_v2_l.miil_in21k_ft_in1k" in listed.out
    info = cli("info", "TResNet_M")
    assert info.code == 0 and "tresnet_m.miil_in1k" in info.out and "timm 1.0.31" in info.out
    assert "huggingface.co/timm/tresnet_m.miil_in1k" in info.out


@pytest.mark.parametrize("declared, fragment", [
    ("size: 101", "101 bytes are declared for it here and 100 at"),
    (f"sha256: {'cd' * 32}", "its sha256 here differs"),
])
def test_a_source_declaring_a_file_again_must_agree(write, declared, fragment):
    """A source of ours with another entry's weights URL names the same cache file: where it declares the
    file's size or sha256, they agree with the entry's (else `verify --repair` of one would fetch over the
    other's file); the problem is at the source's field."""
    path = write("i.yml", f"""
Models:
- Name: a
  Weights: https://example.org/a-0123abcd.pth
  Metadata:
    File Size: 100
    SHA256: {'ab' * 32}
- Name: b
  Weights: https://example.org/b-0123abcd.pth
  Metadata:
    x-tresnet-zoo:
      sources:
      - url: https://example.org/a-0123abcd.pth
        file: a-0123abcd.pth
        {declared}
""")
    report, _ = validate_paths([path])
    text = "\n".join(str(p) for p in report.problems)
    assert fragment in text and "a-0123abcd.pth" in text, text
    assert [p.entry for p in report.problems] == ["b"] and report.problems[0].location.line == 14


def test_two_entries_weights_on_one_file_are_checks_finding_not_validations(write):
    """Upstream's own mistake (an entry pointing at another model's weights, with its own File Size) stays
    a valid index: `check` reports which entry is wrong (tests/test_check.py)."""
    path = write("i.yml", """
Models:
- Name: a
  Weights: https://example.org/a-0123abcd.pth
  Metadata: {File Size: 100}
- Name: b
  Weights: https://example.org/a-0123abcd.pth
  Metadata: {File Size: 200}
""")
    report, _ = validate_paths([path])
    assert report.ok, report.problems


def test_weights_files_are_the_sources_file_names(write):
    """The cheap `weights_files` (what list and the cache commands ask of every entry) names exactly the
    files of `sources`, in order, for the registry and for odd source lists."""
    for entry in load_index().models:
        assert entry.weights_files == tuple(dict.fromkeys(s.filename for s in entry.sources)), entry.name
    path = write("i.yml", """
Models:
- Name: same-url-twice
  Weights: https://example.org/a-0123abcd.pth
  Metadata: {x-tresnet-zoo: {sources: [{url: 'https://example.org/a-0123abcd.pth', file: a.bin},
                                       {url: 'https://example.org/a-0123abcd.pth', file: b.bin},
                                       {url: 'https://m.org/c.bin', file: c.bin}]}}
- Name: sources-only
  Metadata: {x-tresnet-zoo: {sources: [{url: 'https://m.org/d.bin', file: d.bin},
                                       {url: 'https://m.org/e', file: e.bin}]}}
- Name: nothing
""")
    for entry in load_index(path).models:
        assert entry.weights_files == tuple(dict.fromkeys(s.filename for s in entry.sources)), entry.name
