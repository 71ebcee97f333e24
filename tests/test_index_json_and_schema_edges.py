"""Inputs aimed at the seams of the merge: the JSON reading behind YAML, records behind the schema.

Each case was found by attacking the merged main: a valid JSON index read as YAML 1.1 (numbers in
exponent form became strings), a JSON escape YAML refuses (then every line said 1 and a lone surrogate
crashed printing with exit 70), and values the schema accepts that the typed records then refused
(`validate` said OK, `list` failed).
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresnet_zoo.errors import InvalidIndexError
from tresnet_zoo.index import load_index
from tresnet_zoo.index.source import read_documents
from tresnet_zoo.index.validate import validate_paths

from .helpers.examples import examples
from .helpers.paths import REGISTRY, python_env
from .test_index_hostile_files import RUNNER

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)

_DATA = yaml.safe_load(REGISTRY.read_text())


def _json_index(write, name: str, replace: dict[str, str]) -> tuple:
    data = copy.deepcopy(_DATA)
    meta = data["Models"][0]["Metadata"]
    for key in replace:
        meta[key] = f"@{key}@"
    text = json.dumps(data, indent=1, ensure_ascii=False)
    for key, raw in replace.items():
        text = text.replace(f'"@{key}@"', raw)
    return write(name, text), text


def test_json_numbers_in_exponent_form_are_numbers(write):
    # YAML 1.1 reads 1e-4 and 1.0873416792E10 as text; JSON reads numbers, and the file is JSON
    path, text = _json_index(write, "e.json", {"FLOPs": "1.0873416792E10", "Weight Decay": "1e-4", "LR": "1E-2"})
    docs, problems = read_documents(path)
    meta = docs[0].data["Models"][0]["Metadata"]
    assert not problems and meta["FLOPs"] == 10873416792 and meta["Weight Decay"] == 1e-4 and meta["LR"] == 0.01
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if '"LR"' in ln)
    assert docs[0].lines[("Models", 0, "Metadata", "LR")] == line
    entry = load_index(path).get("tresnet_l")
    assert entry.metadata.flops == 10873416792 and entry.metadata.lr == 0.01


def test_json_surrogate_pairs_keep_their_lines(write):
    path, text = _json_index(write, "s.json", {"Interpolation": '"\\ud83d\\ude00"'})
    report, docs = validate_paths([path])
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "ud83d" in ln)
    assert docs[0].data["Models"][0]["Metadata"]["Interpolation"] == "\U0001f600"
    assert [p.location.line for p in report.problems] == [line]  # not "s.json:1"


def test_json_number_too_large_for_a_float_is_refused_at_its_line(write):
    path, text = _json_index(write, "inf.json", {"LR": "1e400"})
    report, _ = validate_paths([path])
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "1e400" in ln)
    assert [(p.location.line, "finite" in p.message) for p in report.problems] == [(line, True)]


@pytest.mark.parametrize("raw", ['"\\ud800"', '"x\\udfff"', '"\\ud83d\\ud83d"'])
@pytest.mark.parametrize("command", [["validate"], ["list", "--json"], ["info", "tresnet_l"]])
def test_json_lone_surrogate_is_a_clean_error(write, raw, command):
    text = json.dumps(_DATA, indent=1).replace('"tresnet_m"', raw, 1)  # a name: printed as it is, unquoted
    path = write("lone.json", text)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))",
         "--index", str(path), *command],
        capture_output=True, text=True, env=python_env() | {"PYTHONPATH": str(REGISTRY.parents[1])}, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert "surrogate" in proc.stdout + proc.stderr


def test_json_read_without_yaml_gives_no_wrong_line(write):
    # a key longer than YAML's 1024-character implicit key: only JSON reads it, and it has no lines to tell
    data = copy.deepcopy(_DATA)
    data["Models"][0]["Metadata"]["k" * 2000] = 1
    data["Models"][1]["Metadata"]["Parameters"] = "many"
    path = write("long.json", json.dumps(data, indent=1))
    report, _ = validate_paths([path])
    assert report.problems and all(p.location.line is None for p in report.problems)


# --- what the schema accepts, the records read ------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(0, 10**15 + 1),
    st.floats(0, 2e15, allow_nan=False).map(lambda x: float(int(x)) if x > 1 else x),
    st.from_regex(r"\A[0-9]{1,15}(\.[0-9]{0,15})?([eE][-+]?[0-9]{1,2})?\Z"),
    st.sampled_from([10**15, 1e15, -1e15, "1e99", "999999999999999e99", 1.0e10, "-999999999999999.9%"]),
)
_FIELDS = [("Metadata", "FLOPs"), ("Metadata", "Parameters"), ("Metadata", "Image Size"), ("Metadata", "LR"),
           ("Metadata", "Crop Pct"), ("Metadata", "Epochs"), ("Results", 0, "Metrics", "Top 1 Accuracy"),
           ("Results", 0, "Metrics", "Other"), ("Metadata", "x-tresnet-zoo", "num_classes")]


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=_NUMBERS)
def test_what_validates_is_what_lists(write, field, value):
    data = copy.deepcopy(_DATA)
    target = data["Models"][0]
    for part in field[:-1]:
        target = target[part]
    target[field[-1]] = value
    path = write("n.yml", yaml.safe_dump(data, sort_keys=False))
    report, _ = validate_paths([path])
    if report.problems:
        return
    entry = load_index(path).get("tresnet_l")  # raises InvalidIndexError where the records disagree
    assert all(math.isfinite(v) for v in entry.results[0].metrics.values())


def test_records_and_schema_agree_on_the_edges(write):
    for field, value in [("FLOPs", 10873416792.0), ("FLOPs", 10**15), ("LR", "9e20"), ("LR", 1e15)]:
        data = copy.deepcopy(_DATA)
        data["Models"][0]["Metadata"][field] = value
        path = write("edge.yml", yaml.safe_dump(data, sort_keys=False))
        report, _ = validate_paths([path])
        assert not report.problems, (field, value)
        try:
            load_index(path)
        except InvalidIndexError as exc:  # pragma: no cover - the failure being tested for
            pytest.fail(f"{field}={value!r} validates but does not list: {exc}")


# --- JSON output: what `printable` keeps off a terminal, --json keeps off it too -------------------------

_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


@pytest.mark.parametrize("command", [["list", "--json"], ["info", "tresnet_l", "--json"]])
def test_json_output_escapes_c1_controls_and_bidi_overrides(write, cli, command):
    evil = "\x1b]0;t\x07\x9b2J\u202eevil\u2028\x85\ufeff\u2066x"
    text = REGISTRY.read_text()
    text = text.replace("Training Resources: 8x NVIDIA V100 GPUs", f"Training Resources: {json.dumps(evil)}", 1)
    text = text.replace("license: apache-2.0", f"license: {json.dumps(evil)}", 1)
    result = cli("--index", write("evil.yml", text), *command)
    assert result.code == 0, result.text
    assert not _RAW.search(result.out), _RAW.findall(result.out)
    data = json.loads(result.out)
    entry = data[0] if isinstance(data, list) else data
    assert entry["metadata"]["training_resources"] == evil  # the same value, written as escapes


# --- a folder as the index: its symbolic links are not roots ---------------------------------------------


def test_folder_index_does_not_follow_links_out_of_the_folder(tmp_path, cli):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yml").write_text("SECRET-LINE: topsecret\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "index.yml").write_text(REGISTRY.read_text())
    (home / "up.yml").symlink_to(outside / "secret.yml")
    (home / "passwd.yaml").symlink_to("/etc/passwd")
    for command in (["validate"], ["list", "--json"]):
        result = cli("--index", home, *command)
        assert "SECRET" not in result.text and "root:" not in result.text and "outside" not in result.text
        assert result.code == 0, result.text


# --- tagged scalars: every constructor failure is a problem, never an exception ---------------------------


@pytest.mark.parametrize("value", ['!!bool maybe', '!!int "_"', '!!float "_"', '!!bool ""', '!!int "0x_"'])
def test_tagged_scalar_that_its_constructor_refuses_is_a_problem(write, cli, value):
    path = write("t.yml", f"Models:\n- Name: tresnet_m\n  Metadata:\n    Parameters: {value}\n")
    result = cli("--index", path, "validate")
    assert result.code == 1 and "internal error" not in result.text, result.text
    assert "t.yml:4:" in result.text


@settings(max_examples=300, deadline=None)
@given(tag=st.sampled_from(["int", "float", "bool", "null", "timestamp", "str"]), text=st.text(max_size=12))
def test_any_tagged_scalar_reads_without_raising(tmp_path_factory, tag, text):
    path = tmp_path_factory.mktemp("tag") / "t.yml"
    path.write_text(f"a: !!{tag} {json.dumps(text)}\n", encoding="utf-8")
    docs, problems = read_documents(path)
    assert docs or problems


# --- past the cap on schema problems, both paths list the same ones --------------------------------------


def test_capped_schema_problems_are_the_same_on_both_paths(write):
    from tresnet_zoo.index.load import collect_documents
    from tresnet_zoo.index.validate import MAX_SCHEMA_PROBLEMS, _schema_problems

    good = _DATA["Models"][0]
    models = []
    for i in range(MAX_SCHEMA_PROBLEMS + 30):
        model = copy.deepcopy(good)
        model["Name"] = f"m{i}"
        model["Metadata"]["Parameters"] = "many"
        if i == MAX_SCHEMA_PROBLEMS - 1:
            model["Metadata"]["FLOPs"] = "lots"  # the cap falls inside one entry's problems
        models.append(model)
    # a top-level problem written after every entry: jsonschema alone meets it last
    data = {"Collections": _DATA["Collections"], "Models": models, "Zzz": 1}
    docs, _ = collect_documents([write("many.yml", yaml.safe_dump(data, sort_keys=False))])

    def key(problems):
        return sorted((p.location.line or 0, p.message, p.entry or "", p.field) for p in problems)

    fast, reference = _schema_problems(docs[0]), _schema_problems(docs[0], fast=False)
    assert len(fast) == MAX_SCHEMA_PROBLEMS + 1 and "not listed" in fast[-1].message
    assert key(fast) == key(reference)
    assert not any(p.field == ("Zzz",) for p in fast)  # the last line of the file is past the cap


# --- the compiled schema check against jsonschema on values of every shape ------------------------------

_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**16), 10**16), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1e15, 1e15 + 1, 10**15, 10**15 + 1, 0.5, 1, 100, 100.5, -1, True, False,
                     "", "x", "tresnet_m", "a\n", "81.5%", "1e5", "https://a.b/c.pth", "http://127.0.0.1/x.pth",
                     "0" * 64, "A" * 64, "a" * 65, "Image Classification", "bilinear", "0.875", "1.", ".5"]),
    st.text(max_size=6),
)
_ANY = st.recursive(_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.sampled_from(["Name", "url", "file", "size",
                                                                                      "sha256", "x", "Task"]),
                                                     inner, max_size=3)), max_leaves=6)
_DEEP_PATHS = [
    ("Metadata", "x-tresnet-zoo", "sources", 0, "url"), ("Metadata", "x-tresnet-zoo", "sources", 0, "size"),
    ("Metadata", "x-tresnet-zoo", "sources", 0, "sha256"), ("Metadata", "x-tresnet-zoo", "sources", 0),
    ("Metadata", "x-tresnet-zoo", "sources", 0, "file"), ("Metadata", "x-tresnet-zoo", "license"),
    ("Metadata", "x-tresnet-zoo", "timm", 0), ("Metadata", "x-tresnet-zoo", "num_classes"),
    ("Results", 0, "Metrics"), ("Results", 0, "Dataset"), ("Results", 0), ("Paper",), ("Paper", "Title"),
    ("Metadata", "Training Data"), ("Metadata", "Top 1 Accuracy"), ("Config",), ("README",), ("Provenance",),
]


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(_DEEP_PATHS), _ANY), min_size=1, max_size=3),
       top=st.dictionaries(st.sampled_from(["Collections", "Import", "Type", "Models", "Extra"]), _ANY, max_size=1))
def test_compiled_schema_agrees_with_jsonschema_on_any_value(tmp_path_factory, picks, top):
    from tresnet_zoo.index.source import Document
    from tresnet_zoo.index.validate import _schema_problems

    data = copy.deepcopy(_DATA)
    models = data["Models"]
    for i, path, value in picks:
        target = models[i % len(models)]
        for part in path[:-1]:
            if isinstance(target, dict):
                target = target.setdefault(part, {} if not isinstance(part, int) else [])
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                target = target[part]
            else:
                break
        else:
            if isinstance(target, dict) and not isinstance(path[-1], int):
                target[path[-1]] = value
            elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
                target[path[-1]] = value
    data.update(top)
    doc = Document(tmp_path_factory.mktemp("d") / "x.yml", data, {(): 1})

    def key(problems):
        return sorted((p.location.line or 0, p.message, p.entry or "", p.field) for p in problems)

    assert key(_schema_problems(doc)) == key(_schema_problems(doc, fast=False))


# --- memory driven by the number of lines --------------------------------------------------------------

_MEASURE = RUNNER  # the hostile corpus's child-process runner: peak RSS of one CLI call


@pytest.mark.parametrize("name, text", [
    ("comments.yml", "#\n" * 7_000_000 + "Models:\n- Name: x y\n"),  # 7 million lines, one value wrong
    ("comment.md", "<!--\n" + "x\n" * 7_000_000 + "-->\n"),  # one comment of 7 million lines
    ("crlf.yml", "Models:\r\n" + "#\r\n" * 4_500_000 + "- Name: x y\r\n"),  # the line table itself
])
def test_many_lines_stay_within_memory(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    env = python_env() | {"PYTHONPATH": str(REGISTRY.parents[1])}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, "--index", str(path), "list"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.count("error: ") == 1, proc.stderr
    rss_mb = float(proc.stderr.rsplit("PEAK_RSS_MB ", 1)[1])
    assert rss_mb < 200, rss_mb
    if name != "comment.md":
        assert f":{text.count(chr(10))}:" in proc.stderr  # the wrong name's line, counted as an editor does


# --- a URL whose port cannot be parsed is bad data at validate time, not a network failure at fetch --------


@pytest.mark.parametrize("port", ["99999", "0x50", "0", "-1"])
def test_weights_url_with_an_unusable_port_is_invalid(write, cli, port):
    from tresnet_zoo._urls import redact, url_problem

    url = f"https://h.example:{port}/tresnet_l_81_5-235b486c.pth"
    assert url_problem(url) is not None
    assert "p@ss" not in redact(f"https://u:p@ss@h.example:{port}/x.pth")  # never raises, never leaks
    old = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-tresnet/tresnet_l_81_5-235b486c.pth"
    path = write("port.yml", REGISTRY.read_text().replace(old, url, 1))
    result = cli("--index", path, "validate")
    assert result.code == 1 and "port" in result.text.lower(), result.text


# --- the schema: no pattern anchored with a bare '$' (it accepts a trailing newline); URL policy in _urls ---


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_no_schema_pattern_lets_a_trailing_newline_through():
    from tresnet_zoo.index.validate import _schema

    anchored = [p for p in _patterns(_schema()) if p.endswith("$") and not p.endswith("\\$")]
    assert anchored == []


@pytest.mark.parametrize("field, value", [("sha256", "a" * 64 + "\n"), ("file", "model.bin\n"),
                                          ("url", "https://h.example/model.bin\n")])
def test_a_source_value_with_a_trailing_newline_is_invalid(write, field, value):
    data = copy.deepcopy(_DATA)
    source = data["Models"][0]["Metadata"]["x-tresnet-zoo"]["sources"][0]
    source[field] = value
    report, _ = validate_paths([write("nl.yml", yaml.safe_dump(data, sort_keys=False))])
    assert any(p.field[-1:] == (field,) for p in report.problems), report.problems


def test_a_loopback_http_source_is_allowed_as_the_url_policy_says(write):
    data = copy.deepcopy(_DATA)
    data["Models"][0]["Metadata"]["x-tresnet-zoo"]["sources"][0]["url"] = "http://127.0.0.1:8080/m.safetensors"
    report, _ = validate_paths([write("lb.yml", yaml.safe_dump(data, sort_keys=False))])
    assert report.problems == []
    data["Models"][0]["Metadata"]["x-tresnet-zoo"]["sources"][0]["url"] = "http://h.example/m.safetensors"
    report, _ = validate_paths([write("lb.yml", yaml.safe_dump(data, sort_keys=False))])
    assert [p.field for p in report.problems] == [("Metadata", "x-tresnet-zoo", "sources[0]", "url")]
