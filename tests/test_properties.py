"""Property tests: no document, however odd, produces a traceback or an internal error."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tresnet_zoo.cli import main

KEYS = [
    "Models", "Collections", "Import", "Name", "In Collection", "Metadata", "Results", "Weights", "Paper",
    "Parameters", "FLOPs", "File Size", "Image Size", "Crop Pct", "Task", "Dataset", "Metrics",
    "Top 1 Accuracy", "Title", "URL", "Type", "Code", "x",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["81.5%", "tresnet_m", "https://a.b/c-1234abcd.pth", "'224'", "../x", "*.yml"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


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
        json.loads(text)


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
