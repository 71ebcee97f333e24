"""What a new user meets first: every hint runs as printed (no network, no index file, no mirror, a file not
yet cached, nothing to lock), and each message says what happened."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .helpers.cli import closed_port as _closed_port
from .helpers.cli import hinted_command as _hinted_command
from .helpers.cli import run_hint as _run_hint
from .helpers.indexes import zoo_index_text
from .helpers.paths import REPO, env_without, python_env


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


def test_the_offline_hint_runs_in_a_folder_whose_path_holds_a_hash_sign(cli, tmp_path, checkpoints, monkeypatch):
    """The hint said TRESNET_ZOO_MIRROR="file://$PWD/weights": a '#' (or '?', '%') in $PWD is a URL's
    fragment, so the folder read was another one and the hint failed as printed."""
    work = tmp_path / "run#1"
    work.mkdir()
    (work / "index.yml").write_text(zoo_index_text(checkpoints, f"http://127.0.0.1:{_closed_port()}/"))
    monkeypatch.chdir(work)
    r = cli("--index", "index.yml", "--cache-dir", "cache", "fetch", "tresnet_m", "--offline", "-q")
    assert r.code == 2, r.text
    command = _hinted_command(r.err)
    ckpt = checkpoints["tresnet_m"]
    (work / "weights").mkdir()
    (work / "weights" / ckpt.filename).write_bytes(ckpt.data)
    env = python_env()
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (command, done.stderr)
    assert (work / "cache" / ckpt.filename).read_bytes() == ckpt.data


def test_verify_of_an_uncached_file_hints_a_repair_that_fetches_it(cli, zoo, checkpoints):
    # `verify NAME` of a file never fetched hinted `tresnet-zoo verify --repair`: without the name and without
    # the --index/--cache-dir typed, which on that (empty) cache verifies nothing and exits 0
    r = cli(*zoo.args("verify", "tresnet_m"))
    assert r.code == 1, r.text
    command = _hinted_command(r.err)
    assert command == f"tresnet-zoo --index {zoo.index} --cache-dir {zoo.cache} verify --repair tresnet_m"
    again = _run_hint(cli, command)
    assert again.code == 0, again.text
    assert zoo.final().read_bytes() == checkpoints["tresnet_m"].data


def test_verify_deep_hint_keeps_deep(cli, zoo):
    r = cli(*zoo.args("verify", "--deep", "tresnet_m"))
    assert r.code == 1, r.text
    assert _hinted_command(r.err).endswith("verify --repair --deep tresnet_m")


def test_an_unpinned_fallback_source_is_not_reported_as_serving_wrong_bytes(cli, tmp_path):
    # the bundled tresnet_m_miil_in21k_ft_in1k: source 2 has no hash, so it is refused before any byte is read;
    # it used to print "error: ... source 2 ..." and "source 2 ... served wrong bytes"
    empty = tmp_path / "weights"
    empty.mkdir()
    r = cli("fetch", "tresnet_m_miil_in21k_ft_in1k", "--mirror", f"file://{empty}", "-q")
    assert r.code != 0 and r.code != 70, r.text
    assert "served wrong bytes" not in r.err, r.err
    assert r.err.count("error:") == 1, r.err
    assert "source 2 (" in r.err and "has no hash to check against" in r.err, r.err


def test_predict_of_a_missing_image_says_what_to_name(cli, tmp_path, monkeypatch):
    # README's `tresnet-zoo predict tresnet_m photo.jpg --top 5` where there is no photo.jpg: the hint was the
    # generic "`tresnet-zoo --help` shows the commands and options"
    monkeypatch.chdir(tmp_path)
    r = cli("predict", "tresnet_m", "photo.jpg", "--top", "5")
    assert r.code == 2, r.text
    assert "error: photo.jpg: no such file or folder" in r.err
    assert "hint: tresnet-zoo --help" not in r.err and "image files" in r.err, r.err
    assert _run_hint(cli, _hinted_command(r.err)).code == 0


def test_list_of_a_pattern_matching_nothing_says_so(cli):
    r = cli("list", "resnet*")
    assert r.code == 0 and r.out == "", r.text  # a filter may match nothing: not an error, no empty table
    assert "no model matches 'resnet*'" in r.err and "did you mean tresnet_m" in r.err, r.err
    command = re.findall(r"`([^`]+)`", r.err)[-1]  # a note, not an error: its command is quoted in the text
    again = _run_hint(cli, command)
    assert again.code == 0 and "tresnet_xl" in again.out
    r = cli("list", "resnet*", "--json")
    assert r.code == 0 and json.loads(r.out) == [] and r.err == ""


def test_lock_of_nothing_is_an_error_with_a_hint_that_runs(cli, zoo, checkpoints, tmp_path):
    """`lock` with no file of the entries in the cache wrote nothing and exited 0; its hint (`fetch`, then
    `lock` with the same --output) runs as printed and then writes the lock file."""
    output = tmp_path / "team.lock"
    r = cli(*zoo.args("lock", "tresnet_m", "--output", str(output)))
    assert r.code == 1 and "nothing to lock" in r.err and not output.exists(), r.text
    fetch, lock = _hinted_command(r.err).split(" && ")
    assert _run_hint(cli, fetch).code == 0
    done = _run_hint(cli, lock)
    assert done.code == 0 and output.exists(), done.text
    assert checkpoints["tresnet_m"].sha256 in output.read_text()
    r = cli(*zoo.args("lock", "tresnet_m", "--output", str(tmp_path / "other.lock"), "--json"))
    assert r.code == 0 and json.loads(r.out)["ok"] is True
    r = cli("--index", zoo.index, "--cache-dir", tmp_path / "empty", "lock", "--json", "--output", str(tmp_path / "x"))
    assert r.code == 1 and json.loads(r.out)["ok"] is False


