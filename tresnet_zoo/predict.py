"""Classifying images with an index entry's model, preprocessed exactly as timm's evaluation transforms do.

timm evaluates a TResNet with ``timm.data.create_transform(**resolve_data_config(model))``: resize the
shorter side to ``floor(image_size / crop_pct)`` (the longer side to ``int(that * long / short)``) with
Pillow and the entry's interpolation, crop the centre (offsets ``int(round((size - crop) / 2))``), scale
to [0, 1] (TResNet's mean is 0 and std 1). ``Preprocess`` does the same with Pillow and torch alone
(no torchvision), so the logits equal timm's pipeline's on the same file and weights.

Images are hostile input: a file is opened without following a link where a folder walk found it, must
be a regular file, and must be in one of ``IMAGE_FORMATS`` (told from its first bytes: Pillow is asked to
try only those, so no other decoder, such as ICO's, which decodes whole inside ``Image.open``, ever runs).
It is refused before decoding when its header announces more than ``max_pixels`` pixels (a decompression
bomb), and a JPEG with more than ``MAX_JPEG_SCANS`` scans (each progressive scan is a pass over the
picture: a 1 MB file of thousands of scans decodes for minutes) is refused from its markers, unread by
the decoder. Decode work is so bounded by pixels and scans, not by a clock. Anything Pillow cannot
decode is an ``ImageError`` naming the file. Folder walks skip symbolic links (no escape from the
folder), are bounded in depth and in the number of images.

Speed: images are decoded and resized on worker threads (Pillow releases the GIL) while the model, in
its fused (BatchNorm folded), channels-last form, runs batches under ``torch.inference_mode``.
"""

from __future__ import annotations

import math
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from ._deps import require
from .api import create_model
from .errors import ImageError, UsageError, ZooError
from .index.problems import path_text
from .models.labels import label_set_for, load_labels

__all__ = [
    "IMAGE_SUFFIXES",
    "IMAGE_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "Preprocess",
    "Prediction",
    "Predictor",
    "collect_images",
    "open_image",
    "predict",
]

# what a folder walk picks up (a file named on the command line is tried whatever its name)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm"})
# Pillow's names of the formats decoded (header-only ``open``, work linear in pixels but for JPEG's scans)
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "PPM")
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (~ 0.25 GB of RGBA)
MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10 (libjpeg's default script); an EXIF thumbnail adds its own
MAX_DEPTH = 32  # folder levels below a folder argument
MAX_IMAGES = 1_000_000
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


@dataclass(frozen=True)
class Preprocess:
    """timm's evaluation transform for an ``image_size`` crop (crop mode 'center')."""

    image_size: int
    crop_pct: float = 0.875
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATIONS:
            raise UsageError(f"interpolation {self.interpolation!r} is not one of {', '.join(_INTERPOLATIONS)}")
        if not (0 < self.crop_pct <= 1) or self.image_size < 1:
            raise UsageError(f"crop_pct must lie in (0, 1] and image_size be positive, not {self.crop_pct}, "
                             f"{self.image_size}")

    @classmethod
    def from_cfg(cls, cfg: dict) -> "Preprocess":
        """From a ``pretrained_cfg`` (ours or timm's)."""
        size = int(cfg["input_size"][-1])
        return cls(size, float(cfg.get("crop_pct") or 0.875), cfg.get("interpolation") or "bilinear")

    @property
    def scale_size(self) -> int:
        return math.floor(self.image_size / self.crop_pct)

    def resized(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) the shorter side's resize gives, as torchvision computes it."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.scale_size, int(self.scale_size * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)

    def to_uint8(self, image, *, max_pixels: int = DEFAULT_MAX_PIXELS):
        """An RGB Pillow image -> (3, size, size) uint8 tensor: resize, centre crop. ``to_tensor`` scales.

        The resize target grows with the aspect ratio (a 2x30000 image of 390 bytes resizes to 256x3840000),
        so it is held to ``max_pixels`` like the image itself: an ``ImageError`` before anything is allocated.
        """
        import numpy as np  # noqa: PLC0415 (heavy: only when images are classified)
        import torch  # noqa: PLC0415 (heavy: only when images are classified)
        from PIL import Image  # noqa: PLC0415 (heavy: only when images are classified)

        size = self.resized(*image.size)
        if size[0] * size[1] > max_pixels:
            raise ImageError(f"a {image.size[0]}x{image.size[1]} image resizes to {size[0]}x{size[1]} before its "
                             f"centre crop, more than the limit of {max_pixels} pixels (an extreme aspect ratio)",
                             hint="crop the image closer to its subject first")
        if size != image.size:
            image = image.resize(size, _pil_filter(Image, self.interpolation))
        width, height = image.size
        crop = self.image_size
        if crop > width or crop > height:  # not reachable for crop_pct <= 1; torchvision pads with 0, so do we
            padded = Image.new(image.mode, (max(width, crop), max(height, crop)))
            padded.paste(image, ((max(crop - width, 0)) // 2, (max(crop - height, 0)) // 2))
            image, (width, height) = padded, padded.size
        top, left = int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))
        image = image.crop((left, top, left + crop, top + crop))
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)

    @staticmethod
    def to_tensor(batch):
        """uint8 (N, 3, H, W) -> float32 in [0, 1], as torchvision's ``to_tensor`` (mean 0, std 1 leave it)."""
        import torch  # noqa: PLC0415 (torch: seconds to import)

        return batch.to(dtype=torch.float32).div(255)

    def __call__(self, image):
        return self.to_tensor(self.to_uint8(image))


def _pil_filter(image_module, name: str):
    return getattr(image_module.Resampling, name.upper())


def open_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, follow_links: bool = True):
    """The first frame of the image at ``path`` as a loaded RGB Pillow image, or an ``ImageError``.

    The file must be a regular file (a FIFO or device is refused without blocking); with
    ``follow_links=False`` a symbolic link is refused too. The header's pixel count is checked against
    ``max_pixels`` before anything is decoded.
    """
    from PIL import Image  # noqa: PLC0415 (heavy: only prediction decodes images)

    name = path_text(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        reason = "a symbolic link" if not follow_links and os.path.islink(path) else (exc.strerror or str(exc))
        raise ImageError(f"{name}: cannot open ({reason})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{name}: not a regular file")
        try:
            with warnings.catch_warnings():
                # the bound is ours (checked next, before decoding); Pillow's global one still refuses > 2x its own
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(handle, formats=IMAGE_FORMATS)
                width, height = image.size
                if width < 1 or height < 1:
                    raise ImageError(f"{name}: an image of {width}x{height} pixels has nothing to classify")
                if width * height > max_pixels:
                    raise ImageError(f"{name}: {width}x{height} is {width * height} pixels, "
                                     f"more than the limit of {max_pixels}",
                                     hint="raise the limit (max_pixels) only for files you trust")
                if image.format in ("JPEG", "MPO") and _jpeg_scans(handle) > MAX_JPEG_SCANS:  # MPO: a camera JPEG
                    raise ImageError(f"{name}: a JPEG of more than {MAX_JPEG_SCANS} scans (progressive passes): "
                                     "refused before decoding", hint="re-encode the image as a baseline JPEG or PNG")
                return image.convert("RGB")
        except ZooError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageError(f"{name}: refused as a decompression bomb ({exc})") from None
        except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error... on bad data
            if isinstance(exc, Image.UnidentifiedImageError):
                raise ImageError(f"{name}: not an image in a format read here ({', '.join(IMAGE_FORMATS)})") from None
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ImageError(f"{name}: damaged image ({type(exc).__name__}: {detail})") from None


def _jpeg_scans(handle) -> int:
    """How many start-of-scan markers (``FF DA``) the JPEG file ``handle`` holds, read in chunks and never
    decoded; the position is restored. Entropy-coded data stuffs every ``FF`` byte, so the count can only
    err high (a marker inside an EXIF thumbnail or an application segment counts too)."""
    start, scans, tail = handle.tell(), 0, b""
    handle.seek(0)
    while chunk := handle.read(1 << 20):
        scans += (tail + chunk).count(b"\xff\xda")
        tail = chunk[-1:]
        if scans > MAX_JPEG_SCANS:
            break
    handle.seek(start)
    return scans


@dataclass(frozen=True)
class Found:
    """The images of the command line: files in order, and what a folder walk left out (and why)."""

    files: tuple[tuple[Path, bool], ...]  # (path, found by walking a folder)
    skipped: tuple[tuple[Path, str], ...] = ()
    folders: int = 0


def collect_images(paths: Iterable[str | os.PathLike], *, max_images: int = MAX_IMAGES) -> Found:
    """Files named as they are; folders walked (sorted, image suffixes only) without following links.

    A path that does not exist is a ``UsageError``. Links inside a folder are skipped and reported, as
    are folders deeper than MAX_DEPTH.
    """
    files: list[tuple[Path, bool]] = []
    skipped: list[tuple[Path, str]] = []
    folders = 0

    def add(path: Path, walked: bool) -> None:
        if len(files) >= max_images:
            raise UsageError(f"more than {max_images} images", hint="name fewer folders or files")
        files.append((path, walked))

    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path):
            raise UsageError(f"{path}: no such file or folder",
                             hint="name image files (JPEG, PNG, ...) or folders of them that exist here")
        if not path.is_dir():  # a file, or a link the user named: followed, it was asked for
            add(path, False)
            continue
        folders += 1
        stack: list[tuple[Path, int]] = [(path, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                skipped.append((folder, f"unreadable folder ({exc.strerror or exc})"))
                continue
            subfolders = []
            for entry in entries:
                child = Path(entry.path)
                if entry.is_symlink():
                    skipped.append((child, "symbolic link (not followed)"))
                elif entry.is_dir(follow_symlinks=False):
                    if depth + 1 > MAX_DEPTH:
                        skipped.append((child, f"deeper than {MAX_DEPTH} levels"))
                    else:
                        subfolders.append((child, depth + 1))
                elif entry.is_file(follow_symlinks=False) and child.suffix.lower() in IMAGE_SUFFIXES:
                    add(child, True)
            stack.extend(reversed(subfolders))  # depth first, in name order
    return Found(tuple(files), tuple(skipped), folders)


@dataclass(frozen=True)
class Prediction:
    """The top classes for one file, or the error that stopped it."""

    path: str
    top: tuple[tuple[int, float], ...] = ()  # (class index, probability), best first
    names: tuple[tuple[str, str], ...] = ()  # (wnid, lemmas) per top class, when the classes have names
    error: str | None = None
    logits: object = field(default=None, repr=False, compare=False)  # the image's logits (a tensor), if kept

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"file": self.path, "ok": False, "error": self.error}
        preds = []
        for rank, (index, prob) in enumerate(self.top):
            item = {"class": index, "probability": prob}
            if self.names:
                item["wnid"], item["label"] = self.names[rank]
            preds.append(item)
        return {"file": self.path, "ok": True, "predictions": preds}


class Predictor:
    """A model, its preprocessing and its class names; classifies files in batches."""

    def __init__(self, model, *, preprocess: Preprocess | None = None, labels=None, batch_size: int = 16,
                 device: str = "cpu", workers: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        import torch  # noqa: PLC0415 (torch: seconds to import)

        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, not {batch_size}")
        try:
            target = torch.device(device)
            torch.empty(0, device=target)  # fails here, with a clear message, when the device is absent
        except (RuntimeError, AssertionError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise UsageError(f"device {device!r} is not usable here ({reason})",
                             hint="use the CPU: device 'cpu'") from None
        self.model = model.eval().to(target)
        self.preprocess = preprocess or Preprocess.from_cfg(model.pretrained_cfg)
        self.labels = labels
        self.batch_size = batch_size
        self.device = target
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.max_pixels = max_pixels

    @classmethod
    def for_entry(cls, name: str, *, checkpoint: str | os.PathLike | None = None, index=None, cache_dir=None,
                  device: str = "cpu", runtime: str = "torch", **kwargs) -> "Predictor":
        """The entry's model (its pretrained weights, fetched and verified, or ``checkpoint``: either layout,
        any class count), fused and channels-last, with the class names its head has.

        ``runtime="onnx"`` runs it on onnxruntime (CPU), exported once into the cache; so does a
        ``checkpoint`` that is an exported ``.onnx`` file."""
        require("torch", "numpy", "PIL", extra="torch", purpose="`predict` runs the model on decoded images and")
        if runtime not in ("torch", "onnx"):
            raise UsageError(f"unknown runtime {runtime!r}; torch or onnx")
        if runtime == "onnx" or (checkpoint is not None and Path(checkpoint).suffix.lower() == ".onnx"):
            from .export import onnx_model  # noqa: PLC0415 (the [onnx] extra, on this path only)

            model = onnx_model(name, checkpoint=checkpoint, index=index, cache_dir=cache_dir)
            label_set = label_set_for(model.num_classes)
            return cls(model, labels=load_labels(label_set) if label_set else None, device=device, **kwargs)
        num_classes = _checkpoint_classes(Path(checkpoint)) if checkpoint is not None else None
        model = create_model(name, pretrained=checkpoint is None, checkpoint_path=checkpoint, num_classes=num_classes,
                             fuse=True, channels_last=True, index=index, cache_dir=cache_dir)
        label_set = label_set_for(model.num_classes)
        return cls(model, labels=load_labels(label_set) if label_set else None, device=device, **kwargs)

    def logits(self, batch_uint8):
        """Logits for a uint8 (N, 3, H, W) batch, float32 on the CPU."""
        import torch  # noqa: PLC0415 (torch: seconds to import)

        with torch.inference_mode():
            x = Preprocess.to_tensor(batch_uint8.to(self.device, non_blocking=True))
            return self.model(x).float().cpu()

    def _load(self, path: Path, walked: bool):
        image = open_image(path, max_pixels=self.max_pixels, follow_links=not walked)
        try:
            return self.preprocess.to_uint8(image, max_pixels=self.max_pixels)
        except ImageError as exc:
            raise ImageError(f"{path_text(path)}: {exc.message}", hint=exc.hint) from None
        except (MemoryError, ValueError, OSError) as exc:  # Pillow's resize/crop on what the header let through
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ImageError(f"{path_text(path)}: cannot be preprocessed ({type(exc).__name__}: {detail})") from None

    def predict_files(self, files: Sequence[tuple[Path, bool]] | Sequence[Path], *, top: int = 5,
                      progress: Callable[[int], None] | None = None, keep_logits: bool = False) -> Iterator[Prediction]:
        """Predictions in the order of ``files``; a file that fails yields its error and the rest go on.
        ``progress(n)`` is called with the number of files each batch finished."""
        items = [(Path(f[0]), bool(f[1])) if isinstance(f, tuple) else (Path(f), False) for f in files]
        window = max(2 * self.batch_size, self.workers * 2)
        pending: list[tuple[str, object]] = []  # (path, uint8 tensor or error text), in order
        with ThreadPoolExecutor(self.workers, thread_name_prefix="tresnet-zoo-decode") as pool:
            futures = []
            position = 0

            def refill() -> None:
                nonlocal position
                while position < len(items) and len(futures) < window:
                    path, walked = items[position]
                    futures.append((str(path), pool.submit(self._load, path, walked)))
                    position += 1

            refill()
            while futures:
                name, future = futures.pop(0)
                refill()
                try:
                    pending.append((name, future.result()))
                except ZooError as exc:
                    pending.append((name, exc.message))
                ready = sum(1 for _, v in pending if not isinstance(v, str))
                if ready >= self.batch_size or not futures:
                    yield from self._flush(pending, top, keep_logits)
                    if progress is not None:
                        progress(len(pending))
                    pending = []

    def _flush(self, pending, top: int, keep_logits: bool) -> Iterator[Prediction]:
        import torch  # noqa: PLC0415 (torch: seconds to import)

        tensors = [v for _, v in pending if not isinstance(v, str)]
        logits = self.logits(torch.stack(tensors)) if tensors else None
        probs = logits.softmax(dim=1) if logits is not None else None
        k = max(1, min(top, probs.shape[1])) if probs is not None else 0
        best = probs.topk(k, dim=1) if probs is not None else None
        row = 0
        for name, value in pending:
            if isinstance(value, str):
                yield Prediction(name, error=value)
                continue
            indices = [int(i) for i in best.indices[row]]
            values = [float(v) for v in best.values[row]]
            names = tuple((self.labels.wnids[i], self.labels.lemmas[i]) for i in indices) if self.labels else ()
            yield Prediction(name, tuple(zip(indices, values)), names, logits=logits[row] if keep_logits else None)
            row += 1


def _checkpoint_classes(path: Path) -> int | None:
    """The classifier rows of a checkpoint (a fine-tuned file may have any number), told without loading
    it and bounded by the bytes the file holds (``models.layouts.classifier_rows``)."""
    from .models.layouts import classifier_rows  # noqa: PLC0415 (imports torch)

    return classifier_rows(path)


def predict(name: str, paths: Iterable[str | os.PathLike], *, top: int = 5, checkpoint=None, index=None,
            batch_size: int = 16, device: str = "cpu") -> list[Prediction]:
    """Classify images (files or folders) with entry ``name``: a list of ``Prediction``s in file order."""
    found = collect_images(paths)
    predictor = Predictor.for_entry(name, checkpoint=checkpoint, index=index, batch_size=batch_size, device=device)
    return list(predictor.predict_files(found.files, top=top))
