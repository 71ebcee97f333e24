"""An .onnx file given to `predict --checkpoint` that loads but cannot run on the images (fixed input
dimensions other than the entry's image size), or gives other than one row of logits per image, is a bad
file: exit 1 naming it, never exit 70. Found by attack: onnxruntime's InvalidArgument at run time reached
the user as an internal error."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime", reason="the [onnx] extra")
pytest.importorskip("onnx", reason="the [onnx] extra")

from .test_models import one_entry_index  # noqa: E402
from .test_onnx_external_data import _classifier  # noqa: E402
from .test_predict import make_images  # noqa: E402


@pytest.mark.hostile
@pytest.mark.parametrize("shape", [("n", 3, 1, 1), ("n", 3, "h", "w")], ids=["fixed-1x1", "rows-per-pixel"])
def test_an_onnx_file_that_cannot_classify_the_images_exits_1(tmp_path, cli, shape):
    model = tmp_path / "odd.onnx"
    model.write_bytes(_classifier(None, shape))
    images = make_images(tmp_path / "imgs")[:2]
    index = one_entry_index(tmp_path, "tresnet_m", 32)
    result = cli("--index", index, "predict", "tresnet_m", *images, "--checkpoint", model)
    assert result.code == 1, result.err
    assert "odd.onnx" in result.err and "internal error" not in result.err
