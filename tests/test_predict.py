"""`predict`: the same logits as timm's own pipeline (timm transforms + timm model, same weights) on
images the test generates; class names; hostile images (bombs, non-images, FIFOs, links out of folders)."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import tresnet_zoo
from tresnet_zoo.models.tresnet import build
from tresnet_zoo.predict import Predictor, Preprocess, collect_images, open_image

from .test_models import one_entry_index, randomised_state

timm = pytest.importorskip("timm", reason="timm is the test-only oracle: pip install -e '.[test]'")

# (width, height, mode): landscape, portrait, square, extreme ratios, odd sizes, smaller than the crop,
# exactly the resize target, and modes that convert to RGB (grey, alpha, palette)
SHAPES = [(300, 200, "RGB"), (200, 310, "RGB"), (256, 256, "RGB"), (225, 1000, "RGB"), (999, 333, "RGB"),
          (150, 97, "RGB"), (257, 255, "L"), (320, 240, "RGBA"), (180, 260, "P")]


def make_images(folder, shapes=SHAPES, seed=0):
    """Random-content images saved as PNG and JPEG (smooth noise, so JPEG keeps some structure)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (w, h, mode) in enumerate(shapes):
        coarse = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
        noise = rng.integers(-40, 40, (h, w, 3))
        base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.int64)
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).convert(mode)
        for ext in ("png", "jpg"):
            if ext == "jpg" and mode in ("RGBA", "P"):
                continue
            path = folder / f"img{i:02d}_{w}x{h}_{mode}.{ext}"
            image.save(path)
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """tresnet_m with random weights and BatchNorm statistics: as a timm-layout file, and the state."""
    model = build("tresnet_m").eval()
    state = randomised_state(model, seed=21)
    folder = tmp_path_factory.mktemp("weights")
    path = folder / "tresnet_m-random.pth"
    torch.save(state, path)
    return path, state


def timm_logits(state, paths, size: int):
    """timm's own pipeline: its model with the same weights, its transforms from its data config."""
    tag = "tresnet_m.miil_in1k" if size == 224 else "tresnet_m.miil_in1k_448"
    model = timm.create_model(tag, pretrained=False).eval()
    model.load_state_dict(state)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with torch.no_grad():
        return model(torch.stack([transform(Image.open(p).convert("RGB")) for p in paths]))


@pytest.mark.parametrize("size", [224, 448])
def test_predict_logits_equal_timm_pipeline_on_generated_images(size, weights, tmp_path):
    path, state = weights
    images = make_images(tmp_path / "images", SHAPES if size == 224 else SHAPES[:1])
    name = "tresnet_m" if size == 224 else "tresnet_m_448"
    predictor = Predictor.for_entry(name, checkpoint=path, index=one_entry_index(tmp_path, name, size), batch_size=4)
    assert predictor.preprocess == Preprocess(size, 0.875, "bilinear")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in predictor.model.modules())  # fused
    results = list(predictor.predict_files(images, keep_logits=True, top=3))
    assert [r.path for r in results] == [str(p) for p in images] and all(r.ok for r in results)
    ours = torch.stack([r.logits for r in results])
    theirs = timm_logits(state, images, size)
    assert ours.std() > 1e-3
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)
    for r, t in zip(results, theirs.softmax(1)):
        assert [i for i, _ in r.top] == t.topk(3).indices.tolist()
        assert r.names[0][0].startswith("n") and r.top[0][1] == pytest.approx(float(t.max()), abs=1e-5)


def test_preprocess_equals_timm_transform_exactly(tmp_path):
    images = make_images(tmp_path, SHAPES)
    configs = ((224, 0.875, "bilinear"), (448, 0.875, "bilinear"), (224, 0.95, "bicubic"), (288, 1.0, "bilinear"))
    for size, crop, interp in configs:
        transform = timm.data.create_transform(input_size=(3, size, size), crop_pct=crop, interpolation=interp,
                                               mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_mode="center")
        ours = Preprocess(size, crop, interp)
        for path in images[:6]:
            assert torch.equal(ours(open_image(path)), transform(Image.open(path).convert("RGB"))), (path, size, crop)


def test_cli_predict_prints_names_and_json(weights, tmp_path, cli):
    path, _ = weights
    images = make_images(tmp_path / "imgs", SHAPES[:3])
    index = one_entry_index(tmp_path, "tresnet_m")
    done = cli("--index", index, "predict", "tresnet_m", tmp_path / "imgs", "--checkpoint", path, "--top", "2")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0] == str(sorted(images)[0]) and len(lines) == 3 * len(images)
    percent, wnid, label = lines[1].split(None, 2)
    labels = tresnet_zoo.labels_for(1000)
    assert percent.endswith("%") and labels[labels.wnids.index(wnid)] == label
    done = cli("--index", index, "predict", "tresnet_m", images[1], images[0], "--checkpoint", path,
               "--json", "--top", "3")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["ok"] and [r["file"] for r in data["results"]] == [str(images[1]), str(images[0])]
    preds = data["results"][0]["predictions"]
    assert len(preds) == 3 and preds[0]["probability"] >= preds[1]["probability"] >= preds[2]["probability"]
    labels = tresnet_zoo.labels_for(1000)
    assert preds[0]["wnid"] == labels.wnids[preds[0]["class"]] and preds[0]["label"] == labels[preds[0]["class"]]


def test_fine_tuned_checkpoint_with_other_classes_predicts_class_numbers(tmp_path, cli):
    model = build("tresnet_m", num_classes=7).eval()
    model.load_state_dict(randomised_state(model, seed=3))
    path = tmp_path / "finetuned.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    (image,) = make_images(tmp_path / "one", [(240, 260, "RGB")])[:1]
    done = cli("--index", one_entry_index(tmp_path, "tresnet_m"), "predict", "tresnet_m", image, "--checkpoint", path,
               "--json", "--top", "10")
    assert done.code == 0, done.err
    preds = json.loads(done.out)["results"][0]["predictions"]
    assert len(preds) == 7 and "wnid" not in preds[0] and {p["class"] for p in preds} == set(range(7))
    assert sum(p["probability"] for p in preds) == pytest.approx(1.0, abs=1e-5)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header announces width x height pixels (and no pixel data): a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IEND", b"")


def test_hostile_images_give_clean_errors_naming_the_file(weights, tmp_path, cli):
    path, _ = weights
    good, jpeg = make_images(tmp_path / "ok", [(230, 240, "RGB")])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(60_000, 60_000))  # 3.6 G pixels announced in 60 bytes
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(10_000, 9_000))  # 90 M pixels: over the default limit of ~89.5 M
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all\n")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it must not block waiting for a writer
    index = one_entry_index(tmp_path, "tresnet_m")
    done = cli("--index", index, "predict", "tresnet_m", good, bomb, big, text, truncated, fifo,
               "--checkpoint", path, "--json")
    assert done.code == 1
    results = {r["file"]: r for r in json.loads(done.out)["results"]}
    assert results[str(good)]["ok"]
    for bad in (bomb, big, text, truncated, fifo):
        assert not results[str(bad)]["ok"] and str(bad) in results[str(bad)]["error"]
        assert f"error: {bad}" in done.err
    assert "pixels" in results[str(big)]["error"] or "bomb" in results[str(big)]["error"]
    assert "not a regular file" in results[str(fifo)]["error"]
    assert "not an image" in results[str(text)]["error"]
    assert "5 of 6 images failed" in done.err and "Traceback" not in done.err


def test_max_pixels_bound_is_checked_before_decoding(tmp_path):
    (image,) = make_images(tmp_path, [(200, 100, "RGB")])[:1]
    with pytest.raises(tresnet_zoo.ZooError, match="20000 pixels, more than the limit of 19999"):
        open_image(image, max_pixels=19_999)
    assert open_image(image, max_pixels=20_000).size == (200, 100)


def test_folder_walk_skips_links_and_keeps_order(tmp_path):
    outside = tmp_path / "outside"
    inside = tmp_path / "inside"
    make_images(outside, [(64, 64, "RGB")])
    images = make_images(inside / "b", [(64, 70, "RGB")]) + make_images(inside / "a", [(70, 64, "RGB")])
    os.symlink(outside, inside / "c_link_to_folder")
    os.symlink(next(outside.iterdir()), inside / "d_link.png")
    (inside / "readme.txt").write_text("not picked: no image suffix")
    found = collect_images([inside])
    assert [p for p, _ in found.files] == sorted(images)  # a/ before b/, names in order
    assert all(walked for _, walked in found.files)
    assert sorted(p.name for p, _ in found.skipped) == ["c_link_to_folder", "d_link.png"]
    assert not any(str(outside) in str(p) for p, _ in found.files)
    with pytest.raises(tresnet_zoo.UsageError, match="no such file"):
        collect_images([tmp_path / "missing"])


def test_missing_input_is_a_usage_error(tmp_path, cli, weights):
    done = cli("--index", one_entry_index(tmp_path, "tresnet_m"), "predict", "tresnet_m", tmp_path / "nope.jpg",
               "--checkpoint", weights[0])
    assert done.code == 2 and "no such file" in done.err


def test_label_files_have_1000_and_11221_names():
    one_k, miil = tresnet_zoo.labels_for(1000), tresnet_zoo.labels_for(11221)
    assert len(one_k) == 1000 and len(set(one_k.wnids)) == 1000
    assert len(miil) == 11221 and len(set(miil.wnids)) == 11221
    assert one_k.wnids[0] == "n01440764" and one_k[0] == "tench, Tinca tinca" and one_k.short(0) == "tench"
    # timm's own lists agree (timm reads the same public synset files)
    info = timm.data.ImageNetInfo("imagenet-1k")
    assert list(one_k.wnids) == info.label_names() and one_k[1] == info.label_name_to_description(info.label_names()[1])
    assert list(miil.wnids) == timm.data.ImageNetInfo("imagenet-21k-miil").label_names()
    with pytest.raises(tresnet_zoo.UsageError, match="no bundled class names"):
        tresnet_zoo.labels_for(10)


def test_labels_for_entries_names_and_models(tmp_path):
    assert tresnet_zoo.labels_for("tresnet_m").name == "imagenet-1k"
    model = build("tresnet_m", num_classes=11221)
    assert tresnet_zoo.labels_for(model).name == "imagenet-21k-miil"
    created = tresnet_zoo.create_model("tresnet_m", index=one_entry_index(tmp_path, "tresnet_m"))
    assert created.pretrained_cfg["label_set"] == "imagenet-1k"


def test_label_files_are_reproducible_by_the_script():
    import subprocess
    import sys

    from .helpers.paths import REPO

    script = REPO / "scripts" / "make_labels.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
