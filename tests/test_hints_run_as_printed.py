"""Every `hint:` the CLI prints is one shell line (a command, then `  # what it does`) that runs as printed.

The hints come from a representative set of failing invocations run here, plus every hint the `cli` fixture
recorded earlier in this test session (tests/conftest.py). Each runs in a sandbox: `bash -n` first (no
syntax error), then executed with this checkout's `tresnet-zoo` first on PATH, a fresh HOME and cache, and
no network beyond loopback (a proxy that answers nothing). It may fail for the reason the hint says (exit 1
or 3), but never as a usage error (2), a missing command (127) or a bug (70).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from .conftest import HINT_LOG, REPO, hint_command, python_env

MAX_RUN = 40  # distinct command shapes executed (each a new process); all are syntax-checked


def _failing_invocations(cli, zoo, server, checkpoints, tmp_path: Path) -> list[tuple[str, str]]:
    bad = tmp_path / "bad index.yml"
    bad.write_text("Models:\n- Name: a\n  Metadata: {Parameters: lots}\n")
    wrong = tmp_path / "wrong.yml"
    wrong.write_text("Models:\n- Name: tresnet_m\n  Metadata: {Parameters: 1, FLOPs: 5736545792, File Size: 125861314,"
                     " Image Size: 224}\n  Weights: https://example.org/tresnet_m-0123abcd.pth\n")
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("x")
    server.always(checkpoints["tresnet_m_release"].filename, "status", code=503)
    runs = [
        ("--index", bad, "list"), ("--index", tmp_path / "nope.yml", "list"), ("info", "nope"), ("list", "--bogus"),
        ("fetch",), ("predict", "tresnet_m", tmp_path / "photo.jpg"), ("check", "--index", wrong),
        zoo.args("fetch", "tresnet_m", "--mirror", f"file://{tmp_path / 'missing'}", "-q"),
        zoo.args("lock", "tresnet_m"), zoo.args("verify", "tresnet_m"), zoo.args("mirror", "push", tmp_path / "m"),
        zoo.args("fetch", "tresnet_m", "--offline", "-q"),
        zoo.args("fetch", "tresnet_m_release", "--retries", "0", "-q"),
        ("--cache-dir", not_a_folder, "fetch", "tresnet_m", "-q"), ("lock",),
    ]
    hints = []
    for args in runs:
        result = cli(*args)
        assert "hint: " in result.err, (args, result.text)
        hints += [(os.getcwd(), line[len("hint: "):]) for line in result.err.splitlines() if line.startswith("hint: ")]
    return hints


def _recorded() -> list[tuple[str, str]]:
    path = os.environ.get(HINT_LOG)
    if not path or not os.path.exists(path):
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]


def _shape(command: str) -> tuple:
    """What makes two hints the same test: the words that are not paths, names or numbers."""
    try:
        words = shlex.split(command)
    except ValueError:
        return (command,)
    return tuple(w for w in words if not ("/" in w or w.startswith("tresnet_") or w.isdigit()))[:8]


def _gone(words: list[str], cwd: str) -> bool:
    """A file a recorded hint names that is gone: an index, or anything in a test's temporary folder
    (pytest keeps only its last few, and other pytest runs on this machine may have removed an earlier one)."""
    return any(a == "--index" and not (Path(cwd) / b).exists() for a, b in zip(words, words[1:])) or any(
        not _test_folder(Path(w.split("=", 1)[-1])).exists() for w in words if "/pytest-of-" in w)


def _test_folder(path: Path) -> Path:
    """The temporary folder of the test that a path under pytest's base temp belongs to (``.../test_x0``)."""
    for parent in [path, *path.parents]:
        if parent.name.startswith("test_"):
            return parent
    return path


def _sandbox(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = python_env()
    env.update(
        HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TRESNET_ZOO_CACHE=str(home / "cache"),
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        PYTHONPATH=str(REPO), http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def test_every_hint_is_a_command_that_runs_as_printed(cli, zoo, server, checkpoints, tmp_path):
    hints = _failing_invocations(cli, zoo, server, checkpoints, tmp_path) + _recorded()
    assert len(hints) >= 14
    env = _sandbox(tmp_path)
    scratch = tmp_path / "work"
    scratch.mkdir()
    seen, ran = set(), 0
    for cwd, hint in dict.fromkeys(hints):
        command = hint_command(f"hint: {hint}")
        syntax = subprocess.run(["bash", "-n", "-c", hint], capture_output=True, text=True, timeout=30)
        assert syntax.returncode == 0, (hint, syntax.stderr)  # the whole line, comment included, pastes cleanly
        first = shlex.split(command)
        assert any(w in ("tresnet-zoo", "-m") for w in first[:4]), hint  # a command of ours (or pip), not prose
        if "pip" in first:  # installs nothing here: the target it names must be this checkout's pyproject
            target = first[-1].split("[")[0]
            assert (Path(cwd) / target / "pyproject.toml").is_file(), hint
            continue
        if _shape(command) in seen or ran >= MAX_RUN or not os.path.isdir(cwd) or _gone(first, cwd):
            continue
        seen.add(_shape(command))
        ran += 1
        here = scratch if Path(cwd) == REPO else cwd  # what a hint writes to its folder stays out of the checkout
        done = subprocess.run(["bash", "-c", command], cwd=here, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode not in (2, 70, 126, 127), (hint, done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (hint, done.stderr[-2000:])
    assert ran >= 10
