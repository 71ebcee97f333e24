"""The fast paths of reading and validating agree with the reference paths on every corpus case.

Reference: jsonschema alone for the schema (``_schema_problems(doc, fast=False)``), and PyYAML's node
composer for reading (``_parse_nodes``). The fast paths: the compiled yes/no schema check that hands only
rejected documents and entries to jsonschema, and the event reader.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresnet_zoo.index import source
from tresnet_zoo.index.fastschema import compile_schema
from tresnet_zoo.index.load import collect_documents
from tresnet_zoo.index.validate import _schema, _schema_problems

from .conftest import REGISTRY, UPSTREAM
from .test_bad_input import CASES

EXTRA_YAML = [
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "? [a]\n: 1\n",
    (
        "a: |\n  text\n  more\nb: >\n  folded\nc: '1'\nd: \"2\"\ne: 2001-01-01\nf: yes\ng: ~\nh: 0x1f\ni: .inf\nj: 1_000\n"
        "k:\n- - 1\n  - 2\n- {x: y, z: [1, 2.5, no]}\nl:\nm: ''\n"
    ),
    "--- 1\n--- 2\n",
    "x: =\n",
    "Models:\n- {Name: a, Metadata: {Parameters: 1, FLOPs: '2'}}\n",
]


def _key(problems):
    return sorted((p.location.line or 0, p.message, p.entry or "", p.field) for p in problems)


def _agree(path: Path) -> int:
    docs, _ = collect_documents([path])
    for doc in docs:
        assert _key(_schema_problems(doc)) == _key(_schema_problems(doc, fast=False)), doc.path
    return len(docs)


def test_the_schema_compiles():
    assert compile_schema(_schema()) is not None  # else every document would take the slow path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_schema_fast_path_agrees_on_bad_input(case, write):
    _, filename, content, *_ = case
    _agree(write(filename, content))


def test_schema_fast_path_agrees_on_registry_and_upstream():
    assert _agree(REGISTRY) == 1
    assert _agree(UPSTREAM) >= 1


def test_a_rejected_entry_is_reported_with_its_index_path(write):
    good = yaml.safe_load(REGISTRY.read_text())["Models"][0]
    models = [dict(copy.deepcopy(good), Name=f"m{i}") for i in range(50)]
    models[37]["Metadata"]["Parameters"] = "many"
    models[41]["Weigths"] = "https://x.org/a.pth"
    path = write("big.yml", yaml.safe_dump({"Models": models}, sort_keys=False))
    docs, _ = collect_documents([path])
    found = _schema_problems(docs[0])
    assert _key(found) == _key(_schema_problems(docs[0], fast=False))
    assert [(p.entry, p.field) for p in found] == [("m37", ("Metadata", "Parameters")), ("m41", ("Weigths",))]
    assert all(p.location.line and p.location.file == path for p in found)


@pytest.mark.parametrize("text", [c[2] for c in CASES if isinstance(c[2], str)] + EXTRA_YAML)
def test_event_reader_equals_node_reader(text):
    fast = source._parse_events(Path("x.yml"), text, 0)
    reference, problems = source._parse_nodes(Path("x.yml"), text, line_offset=0)
    if fast is None:
        return  # left to the node reader: nothing to compare
    assert not problems
    assert repr(fast.data) == repr(reference.data)
    assert fast.lines == reference.lines


def test_event_reader_reads_the_registry_and_leaves_anchors_to_the_node_reader():
    text = REGISTRY.read_text()
    fast = source._parse_events(REGISTRY, text, 0)
    reference, _ = source._parse_nodes(REGISTRY, text, line_offset=0)
    assert fast is not None and fast.data == reference.data and fast.lines == reference.lines
    assert source._parse_events(Path("x.yml"), "a: &x 1\nb: *x\n", 0) is None


# --- hypothesis: mutations of the bundled entries ---------------------------------------------------------

_MODELS = yaml.safe_load(REGISTRY.read_text())["Models"]
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**12), st.floats(allow_nan=True), st.text(max_size=8),
    st.sampled_from(["81.5%", "101%", "-3", "224", "0.875", "1.5", "bilinear", "cubic", "a" * 64, "0" * 64,
                     "https://a.b/c-1234abcd.pth", "tresnet_m", "TResNet_M", "a..b", "", [], {}, ["x"], {"k": 1}]),
)
_PATHS = [
    ("Name",), ("Weights",), ("Code",), ("Paper",), ("Results",), ("In Collection",), ("Weigths",),
    ("Metadata",), ("Metadata", "Parameters"), ("Metadata", "FLOPs"), ("Metadata", "Crop Pct"),
    ("Metadata", "Image Size"), ("Metadata", "SHA256"), ("Metadata", "Interpolation"), ("Metadata", "Tasks"),
    ("Metadata", "Architecture"), ("Metadata", "LR"), ("Metadata", "Unknown"), ("Metadata", "x-tresnet-zoo"),
    ("Metadata", "x-tresnet-zoo", "timm"), ("Metadata", "x-tresnet-zoo", "num_classes"),
    ("Metadata", "x-tresnet-zoo", "sources"), ("Results", 0, "Metrics", "Top 1 Accuracy"), ("Results", 0, "Task"),
    ("Provenance",), ("Provenance", "File Size"),
]


def _mutate(model: dict, path: tuple, value) -> dict:
    model = copy.deepcopy(model)
    target = model
    for part in path[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return model
        if not isinstance(target, (dict, list)):
            return model
    try:
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return model


_DELETE = object()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.tuples(st.integers(0, len(_MODELS) - 1), st.sampled_from(_PATHS),
                             st.one_of(_VALUES, st.just(_DELETE))), min_size=1, max_size=4),
    top=st.sampled_from([None, "Collections", "Type", "Import", "Models"]),
)
def test_fast_paths_agree_on_mutated_entries(picks, top, tmp_path):
    models = [copy.deepcopy(m) for m in _MODELS]
    for i, path, value in picks:
        models[i] = _mutate(models[i], path, value)
    doc: dict = {"Collections": [{"Name": "TResNet"}], "Models": models}
    if top == "Collections":
        doc["Collections"] = [{"Name": 3}]
    elif top == "Type":
        doc["Type"] = "other"
    elif top == "Import":
        doc["Import"] = "x.yml"
    elif top == "Models":
        doc["Models"] = models + [[], "x"]
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    fast = source._parse_events(Path("m.yml"), text, 0)
    reference, problems = source._parse_nodes(Path("m.yml"), text, line_offset=0)
    assert not problems
    if fast is not None:  # None where safe_dump wrote anchors for a shared value: the node reader's job
        assert repr(fast.data) == repr(reference.data) and fast.lines == reference.lines
    assert _key(_schema_problems(reference)) == _key(_schema_problems(reference, fast=False))
