"""`check` on the upstream page, on the corrected registry, on odd entries; `--fix`."""

from __future__ import annotations

import json
import shutil

import pytest

from tresnet_zoo import load_index
from tresnet_zoo.check import check_index, file_size_bounds
from tresnet_zoo.fix import apply_fixes, plan_fixes
from tresnet_zoo.measure import count

from .helpers.paths import REGISTRY, UPSTREAM

pytest.importorskip("torch")

# What the upstream page gets wrong, and nothing else.
UPSTREAM_WRONG = {
    ("tresnet_l", "Parameters"),
    ("tresnet_l_448", "Parameters"),
    ("tresnet_m", "Parameters"),
    ("tresnet_m_448", "Parameters"),
    ("tresnet_xl", "Parameters"),
    ("tresnet_xl_448", "Parameters"),
    ("tresnet_xl_448", "Weights"),
    ("tresnet_xl_448", "File Size"),
}


def wrong_fields(report) -> set[tuple[str, str]]:
    return {(e.name, v.field) for e in report.entries for v in e.wrong}


def test_upstream_page_is_wrong_exactly_where_expected(cli):
    result = cli("check", "--index", UPSTREAM, "--json")
    assert result.code == 1
    data = json.loads(result.out)
    found = {(e["name"], v["field"]) for e in data["entries"] for v in e["verdicts"] if v["status"] == "wrong"}
    assert found == UPSTREAM_WRONG
    by_name = {e["name"]: e for e in data["entries"]}
    weights = next(v for v in by_name["tresnet_xl_448"]["verdicts"] if v["field"] == "Weights")
    assert "tresnet_l_448-940d0cd1.pth belongs to tresnet_l, not tresnet_xl" in weights["message"]
    line = load_index(UPSTREAM).get("tresnet_xl_448").where("Weights").line
    assert weights["location"].endswith(f"upstream_tresnet.md:{line}")


def test_upstream_table_output_names_every_wrong_field(cli):
    result = cli("--index", UPSTREAM, "check")
    assert result.code == 1
    for name, field in UPSTREAM_WRONG:
        lines = result.out.splitlines()
        assert any(line.split(": ", 1)[-1].startswith(f"{name} > {field}:") for line in lines), (name, field)
    assert "8 wrong field(s) in 6 of 6 entries" in result.out


def test_bundled_registry_passes(cli):
    """All ten entries, TResNet-v2 included, agree with the reference implementation; the caveats (inferred
    sizes, the one Hugging Face file without a public hash) are named, never reported as "ok"."""
    result = cli("check")
    assert result.code == 0, result.out
    assert "All 10 entries agree" in result.out
    assert "unpinned, acknowledged by the index" in result.out and "inferred, not measured" in result.out
    report = check_index(load_index(REGISTRY))
    assert not wrong_fields(report)
    unpinned = [(e.name, v.field) for e in report.entries for v in e.verdicts if v.status == "unpinned"]
    assert unpinned == [("tresnet_v2_l_miil_in21k", "Weights")]


def test_registry_is_the_upstream_block_plus_recorded_corrections():
    upstream, registry = load_index(UPSTREAM), load_index(REGISTRY)
    assert upstream.names() == registry.names()[: len(upstream)]  # then the entries upstream lacks
    for old, new in zip(upstream, registry):
        changed = {k for k in new.metadata.to_dict() if getattr(old.metadata, k) != getattr(new.metadata, k)}
        assert set(new.metadata.extra) - set(old.metadata.extra) == {"x-tresnet-zoo"}
        changed.discard("extra")
        if old.weights != new.weights:
            changed.add("weights")
        assert changed <= {"parameters", "file_size", "weights", "training_resources"}, (new.name, changed)
        if "training_resources" in changed:  # the "8x NVIDIA 100 GPUs" typo, corrected to V100 and recorded
            assert new.metadata.training_resources == "8x NVIDIA V100 GPUs"
            assert "Training Resources" in new.provenance
        if {"file_size", "weights"} & changed:
            assert new.name == "tresnet_xl_448"
            assert new.provenance["File Size"].startswith("inferred, not measured")
            assert "Weights" in new.provenance
    xl448 = registry.get("tresnet_xl_448")
    assert xl448.weights.endswith("/tresnet_xl_448-8c1815de.pth")
    assert xl448.metadata.file_size == registry.get("tresnet_xl").metadata.file_size == 314378965


def test_counts_match_timm_and_the_published_macs():
    timm = pytest.importorskip("timm")
    import torch  # noqa: PLC0415  (after the module's importorskip)

    upstream = load_index(UPSTREAM)
    for entry in upstream:
        variant = entry.name.replace("_448", "")
        counts = count(variant, entry.metadata.image_size)
        with torch.device("meta"):  # timm's model as the oracle of the count: its shapes, no weights initialised
            oracle = timm.create_model(variant)
        assert counts.parameters == sum(p.numel() for p in oracle.parameters())
        # the upstream FLOPs (MACs) were right: within 0.2% of FlopCounterMode / 2
        assert abs(counts.macs - entry.metadata.flops) / counts.macs < 0.002


def test_counting_without_batchnorm_counts_the_same():
    """measure.count drops BatchNorm before the counting forward; FlopCounterMode must not miss anything."""
    import torch  # noqa: PLC0415  (after the module's importorskip)
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    from tresnet_zoo.models.tresnet import build  # noqa: PLC0415

    with torch.device("meta"):
        model = build("tresnet_m").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert counter.get_total_flops() // 2 == count("tresnet_m", 224).macs


def test_file_size_bounds_hold_the_real_release_files():
    for variant, size in (("tresnet_m", 125861314), ("tresnet_l", 224440219), ("tresnet_xl", 314378965)):
        c = count(variant, 224)
        low, high = file_size_bounds(c.state_numel, c.state_tensors)
        assert low <= size <= high
        assert high - low < 0.005 * size  # tight enough to catch another architecture's file


def test_flops_tolerance_option(write, cli):
    text = UPSTREAM.read_text().replace("FLOPs: 5733048064", "FLOPs: 5900000000")
    path = write("page.md", text)
    index = load_index(path)
    assert ("tresnet_m", "FLOPs") in wrong_fields(check_index(index, ["tresnet_m"]))
    assert ("tresnet_m", "FLOPs") not in wrong_fields(check_index(index, ["tresnet_m"], flops_rtol=0.05))
    assert cli("check", "--index", path, "tresnet_m", "--flops-rtol", "0.05", "--json").code == 1  # params still wrong


ENTRY = """
Models:
- Name: {name}
  Metadata:
    Parameters: 31389032
    FLOPs: 5736545792
    File Size: 125861314
    Image Size: {size}
    Crop Pct: '{crop}'
  Weights: https://example.org/{file}
"""


@pytest.mark.parametrize(
    "name, size, crop, file, field, fragment",
    [
        ("resnet50", 224, 0.875, "resnet50-0123abcd.pth", "Architecture", "unknown architecture"),
        ("tresnet_m", 225, 0.875, "tresnet_m-0123abcd.pth", "Image Size", "not a multiple of 32"),
        ("tresnet_m", 224, 0.3, "tresnet_m-0123abcd.pth", "Crop Pct", "outside 0.5-1"),
        ("tresnet_m", 224, 0.875, "tresnet_l_81_5-235b486c.pth", "Weights", "belongs to tresnet_l, not tresnet_m"),
    ],
)
def test_odd_entries_get_one_wrong_verdict(write, name, size, crop, file, field, fragment):
    path = write("i.yml", ENTRY.format(name=name, size=size, crop=crop, file=file))
    report = check_index(load_index(path))
    (entry,) = report.entries
    assert [v.field for v in entry.wrong] == [field]
    assert fragment in entry.wrong[0].message


def test_shared_weights_across_architectures(write):
    path = write("i.yml", ENTRY.format(name="tresnet_m", size=224, crop=0.875, file="tresnet_m-0123abcd.pth")
                 + "- Name: tresnet_l\n  Metadata: {Parameters: 55989256, FLOPs: 10877566880, File Size: 224440219, "
                 "Image Size: 224}\n"
                 + "  Weights: https://example.org/tresnet_m-0123abcd.pth\n")
    report = check_index(load_index(path))
    assert wrong_fields(report) == {("tresnet_l", "Weights")}
    assert "tresnet_m uses the same file" in report.entries[1].wrong[0].message


def test_fix_writes_measured_values_and_nothing_else(tmp_path, cli):
    page = tmp_path / "tresnet.md"
    shutil.copy(UPSTREAM, page)
    before = page.read_text().splitlines()
    result = cli("check", "--index", page, "--fix")
    assert result.code == 1  # Weights and File Size of tresnet_xl_448 are not measurable: still wrong
    after = page.read_text().splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert len(changed) == 6 and all(b.strip().startswith("Parameters:") for b, _ in changed)
    still = {("tresnet_xl_448", "Weights"), ("tresnet_xl_448", "File Size")}
    assert wrong_fields(check_index(load_index(page))) == still
    assert "6 value(s) written" in result.err


def test_fix_adds_missing_and_inherited_values_to_the_model_itself(write):
    path = write("i.yml", """
        Collections:
        - Name: C
          Metadata:
            Parameters: 1
        Models:
        - Name: tresnet_m
          In Collection: C
          Metadata:
            Image Size: 224  # keep this comment
            File Size: 125861314
          Weights: https://example.org/tresnet_m-0123abcd.pth
    """)
    index = load_index(path)
    applied = apply_fixes(plan_fixes(check_index(index)))
    assert {e.field for e in applied} == {"Parameters", "FLOPs"}
    text = path.read_text()
    assert "    Parameters: 1\n" in text  # the collection keeps its value
    assert "    Parameters: 31389032\n" in text and "    FLOPs: 5736545792\n" in text
    assert "# keep this comment" in text
    assert not check_index(load_index(path)).entries[0].wrong


def test_check_on_an_invalid_index_reports_schema_problems(write, cli):
    path = write("i.yml", "Models:\n- Name: tresnet_m\n  Metadata: {Parameters: many}\n")
    result = cli("check", "--index", path)
    assert result.code == 1 and "Parameters: expected a non-negative integer" in result.out


def test_a_weights_file_without_a_pinned_hash_fails_unless_the_index_acknowledges_it(write, cli):
    """No hash prefix in the name and no SHA256: nothing can verify a download, so check fails (exit 1)
    unless the entry says why with x-tresnet-zoo: {unpinned: <reason>}, which makes it a caveat the
    summary names; with a full SHA256 the same name is pinned, and its stem still has to name the entry's
    architecture."""
    text = ENTRY.format(name="tresnet_m", size=224, crop=0.875, file="tresnet_m.safetensors")
    path = write("i.yml", text)
    (entry,) = check_index(load_index(path)).entries
    weights = entry.verdict("Weights")
    assert weights.status == "wrong" and "no hash pinned" in weights.message and "unpinned" in weights.message
    assert not entry.ok

    acknowledged = write("k.yml", text.replace("    File Size:", "    x-tresnet-zoo: {unpinned: no hash published}\n"
                                                                "    File Size:"))
    (entry,) = check_index(load_index(acknowledged)).entries
    weights = entry.verdict("Weights")
    assert weights.status == "unpinned" and weights.message.endswith("acknowledged by the index: no hash published")
    assert entry.ok
    r = cli("check", "--index", acknowledged, "--format", "plain")
    assert r.code == 0 and "1 weights file(s) unpinned, acknowledged by the index" in r.out, r.text
    r = cli("check", "--index", path, "--format", "plain")
    assert r.code == 1 and "no hash pinned" in r.out, r.text
    assert "1 of them weights no download of which can be verified" in r.out.splitlines()[-1], r.out

    pinned = ENTRY.format(name="tresnet_m", size=224, crop=0.875, file="tresnet_l.safetensors").replace(
        "    File Size:", "    SHA256: " + "ab" * 32 + "\n    File Size:")
    (entry,) = check_index(load_index(write("j.yml", pinned))).entries
    assert [v.field for v in entry.wrong] == ["Weights"]
    assert "belongs to tresnet_l, not tresnet_m" in entry.wrong[0].message


def test_inferred_values_are_not_reported_ok(cli):
    """The bundled registry records some File Sizes as inferred: check marks them so, in the table and JSON."""
    import json

    result = cli("check", "tresnet_xl_448", "--json")
    assert result.code == 0, result.text
    data = json.loads(result.out)
    (entry,) = [e for e in data["entries"] if e["name"] == "tresnet_xl_448"]
    size = next(v for v in entry["verdicts"] if v["field"] == "File Size")
    assert size["status"] == "inferred" and "inferred, not measured" in size["message"]


@pytest.mark.parametrize("rtol", ["nan", "inf"])
def test_a_tolerance_that_is_not_a_finite_number_is_refused(cli, rtol):
    """NaN makes every comparison false: with it, every FLOPs count would pass. Refused as usage (exit 2)."""
    result = cli("check", "--index", UPSTREAM, "tresnet_m", "--flops-rtol", rtol)
    assert result.code == 2, result.text
    assert "finite number" in result.err and "Traceback" not in result.text
