"""`export --out` names a path that cannot be a folder (a file on the way to it): a usage error naming the
path, exit 2, nothing made. Found by attack: `--out afile/sub` ended in exit 70 (NotADirectoryError from
the output folder's check), and so did a name longer than the system allows (ENAMETOOLONG)."""

from __future__ import annotations

import pytest


@pytest.mark.hostile
@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_an_output_folder_below_a_file_is_a_usage_error(tmp_path, cli, below):
    blocker = tmp_path / "afile"
    blocker.write_bytes(b"someone's file")
    result = cli("export", "tresnet_m", "--format", "onnx", "--out", blocker / below)
    assert result.code == 2, result.err
    assert "afile" in result.err and "internal error" not in result.err
    assert blocker.read_bytes() == b"someone's file"


@pytest.mark.hostile
def test_an_output_folder_name_too_long_is_a_usage_error(tmp_path, cli):
    result = cli("export", "tresnet_m", "--format", "onnx", "--out", tmp_path / ("x" * 300))
    assert result.code == 2, result.err
    assert "internal error" not in result.err
