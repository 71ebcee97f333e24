"""Export an entry's model out of the zoo: ONNX, TorchScript, a ``torch.export`` program, or a folder that
timm (and a Hugging Face hub) reads as is.

Weights come verified (the entry's, as ``create_model(pretrained=True)`` loads them) or from a local
checkpoint (read once, hashed, loaded from those bytes). Every format is checked before it is kept: the
written file is loaded back and run on generated images against the unfused float32 model (max |logit
difference| <= 1e-4, the same top-5 except where logits tie within 1e-4). A file failing that is not
written. Files go in by temp file and atomic rename; an existing file is replaced only with ``force``.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from ._deps import require
from .errors import CheckFailedError, UsageError, WouldOverwriteError, ZooError
from .models.labels import label_set_for

__all__ = ["FORMATS", "ExportResult", "ParityError", "OnnxModel", "export", "export_model", "onnx_model",
           "parity_images"]

FORMATS = ("onnx", "torchscript", "pt2", "timm")
FILES = {"onnx": ("model.onnx",), "torchscript": ("model.ts",), "pt2": ("model.pt2",),
         "timm": ("config.json", "model.safetensors", "README.md")}
PARITY_IMAGES = 8
TOLERANCE = 1e-4
TOP = 5
OPSET = 17
# timm's PretrainedCfg fields: timm refuses a config.json whose pretrained_cfg has others
TIMM_CFG_FIELDS = ("url", "hf_hub_id", "architecture", "tag", "custom_load", "input_size", "fixed_input_size",
                   "interpolation", "crop_pct", "crop_mode", "mean", "std", "num_classes", "pool_size",
                   "first_conv", "classifier", "license")


class ParityError(CheckFailedError):
    """The exported model does not give the model's logits: nothing was written."""


@dataclass(frozen=True)
class ExportResult:
    name: str
    format: str
    folder: Path
    files: tuple[Path, ...]
    weights_sha256: str
    max_abs_diff: float
    images: int

    def to_dict(self) -> dict:
        return {"name": self.name, "format": self.format, "folder": str(self.folder),
                "files": [str(p) for p in self.files], "weights_sha256": self.weights_sha256,
                "max_abs_diff": self.max_abs_diff, "parity_images": self.images}


def export(name: str, fmt: str, out_dir: str | os.PathLike, *, checkpoint: str | os.PathLike | None = None,
           force: bool = False, index=None, cache_dir=None, mirror=None, offline=None,
           image_size: int | None = None) -> ExportResult:
    """Export index entry ``name`` (its verified weights, or ``checkpoint``) as ``fmt`` into ``out_dir``.

    ``image_size`` is the side of the generated parity images (default: the entry's input size)."""
    from .api import _index, load_weights  # noqa: PLC0415 (api imports the index; export is a leaf above it)

    fmt = _format(fmt)
    folder = _folder(Path(out_dir), fmt, force)
    if fmt == "onnx":
        require("onnx", "onnxruntime", extra="onnx", purpose="ONNX export")
    require("torch", "safetensors", extra="torch", purpose="export")
    entry = _index(index).get(name)
    model, sha256 = load_weights(entry, checkpoint=checkpoint, cache_dir=cache_dir, mirror=mirror, offline=offline)
    return export_model(model, entry, sha256, fmt, folder, force=force, image_size=image_size)


def export_model(model, entry, sha256: str, fmt: str, out_dir: Path, *, force: bool = False,
                 image_size: int | None = None) -> ExportResult:
    """Export a loaded (unfused) model of ``entry`` whose weights hashed to ``sha256``."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    fmt = _format(fmt)
    folder = _folder(Path(out_dir), fmt, force)
    model = model.float().eval().use_channels_last(False)
    size = image_size or model.pretrained_cfg["input_size"][-1]
    images = parity_images(size)
    with torch.no_grad():
        expected = model(images)
    meta = _metadata(model, entry, sha256)
    writer = {"onnx": _onnx, "torchscript": _torchscript, "pt2": _pt2, "timm": _timm}[fmt]
    with warnings.catch_warnings():  # torch's deprecation notes on jit and the ONNX exporter's own: not the user's
        warnings.simplefilter("ignore")
        try:
            written, diff = writer(model, images, expected, folder, meta, entry)
        except OSError as exc:  # disk full, folder removed or made read-only meanwhile
            raise _env(f"cannot write the {fmt} export into {folder}: {exc.strerror or exc}") from None
    return ExportResult(entry.name, fmt, folder, written, sha256, diff, len(images))


def parity_images(size: int, count: int = PARITY_IMAGES):
    """``count`` generated RGB images in [0, 1] (the model's input range), the same on every run: smooth
    gradients, stripes and noise, so that each has its own top classes."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    gen = torch.Generator().manual_seed(20210101)
    ramp = torch.linspace(0, 1, size)
    out = []
    for i in range(count):
        base = torch.rand(3, 1, 1, generator=gen)
        if i % 3 == 0:
            img = base * ramp.view(1, 1, -1) + (1 - base) * ramp.view(1, -1, 1)
        elif i % 3 == 1:
            img = base * (torch.sin(ramp.view(1, -1, 1) * (8 + i) * 3.14159) * 0.5 + 0.5).expand(3, size, size)
        else:
            img = torch.rand(3, size, size, generator=gen) * base
        out.append(img.clamp(0, 1).expand(3, size, size))
    return torch.stack(out).contiguous()


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    return fmt


def _folder(folder: Path, fmt: str, force: bool) -> Path:
    """The output folder, made if missing; never a link or a special file, nor holding a file we would
    replace (or a link or special file where one goes) unless ``force`` (regular files only, even then)."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            if isinstance(exc, (FileExistsError, NotADirectoryError)):  # a file on the way to it
                raise UsageError(f"output folder {folder}: a file is in the way ({exc.strerror})") from None
            raise _env(f"cannot make the output folder {folder}: {exc.strerror or exc}") from None
        return folder
    except OSError as exc:  # a file on the way to it, a name too long, a loop of links
        raise UsageError(f"output folder {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a folder"
        raise UsageError(f"output folder {folder} is {kind}; give a folder (links are not followed)")
    for name in FILES[fmt]:
        try:
            target = os.lstat(folder / name)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(target.st_mode):
            raise UsageError(f"{folder / name} exists and is not a regular file; refused to replace it")
        if not force:
            raise WouldOverwriteError(f"{folder / name} exists; not overwritten", path=str(folder / name))
    return folder


def _env(message: str):
    from .errors import ZooEnvironmentError  # noqa: PLC0415 (rare path)

    return ZooEnvironmentError(message)


def _metadata(model, entry, sha256: str) -> dict:
    cfg = model.pretrained_cfg
    return {
        "entry": entry.name,
        "weights_sha256": sha256,
        "preprocessing": json.dumps({k: cfg[k] for k in ("input_size", "interpolation", "crop_pct", "crop_mode",
                                                         "mean", "std")}),
        "label_set": label_set_for(model.num_classes),  # as `predict` names a head's classes
        "num_classes": str(model.num_classes),
        "opset": str(OPSET),
        "producer": "tresnet-zoo",
    }


def _compare(expected, got) -> float:
    """Max |logit difference|; ParityError past TOLERANCE or when a top-5 differs beyond a tie."""
    import torch  # noqa: PLC0415 (torch: seconds to import)

    got = torch.as_tensor(got).float()
    if not torch.isfinite(expected).all():
        raise ParityError("the model gives logits that are not finite (NaN or infinity) with these weights; "
                          "not written")
    if got.shape != expected.shape or not torch.isfinite(got).all():
        what = f"of shape {tuple(got.shape)}" if got.shape != expected.shape else "that are not finite"
        raise ParityError(f"the exported model gives outputs {what}, not the model's {tuple(expected.shape)} logits")
    diff = float((got - expected).abs().max())
    if diff > TOLERANCE:
        raise ParityError(f"the exported model's logits differ by {diff:.2e} (more than {TOLERANCE:g}); not written")
    k = min(TOP, expected.shape[1])
    for row_e, row_g in zip(expected, got):
        top_e, top_g = row_e.topk(k).indices, row_g.topk(k).indices
        for a, b in zip(top_e.tolist(), top_g.tolist()):
            if a != b and abs(float(row_e[a] - row_e[b])) > TOLERANCE:
                raise ParityError(f"the exported model's top-{k} differs (class {b} for {a}); not written")
    return diff


class _Staged:
    """Temp files beside their targets; ``commit`` renames them all into place, anything else removes them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.temps: dict[str, Path] = {}

    def path(self, name: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=f".tmp{Path(name).suffix}")
        os.close(fd)
        self.temps[name] = Path(tmp)
        return Path(tmp)

    def commit(self) -> tuple[Path, ...]:
        umask = os.umask(0)
        os.umask(umask)
        out = []
        for name, tmp in self.temps.items():
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, self.folder / name)
            out.append(self.folder / name)
        self.temps.clear()
        return tuple(out)

    def __enter__(self) -> "_Staged":
        return self

    def __exit__(self, *exc) -> None:
        for tmp in self.temps.values():
            tmp.unlink(missing_ok=True)


def _fused(model):
    import copy  # noqa: PLC0415 (only here)

    return copy.deepcopy(model).fuse(channels_last=False)


def _onnx(model, images, expected, folder, meta, entry):
    import onnx  # noqa: PLC0415 (the [onnx] extra)
    import onnxruntime as ort  # noqa: PLC0415 (the [onnx] extra)
    import torch  # noqa: PLC0415 (torch: seconds to import)

    with _Staged(folder) as staged:
        tmp = staged.path("model.onnx")
        torch.onnx.export(_fused(model), (images[:2],), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        proto = onnx.load(str(tmp))
        for key, value in meta.items():
            if value is not None:
                proto.metadata_props.add(key=key, value=str(value))
        proto.doc_string = f"tresnet-zoo export of {entry.name}: raw RGB in [0, 1], NCHW, float32"
        onnx.save(proto, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        diff = _compare(expected, session.run(None, {"image": images.numpy()})[0])
        return staged.commit(), diff


def _torchscript(model, images, expected, folder, meta, entry):
    import torch  # noqa: PLC0415 (torch: seconds to import)

    with _Staged(folder) as staged:
        tmp = staged.path("model.ts")
        scripted = torch.jit.script(_fused(model))
        torch.jit.save(scripted, str(tmp), _extra_files={"tresnet_zoo.json": json.dumps(meta)})
        with torch.no_grad():
            diff = _compare(expected, torch.jit.load(str(tmp), map_location="cpu")(images))
        return staged.commit(), diff


def _pt2(model, images, expected, folder, meta, entry):
    import torch  # noqa: PLC0415 (torch: seconds to import)

    with _Staged(folder) as staged:
        tmp = staged.path("model.pt2")
        batch = torch.export.Dim("batch", min=1, max=4096)
        program = torch.export.export(_fused(model), (images[:2],), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, str(tmp), extra_files={"tresnet_zoo.json": json.dumps(meta)})
        with torch.no_grad():
            diff = _compare(expected, torch.export.load(str(tmp)).module()(images))
        return staged.commit(), diff


def _timm(model, images, expected, folder, meta, entry):
    import torch  # noqa: PLC0415 (torch: seconds to import)
    from safetensors.torch import load as load_safetensors  # noqa: PLC0415 (with torch)
    from safetensors.torch import save as save_safetensors  # noqa: PLC0415 (with torch)

    cfg = {k: _jsonable(model.pretrained_cfg.get(k)) for k in TIMM_CFG_FIELDS}
    cfg["num_classes"] = model.num_classes
    config = {"architecture": cfg["architecture"], "num_classes": model.num_classes,
              "num_features": model.num_features, "pretrained_cfg": cfg}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    data = save_safetensors(state, metadata={k: str(v) for k, v in meta.items() if v is not None})
    reloaded = {**state, **load_safetensors(data)}  # the bytes written, read back
    check = type(model)(model.config, num_classes=model.num_classes, in_chans=model.in_chans).eval()
    check.load_state_dict(reloaded)
    with torch.no_grad():
        diff = _compare(expected, check(images))
    with _Staged(folder) as staged:
        staged.path("config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        staged.path("model.safetensors").write_bytes(data)
        staged.path("README.md").write_text(model_card(entry, meta, hashlib.sha256(data).hexdigest()),
                                            encoding="utf-8")
        return staged.commit(), diff


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def model_card(entry, meta: dict, file_sha256: str) -> str:
    """A Hugging Face model card: YAML front matter (timm as library, the licence, the entry's results in
    the hub's model-index form), then what the weights are and how to load them."""
    import yaml  # noqa: PLC0415 (only here)

    results = []
    for result in entry.results:
        metrics = [{"type": "accuracy", "name": name, "value": value} for name, value in result.metrics.items()]
        if metrics:
            results.append({"task": {"type": "image-classification", "name": "Image Classification"},
                            "dataset": {"name": result.dataset, "type": _dataset_id(result.dataset)},
                            "metrics": metrics})
    front = {"library_name": "timm", "pipeline_tag": "image-classification",
             "tags": ["image-classification", "timm", "tresnet", "tresnet-zoo"],
             "model-index": [{"name": entry.name, "results": results}]}
    if getattr(entry, "license", None):
        front["license"] = entry.license
    text = html.escape
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=False).rstrip(), "---", "",
             f"# {text(entry.name)}", "",
             f"TResNet weights exported by tresnet-zoo from the index entry `{text(entry.name)}`.", "",
             f"- source weights sha256: `{text(meta['weights_sha256'])}`",
             f"- model.safetensors sha256: `{file_sha256}`",
             f"- classes: {text(meta['num_classes'])} ({text(meta.get('label_set') or 'own labels')})",
             f"- preprocessing: `{text(meta['preprocessing'])}`", "",
             "```python", "import timm", "",
             'model = timm.create_model("local-dir:PATH/TO/THIS/FOLDER", pretrained=True)', "```", ""]
    return "\n".join(lines)


def _dataset_id(name: str | None) -> str:
    folded = (name or "").lower().replace(" ", "")
    return "imagenet-21k" if "21k" in folded else "imagenet-1k" if folded.startswith("imagenet") else folded


# --- running an ONNX export (``predict --runtime onnx``) ----------------------------------------------

class OnnxModel:
    """An ONNX classifier run by onnxruntime on the CPU, with what ``predict.Predictor`` reads of a model:
    ``pretrained_cfg`` (the entry's preprocessing), ``num_classes``, ``eval``, ``to`` and calling it."""

    def __init__(self, data: bytes, pretrained_cfg: dict, *, source: str) -> None:
        import onnxruntime as ort  # noqa: PLC0415 (the [onnx] extra)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = os.cpu_count() or 1
        try:  # external data resolves against an empty folder: only these bytes are run, no file of the user's
            with tempfile.TemporaryDirectory(prefix="tresnet-zoo-onnx-") as empty:
                options.add_session_config_entry("session.model_external_initializers_file_folder_path", empty)
                self.session = ort.InferenceSession(bytes(data), sess_options=options,
                                                    providers=["CPUExecutionProvider"])
            (image,), (logits,) = self.session.get_inputs(), self.session.get_outputs()
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own types, on a file that is input
            raise _bad_file(source, f"onnxruntime cannot run it ({type(exc).__name__})") from None
        classes = logits.shape[-1] if logits.shape else None
        if len(image.shape or ()) != 4 or not isinstance(classes, int) or classes < 1:
            raise _bad_file(source, f"not an image classifier (input {image.shape}, output {logits.shape})")
        self.input_name, self.source = image.name, source
        self.num_classes = classes
        self.pretrained_cfg = pretrained_cfg

    def eval(self) -> "OnnxModel":
        return self

    def to(self, device) -> "OnnxModel":
        if getattr(device, "type", str(device)) != "cpu":
            raise UsageError(f"the onnx runtime runs on the CPU, not {device}")
        return self

    def __call__(self, x):
        import torch  # noqa: PLC0415 (torch: seconds to import)

        try:
            logits = self.session.run(None, {self.input_name: x.float().contiguous().numpy()})[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own types: the file's graph cannot take these images
            raise _bad_file(self.source, f"onnxruntime cannot run it on {tuple(x.shape)} images "
                                         f"({type(exc).__name__})") from None
        if getattr(logits, "shape", None) != (x.shape[0], self.num_classes):
            raise _bad_file(self.source, f"gives logits of shape {getattr(logits, 'shape', None)} for "
                                         f"{x.shape[0]} images, not one row of {self.num_classes} per image")
        return torch.from_numpy(logits)


def _bad_file(source: str, why: str):
    from .errors import CheckpointError  # noqa: PLC0415 (rare path)

    return CheckpointError(f"{source}: {why}")


def onnx_model(name: str, *, checkpoint=None, index=None, cache_dir=None, mirror=None, offline=None) -> OnnxModel:
    """Entry ``name``'s model on onnxruntime: an exported ``.onnx`` file given as ``checkpoint``, or the
    entry's verified weights (or a weights ``checkpoint``) exported once into the cache, under the sha256
    of those weights, and reused while the file still has the sha256 recorded when it was written."""
    from ._fs import read_regular  # noqa: PLC0415 (only here)
    from .api import _index, load_weights  # noqa: PLC0415 (api imports the index; export is a leaf above it)
    from .errors import CacheError  # noqa: PLC0415 (rare path)
    from .models import checkpoint_bytes_bound, variant_of  # noqa: PLC0415 (with api)
    from .models.formats import read_regular_file  # noqa: PLC0415 (checkpoint readers)
    from .models.pretrained import pretrained_cfg_for  # noqa: PLC0415 (with api)
    from .weights import Cache  # noqa: PLC0415 (the cache's root)
    from .weights.cache import _mkdir  # noqa: PLC0415 (the cache's rule for its folders)

    require("onnxruntime", extra="onnx", purpose="the onnx runtime")
    entry = _index(index).get(name)
    bound = checkpoint_bytes_bound(variant_of(entry), 21843) + (16 << 20)  # weights of any head, and the graph
    if checkpoint is not None and Path(checkpoint).suffix.lower() == ".onnx":  # the entry's preprocessing
        path = Path(checkpoint)
        cfg = pretrained_cfg_for(entry, variant_of(entry))
        return OnnxModel(read_regular_file(path, max_bytes=bound), cfg, source=path.name)
    require("onnx", extra="onnx", purpose="exporting to ONNX")
    model, sha256 = load_weights(entry, checkpoint=checkpoint, cache_dir=cache_dir, mirror=mirror, offline=offline)
    folder = Cache(Path(cache_dir) if cache_dir else None).root / "exports" / sha256
    target, record = folder / "model.onnx", folder / "model.onnx.sha256"
    digest = hashlib.sha256()
    try:
        data = read_regular_file(target, max_bytes=bound, follow_links=False, update=digest.update)
        if read_regular(record, 128).decode("ascii").strip() != digest.hexdigest():  # no link, no FIFO
            data = None  # changed since it was written: export again
    except (OSError, UnicodeError, ZooError):
        data = None
    if data is None:
        for path in (folder.parent, folder):  # real folders: a planted link would send the export elsewhere
            try:
                _mkdir(path)
            except OSError as exc:
                raise CacheError(f"cannot keep the onnx export in the cache: {path} "
                                 f"{'is not a folder' if isinstance(exc, NotADirectoryError) else exc.strerror}"
                                 ) from None
        if os.path.islink(target):  # planted in the cache's own folder: the link goes, never what it names
            os.unlink(target)
        export_model(model, entry, sha256, "onnx", folder, force=True)
        data = read_regular_file(target, max_bytes=bound, follow_links=False)
        from ._fs import atomic_write  # noqa: PLC0415 (only here)

        atomic_write(record, hashlib.sha256(data).hexdigest() + "\n")
    return OnnxModel(data, model.pretrained_cfg, source=target.name)

