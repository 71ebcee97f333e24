"""The lock file's output: never read or written through a link someone planted."""

from __future__ import annotations

from .helpers.paths import UPSTREAM


def test_lock_output_that_is_a_planted_link_is_refused_and_its_target_untouched(cli, tmp_path):
    """`lock --output NAME` where NAME is a symbolic link to someone else's file: the lock is neither read
    through the link nor written through it; the file it points at keeps its bytes."""
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = tmp_path / "team.lock"
    link.symlink_to(outside)
    page = tmp_path / "page.md"
    page.write_bytes(UPSTREAM.read_bytes())
    result = cli("--index", page, "lock", "--output", link)
    assert result.code == 1, result.text
    assert "not a link" in result.text and "Traceback" not in result.text
    assert link.is_symlink() and outside.read_text() == "precious"
