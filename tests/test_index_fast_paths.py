"""The fast paths of reading and validating agree with the reference paths on every corpus case.

Reference: jsonschema alone for the schema (``_schema_problems(doc, fast=False)``), and the bounded builder
(``_parse_built``: every YAML feature, every refusal) for reading. The fast paths: the compiled yes/no schema
check that hands only rejected documents and entries to jsonschema, and the flat event reader, which must
hand every hostile input to the builder or refuse it exactly as the builder does.
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

from .helpers.examples import examples
from .helpers.paths import REGISTRY, UPSTREAM
from .test_index_error_messages import CASES
from .test_index_hostile_files import CASES as HOSTILE

EXTRA_YAML = [
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "? [a]\n: 1\n",
    (
        "a: |\n  text\n  more\nb: >\n  folded\nc: '1'\nd: \"2\"\ne: 2001-01-01\nf: yes\ng: ~\nh: 0x1f\ni: .inf\nj: "
        "1_000\n"
        "k:\n- - 1\n  - 2\n- {x: y, z: [1, 2.5, no]}\nl:\nm: ''\n"
    ),
    "--- 1\n--- 2\n",
    "x: =\n",
    "Models:\n- {Name: a, Metadata: {Parameters: 1, FLOPs: '2'}}\n",
]
HOSTILE_YAML = [c[2] for c in HOSTILE if isinstance(c[2], str) and not c[1].endswith(".md")]


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


def _read(reader, path: Path, text: str, budget: source.ValueBudget | None = None):
    lines = source._LineMap(text)
    budget = budget if budget is not None else source.ValueBudget()
    if reader == "fast":
        if any(c in text for c in source._ODD_BREAKS):
            return None  # as _parse_yaml does: the event reader never sees U+2028/U+2029/NEL (its contract)
        try:
            return source._parse_events(path, text, lines, budget, 0)
        except source._Refused as exc:  # the budget ran out
            return (exc.line, exc.message)
    return source._parse_built(path, text, lines, budget, base=0)


def _sized(texts: list[str]) -> list:
    """The cases as parameters; one that builds the whole value budget (MAX_VALUES values, seconds in the
    builder) runs in the `slow` step: test_event_reader_counts_values_against_the_shared_budget checks the same
    refusal on a small budget in the default run."""
    return [pytest.param(t, marks=pytest.mark.slow) if t.count(",") >= source.MAX_VALUES - 1 else t for t in texts]


@pytest.mark.parametrize("text", _sized([c[2] for c in CASES if isinstance(c[2], str)] + EXTRA_YAML + HOSTILE_YAML))
def test_event_reader_equals_the_bounded_builder(text):
    fast = _read("fast", Path("x.yml"), text)
    reference, problems = _read("built", Path("x.yml"), text)
    if fast is None:
        return  # left to the builder: nothing to compare
    if isinstance(fast, tuple):  # refused for its size: the builder refuses it at the same value
        assert reference is None and [(p.location.line, p.message) for p in problems] == [fast]
        return
    assert not problems and not reference.reported  # the fast reader never takes what the builder complains about
    assert repr(fast.data) == repr(reference.data)
    assert fast.lines == reference.lines


def test_event_reader_reads_the_registry_and_leaves_anchors_to_the_builder():
    text = REGISTRY.read_text()
    fast = _read("fast", REGISTRY, text)
    reference, _ = _read("built", REGISTRY, text)
    assert fast is not None and fast.data == reference.data and fast.lines == reference.lines
    assert _read("fast", Path("x.yml"), "a: &x 1\nb: *x\n") is None


@pytest.mark.parametrize("text", [
    "a: &x [1, 2]\nb: [*x, *x]\n",  # aliases: counted by the builder only
    "a: {<<: {b: 1}}\n",  # a merge key
    "a: !!python/object:os.system x\n",  # a tag
    "a: " + "9" * 65 + "\n",  # a number too long to convert
    "a: " + "1" * 5000 + "\n",  # past Python's int-from-string limit
    "a: .nan\n", "a: -.inf\n",  # not finite
    "a: 1\na: 2\n",  # a duplicate key
    "x: =\n",  # YAML's value tag
    "a: \x1b[31m\n",  # a control character: libyaml refuses it
    "--- 1\n--- 2\n",
    "a:" + " [" * 70 + "]" * 70 + "\n",  # nesting past MAX_DEPTH
])
def test_event_reader_gives_hostile_input_to_the_builder(text):
    assert _read("fast", Path("x.yml"), text) is None


def test_event_reader_counts_values_against_the_shared_budget():
    text = "a: [" + ",".join(["1"] * 99) + "]\n"  # 1 mapping + 1 key + 1 list + 99 items
    budget = source.ValueBudget(1000)
    assert _read("fast", Path("x.yml"), text, budget) is not None and budget.left == 1000 - 102
    tight = source.ValueBudget(101)
    line, message = _read("fast", Path("x.yml"), text, tight)
    assert line == 1 and "(more than 101 in one index): refused" in message and tight.left < 0
    _, problems = _read("built", Path("x.yml"), text, source.ValueBudget(101))
    assert [(p.location.line, p.message) for p in problems] == [(line, message)]


def test_line_separators_never_reach_the_event_reader(tmp_path):
    # U+2028 in a comment: libyaml would end the line there; the builder keeps editor lines
    path = tmp_path / "a.yml"
    path.write_text("# note\u2028a: 1\nModels:\n- Name: m\n", encoding="utf-8")
    docs, problems = source.read_documents(path)
    assert not problems and docs[0].data == {"Models": [{"Name": "m"}]}
    assert docs[0].lines[("Models",)] == 2 and docs[0].lines[("Models", 0, "Name")] == 3


def test_event_reader_counts_editor_lines_with_carriage_returns(tmp_path):
    path = tmp_path / "a.yml"
    path.write_bytes(b"a: 1\r\nb: 2\rc: 3\nd: 4\n")
    docs, _ = source.read_documents(path)
    assert docs[0].lines == {(): 1, ("a",): 1, ("b",): 2, ("c",): 3, ("d",): 4}
    assert _read("fast", path, path.read_bytes().decode()).lines == docs[0].lines


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


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    fast = _read("fast", Path("m.yml"), text)
    reference, problems = _read("built", Path("m.yml"), text)
    if problems:  # NaN/inf: the builder refuses them, and the fast reader must have left them to it
        assert fast is None and all("finite" in p.message for p in problems), problems
        return
    if fast is not None:  # None where safe_dump wrote anchors for a shared value: the builder's job
        assert repr(fast.data) == repr(reference.data) and fast.lines == reference.lines
    assert _key(_schema_problems(reference)) == _key(_schema_problems(reference, fast=False))


def test_event_reader_counts_lines_of_a_markdown_block_from_the_page(tmp_path):
    page = ("# Title\r\n\r\nSome text\rmore\n<!--\nType: model-index\nModels:\n- Name: m\n"
            "  Metadata: {Parameters: 1}\n-->\n")
    path = tmp_path / "page.md"
    path.write_bytes(page.encode())
    docs, problems = source.read_documents(path)
    assert not problems and docs[0].lines[("Models", 0, "Name")] == 8  # CRLF, CRLF, CR, LF: editor lines
    text = path.read_bytes().decode()
    base = text.index("<!--") + 4
    body = text[base:text.index("-->")]
    fast = source._parse_events(path, body, source._LineMap(text), source.ValueBudget(), base)
    built, _ = source._parse_built(path, body, source._LineMap(text), source.ValueBudget(), base=base)
    assert fast is not None and fast.lines == built.lines == docs[0].lines
