"""`tresnet-zoo export`: every architecture and head size (1000 / 11221 classes) in every format gives, read
back by its own runtime (onnxruntime, torch.jit, torch.export, timm), the logits of the model it came from;
the ONNX file carries its metadata; timm loads the folder unchanged; nothing is overwritten without
--force, written into a link, or kept when it fails parity. Generated weights with realistic BatchNorm
statistics, small images."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
import torch
import yaml

import tresnet_zoo
from tresnet_zoo import export as export_module
from tresnet_zoo.export import FILES, FORMATS, ParityError, export, parity_images
from tresnet_zoo.models.tresnet import VARIANTS, build

from .test_models import randomised_state

timm = pytest.importorskip("timm", reason="timm is the test-only oracle: pip install -e '.[test]'")
ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra: pip install -e '.[onnx]'")
onnx = pytest.importorskip("onnx", reason="the [onnx] extra: pip install -e '.[onnx]'")

SIZE = 64
HEADS = (1000, 11221)
_CHECKPOINTS: dict = {}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(arch, head) -> (checkpoint path, its sha256, the eager model): generated once per module."""
    folder = tmp_path_factory.mktemp("checkpoints")

    def get(arch: str, head: int):
        if (arch, head) not in _CHECKPOINTS:
            model = build(arch, num_classes=head).eval()
            model.load_state_dict(randomised_state(model, seed=head + len(arch)))
            path = folder / f"{arch}-{head}.pth"
            torch.save(model.state_dict(), path)
            _CHECKPOINTS[(arch, head)] = (path, hashlib.sha256(path.read_bytes()).hexdigest(), model)
        return _CHECKPOINTS[(arch, head)]

    yield get
    _CHECKPOINTS.clear()


def _run(fmt: str, result, batch):
    if fmt == "onnx":
        session = ort.InferenceSession(str(result.files[0]), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {"image": batch.numpy()})[0])
    if fmt == "torchscript":
        return torch.jit.load(str(result.files[0]))(batch)
    if fmt == "pt2":
        return torch.export.load(str(result.files[0])).module()(batch)
    return timm.create_model(f"local-dir:{result.folder}", pretrained=True).eval()(batch)


# the default run exports tresnet_m with 1000 classes in every format; every other architecture and the
# 11221-class head are the slow set's (.ci/run), as is L and XL's size (56 and 78 M parameters, written 4 times)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("arch,head", [
    pytest.param(a, h, marks=[] if (a, h) == ("tresnet_m", 1000) else [pytest.mark.slow])
    for a in VARIANTS for h in HEADS])
def test_export_round_trips(arch, head, fmt, generated, tmp_path):
    path, sha256, model = generated(arch, head)
    result = export(arch, fmt, tmp_path / "out", checkpoint=path, image_size=SIZE)
    assert result.weights_sha256 == sha256 and result.images == 8 and result.max_abs_diff <= 1e-4
    assert [p.name for p in result.files] == list(FILES[fmt])
    assert sorted(os.listdir(tmp_path / "out")) == sorted(FILES[fmt])  # no temp file left behind
    # read back by its own runtime, at another batch size (the batch is dynamic) and other images
    batch = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(head))
    with torch.no_grad():
        expected, got = model(batch), _run(fmt, result, batch)
    assert got.shape == (3, head)
    if fmt == "timm":  # the same weights in timm's own TResNet: the same numbers
        assert torch.equal(got, expected)
        config = json.loads((tmp_path / "out" / "config.json").read_text())
        assert config["architecture"] == arch and config["num_classes"] == head
        assert config["pretrained_cfg"]["num_classes"] == head
    else:
        assert (got - expected).abs().max() <= 1e-4
        assert torch.equal(got.topk(5).indices, expected.topk(5).indices)
    if fmt == "onnx":
        proto = onnx.load(str(result.files[0]), load_external_data=False)
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["entry"] == arch and meta["weights_sha256"] == sha256 and meta["opset"] == "17"
        assert meta["label_set"] == {1000: "imagenet-1k", 11221: "imagenet-21k-miil"}[head]
        assert json.loads(meta["preprocessing"])["mean"] == [0.0, 0.0, 0.0]
        assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)  # fused


def test_model_card_carries_the_entrys_results_in_model_index_form(generated, tmp_path):
    path, _, _ = generated("tresnet_m", 1000)
    result = export("tresnet_m", "timm", tmp_path, checkpoint=path, image_size=SIZE)
    card = (tmp_path / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    entry = tresnet_zoo.load_index().get("tresnet_m")
    assert front["library_name"] == "timm" and front["license"] == entry.license
    (index_entry,) = front["model-index"]
    metrics = {m["name"]: m["value"] for r in index_entry["results"] for m in r["metrics"]}
    assert metrics == {"Top 1 Accuracy": entry.top1, "Top 5 Accuracy": entry.top5}
    assert result.weights_sha256 in card


def test_existing_files_links_and_special_files_are_refused(generated, tmp_path, cli):
    path, _, _ = generated("tresnet_m", 1000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.ts").write_text("mine")
    refused = cli("export", "tresnet_m", "--format", "torchscript", "--out", out, "--checkpoint", path)
    assert refused.code == 2 and "not overwritten" in refused.err and "--force" in refused.err
    assert (out / "model.ts").read_text() == "mine"
    link = tmp_path / "link"
    link.symlink_to(out, target_is_directory=True)
    assert cli("export", "tresnet_m", "--format", "timm", "--out", link, "--checkpoint", path, "--force").code == 2
    os.mkfifo(out / "model.pt2")
    fifo = cli("export", "tresnet_m", "--format", "pt2", "--out", out, "--checkpoint", path, "--force")
    assert fifo.code == 2 and "not a regular file" in fifo.err
    done = cli("export", "tresnet_m", "--format", "torchscript", "--out", out, "--checkpoint", path, "--force",
               "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["files"] == [str(out / "model.ts")] and (out / "model.ts").read_bytes() != b"mine"


def test_an_export_failing_parity_is_not_written(generated, tmp_path, monkeypatch):
    path, _, _ = generated("tresnet_m", 1000)
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # no difference passes: the check must refuse
    with pytest.raises(ParityError):
        export("tresnet_m", "torchscript", tmp_path, checkpoint=path, image_size=SIZE)
    assert os.listdir(tmp_path) == []


def test_onnx_without_the_extra_exits_3_naming_it(tmp_path, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not importable, as when the extra is missing
    result = cli("export", "tresnet_m", "--format", "onnx", "--out", tmp_path / "out")
    assert result.code == 3 and "onnxruntime" in result.err and "[onnx]" in result.err


def test_parity_images_are_fixed_and_distinct():
    a, b = parity_images(32), parity_images(32)
    assert torch.equal(a, b) and a.shape == (8, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert len({tuple(img.flatten()[:64].tolist()) for img in a}) == 8


def test_export_from_the_entrys_verified_weights(zoo, tmp_path):
    """Without --checkpoint: the entry's weights, fetched and verified as create_model(pretrained=True) does;
    the export records the sha256 of the bytes loaded."""
    result = export("tresnet_m", "timm", tmp_path / "out", index=zoo.index, cache_dir=zoo.cache, image_size=SIZE)
    assert result.weights_sha256 == hashlib.sha256(zoo.final().read_bytes()).hexdigest()
    assert result.weights_sha256 in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx"])
@pytest.mark.parametrize("name", [e.name for e in tresnet_zoo.load_index()])
def test_every_bundled_entry_exports_at_its_own_size(name, fmt, tmp_path):
    """Each of the registry's entries, at its own image size (224 or 448) and class count, generated weights
    of its shape: parity is checked at full size, as a user's export of the entry's weights is. ONNX only
    (every format of every architecture and head is test_export_round_trips'): a full-size export in four
    formats of ten entries takes longer than the whole CI run may."""
    from tresnet_zoo.models import build_entry

    entry = tresnet_zoo.load_index().get(name)
    model = build_entry(entry).eval()
    model.load_state_dict(randomised_state(model, seed=len(name)))
    path = tmp_path / "weights.pth"
    torch.save(model.state_dict(), path)
    result = export(name, fmt, tmp_path / "out", checkpoint=path)
    size = entry.metadata.image_size or 224
    assert result.images == 8 and result.max_abs_diff <= 1e-4
    batch = parity_images(size)[:2]
    with torch.no_grad():
        got, expected = _run(fmt, result, batch), model(batch)
    assert got.shape == (2, model.num_classes) and (got - expected).abs().max() <= 1e-4
