"""What a new user meets first: the hints printed for a missing network or a missing index file run as printed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from .helpers.indexes import zoo_index_text
from .helpers.paths import REPO, env_without, python_env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hinted_command(err: str) -> str:
    hint = [line for line in err.splitlines() if line.startswith("hint: ")][-1]
    commands = re.findall(r"`([^`]+)`", hint)
    assert commands, hint
    return commands[-1]


def _bash(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = python_env()
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_no_network_hint_runs_as_printed_and_fetches_from_the_folder(cli, tmp_path, checkpoints, monkeypatch):
    index = tmp_path / "index.yml"
    index.write_text(zoo_index_text(checkpoints, f"http://127.0.0.1:{_closed_port()}/"))
    cache = tmp_path / "cache"
    monkeypatch.chdir(tmp_path)
    r = cli("--index", "index.yml", "--cache-dir", "cache", "fetch", "tresnet_m", "--retries", "0", "-q")
    assert r.code == 3, r.err
    command = _hinted_command(r.err)
    again = "tresnet-zoo --index index.yml --cache-dir cache fetch tresnet_m"
    assert command.startswith(f'TRESNET_ZOO_MIRROR="$PWD/weights" {again}')
    ckpt = checkpoints["tresnet_m"]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / ckpt.filename).write_bytes(ckpt.data)
    done = _bash(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (cache / ckpt.filename).read_bytes() == ckpt.data


def test_no_mirror_command_when_a_mirror_was_given(cli, tmp_path, checkpoints):
    index = tmp_path / "index.yml"
    index.write_text(zoo_index_text(checkpoints, "https://example.invalid/"))
    mirror = f"http://127.0.0.1:{_closed_port()}/"
    r = cli("--index", str(index), "fetch", "tresnet_m", "--mirror", mirror, "--retries", "0", "-q")
    assert r.code == 3, r.err
    assert "TRESNET_ZOO_MIRROR=" not in r.err and "--mirror DIR" in r.err


def test_a_missing_index_file_hints_a_runnable_command(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("validate", "nonexist.yml")
    assert r.code == 2
    assert "index file nonexist.yml does not exist" in r.err
    done = _bash(_hinted_command(r.err), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")


def test_a_missing_index_in_the_environment_hints_unsetting_it(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRESNET_ZOO_INDEX", str(tmp_path / "gone.yml"))
    r = cli("list")
    assert r.code == 2
    command = _hinted_command(r.err)
    assert command.startswith("env -u TRESNET_ZOO_INDEX ")
    env_command = f"TRESNET_ZOO_INDEX={tmp_path / 'gone.yml'} {command}"
    done = _bash(env_command, tmp_path)
    assert done.returncode == 0, done.stderr


def test_docs_build_without_the_docs_extra_is_exit_3_not_a_bug(tmp_path):
    """`pip install -e .` or `.[torch]` then `tresnet-zoo docs build` (the README's first docs command): the
    docs package imports markupsafe at its top, which used to surface as `internal error` (exit 70)."""
    env = env_without(tmp_path, "markupsafe", "jinja2")
    for command in ("build", "serve"):
        done = subprocess.run([sys.executable, "-c", "from tresnet_zoo.cli import main; main()", "docs", command,
                               "--out", str(tmp_path / "site")], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 3, done.stderr
        assert "needs Jinja2, MarkupSafe, which are not installed" in done.stderr
        assert "[docs]" in done.stderr and "internal error" not in done.stderr
        assert not (tmp_path / "site").exists()


def test_a_fetch_error_names_the_entry_once(cli, tmp_path):
    """An entry whose weights pin no hash (the bundled tresnet_v2_l_miil_in21k's case): the error line used to
    read `tresnet_x: tresnet_x: ...`."""
    index = tmp_path / "index.yml"
    index.write_text("Collections:\n- Name: TResNet\nModels:\n- Name: tresnet_x\n  In Collection: TResNet\n"
                     "  Metadata:\n    File Size: 1000\n  Weights: https://example.invalid/tresnet_x.safetensors\n")
    r = cli("--index", str(index), "fetch", "tresnet_x", "-q")
    assert r.code == 1, r.err
    error = [line for line in r.err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and error[0].startswith("error: tresnet_x: ") and error[0].count("tresnet_x: ") == 1, r.err


def test_the_offline_hint_runs_as_printed_and_a_folder_mirror_works_offline(cli, tmp_path, checkpoints, monkeypatch):
    """Offline, a file not in the cache: the hint's command (a folder mirror, still offline: a folder is not
    the network) fetches it from ./weights, and nothing asks the server."""
    index = tmp_path / "index.yml"
    index.write_text(zoo_index_text(checkpoints, f"http://127.0.0.1:{_closed_port()}/"))
    monkeypatch.chdir(tmp_path)
    r = cli("--index", "index.yml", "--cache-dir", "cache", "fetch", "tresnet_m", "--offline", "-q")
    assert r.code == 2 and "offline mode forbids downloading" in r.err and "(tresnet_m)" not in r.err, r.err
    command = _hinted_command(r.err)
    assert command.startswith('TRESNET_ZOO_MIRROR="$PWD/weights" ') and "--offline" in command, command
    ckpt = checkpoints["tresnet_m"]
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / ckpt.filename).write_bytes(ckpt.data)
    done = _bash(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cache" / ckpt.filename).read_bytes() == ckpt.data
    # an http(s) mirror is the network: still refused offline
    r = cli("--index", "index.yml", "--cache-dir", "cache2", "fetch", "tresnet_m", "--offline", "-q",
            "--mirror", f"http://127.0.0.1:{_closed_port()}/w")
    assert r.code == 2 and "offline mode forbids downloading" in r.err, r.err
