"""CPU inference throughput of tresnet_m (batch 8, 224 px, eval, no grad): tresnet-zoo vs timm, same weights."""

from __future__ import annotations

import statistics
import time

import torch


def images_per_second(model: torch.nn.Module, batch: torch.Tensor, repeat: int) -> float:
    with torch.inference_mode():
        for _ in range(2):
            model(batch)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - start)
    return batch.shape[0] / statistics.median(times)


def onnx_runtime(model: torch.nn.Module, batch: torch.Tensor):
    """The model as `predict --runtime onnx` runs it (fused ONNX, tresnet_zoo.export.OnnxModel's session
    options); None without the [onnx] extra."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    import copy
    import io

    from tresnet_zoo.export import OPSET, OnnxModel

    fused = copy.deepcopy(model).fuse(channels_last=False)
    buffer = io.BytesIO()
    torch.onnx.export(fused, (batch[:2],), buffer, dynamo=False, opset_version=OPSET, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    return OnnxModel(buffer.getvalue(), model.pretrained_cfg, source="benchmark")


def measure(repeat: int = 7) -> dict[str, float]:
    import timm

    import tresnet_zoo

    torch.manual_seed(0)
    theirs = timm.create_model("tresnet_m", pretrained=False).eval()
    weights = theirs.state_dict()
    models = {
        "timm": theirs,
        "ours": tresnet_zoo.create_model("tresnet_m"),  # the default: channels-last
        "ours_contiguous": tresnet_zoo.create_model("tresnet_m", channels_last=False),  # timm's very ops
        "fused": tresnet_zoo.create_model("tresnet_m"),
    }
    for name in ("ours", "ours_contiguous", "fused"):
        models[name].load_state_dict(weights)
    models["fused"].fuse()
    batch = torch.rand(8, 3, 224, 224)
    onnx = onnx_runtime(models["ours_contiguous"], batch)
    if onnx is not None:
        models["onnxruntime"] = onnx
    with torch.inference_mode():
        expected = theirs(batch)
        for name, model in models.items():
            assert torch.allclose(model(batch), expected, atol=1e-4), name
    # interleave the runs so that a slow moment of the machine hits every model alike
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(3):
        for name, model in models.items():
            rates[name].append(images_per_second(model, batch, repeat))
    return {k: statistics.median(v) for k, v in rates.items()}


if __name__ == "__main__":
    print(measure())
