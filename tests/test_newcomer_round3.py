"""A newcomer's third pass through README: hints that run as printed, and messages that say what happened."""

from __future__ import annotations

import json
import re
import shlex

import pytest

import tresnet_zoo
from tresnet_zoo.errors import DownloadError

from .conftest import hint_command


def _hinted_command(err: str) -> str:
    return hint_command(err)


def _run_hint(cli, command: str):
    words = shlex.split(command)
    assert words[0] == "tresnet-zoo", command
    return cli(*words[1:])


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


def test_a_missing_mirror_folder_is_one_error_with_a_runnable_hint(cli, zoo, checkpoints, tmp_path):
    missing = tmp_path / "shared" / "weights"
    r = cli(*zoo.args("fetch", "--all", "--mirror", f"file://{missing}", "-q"))
    assert r.code == 3, r.text
    # once, naming the folder: no per-entry "has no manifest" notes, no per-source warnings
    assert r.err.count("error:") == 1, r.err
    assert f"the mirror folder {missing} does not exist" in r.err
    assert "no manifest" not in r.err and "warning:" not in r.err
    command = _hinted_command(r.err)
    prefix = f"tresnet-zoo --index {zoo.index} --cache-dir {zoo.cache}"
    # the files are in no cache yet (that is why they were fetched): the hint fetches them from their own
    # sources, then fills the folder; it runs as printed
    assert command == f"{prefix} fetch --all && {prefix} mirror push {missing}"
    for part in command.split(" && "):
        assert _run_hint(cli, part).code == 0
    fresh = tmp_path / "fresh-cache"
    r = cli("--index", str(zoo.index), "--cache-dir", str(fresh), "fetch", "tresnet_m", "--mirror", f"file://{missing}")
    assert r.code == 0, r.text
    assert (fresh / checkpoints["tresnet_m"].filename).read_bytes() == checkpoints["tresnet_m"].data


def test_a_missing_mirror_folder_in_python_says_so(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DownloadError, match=f"the mirror folder {re.escape(str(missing))} does not exist"):
        tresnet_zoo.fetch("tresnet_xl", mirror=f"file://{missing}")


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
    command = _hinted_command_in(r.err)
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
    fetch, lock = hint_command(r.err).split(" && ")
    assert _run_hint(cli, fetch).code == 0
    done = _run_hint(cli, lock)
    assert done.code == 0 and output.exists(), done.text
    assert checkpoints["tresnet_m"].sha256 in output.read_text()
    r = cli(*zoo.args("lock", "tresnet_m", "--output", str(tmp_path / "other.lock"), "--json"))
    assert r.code == 0 and json.loads(r.out)["ok"] is True
    r = cli("--index", zoo.index, "--cache-dir", tmp_path / "empty", "lock", "--json", "--output", str(tmp_path / "x"))
    assert r.code == 1 and json.loads(r.out)["ok"] is False


def _hinted_command_in(text: str) -> str:
    commands = re.findall(r"`([^`]+)`", text)
    assert commands, text
    return commands[-1]
