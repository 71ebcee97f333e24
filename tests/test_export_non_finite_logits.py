"""Weights that give NaN or infinite logits are not exported, and the error says so: found by attack, the
refusal read "outputs of shape (8, 1000), not (8, 1000)" (the shapes were equal; the logits were NaN)."""

from __future__ import annotations

import pytest
import torch

from tresnet_zoo.errors import ZooError
from tresnet_zoo.export import export
from tresnet_zoo.models.tresnet import build

from .test_models import one_entry_index


@pytest.mark.hostile
def test_weights_giving_nan_logits_are_refused_saying_so(tmp_path):
    state = build("tresnet_m").state_dict()
    state["head.fc.weight"] = torch.full_like(state["head.fc.weight"], float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(ZooError) as caught:
        export("tresnet_m", "timm", tmp_path / "out", checkpoint=tmp_path / "nan.pth",
               index=one_entry_index(tmp_path, "tresnet_m", 32))
    assert caught.value.exit_code == 1
    assert "finite" in str(caught.value) and "shape" not in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []
