"""`mirror push` to a folder: refused whole when the folder is read-only or is not a folder, nothing written."""

from __future__ import annotations

import pytest


def test_push_to_a_read_only_folder_is_refused_whole(cli, zoo, tmp_path):
    """A mirror folder without write bits is refused before any file is copied, even for root (who may
    write anyway): the owner asked for it to stay as it is."""
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    folder = tmp_path / "ro-mirror"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        got = cli(*zoo.args("mirror", "push", str(folder)))
        assert got.code == 3 and "is read-only; nothing was pushed" in got.err, got.text
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("planted", ["fifo", "dangling-link", "file"])
def test_a_mirror_folder_that_is_not_a_folder(cli, zoo, tmp_path, planted):
    """A FIFO, a dangling link or a file where the mirror folder should be: fetch says so without blocking
    and without hinting a `mirror push` that would fail the same way; push refuses it and writes nothing."""
    import os

    where = tmp_path / "not-a-folder"
    if planted == "fifo":
        os.mkfifo(where)
    elif planted == "dangling-link":
        where.symlink_to(tmp_path / "nowhere")
    else:
        where.write_text("x")
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--mirror", str(where)))
    assert got.code == 3 and f"the mirror folder {where} is not a folder" in got.err, got.text
    assert "mirror push" not in got.err
    got = cli(*zoo.args("mirror", "push", str(where)))
    assert got.code in (1, 3) and "exists and is not a folder" in got.err, got.text
    assert not (tmp_path / "nowhere").exists()
