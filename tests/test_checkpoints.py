"""Loading checkpoints: wrappers, prefixes, clear errors for files that do not fit, refusal of pickled code."""

from __future__ import annotations

import pytest
import torch

import tresnet_zoo
from tresnet_zoo.errors import CheckpointError, UnsafeCheckpointError, UsageError
from tresnet_zoo.models.layouts import read_checkpoint
from tresnet_zoo.models.tresnet import build


@pytest.fixture(scope="module")
def state():
    return build("tresnet_m").state_dict()


def test_wrappers_and_module_prefix_are_unwrapped(tmp_path, state):
    for i, obj in enumerate(({"state_dict": state}, {"model": {f"module.{k}": v for k, v in state.items()}}, state)):
        path = tmp_path / f"w{i}.pth"
        torch.save(obj, path)
        assert set(read_checkpoint(path)) == set(state)


def test_checkpoint_of_another_architecture_names_missing_and_unexpected_keys(tmp_path, state):
    path = tmp_path / "m.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        tresnet_zoo.create_model("tresnet_l", checkpoint_path=path)
    message = str(err.value)
    assert "m.pth (timm layout) does not fit the architecture" in message
    assert "missing (" in message and "wrong shape (" in message
    assert "body.conv1.conv.weight: [64, 48, 3, 3] vs model [76, 48, 3, 3]" in message


def test_checkpoint_of_a_larger_architecture_is_refused_unread(tmp_path):
    path = tmp_path / "l.pth"
    torch.save(build("tresnet_l").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"l.pth: \d+ bytes, more than a checkpoint of this architecture"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=path)


def test_foreign_checkpoint_is_neither_layout(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 512)}, path)
    with pytest.raises(CheckpointError, match=r"neither the timm nor the release layout.*434 missing.*2 unexpected"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=path)


def test_pickled_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        read_checkpoint(path)


def test_truncated_and_non_checkpoint_files(tmp_path, state):
    good = tmp_path / "good.pth"
    torch.save(state, good)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        read_checkpoint(bad)
    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError):
        read_checkpoint(text)
    scalar = tmp_path / "scalar.pth"
    torch.save({"epoch": 3}, scalar)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_checkpoint(scalar)


def test_other_num_classes_keeps_a_fresh_head(tmp_path, state):
    path = tmp_path / "m.pth"
    torch.save(state, path)
    model = tresnet_zoo.create_model("tresnet_m", checkpoint_path=path, num_classes=10)
    assert model.head.fc.out_features == 10
    torch.testing.assert_close(model.body.conv1.conv.weight, state["body.conv1.conv.weight"])


def test_create_model_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=tmp_path / "none.pth")
    with pytest.raises(UsageError, match="unknown model"):
        tresnet_zoo.create_model("resnet50")


def test_pretrained_cfg_comes_from_the_index():
    model = tresnet_zoo.create_model("tresnet_l_448")
    cfg = model.pretrained_cfg
    assert cfg["image_size"] == 448 and cfg["crop_pct"] == 0.875 and cfg["interpolation"] == "bilinear"
    assert cfg["variant"] == "tresnet_l" and not model.training
