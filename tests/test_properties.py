"""Property tests: no document, however odd, produces a traceback or an internal error."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresnet_zoo.cli import main

from .helpers.examples import examples
from .helpers.paths import REGISTRY

KEYS = [
    "Models", "Collections", "Import", "Name", "In Collection", "Metadata", "Results", "Weights", "Paper",
    "Parameters", "FLOPs", "File Size", "Image Size", "Crop Pct", "Task", "Dataset", "Metrics",
    "Top 1 Accuracy", "Title", "URL", "Type", "Code", "x", "SHA256",
    # tresnet-zoo's own metadata: further sources (the fallback files of verify, cache and list)
    "x-tresnet-zoo", "sources", "url", "file", "size", "sha256", "timm", "num_classes", "license", "note",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["81.5%", "tresnet_m", "https://a.b/c-1234abcd.pth", "'224'", "../x", "*.yml",
                     "https://a.b/d.bin", "d.bin", "records", "a" * 64, "https://a..b/x.pth", "tresnet_m.a_b"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25,
)

# TRESNET_ZOO_PROPERTY_EXAMPLES raises the count for a long hunt (the default keeps the suite quick)
SETTINGS = settings(max_examples=examples(60), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _run(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


@SETTINGS
@given(doc=documents)
def test_structured_documents_never_crash(doc, tmp_path, capsys):
    path = tmp_path / "doc.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    code, text = _run(capsys, "validate", path)
    assert code in (0, 1), text
    assert "Traceback" not in text and "internal error" not in text
    listed, text = _run(capsys, "--index", path, "list", "--json")
    assert listed == code, text
    if code == 0:
        models = json.loads(text, parse_constant=pytest.fail)
        cache = tmp_path / "cache"
        for args in (["info", models[0]["name"]] if models else [], ["verify"], ["cache", "info"],
                     ["fetch", "--all", "--offline", "--quiet"]):
            if args:
                done, text = _run(capsys, "--index", path, "--cache-dir", cache, *args)
                assert done in (0, 1, 2, 3) and "internal error" not in text, (args, text)


@SETTINGS
@given(text=st.text(max_size=300), suffix=st.sampled_from([".yml", ".json", ".md"]))
def test_arbitrary_text_never_crashes(text, suffix, tmp_path, capsys):
    path = tmp_path / f"doc{suffix}"
    path.write_text(text, encoding="utf-8")
    code, out = _run(capsys, "validate", path)
    assert code in (0, 1), out
    assert "Traceback" not in out and "internal error" not in out


@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data, tmp_path, capsys):
    path = tmp_path / "doc.yml"
    path.write_bytes(data)
    code, out = _run(capsys, "validate", path)
    assert code in (0, 1), out
    assert "Traceback" not in out and "internal error" not in out


# --- mutations of the bundled registry: swapped types, huge numbers, unicode, control characters, aliases ---

_REGISTRY = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
_HUGE = "HUGE-NUMBER-TOKEN"


def _paths(data, at=()):
    yield at
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, at + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, at + (i,))


def _set(data, path, value):
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return data


replacements = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.just(_HUGE),
    st.text(max_size=20), st.text(st.characters(max_codepoint=0x9F), max_size=8),
    st.sampled_from(["tresnet_m", "", "81.5%", "nan", "1e999", "\u2028", "root:x:0:0", "[red]x[/red]", ":x:",
                     "https://h.example/..", "https://h.example/a%2F..%2Fb-0123abcd.pth", "http://127.0.0.\u00b9/a.pth"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.sampled_from(KEYS), st.integers(), max_size=3),
)
insertions = st.sampled_from(
    ["", "\u2028", "\u2029", "\x85", "\r", "\t", "\x07", "&a ", "*a ", "<<: *a\n", "!!int ", "!!float ", "!!binary ",
     "? [x]\n: 1\n", "\ufeff", "---\n", "#", '"', "{", "["]
)


@SETTINGS
@given(data=st.data())
def test_registry_mutations_never_crash(data, tmp_path, capsys):
    doc = copy.deepcopy(_REGISTRY)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(doc))))
        doc = _set(doc, path, data.draw(replacements))
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).replace(repr(_HUGE), "9" * 5000)
    text = text.replace(_HUGE, "9" * 5000)
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(insertions) + text[at:]
    path = tmp_path / "registry.yml"
    path.write_text(text, encoding="utf-8")
    code, out = _run(capsys, "validate", path)
    assert code in (0, 1), out
    assert "Traceback" not in out and "internal error" not in out
    listed, out = _run(capsys, "--index", path, "list", "--json")
    assert listed == code, out
    assert "Traceback" not in out and "internal error" not in out
    if listed == 0:
        json.loads(out, parse_constant=pytest.fail)  # strict JSON: a bare NaN fails here
    else:
        assert out.startswith("error: ") and "\nhint: " in out
    shown, out = _run(capsys, "--index", path, "info", "tresnet_m")
    assert shown in (0, 1, 2) and "Traceback" not in out and "internal error" not in out
    if listed == 0:  # the commands that read sources, the lock and the cache (no network: offline)
        for args in (["verify"], ["cache", "info"], ["fetch", "--all", "--offline", "--quiet"], ["cache", "clear"]):
            done, out = _run(capsys, "--index", path, "--cache-dir", tmp_path / "cache", *args)
            assert done in (0, 1, 2, 3) and "internal error" not in out, (args, out)
