"""Reading index files: formats, typed values, source lines, imports, inheritance."""

from __future__ import annotations

import json

import pytest
import yaml

from tresnet_zoo import load_index
from tresnet_zoo.errors import InvalidIndexError
from tresnet_zoo.index import ModelEntry
from tresnet_zoo.index.records import build_index
from tresnet_zoo.index.source import Document, read_documents

from .helpers.paths import REGISTRY, UPSTREAM

MODEL = """
Collections:
- Name: Fam
  Metadata:
    Image Size: '224'
    Crop Pct: '0.9'
    Interpolation: bicubic
Models:
- Name: fam_a
  In Collection: Fam
  Metadata:
    Parameters: 100
    FLOPs: 2000
    Image Size: 448
  Weights: https://example.org/fam_a-0123abcd.pth
  Results:
  - Task: Image Classification
    Dataset: ImageNet
    Metrics:
      Top 1 Accuracy: 81.49%
      Top 5 Accuracy: 95.6
"""


def test_bundled_registry_loads_ten_typed_models():
    index = load_index()
    assert index.names() == [
        "tresnet_l", "tresnet_l_448", "tresnet_m", "tresnet_m_448", "tresnet_xl", "tresnet_xl_448",
        "tresnet_m_miil_in21k_ft_in1k", "tresnet_m_miil_in21k", "tresnet_v2_l", "tresnet_v2_l_miil_in21k",
    ]
    m = index.get("tresnet_l_448")
    assert m.metadata.image_size == 448 and isinstance(m.metadata.image_size, int)
    assert m.metadata.crop_pct == 0.875 and isinstance(m.metadata.crop_pct, float)
    assert isinstance(m.metadata.parameters, int) and isinstance(m.metadata.flops, int)
    assert isinstance(m.metadata.epochs, int) and isinstance(m.metadata.lr, float)
    assert isinstance(m.metadata.weight_decay, float) and isinstance(m.metadata.momentum, float)
    assert m.top1 == 82.26 and m.top5 == 95.98
    assert m.collection == "TResNet" and m.paper.title.startswith("TResNet")


def test_lines_point_at_the_written_value():
    index = load_index(REGISTRY)
    lines = REGISTRY.read_text().splitlines()
    for m in index:
        where = m.where("Metadata", "Parameters")
        assert lines[where.line - 1].strip() == f"Parameters: {m.metadata.parameters}"
        where = m.where("Weights")
        assert lines[where.line - 1].strip() == f"Weights: {m.weights}"


def test_markdown_lines_count_from_the_page_top():
    index = load_index(UPSTREAM)
    lines = UPSTREAM.read_text().splitlines()
    m = index.get("tresnet_xl_448")
    where = m.where("Weights")
    assert where.file == UPSTREAM and lines[where.line - 1].strip().startswith("Weights: https://")
    assert "tresnet_l_448-940d0cd1.pth" in lines[where.line - 1]


def test_model_inherits_collection_metadata_and_overrides_it(write):
    index = load_index(write("idx.yml", MODEL))
    m = index.get("fam_a")
    assert m.metadata.image_size == 448  # the model's own value wins
    assert m.metadata.crop_pct == 0.9 and m.metadata.interpolation == "bicubic"  # inherited
    assert m.where("Metadata", "Crop Pct").line == 5  # ...and points at the collection's line
    assert m.where("Metadata", "Image Size").line == 13
    assert m.top1 == 81.49 and m.top5 == 95.6


def test_json_index_reads_like_yaml(write, tmp_path):
    data = yaml.safe_load(MODEL.replace("81.49%", "'81.49%'"))
    path = tmp_path / "idx.json"
    path.write_text(json.dumps(data, indent=2))
    index = load_index(path)
    assert index.get("fam_a").metadata.parameters == 100
    assert index.get("fam_a").where("Metadata", "Parameters").line > 1


def test_imports_follow_relative_paths_and_globs(write):
    write("models/a.yml", "Models:\n- Name: a\n")
    write("models/b.yml", "Models:\n- Name: b\n")
    write("extra/c.yml", "Models:\n- Name: c\n")
    root = write("index.yml", "Import:\n- models/*.yml\n- extra/c.yml\n")
    index = load_index(root)
    assert index.names() == ["a", "b", "c"]
    assert [p.name for p in index.files] == ["index.yml", "a.yml", "b.yml", "c.yml"]


def test_diamond_import_reads_a_file_once(write):
    write("shared.yml", "Collections:\n- Name: S\n")
    write("a.yml", "Import: [shared.yml]\nModels:\n- Name: a\n  In Collection: S\n")
    write("b.yml", "Import: [shared.yml]\nModels:\n- Name: b\n  In Collection: S\n")
    index = load_index(write("root.yml", "Import: [a.yml, b.yml]\n"))
    assert index.names() == ["a", "b"] and list(index.collections) == ["S"]


def test_folder_index_reads_its_yaml_files(write, tmp_path):
    write("one.yml", "Models:\n- Name: one\n")
    write("two.yaml", "Models:\n- Name: two\n")
    write("notes.txt", "not an index")
    assert load_index(tmp_path).names() == ["one", "two"]


def test_read_documents_reports_instead_of_raising(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("Models: [\n")
    docs, problems = read_documents(path)
    assert docs == [] and len(problems) == 1 and problems[0].location.line == 2


def test_to_dict_round_trips():
    for m in load_index():
        data = json.loads(json.dumps(m.to_dict()))
        assert ModelEntry.from_dict(data) == m


def test_select_patterns_and_suggestions():
    index = load_index()
    chosen = [m.name for m in index.select(["tresnet_m*"])]
    assert chosen == ["tresnet_m", "tresnet_m_448", "tresnet_m_miil_in21k_ft_in1k", "tresnet_m_miil_in21k"]
    chosen = [m.name for m in index.select(["*_448", "tresnet_l"])]
    assert chosen == ["tresnet_l", "tresnet_l_448", "tresnet_m_448", "tresnet_xl_448"]
    assert "tresnet_xl" in index.suggest("tresnet_xxl")
    with pytest.raises(Exception) as err:
        index.get("resnet50")
    assert getattr(err.value, "exit_code", None) == 2


@pytest.mark.parametrize("value", ["9" * 5000, 10**16, float("nan"), float("inf"), "1e999", True, [1]])
def test_records_refuse_values_the_schema_should_have_stopped(tmp_path, value):
    """Defence in depth: records built from documents that skipped validation raise InvalidIndexError, not a crash."""
    path = tmp_path / "i.yml"
    doc = Document(path, {"Models": [{"Name": "a", "Metadata": {"Parameters": value, "LR": value}}]}, {(): 1})
    with pytest.raises(InvalidIndexError) as info:
        build_index([path], [doc])
    assert info.value.problems[0].entry == "a" and "Metadata >" in info.value.problems[0].message
