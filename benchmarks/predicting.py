"""`predict` over 64 generated JPEGs at 224 px (CPU) against a plain timm script doing the same: timm's
model with the same weights, timm's transforms (``create_transform(**resolve_data_config(model))``),
batches of 8, softmax and top-5. Both run in this process on the same files; runs are interleaved so
that a slow moment of the shared machine hits both alike. Model construction is outside the timing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_IMAGES = 64


def make_jpegs(folder: Path, n: int = N_IMAGES, seed: int = 0) -> list[Path]:
    """Photo-sized (500x375 and 375x500, as most of ImageNet) smooth random images, JPEG quality 90."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        w, h = (500, 375) if i % 3 else (375, 500)
        coarse = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
        path = folder / f"{i:03d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def timm_script(model, transform, paths: list[Path], batch: int = 8) -> list[int]:
    """What a timm user writes: open, convert, transform, stack 8, forward, softmax, top-5."""
    top1 = []
    with torch.no_grad():
        for start in range(0, len(paths), batch):
            x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[start:start + batch]])
            probs = model(x).softmax(dim=1)
            values, indices = probs.topk(5)
            top1.extend(indices[:, 0].tolist())
    return top1


def measure(repeat: int = 3) -> dict[str, float]:
    import timm

    from tresnet_zoo.models.tresnet import build
    from tresnet_zoo.predict import Predictor, collect_images

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = make_jpegs(folder)
        torch.manual_seed(0)
        weights = build("tresnet_m").state_dict()
        checkpoint = Path(tmp) / "tresnet_m-random.pth"
        torch.save(weights, checkpoint)
        index = Path(tmp) / "index.yml"
        index.write_text("Collections:\n- Name: TResNet\nModels:\n- Name: tresnet_m\n  In Collection: TResNet\n"
                         "  Metadata:\n    Image Size: 224\n    Crop Pct: '0.875'\n    Interpolation: bilinear\n")

        theirs = timm.create_model("tresnet_m.miil_in1k", pretrained=False).eval()
        theirs.load_state_dict(weights)
        transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=theirs))
        predictor = Predictor.for_entry("tresnet_m", checkpoint=checkpoint, index=index)

        def ours() -> list[int]:
            found = collect_images([folder])
            return [p.top[0][0] for p in predictor.predict_files(found.files, top=5)]

        assert ours() == timm_script(theirs, transform, paths), "the two pipelines disagree on a top-1 class"
        times: dict[str, list[float]] = {"ours": [], "timm": []}
        for _ in range(repeat):
            for name, run in (("ours", ours), ("timm", lambda: timm_script(theirs, transform, paths))):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    ours_s, timm_s = statistics.median(times["ours"]), statistics.median(times["timm"])
    return {"ours_img_s": N_IMAGES / ours_s, "timm_img_s": N_IMAGES / timm_s, "ours_s": ours_s, "timm_s": timm_s}


if __name__ == "__main__":
    r = measure()
    ratio = r["ours_img_s"] / r["timm_img_s"]
    print(f"predict {r['ours_img_s']:.1f} img/s, timm script {r['timm_img_s']:.1f} img/s, ratio {ratio:.2f}x")
