"""`predict --runtime onnx`: the model exported once into the cache (under its weights' sha256) and run on
onnxruntime gives the top-5 of the torch runtime on the test images; a changed cached export is made
again, not trusted; `predict` takes an exported .onnx file; without the [onnx] extra it exits 3."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest
import torch

from tresnet_zoo.export import export
from tresnet_zoo.models.tresnet import build
from tresnet_zoo.predict import Predictor

from .test_models import one_entry_index, randomised_state
from .test_predict import make_images

pytest.importorskip("onnxruntime", reason="the [onnx] extra: pip install -e '.[onnx]'")

SIZE = 64  # the entry's image size here: preprocessing and the export's parity images alike


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx-runtime")
    model = build("tresnet_m").eval()
    model.load_state_dict(randomised_state(model, seed=5))
    path = folder / "weights.pth"
    torch.save(model.state_dict(), path)
    return {"checkpoint": path, "index": one_entry_index(folder, "tresnet_m", SIZE),
            "images": make_images(folder / "imgs")[:6], "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _top(predictor, images):
    return [p.top for p in predictor.predict_files(images, top=5)]


def test_onnx_runtime_gives_the_torch_top5_and_exports_once(setup, tmp_path):
    kwargs = dict(checkpoint=setup["checkpoint"], index=setup["index"], cache_dir=tmp_path, batch_size=4)
    torch_top = _top(Predictor.for_entry("tresnet_m", **kwargs), setup["images"])
    onnx_top = _top(Predictor.for_entry("tresnet_m", runtime="onnx", **kwargs), setup["images"])
    assert [[c for c, _ in t] for t in onnx_top] == [[c for c, _ in t] for t in torch_top]
    for a, b in zip(onnx_top, torch_top):
        assert all(abs(pa - pb) < 1e-4 for (_, pa), (_, pb) in zip(a, b))
    exported = tmp_path / "exports" / setup["sha256"] / "model.onnx"
    stamp = exported.stat().st_mtime_ns
    Predictor.for_entry("tresnet_m", runtime="onnx", **kwargs)
    assert exported.stat().st_mtime_ns == stamp  # reused
    with open(exported, "ab") as handle:  # changed behind our back: not trusted, exported again
        handle.write(b"\0")
    again = _top(Predictor.for_entry("tresnet_m", runtime="onnx", **kwargs), setup["images"])
    assert again == onnx_top
    recorded = (exported.parent / "model.onnx.sha256").read_text().strip()
    assert hashlib.sha256(exported.read_bytes()).hexdigest() == recorded


def test_predict_takes_an_exported_onnx_file(setup, tmp_path, cli):
    export("tresnet_m", "onnx", tmp_path / "out", checkpoint=setup["checkpoint"], index=setup["index"])
    images = [str(p) for p in setup["images"][:3]]
    by_torch = cli("--index", setup["index"], "predict", "tresnet_m", *images, "--checkpoint", setup["checkpoint"],
                   "--json")
    by_onnx = cli("--index", setup["index"], "predict", "tresnet_m", *images, "--checkpoint",
                  tmp_path / "out" / "model.onnx", "--json")
    assert by_torch.code == 0 and by_onnx.code == 0, by_onnx.err

    def classes(result):
        return [[p["class"] for p in r["predictions"]] for r in json.loads(result.out)["results"]]

    assert classes(by_onnx) == classes(by_torch)
    not_onnx = tmp_path / "bogus.onnx"
    not_onnx.write_bytes(b"not a model")
    bad = cli("--index", setup["index"], "predict", "tresnet_m", images[0], "--checkpoint", not_onnx)
    assert bad.code == 1 and "bogus.onnx" in bad.err


def test_onnx_runtime_without_the_extra_exits_3(setup, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = cli("--index", setup["index"], "predict", "tresnet_m", str(setup["images"][0]), "--runtime", "onnx",
                 "--checkpoint", setup["checkpoint"])
    assert result.code == 3 and "[onnx]" in result.err
