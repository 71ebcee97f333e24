"""Bad input: every case gets one clear message naming file, line and entry, exit 1 or 2, no traceback."""

# ruff: noqa: E501  (the case tables read best one case a line)

from __future__ import annotations

import pytest

GOOD_MODEL = """
  - Name: good
    Metadata:
      Parameters: 10
    Weights: https://example.org/good-0123abcd.pth
"""

# (case id, file name, content, expected exit code, expected line, expected fragments of the message)
CASES = [
    ("malformed-yaml", "i.yml", "Models:\n- Name: a\n  Metadata: {Parameters: 1\n", 1, 4, ["not valid YAML"]),
    ("bad-indent", "i.yml", "Models:\n- Name: a\n   Weights: x\n", 1, 3, ["not valid YAML"]),
    ("tab-indent", "i.yml", "Models:\n\t- Name: a\n", 1, 2, ["not valid YAML"]),
    ("empty-file", "i.yml", "", 1, None, ["is empty"]),
    ("only-comments", "i.yml", "# nothing here\n", 1, None, ["is empty"]),
    ("top-level-list", "i.yml", "- Name: a\n", 1, 1, ["expected a mapping", "got a list"]),
    ("top-level-string", "i.yml", "just text\n", 1, 1, ["expected a mapping", "got 'just text'"]),
    ("missing-models", "i.yml", "Collections:\n- Name: C\n", 1, 1, ["holds no models"]),
    ("empty-models", "i.yml", "Models: []\n", 1, 1, ["Models", "expected a list of models"]),
    ("models-not-list", "i.yml", "Models: {Name: a}\n", 1, 1, ["Models", "expected a list of models"]),
    ("missing-name", "i.yml", "Models:\n- Metadata: {Parameters: 1}\n", 1, 2, ["Models[0] > Name: missing"]),
    ("empty-name", "i.yml", "Models:\n- Name: ''\n", 1, 2, ["Models[0] > Name", "expected a name"]),
    ("duplicate-names", "i.yml", "Models:\n- Name: a\n- Name: a\n", 1, 3, ["a > Name: duplicate model name", "i.yml:2"]),
    ("duplicate-key", "i.yml", "Models:\n- Name: a\n  Name: b\n", 1, 3, ["duplicate key 'Name'"]),
    ("unknown-collection", "i.yml", "Models:\n- Name: a\n  In Collection: Nope\n", 1, 3, ["a > In Collection", "unknown collection 'Nope'"]),
    ("params-string", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Parameters: abc\n", 1, 4, ["a > Metadata > Parameters: expected a non-negative integer below 10**15, got 'abc'"]),
    ("params-float", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Parameters: 1.5\n", 1, 4, ["Parameters: expected a non-negative integer below 10**15, got 1.5"]),
    ("params-negative", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Parameters: -3\n", 1, 4, ["Parameters: expected a non-negative integer below 10**15, got -3"]),
    ("flops-bool", "i.yml", "Models:\n- Name: a\n  Metadata:\n    FLOPs: yes\n", 1, 4, ["FLOPs: expected a non-negative integer below 10**15, got a boolean"]),
    ("filesize-list", "i.yml", "Models:\n- Name: a\n  Metadata:\n    File Size: [1]\n", 1, 4, ["File Size: expected a non-negative integer below 10**15, got a list"]),
    ("epochs-null", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Epochs:\n", 1, 4, ["Epochs: expected a non-negative integer below 10**15, got nothing"]),
    ("image-size-text", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Image Size: big\n", 1, 4, ["Image Size: expected a non-negative integer"]),
    ("lr-text", "i.yml", "Models:\n- Name: a\n  Metadata:\n    LR: fast\n", 1, 4, ["LR: expected a non-negative number below 10**15, got 'fast'"]),
    ("momentum-negative", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Momentum: -0.9\n", 1, 4, ["Momentum: expected a non-negative number"]),
    ("weight-decay-text", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Weight Decay: none\n", 1, 4, ["Weight Decay: expected a non-negative number"]),
    ("crop-pct-over-one", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Crop Pct: '1.5'\n", 1, 4, ["Crop Pct: expected a number in (0, 1]"]),
    ("crop-pct-zero", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Crop Pct: 0\n", 1, 4, ["Crop Pct: expected a number in (0, 1]"]),
    ("sha256-short", "i.yml", "Models:\n- Name: a\n  Metadata:\n    SHA256: abc\n", 1, 4, ["SHA256: expected 64 lower-case hex digits"]),
    ("interpolation-unknown", "i.yml", "Models:\n- Name: a\n  Metadata:\n    Interpolation: cubic\n", 1, 4, ["Interpolation: expected one of"]),
    ("percent-over-100", "i.yml", "Models:\n- Name: a\n  Results:\n  - Task: T\n    Dataset: D\n    Metrics:\n      Top 1 Accuracy: 101.5%\n", 1, 7, ["a > Results[0] > Metrics > Top 1 Accuracy: percentage out of range 0-100"]),
    ("percent-garbage", "i.yml", "Models:\n- Name: a\n  Results:\n  - Task: T\n    Dataset: D\n    Metrics:\n      Top 5 Accuracy: high\n", 1, 7, ["Top 5 Accuracy: expected a percentage"]),
    ("percent-number-over", "i.yml", "Models:\n- Name: a\n  Results:\n  - Task: T\n    Dataset: D\n    Metrics:\n      Top 1 Accuracy: 180\n", 1, 7, ["Top 1 Accuracy: expected a percentage"]),
    ("result-missing-dataset", "i.yml", "Models:\n- Name: a\n  Results:\n  - Task: T\n    Metrics: {Top 1 Accuracy: 1%}\n", 1, 4, ["a > Results[0] > Dataset: missing"]),
    ("http-url", "i.yml", "Models:\n- Name: a\n  Weights: http://example.org/a-0123abcd.pth\n", 1, 3, ["a > Weights: weights URL", "only https is allowed"]),
    ("ftp-url", "i.yml", "Models:\n- Name: a\n  Weights: ftp://example.org/a.pth\n", 1, 3, ["only https is allowed"]),
    ("not-a-url", "i.yml", "Models:\n- Name: a\n  Weights: weights.pth\n", 1, 3, ["a > Weights: expected a URL"]),
    ("name-with-slash", "i.yml", "Models:\n- Name: a/b\n", 1, 2, ["a/b > Name: expected a name", "no '/'"]),
    ("name-with-dotdot", "i.yml", "Models:\n- Name: a..b\n", 1, 2, ["a..b > Name: expected a name", "no '..'"]),
    ("name-upper", "i.yml", "Models:\n- Name: TResNet_M\n", 1, 2, ["TResNet_M > Name: expected a name"]),
    ("unknown-field", "i.yml", "Models:\n- Name: a\n  Weigths: https://x.org/a.pth\n", 1, 3, ["a > Weigths: unknown field; did you mean 'Weights'?"]),
    ("unknown-top-level", "i.yml", "Modles:\n- Name: a\n", 1, 1, ["Modles: unknown field; did you mean 'Models'?"]),
    ("import-missing", "i.yml", "Import:\n- nothere.yml\n", 1, 2, ["Import[0]", "'nothere.yml' does not exist"]),
    ("import-glob-empty", "i.yml", "Import:\n- sub/*.yml\n", 1, 2, ["'sub/*.yml' matches no file"]),
    ("import-self", "i.yml", "Import:\n- i.yml\nModels:\n- Name: a\n", 1, 2, ["Import cycle: i.yml -> i.yml"]),
    ("markdown-without-block", "page.md", "# A page\n\n<!-- just a comment -->\n", 1, None, ["no model-index block"]),
    ("markdown-bad-yaml", "page.md", "# Page\n\n<!--\nType: model-index\nModels:\n- Name: [a\n-->\n", 1, 7, ["not valid YAML"]),
    ("binary-garbage", "i.yml", bytes(range(256)) * 4, 1, None, ["binary file"]),
    ("latin1-text", "i.yml", "Models:\n- Name: caf\xe9\n".encode("latin-1"), 1, 2, ["not UTF-8"]),
    ("json-syntax", "i.json", '{"Models": [{"Name": "a",}\n', 1, 1, ["not valid JSON"]),
    ("deep-nesting", "i.yml", "Models:\n- Name: a\n  Metadata:\n    X: " + "[" * 80 + "]" * 80 + "\n", 1, 4, ["nests deeper than 64 levels"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_message(case, cli, write):
    _, filename, content, code, line, fragments = case
    path = write(filename, content)
    result = cli("validate", path)
    assert result.code == code, result.text
    assert "Traceback" not in result.text
    problems = [ln for ln in result.out.splitlines() if ln.startswith(str(path)) or ln.startswith(path.name) or filename in ln.split(":")[0]]
    assert problems, result.text
    first = problems[0]
    assert first.split(":")[0].endswith(filename)
    if line is not None:
        assert f"{filename}:{line}:" in first, first
    for fragment in fragments:
        assert fragment in result.out, f"{fragment!r} not in {result.out!r}"
    # the same index used for `list` fails with a one-line error that points at `validate`
    listed = cli("--index", path, "list")
    assert listed.code == code and "Traceback" not in listed.text
    assert listed.err.startswith("error: ") and f"hint: tresnet-zoo --index {path} validate  # " in listed.err


def test_import_cycle_across_files(cli, write):
    write("b.yml", "Import: [a.yml]\nModels:\n- Name: b\n")
    a = write("a.yml", "Import: [b.yml]\nModels:\n- Name: a\n")
    result = cli("validate", a)
    assert result.code == 1
    assert "b.yml:1: Import cycle: a.yml -> b.yml -> a.yml" in result.out


def test_every_problem_is_reported_not_only_the_first(cli, write):
    path = write("i.yml", "Models:\n- Name: a\n  Metadata: {Parameters: x, FLOPs: y}\n- Name: a\n- Name: B\n")
    result = cli("validate", path)
    assert result.code == 1
    assert "Parameters: expected" in result.out and "FLOPs: expected" in result.out
    assert "duplicate model name" in result.out and "B > Name" in result.out
    assert "4 problems" in result.out


def test_missing_index_file_is_a_usage_error(cli, tmp_path):
    for args in (("validate", tmp_path / "nope.yml"), ("--index", tmp_path / "nope.yml", "list")):
        result = cli(*args)
        assert result.code == 2 and "does not exist" in result.err and "Traceback" not in result.text


def test_unknown_option_and_missing_argument_are_usage_errors(cli):
    assert cli("list", "--bogus").code == 2
    assert cli("info").code == 2
    assert cli("frobnicate").code == 2


def test_unknown_model_suggests_names(cli):
    result = cli("info", "tresnet_xxl")
    assert result.code == 2
    first = result.err.splitlines()[0]
    assert first.startswith("error: unknown model 'tresnet_xxl' in ") and "did you mean 'tresnet_xl'" in first
    assert "tresnet-zoo list" in result.err


def test_debug_env_adds_a_traceback_and_changes_nothing_else(cli, monkeypatch, tmp_path):
    args = ("--index", tmp_path / "nope.yml", "list")
    plain = cli(*args)
    monkeypatch.setenv("TRESNET_ZOO_DEBUG", "1")
    debug = cli(*args)
    assert plain.code == debug.code == 2
    assert "Traceback" not in plain.err and "Traceback (most recent call last)" in debug.err
    assert debug.err.endswith(plain.err) and debug.out == plain.out
