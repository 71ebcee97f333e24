"""A checkpoint holding a nested tensor (``torch.nested``, which ``weights_only`` loading accepts) is refused
like a sparse or quantized one: exit 1 naming the tensor. Found by attack: reading its classifier's row
count raised torch's RuntimeError ("NestedTensorImpl doesn't support sizes"), exit 70."""

from __future__ import annotations

import warnings

import pytest
import torch

from tresnet_zoo.models.tresnet import build

from .test_models import one_entry_index


@pytest.mark.hostile
@pytest.mark.parametrize("key", ["head.fc.weight", "body.conv1.conv.weight"])
def test_a_nested_tensor_in_a_checkpoint_is_refused(tmp_path, cli, key):
    state = build("tresnet_m").state_dict()
    assert key in state
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: nested tensors are a prototype
        state[key] = torch.nested.nested_tensor([torch.zeros(3), torch.zeros(2)])
    torch.save(state, tmp_path / "nested.pth")
    result = cli("--index", one_entry_index(tmp_path, "tresnet_m", 32), "export", "tresnet_m", "--format", "timm",
                 "--out", tmp_path / "out", "--checkpoint", tmp_path / "nested.pth")
    assert result.code == 1, result.err
    assert "nested.pth" in result.err and "internal error" not in result.err
