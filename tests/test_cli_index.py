"""`list`, `info` and `validate` as a user runs them."""

from __future__ import annotations

import json
import subprocess

from tresnet_zoo import __version__, load_index
from tresnet_zoo.index import ModelEntry
from tresnet_zoo.weights import Cache

from .helpers.paths import PYTHON, REGISTRY, UPSTREAM, python_env


def test_list_shows_every_model_with_its_columns(cli):
    result = cli("list", "--format", "table")
    assert result.code == 0, result.text
    header = next(line for line in result.out.splitlines() if "name" in line)
    for column in ("name", "timm tag", "params (M)", "GMACs", "image size", "top-1", "top-5", "weights (MB)", "cached"):
        assert column in header
    index = load_index()
    for m in index:
        row = next(line for line in result.out.splitlines() if f" {m.name} " in line)
        assert f"{m.metadata.parameters / 1e6:.2f}" in row
        assert f"{m.metadata.flops / 1e9:.2f}" in row
        assert m.timm_tags[0] in row
        if m.top1 is None:  # the ImageNet-21K-P weights have no ImageNet-1k head
            assert m.num_classes == 11221 and m.top5 is None
        else:
            assert f"{m.top1:.2f}" in row and f"{m.top5:.2f}" in row


def test_list_json_round_trips_to_records(cli):
    result = cli("list", "--json")
    assert result.code == 0
    records = json.loads(result.out)
    index = load_index()
    assert [r["name"] for r in records] == index.names()
    for record, entry in zip(records, index):
        assert record["cached"] is False
        assert ModelEntry.from_dict(record) == entry
        assert record["metadata"]["parameters"] == entry.metadata.parameters


def test_list_pattern_filters_and_cached_column_follows_the_cache(cli, tmp_path):
    result = cli("list", "tresnet_xl*", "--json")
    assert [r["name"] for r in json.loads(result.out)] == ["tresnet_xl", "tresnet_xl_448"]
    cache = tmp_path / "c"
    cache.mkdir()
    entry = load_index().get("tresnet_m")
    (cache / entry.weights_filename).write_bytes(b"x")
    assert json.loads(cli("--cache-dir", cache, "list", "--json").out)[2]["cached"] is False  # no record: not ours
    Cache(cache).write_record(entry.weights_filename, size=1, sha256="0" * 64)
    records = json.loads(cli("--cache-dir", cache, "list", "--json").out)
    assert {r["name"]: r["cached"] for r in records}["tresnet_m"] is True
    assert sum(r["cached"] for r in records) == 1


def test_info_shows_fields_and_where_they_were_written(cli):
    result = cli("info", "tresnet_xl")
    assert result.code == 0
    entry = load_index().get("tresnet_xl")
    assert str(entry.metadata.parameters) in result.out
    assert f"tresnet.yml:{entry.where('Metadata', 'Parameters').line}" in result.out
    data = json.loads(cli("info", "tresnet_xl", "--json").out)
    assert ModelEntry.from_dict(data) == entry and data["cache_path"].endswith(entry.weights_filename)


def test_validate_upstream_page_passes_the_schema(cli):
    result = cli("validate", UPSTREAM)
    assert result.code == 0, result.text
    assert "OK: 6 models in 1 file" in result.out


def test_validate_defaults_to_bundled_registry_and_index_option(cli, write):
    assert "OK: 10 models" in cli("validate").out
    other = write("one.yml", "Models:\n- Name: solo\n")
    assert "OK: 1 models" in cli("--index", other, "validate").out
    assert [r["name"] for r in json.loads(cli("--index", other, "list", "--json").out)] == ["solo"]


def test_validate_json(cli, write):
    bad = write("bad.yml", "Models:\n- Name: a\n  Metadata: {Parameters: x}\n")
    result = cli("validate", bad, "--json")
    data = json.loads(result.out)
    assert result.code == 1 and data["ok"] is False
    assert data["problems"][0]["entry"] == "a" and data["problems"][0]["field"] == ["Metadata", "Parameters"]
    assert data["problems"][0]["line"] == 3


def test_index_env_var(cli, write, monkeypatch):
    other = write("env.yml", "Models:\n- Name: from_env\n")
    monkeypatch.setenv("TRESNET_ZOO_INDEX", str(other))
    assert json.loads(cli("list", "--json").out)[0]["name"] == "from_env"


def test_reading_commands_never_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from tresnet_zoo.cli import main\n"
        "for args in (['list'], ['list', '--json'], ['info', 'tresnet_m'], ['validate']):\n"
        "    assert main(args) == 0, args\n"
        "bad = [m for m in ('torch', 'numpy', 'timm') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = python_env() | {"TRESNET_ZOO_CACHE": str(tmp_path)}
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_verdict_cache_never_hides_a_changed_file(cli, write):
    path = write("i.yml", "Models:\n- Name: a\n  Metadata: {Parameters: 5}\n")
    assert cli("--index", path, "list").code == 0  # remembers that this content validated
    path.write_text("Models:\n- Name: a\n  Metadata: {Parameters: five}\n")
    result = cli("--index", path, "list")
    assert result.code == 1 and "Parameters: expected a non-negative integer" in result.err


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and __version__ in result.out


def test_registry_file_is_the_bundled_default():
    assert load_index().files == [REGISTRY.resolve()]
