"""Hostile index files: each gets one clean error (exit 1 or 2, an `error:` line and a hint) naming the limit
it hit, in bounded memory; never exit 70, never a traceback, never a byte of a file outside the index folder.

Every case runs in this process through `validate` and `--index FILE list`; the cases that drive resources
(alias bombs, devices, FIFOs, huge files, quadratic scans) also run in a child process each, which reports its
own peak RSS (VmHWM). How long they take is a row of ``benchmarks/run.py hostile`` (a ratio against `list` of
the bundled registry in the same run), not a threshold here.
"""

# ruff: noqa: E501  (the case tables read best one case a line)

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tresnet_zoo.index.source import MAX_FILE_BYTES, MAX_VALUES

from .helpers.paths import python_env

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)

HEX = "0123456789abcdef" * 4
GOOD = "Models:\n- Name: good\n  Metadata:\n    Parameters: 10\n  Weights: https://example.org/good-0123abcd.pth\n"


def _bomb_list() -> str:
    lines = ['x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\nModels: [{Name: m, Metadata: {X: *a9}}]\n"


def _bomb_merge() -> str:
    lines = ["x0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(10)) + "}"]
    lines += [f"x{i}: &a{i} {{<<: *a{i - 1}, " + ", ".join(f"k{j}: *a{i - 1}" for j in range(10)) + "}" for i in range(1, 10)]
    return "\n".join(lines) + "\nModels: [{Name: m, Metadata: *a9}]\n"


def _bomb_keys() -> str:  # the mapping shape: every level a mapping of aliases
    lines = ["- &a0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    lines += [f"- &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}" for i in range(1, 12)]
    return "Models:\n- Name: m\n  Metadata:\n    X:\n" + "\n".join("    " + ln for ln in lines) + "\n"


def _alias_depth() -> str:  # each anchor nests 10 levels below the last: aliases stack nesting
    lines = ["x0: &a0 " + "[" * 10 + "1" + "]" * 10]
    lines += [f"x{i}: &a{i} " + "[" * 10 + f"*a{i - 1}" + "]" * 10 for i in range(1, 10)]
    return "\n".join(lines) + "\nModels: [{Name: m, Metadata: {X: *a9}}]\n"


def model(**metadata: str) -> str:
    body = "".join(f"    {k}: {v}\n" for k, v in metadata.items())
    return "Models:\n- Name: a\n  Metadata:\n" + body


def weights(url: str) -> str:
    return f"Models:\n- Name: a\n  Weights: {json.dumps(url)}\n"


# (case id, file name, content or a callable(tmp_path) -> content, fragment expected in the output)
CASES = [
    # alias bombs: list shape, merge-key shape, mapping shape
    ("alias-bomb-list", "i.yml", _bomb_list(), "too many values"),
    ("alias-bomb-merge", "i.yml", _bomb_merge(), "too many values"),
    ("alias-bomb-mapping", "i.yml", _bomb_keys(), "too many values"),
    ("alias-deep-chain", "i.yml", _alias_depth(), "nests deeper than 64 levels"),
    ("json-deep", "i.json", "[" * 500 + "]" * 500, "nests deeper"),
    ("markdown-many-bombs", "page.md", ("<!--\nType: model-index\n" + _bomb_list().replace("a9}", "a4}") + "-->\n") * 30, "too many values"),
    ("markdown-many-blocks", "page.md", "".join(f"<!--\nType: model-index\nModels: [{{Name: a{i}}}]\n-->\n" for i in range(500)), "more than 100 model-index blocks"),
    ("alias-undefined", "i.yml", "Models: [*nope]\n", "names no anchor"),
    ("merge-key", "i.yml", "d: &d {Parameters: 1}\nModels:\n- Name: a\n  Metadata: {<<: *d}\n", "merge keys"),
    ("many-values", "i.yml", "Models: [" + ",".join(["1"] * MAX_VALUES) + "]\n", "too many values"),
    ("deep-flow", "i.yml", "Models: " + "[" * 20000 + "]" * 20000 + "\n", "nest"),
    ("two-documents", "i.yml", GOOD + "---\n" + GOOD, "more than one YAML document"),
    # imports: absolute, '..', devices, FIFOs, links, globs outside the folder, non-index files
    ("import-dev-zero", "i.yml", "Import: [/dev/zero]\n" + GOOD, "absolute path"),
    ("import-etc-passwd", "i.yml", "Import: [/etc/passwd]\n" + GOOD, "absolute path"),
    ("import-dotdot", "i.yml", "Import: [../../../../../../etc/passwd]\n" + GOOD, "leaves the index folder"),
    ("import-root-glob", "i.yml", "Import: ['/**']\n" + GOOD, "absolute path"),
    ("import-dotdot-glob", "i.yml", "Import: ['../**/*.yml']\n" + GOOD, "leaves the index folder"),
    ("import-home", "i.yml", "Import: ['~/.ssh/id_rsa']\n" + GOOD, "absolute path"),
    ("import-url", "i.yml", "Import: ['https://example.org/x.yml']\n" + GOOD, "is a URL"),
    ("import-symlink-out", "i.yml", lambda d: _link(d, "pw.yml", "/etc/passwd") + "Import: [pw.yml]\n" + GOOD, "outside the index folder"),
    ("import-symlink-dir", "i.yml", lambda d: _link(d, "etc", "/etc") + "Import: ['etc/*']\n" + GOOD, "matches no file"),
    ("import-fifo", "i.yml", lambda d: _fifo(d, "pipe.yml") + "Import: [pipe.yml]\n" + GOOD, "not a regular file"),
    ("import-not-index", "i.yml", lambda d: _file(d, "notes.txt", "secret-token\n") + "Import: [notes.txt]\n" + GOOD, "not an index file"),
    ("import-huge", "i.yml", lambda d: _file(d, "huge.yml", "#" * (MAX_FILE_BYTES + 1)) + "Import: [huge.yml]\n" + GOOD, "larger than"),
    ("import-broad-glob", "i.yml", lambda d: _tree(d) + "Import: ['**/*.yml']\n" + GOOD, "too many files"),
    # one page of unclosed comments (was quadratic)
    ("markdown-unclosed", "page.md", "<!--" * 40000, "no model-index block"),
    ("markdown-unclosed-block", "page.md", "<!--\nType: model-index\n" + "<!--" * 40000, "no model-index block"),
    ("huge-file", "i.yml", "#" * (MAX_FILE_BYTES + 1), "larger than"),
    # crafted scalars
    ("int-tag-text", "i.yml", model(Parameters='!!int "x"'), "is not a valid int"),
    ("float-tag-text", "i.yml", model(LR='!!float "abc"'), "is not a valid float"),
    ("huge-int-yaml", "i.yml", model(Parameters="9" * 5000), "too long"),
    ("huge-source-size", "i.yml", model(**{"x-tresnet-zoo": "{sources: [{url: 'https://example.org/a-0123abcd.pth', "
                                                 "file: a-0123abcd.pth, size: " + "9" * 20 + "}]}"}), "a size in bytes"),
    ("huge-num-classes", "i.yml", model(**{"x-tresnet-zoo": "{num_classes: " + "9" * 30 + "}"}), "1-100000"),
    ("huge-int-json", "i.json", '{"Models": [{"Name": "a", "Metadata": {"Parameters": ' + "9" * 5000 + "}}]}", "too long"),
    ("huge-int-quoted", "i.yml", model(Parameters='"' + "9" * 5000 + '"'), "Parameters: expected"),
    ("big-int", "i.yml", model(Parameters="10000000000000000"), "Parameters: expected"),
    ("hex-int", "i.yml", model(FLOPs="0x" + "f" * 60), "FLOPs: expected"),
    ("base60-int", "i.yml", model(Epochs="1" + ":00" * 2000), "too long"),
    ("complex-key", "i.yml", "Models:\n- Name: a\n  ? !!set {x, y}\n  : 1\n", "mapping key must be a plain value"),
    ("python-tuple-key", "i.yml", "Models:\n- Name: a\n  ? !!python/tuple [1, 2]\n  : 1\n", "mapping key must be a plain value"),
    ("python-object", "i.yml", "Models:\n- Name: a\n  Config: !!python/object/apply:os.system [echo hi]\n", "not supported"),
    ("binary-tag", "i.yml", "Models:\n- Name: a\n  Config: !!binary aGVsbG8=\n", "not supported"),
    ("custom-tag", "i.yml", "Models:\n- Name: a\n  Config: !env HOME\n", "not supported"),
    ("set-tag", "i.yml", "Models: !!set {a}\n", "not supported"),
    ("nan-yaml", "i.yml", model(LR=".nan"), "not a finite number"),
    ("inf-yaml", "i.yml", model(Momentum=".inf"), "not a finite number"),
    ("overflow-float", "i.yml", model(LR="1.0e+400"), "not a finite number"),
    ("nan-json", "i.json", '{"Models": [{"Name": "a", "Metadata": {"LR": NaN}}]}', "NaN"),
    ("nan-percent", "i.yml", "Models:\n- Name: a\n  Results:\n  - {Task: T, Dataset: D, Metrics: {Top 1 Accuracy: .nan}}\n", "finite"),
    ("huge-number-string", "i.yml", model(LR='"1e999"'), "LR: expected"),
    ("loopback-unicode-digit", "i.yml", weights("http://127.0.0.\u00b9/a-0123abcd.pth"), "only https"),
    ("loopback-fullwidth", "i.yml", weights("http://\uff11\uff12\uff17.0.0.1/a-0123abcd.pth"), "only https"),
    # weights file names: the cache's rule, applied by validation
    ("weights-dotdot", "i.yml", weights("https://h.example/.."), "not usable"),
    ("weights-hidden", "i.yml", weights(f"https://h.example/.hidden-{HEX[:8]}.pth"), "not usable"),
    ("weights-backslash", "i.yml", weights("https://h.example/a\\.."), "not usable"),
    ("weights-pct-backslash", "i.yml", weights("https://h.example/a%5C.."), "not usable"),
    ("weights-pct-slash", "i.yml", weights("https://h.example/x%2F..%2Fy-0123abcd.pth"), "not usable"),
    ("weights-pct-dots", "i.yml", weights("https://h.example/%2E%2E"), "not usable"),
    ("weights-pct-nul", "i.yml", weights("https://h.example/a-0123abcd.pth%00"), "not usable"),
    ("weights-bad-utf8", "i.yml", weights("https://h.example/a%ff-0123abcd.pth"), "percent-encoded"),
    ("weights-fragment-only", "i.yml", weights("https://h.example/#fragment"), "names no file"),
    ("weights-no-path", "i.yml", weights("https://h.example/"), "names no file"),
    ("weights-no-slash", "i.yml", weights("https://h.example"), "names no file"),
    ("weights-tab", "i.yml", weights("https://h.example/a\t-0123abcd.pth"), "Weights"),
    ("weights-trailing-newline", "i.yml", weights("https://h.example/a-0123abcd.pth\n"), "Weights: expected a URL"),
    # end-of-string anchoring
    ("name-trailing-newline", "i.yml", 'Models:\n- Name: "good\\n"\n- Name: good\n', "expected a name"),
    ("sha256-trailing-newline", "i.yml", model(SHA256=f'"{HEX}\\n"'), "SHA256: expected 64 lower-case hex digits"),
    ("params-trailing-newline", "i.yml", model(Parameters='"5\\n"'), "Parameters: expected"),
    ("percent-trailing-newline", "i.yml", "Models:\n- Name: a\n  Results:\n  - {Task: T, Dataset: D, Metrics: {Top 1 Accuracy: \"8%\\n\"}}\n", "Top 1 Accuracy"),
    # bytes
    ("control-chars", "i.yml", "Models:\n- Name: a\x07b\n", "not valid YAML"),
    ("nul-late", "i.yml", "Models:\n- Name: a\n" + "#" * 9000 + "\x00\n", "not valid YAML"),
    ("lone-surrogate", "i.yml", b"Models:\n- Name: \xed\xa0\x80\n", "not UTF-8"),
]


def _link(folder: Path, name: str, target: str) -> str:
    (folder / name).symlink_to(target)
    return ""


def _fifo(folder: Path, name: str) -> str:
    os.mkfifo(folder / name)
    return ""


def _file(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return ""


def _tree(folder: Path) -> str:
    for i in range(60):
        sub = folder / "tree" / f"d{i}"
        sub.mkdir(parents=True)
        for j in range(400):
            (sub / f"f{j}.txt").touch()
    return ""


def _materialize(tmp_path: Path, case) -> Path:
    _, filename, content, _ = case
    folder = tmp_path / "idx"
    folder.mkdir()
    if callable(content):
        content = content(folder)
    path = folder / filename
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _clean(text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, text
    assert "root:x:0" not in text and "secret-token" not in text, text  # nothing quoted from outside the index


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_index_gets_one_clean_error(case, cli, tmp_path):
    path = _materialize(tmp_path, case)
    fragment = case[3]
    result = cli("validate", path)
    assert result.code == 1, result.text
    _clean(result.text)
    assert fragment in result.out, result.out
    assert result.out.rstrip().splitlines()[-1].startswith(("1 problem", "2 problems", "3 problems")), result.out
    listed = cli("--index", path, "list", "--json")
    assert listed.code == 1 and listed.out == "", listed.text
    _clean(listed.text)
    lines = listed.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: invalid model index") and lines[1].startswith("hint: "), lines
    assert f"hint: tresnet-zoo --index {path} validate  # " in lines[1]


# the cases that drive resources: each in its own process, measuring that process's peak memory
MEASURED = [c for c in CASES if c[0] in {
    "alias-bomb-list", "alias-bomb-merge", "alias-bomb-mapping", "many-values", "deep-flow", "import-dev-zero",
    "import-root-glob", "import-fifo", "import-huge", "import-broad-glob", "markdown-unclosed", "huge-file",
    "huge-int-yaml", "huge-int-json", "base60-int", "markdown-many-bombs",
}]
RUNNER = (
    "import sys\n"
    "from tresnet_zoo.cli import main\n"
    "code = main(sys.argv[1:])\n"
    # VmHWM: the peak RSS of this process's own memory map (ru_maxrss would carry the forking parent's peak
    # across exec, and the parent is pytest, often with torch loaded)
    "peak = next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM:'))\n"
    "sys.stderr.write(f'\\nPEAK_RSS_MB {peak / 1024:.1f}\\n')\n"
    "sys.exit(code)\n"
)


@pytest.mark.parametrize("case", MEASURED, ids=[c[0] for c in MEASURED])
def test_hostile_index_is_bounded_in_memory(case, tmp_path):
    path = _materialize(tmp_path, case)
    env = python_env() | {"TRESNET_ZOO_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", RUNNER, "--index", str(path), "list"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    _clean(proc.stdout + proc.stderr)
    assert proc.stderr.count("error: ") == 1 and proc.stderr.count("hint: ") == 1, proc.stderr
    assert case[3] in proc.stderr, proc.stderr  # the limit it hit, named
    rss_mb = float(proc.stderr.rsplit("PEAK_RSS_MB ", 1)[1])
    assert rss_mb < 200, rss_mb
