"""An ONNX file handed to `predict` (an input) is run from its own bytes only: a tensor whose data it says
lies in an external file is refused, not read from the user's working folder (or beside it). Found by
attack: onnxruntime, given the model's bytes, resolved external data against the current directory, so a
hostile .onnx turned any file there into its logits."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime", reason="the [onnx] extra")
np = pytest.importorskip("numpy")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tresnet_zoo.errors import CheckpointError  # noqa: E402
from tresnet_zoo.export import OnnxModel  # noqa: E402


def _classifier(location: str | None, image_shape=("n", 3, 1, 1)) -> bytes:
    """image (N, 3, 1, 1) -> logits (N, 4) through a 3x4 weight, inline or named as external data."""
    weight = numpy_helper.from_array(np.ones((3, 4), dtype=np.float32), "W")
    if location is not None:
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "48")):
            weight.external_data.add(key=key, value=value)
    shape = numpy_helper.from_array(np.array([-1, 3], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["image", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "W"], ["logits"])],
        "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(image_shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 4])], [weight, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.hostile
def test_inline_classifier_runs(tmp_path):
    model = OnnxModel(_classifier(None), {}, source="inline.onnx")
    assert model.num_classes == 4


@pytest.mark.hostile
@pytest.mark.parametrize("location", ["secret.bin", "sub/secret.bin", "link.bin"])
def test_external_data_is_not_read_from_the_working_folder(tmp_path, monkeypatch, location):
    (tmp_path / "sub").mkdir()
    for path in (tmp_path / "secret.bin", tmp_path / "sub" / "secret.bin"):
        path.write_bytes(bytes(range(48)))
    (tmp_path / "link.bin").symlink_to(tmp_path / "secret.bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as caught:
        OnnxModel(_classifier(location), {}, source="hostile.onnx")
    assert "hostile.onnx" in str(caught.value)
