"""The CLI tells the truth: exit codes by cause, one error line with a runnable hint, output printed verbatim,
line numbers as an editor counts them, names resolved before torch."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

import tresnet_zoo
from tresnet_zoo import errors
from tresnet_zoo.cli.context import State
from tresnet_zoo.cli.hints import hint_for
from tresnet_zoo.index import load_index

from .helpers.paths import PYTHON, REPO, python_env


def test_exit_codes_follow_the_cause():
    assert errors.EXIT_CODES.keys() == {0, 1, 2, 3, 70}
    assert errors.InvalidIndexError([]).exit_code == 1
    assert errors.IntegrityError("x").exit_code == 1
    assert errors.UnknownModelError("x").exit_code == 2 and errors.IndexNotFoundError("x").exit_code == 2
    for cls in (errors.DownloadError, errors.CacheError, errors.MissingDependencyError):
        assert issubclass(cls, errors.ZooEnvironmentError) and cls("x").exit_code == 3


def test_the_exit_code_table_is_in_help_and_readme(cli):
    result = cli("--help")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert result.code == 0
    for code, meaning in errors.EXIT_CODES.items():
        assert re.search(rf"^\s*{code}\s+{re.escape(meaning)}$", result.out, re.MULTILINE), (code, result.out)
        assert f"| `{code}` | {meaning} |" in readme


@pytest.mark.parametrize("args", [("info",), ("list", "--bogus"), ("frobnicate",), ("info", "a", "b"), ("--index",)])
def test_usage_errors_are_one_error_line_and_a_hint(cli, args):
    result = cli(*args)
    assert result.code == 2 and result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: tresnet-zoo "), lines
    assert "Usage:" not in result.err


@pytest.mark.parametrize("make", ["usage", "invalid", "missing"])
def test_debug_mode_adds_a_traceback_and_keeps_the_exit_code(cli, write, monkeypatch, make):
    args = {"usage": ("info",), "invalid": ("--index", write("b.yml", "Models: 3\n"), "list"),
            "missing": ("--index", "/nonexistent/x.yml", "list")}[make]
    plain = cli(*args)
    monkeypatch.setenv("TRESNET_ZOO_DEBUG", "1")
    debug = cli(*args)
    assert debug.code == plain.code and plain.code in (1, 2)
    assert "Traceback (most recent call last)" in debug.err and debug.err.endswith(plain.err)


def test_a_bug_is_exit_70_in_one_line(cli, monkeypatch):
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(State, "load_index", broken)
    result = cli("list")
    assert result.code == 70 and "Traceback" not in result.err
    assert result.err.splitlines()[0] == "error: internal error (RuntimeError: boom)"


def _run_hint(cli, hint_line: str):
    command = hint_line.removeprefix("hint: ").split("  # ")[0]
    words = shlex.split(command)
    assert words[0] == "tresnet-zoo"
    return cli(*words[1:])


def test_hints_carry_the_users_index_and_run_as_printed(cli, tmp_path):
    folder = tmp_path / "my 'odd' dir"
    folder.mkdir()
    bad = folder / "bad index.yml"
    bad.write_text("Models:\n- Name: a\n  Metadata: {Parameters: lots}\n")
    result = cli("--index", bad, "list")
    assert result.code == 1
    hint = result.err.splitlines()[1]
    assert shlex.quote(str(bad)) in hint
    rerun = _run_hint(cli, hint)
    assert rerun.code == 1 and "Parameters: expected" in rerun.out and "OK" not in rerun.out

    good = folder / "good.yml"
    good.write_text("Models:\n- Name: solo\n")
    unknown = cli("--index", good, "info", "nope")
    assert unknown.code == 2
    listed = _run_hint(cli, unknown.err.splitlines()[1])
    assert listed.code == 0 and "solo" in listed.out


def test_install_hints_say_how_to_install_in_this_checkout():
    hint = hint_for(errors.MissingDependencyError("needs mkdocs", extra="docs"), None)
    assert "-m pip install -e" in hint and "[docs]" in hint and "tresnet-zoo[docs]" not in hint
    rewritten = hint_for(errors.MissingDependencyError("needs mkdocs", hint='pip install "tresnet-zoo[docs]"'), None)
    assert "-m pip install -e" in rewritten and "tresnet-zoo[docs]" not in rewritten


def test_user_values_are_printed_verbatim_no_markup_no_emoji(cli, tmp_path):
    folder = tmp_path / "[bold]x:x:0:0"
    folder.mkdir()
    path = folder / "i.yml"
    odd = "root:x:0:0 :thumbs_up: [red]r[/red] :x:"
    path.write_text(f"Models:\n- Name: a\n  Metadata:\n    Training Resources: {json.dumps(odd)}\n")
    info = cli("--index", path, "info", "a")
    assert info.code == 0 and odd in info.out and "❌" not in info.out
    listed = cli("--index", path, "list")
    assert listed.code == 0 and "[bold]x:x:0:0" in listed.out


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85"])
def test_line_numbers_count_as_an_editor_does(cli, write, newline, odd):
    lines = ["# a comment with " + odd + " inside", "Models:", "- Name: a", f'  Training: "x{odd}y"',
             "  Metadata:", "    Parameters: lots"]
    path = write("i.yml", newline.join(lines).encode("utf-8") + newline.encode())
    result = cli("validate", path)
    assert result.code == 1
    assert "i.yml:6: a > Metadata > Parameters" in result.out, result.out
    assert "i.yml:4: a > Training: unknown field" in result.out, result.out


def test_line_numbers_in_markdown_blocks(cli, write):
    page = "# Page\u2028still line one\r\n\r\nText \x85 here\n<!--\nType: model-index\n"
    page += "Models:\n- Name: a\n  Metadata: {Parameters: x}\n-->\n"
    result = cli("validate", write("p.md", page.encode()))
    assert "p.md:8: a > Metadata > Parameters" in result.out, result.out


def test_check_of_an_unknown_name_fails_fast_without_torch(tmp_path):
    code = (
        "import sys\n"
        "from tresnet_zoo.cli import main\n"
        "code = main(['check', 'tresnet-xxl'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(code)\n"
    )
    env = python_env() | {"TRESNET_ZOO_CACHE": str(tmp_path)}
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"]  # fast: refused before torch (seconds to import) was loaded
    assert "error: unknown model 'tresnet-xxl'" in done.stderr


def test_list_models_accepts_an_index_or_paths(write):
    path = write("i.yml", "Models:\n- Name: solo\n- Name: other\n")
    index = load_index(path)
    assert tresnet_zoo.list_models(index=index) == ["solo", "other"]
    assert tresnet_zoo.list_models("s*", index=index) == ["solo"]
    assert tresnet_zoo.list_models(index=path) == ["solo", "other"]
    assert tresnet_zoo.list_models(index=[path]) == ["solo", "other"]


def test_long_messages_are_printed_whole(cli, write):
    key = "K" * 300
    path = write("i.yml", f"Models:\n- Name: a\n  {key}: 1\n")
    result = cli("--index", path, "list")
    first = result.err.splitlines()[0]
    assert key in first and first.rstrip().endswith("Results, Provenance"), first


def test_list_json_is_strict_json(cli, write):
    path = write("i.yml", "Models:\n- Name: a\n  Metadata: {LR: 0.1, Crop Pct: 0.875}\n")
    result = cli("--index", path, "list", "--json")
    assert result.code == 0
    json.loads(result.out, parse_constant=pytest.fail)


def test_hostile_files_are_reported_each_even_in_bulk(cli, tmp_path):
    """One root that imports many small bad files: every problem is listed with its file."""
    for i in range(50):
        (tmp_path / f"part{i}.yml").write_text(f"Models:\n- Name: m{i}\n  Metadata: {{Parameters: !!int 'x{i}'}}\n")
    root = tmp_path / "root.yml"
    root.write_text("Import: ['part*.yml']\n")
    result = cli("validate", root)
    assert result.code == 1 and result.out.count("is not a valid int") == 50
    assert all(f"part{i}.yml:" in result.out for i in range(50)), result.out


def test_terminal_escapes_from_an_index_are_shown_not_sent(cli, write):
    text = 'Models:\n- Name: a\n  Metadata:\n    Training Resources: "x\\e]0;pwned\\a\\e[31mRED\\u202e"\n'
    path = write("esc.yml", text + '  "\\e[32mK": 1\n')
    listed = cli("--index", path, "list")
    assert listed.code == 1 and "\x1b" not in listed.text and "\\x1b[32mK" in listed.err
    checked = cli("validate", path)
    assert "\x1b" not in checked.text and "\\x1b[32mK" in checked.out
    path.write_text(path.read_text().replace('  "\\e[32mK": 1\n', ""))
    shown = cli("--index", path, "info", "a")
    assert shown.code == 0 and "\x1b" not in shown.out and "\u202e" not in shown.out
    assert "x\\x1b]0;pwned\\x07\\x1b[31mRED\\u202e" in shown.out


def test_every_error_gets_a_hint(tmp_path):
    for exc in (errors.ZooError("x"), errors.UsageError("x"), errors.CacheError("x"), errors.IndexNotFoundError("x"),
                errors.DownloadError("x"), errors.CheckpointError("x")):
        assert hint_for(exc, None)


def test_globs_share_one_budget(cli, tmp_path):
    for i in range(30):
        sub = tmp_path / "tree" / f"d{i}"
        sub.mkdir(parents=True)
        for j in range(200):
            (sub / f"f{j}.txt").touch()
    root = tmp_path / "root.yml"
    root.write_text("Import:\n" + "".join(f"- 'tree/**/x{i}*.yml'\n" for i in range(200)) + "Models:\n- Name: a\n")
    result = cli("validate", root)
    assert result.code == 1 and "too many files" in result.out  # the shared budget, reported as hit


def test_the_value_budget_is_shared_by_every_file_of_an_index(cli, tmp_path):
    part = "Models:\n- Name: m{i}\n  Metadata:\n    X: &a [" + ",".join(["1"] * 100) + "]\n"
    part += "    Y: [" + ",".join(["*a"] * 500) + "]\n"
    for i in range(20):  # 50,000 values each: fine alone, too many together (MAX_VALUES: 750,000)
        (tmp_path / f"part{i}.yml").write_text(part.format(i=i))
    root = tmp_path / "root.yml"
    root.write_text("Import: ['part*.yml']\n")
    assert cli("validate", tmp_path / "part0.yml").out.count("too many values") == 0
    result = cli("validate", root)
    assert result.code == 1 and result.out.count("too many values") == 1, result.out


def test_a_missing_optional_dependency_is_exit_3_with_an_install_hint(tmp_path):
    """`predict` and `check` without Pillow / PyTorch: one error line naming the missing package and a hint
    to install the extra, exit 3 (the environment), never an ImportError (exit 70)."""
    import subprocess
    import sys

    from .helpers.paths import env_without

    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    env = env_without(tmp_path, "PIL", "torch")
    for args, missing in ((["predict", "tresnet_m", str(image)], "Pillow"), (["check", "tresnet_m"], "PyTorch")):
        done = subprocess.run([sys.executable, "-c", "from tresnet_zoo.cli import main; main()", *args],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 3, done.stderr
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1 and missing in errors[0], done.stderr
        assert "hint: " in done.stderr and "-m pip install -e" in done.stderr and "Traceback" not in done.stderr


def test_the_library_prints_nothing_by_itself(tmp_path):
    """A library warning (here: a planted lock link that fetch must not use) goes through logging only: in a
    plain Python program with no logging set up, nothing reaches stderr."""
    import subprocess
    import sys

    code = (
        "import logging, tresnet_zoo\n"
        "logging.getLogger('tresnet_zoo.weights').warning('a warning the library logs')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
