"""A refused checkpoint says one error line: torch's own warnings while loading it (sparse invariants being
validated, TypedStorage deprecated) do not reach the user. Found by attack: `export --checkpoint` of a
sparse or quantized state printed torch's warning lines before the error."""

from __future__ import annotations

import warnings

import pytest
import torch

from tresnet_zoo.models.tresnet import build

from .test_models import one_entry_index


def _sparse(weight):
    return torch.sparse_coo_tensor(torch.tensor([[0], [0]]), torch.tensor([1.0]), tuple(weight.shape))


def _quantized(weight):
    return torch.quantize_per_tensor(weight, 0.1, 0, torch.qint8)


@pytest.mark.hostile
@pytest.mark.parametrize("change", [_sparse, _quantized], ids=["sparse", "quantized"])
def test_a_refused_checkpoint_prints_only_the_error(tmp_path, cli, change):
    state = build("tresnet_m").state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state["head.fc.weight"] = change(state["head.fc.weight"])
    torch.save(state, tmp_path / "odd.pth")
    result = cli("--index", one_entry_index(tmp_path, "tresnet_m", 32), "export", "tresnet_m", "--format", "timm",
                 "--out", tmp_path / "out", "--checkpoint", tmp_path / "odd.pth")
    assert result.code == 1, result.err
    lines = [line for line in result.err.splitlines() if not line.startswith("hint: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "head.fc.weight" in lines[0], result.err
