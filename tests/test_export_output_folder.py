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


@pytest.fixture
def weights(tmp_path):
    import torch

    from tresnet_zoo.models.tresnet import build

    from .test_models import one_entry_index, randomised_state

    model = build("tresnet_m").eval()
    model.load_state_dict(randomised_state(model, seed=7))
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    return tmp_path / "weights.pth", one_entry_index(tmp_path, "tresnet_m", 32)


@pytest.mark.hostile
@pytest.mark.xfail(strict=True, reason="--force replaces any regular file of the format's names; telling a file an "
                   "earlier export wrote from someone else's needs a record of what tresnet-zoo wrote there")
def test_force_does_not_replace_a_file_tresnet_zoo_did_not_write(tmp_path, cli, weights):
    checkpoint, index = weights
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "model.ts").write_bytes(b"someone else's TorchScript model")
    without = cli("--index", index, "export", "tresnet_m", "--format", "torchscript", "--out", out,
                  "--checkpoint", checkpoint)
    assert without.code == 2 and (out / "model.ts").read_bytes() == b"someone else's TorchScript model"
    forced = cli("--index", index, "export", "tresnet_m", "--format", "torchscript", "--out", out,
                 "--checkpoint", checkpoint, "--force")
    assert forced.code != 0
    assert (out / "model.ts").read_bytes() == b"someone else's TorchScript model"
