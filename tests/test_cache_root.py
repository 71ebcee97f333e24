"""The cache folder itself: reached through a link, not a folder, missing, holding names a neighbour planted."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .helpers.paths import PYTHON, python_env

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)


def test_list_info_and_cache_info_see_files_in_a_linked_cache_folder(cli, zoo, checkpoints, tmp_path):
    """The cache root may be a symbolic link (fetch follows it and finds the file cached); `list`, `info`
    and `cache info` listed the link itself as no folder and reported an empty cache."""
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    real = tmp_path / "real-cache"
    zoo.cache.rename(real)
    zoo.cache.symlink_to(real, target_is_directory=True)
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--json"))
    assert got.code == 0 and json.loads(got.out)["results"][0]["source"] == "cache", got.text
    got = cli(*zoo.args("list", "--json"))
    cached = {r["name"]: r["cached"] for r in json.loads(got.out)}
    assert cached == {"tresnet_m": True, "tresnet_m_release": False}, got.text
    got = cli(*zoo.args("info", "tresnet_m", "--json"))
    assert json.loads(got.out)["cached"] is True, got.text
    got = cli(*zoo.args("cache", "info", "--json"))
    assert got.code == 0, got.text
    files = json.loads(got.out)["files"]
    assert [f["file"] for f in files] == [ckpt.filename], got.text
    got = cli(*zoo.args("cache", "clear", "tresnet_m"))
    assert got.code == 0 and not (real / ckpt.filename).exists(), got.text


@pytest.mark.parametrize("kind", ["file", "fifo", "loop", "dangling"])
def test_cache_root_that_is_not_a_folder_is_said_so_by_info_and_clear(cli, zoo, tmp_path, kind):
    """A cache folder name holding a symbolic link loop made `cache clear` exit 70; a file, FIFO or dangling
    link there made `cache info` and `cache clear` print an empty cache and "removed 0 file(s)", exit 0.
    Both now say what is in the way (exit 3, like fetch), and touch nothing."""

    root = tmp_path / "cache-root"
    if kind == "file":
        root.write_text("mine")
    elif kind == "fifo":
        os.mkfifo(root)
    elif kind == "loop":
        os.symlink(root, root)
    else:
        os.symlink(tmp_path / "nowhere", root)
    commands = (["cache", "info"], ["cache", "info", "--json"], ["cache", "clear"], ["cache", "clear", "--partials"])
    for command in commands:
        got = cli("--index", zoo.index, "--cache-dir", root, *command)
        assert got.code == 3, (command, got.text)
        assert "is not a folder" in got.err and "internal error" not in got.text, got.text
    assert os.path.lexists(root) and not (tmp_path / "nowhere").exists()
    if kind == "file":
        assert root.read_text() == "mine"


def test_missing_cache_folder_is_an_empty_cache(cli, zoo, tmp_path):
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "absent", "cache", "clear")
    assert got.code == 0 and "removed 0 file(s)" in got.out, got.text
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "absent", "cache", "info", "--json")
    assert got.code == 0, got.text


def test_cache_names_a_neighbour_planted_are_shown_escaped(tmp_path):
    """The cache is shared: a neighbour's file name is theirs to choose. `cache clear` printed such names raw
    (ESC sequences reached the terminal: a title change, a cleared screen), and a name that is not UTF-8 made
    `cache info` and `cache clear` exit 70 under a strict UTF-8 stdout. Both show them escaped, and leave them."""

    root = tmp_path / "shared"
    (root / "records").mkdir(parents=True)
    names = [b"evil\x1b]0;PWNED\x07\x1b[2J.part", b"\xff\xfebad", b"records/\x1b[31mred.json"]
    for name in names:
        (root / os.fsdecode(name)).write_text("not yours")
    for command in (["cache", "info"], ["cache", "clear"]):
        proc = subprocess.run(
            [PYTHON, "-c", "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))",
             "--cache-dir", str(root), *command],
            capture_output=True, timeout=120, env={**python_env(), "PYTHONIOENCODING": "utf-8:strict"})
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        out = proc.stdout.decode("utf-8")
        assert "\x1b" not in out and "\x07" not in out, out
        assert "evil\\x1b]0;PWNED\\x07\\x1b[2J.part" in out and "\\udcff\\udcfebad" in out, out
    assert all((root / os.fsdecode(name)).read_text() == "not yours" for name in names)
