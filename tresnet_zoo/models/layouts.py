"""Checkpoint layouts: recognising, converting and loading TResNet state dicts.

Two layouts exist for the same weights:

- **timm** (current): ``body.conv1.conv.weight``, ``...conv2.bn.running_var``, ``downsample.1.conv``;
  BatchNorm with ``num_batches_tracked``. This is the reference model's own ``state_dict()``.
- **release** (the 2020 files the index's weight URLs serve, written by the InPlace-ABN model):
  ``body.conv1.0.weight`` for a conv and ``body.conv1.1.*`` for its InPlace-ABN; where anti-aliasing
  wraps a strided conv, the pair sits one level deeper (``conv2.0.0`` / ``conv2.0.1``); shortcuts are
  ``downsample.<i>.0`` / ``downsample.<i>.1``. InPlace-ABN stores a *signed* weight and scales by
  ``|w| + 1e-5``, so the equivalent BatchNorm weight is ``|w| + 1e-5``. No ``num_batches_tracked``.

Files may wrap the state dict in ``{"model": ...}`` or ``{"state_dict": ...}``, and DataParallel
prefixes keys with ``module.``. Pickles are loaded with ``torch.load(..., weights_only=True)`` only, and
safetensors files (Hugging Face's format, timm's layout) with the ``safetensors`` package; the format
comes from the file's first bytes (see ``formats``).
"""

from __future__ import annotations

import json
import mmap
import os
import pickle
import re
import stat
import struct
import warnings
from pathlib import Path
from typing import Mapping

import torch

from ..errors import CheckpointError, UnsafeCheckpointError, UsageError
from .formats import SAFETENSORS, TORCH_ZIP, BytesView, inspect, load_safetensors, read_regular_file

__all__ = [
    "IABN_EPS",
    "detect_layout",
    "unwrap",
    "release_to_timm",
    "timm_to_release",
    "read_checkpoint",
    "classifier_rows",
    "read_state",
    "accept_tensors",
    "load_into",
    "state_dict_for",
]

IABN_EPS = 1e-5
_WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_WRAPPERS = ("state_dict", "model", "state_dict_ema", "model_ema")

# release -> timm key rewrites, most specific first; the first rule that matches a key wins.
_RELEASE_RULES = [
    (re.compile(r"(^|\.)(conv\d+)\.0\.0\."), r"\1\2.conv."),  # anti-aliased unit: the conv
    (re.compile(r"(^|\.)(conv\d+)\.0\.1\."), r"\1\2.bn."),  # anti-aliased unit: its InPlace-ABN
    (re.compile(r"(^|\.)(conv\d+)\.0\."), r"\1\2.conv."),
    (re.compile(r"(^|\.)(conv\d+)\.1\."), r"\1\2.bn."),
    (re.compile(r"(^|\.)downsample\.(\d+)\.0\."), r"\1downsample.\2.conv."),
    (re.compile(r"(^|\.)downsample\.(\d+)\.1\."), r"\1downsample.\2.bn."),
]


def unwrap(obj: object) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint object (``model``/``state_dict`` wrappers, ``module.``)."""
    for _ in range(3):
        if isinstance(obj, Mapping) and not _looks_like_state(obj):
            inner = next((obj[k] for k in _WRAPPERS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping) or not _looks_like_state(obj):
        kind = type(obj).__name__
        keys = ", ".join(list(map(str, obj))[:5]) if isinstance(obj, Mapping) else ""
        raise CheckpointError(
            f"checkpoint holds a {kind}{' with keys ' + keys if keys else ''}, not a state dict of tensors",
            hint="save the weights with torch.save(model.state_dict(), path)",
        )
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _looks_like_state(obj: Mapping) -> bool:
    return bool(obj) and sum(isinstance(v, torch.Tensor) for v in obj.values()) >= max(1, len(obj) // 2)


def detect_layout(state: Mapping[str, torch.Tensor]) -> str | None:
    """'timm', 'release', or None when the keys are neither."""
    if "body.conv1.conv.weight" in state:
        return "timm"
    if "body.conv1.0.weight" in state:
        return "release"
    return None


def release_to_timm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _RELEASE_RULES:
            new, n = pattern.subn(repl, new, count=1)
            if n:
                break
        if new.endswith(".bn.weight"):
            value = value.abs() + IABN_EPS
        out[new] = value
        if new.endswith(".bn.running_var"):
            out.setdefault(new[: -len("running_var")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return out


def timm_to_release(state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The release (InPlace-ABN) layout of a timm-layout state dict; ``model`` tells which units are
    anti-aliased. Weights come out positive (``w - 1e-5``); InPlace-ABN's sign is free."""
    from .tresnet import ConvUnit  # noqa: PLC0415 (imports torch)

    wrapped = {name for name, m in model.named_modules() if isinstance(m, ConvUnit) and m.aa is not None}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        unit, _, rest = key.rpartition(".")
        unit, _, part = unit.rpartition(".")  # part: 'conv' or 'bn'
        if part not in ("conv", "bn"):
            out[key] = value
            continue
        index = "0" if part == "conv" else "1"
        if unit in wrapped:
            index = "0." + index
        if part == "bn" and rest == "weight":
            value = value - IABN_EPS
        out[f"{unit}.{index}.{rest}"] = value
    return out


def read_checkpoint(path: Path, *, max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """Read the checkpoint file at ``path`` once and return its state dict (any format, any layout).

    No hash is checked here: a user's own file. Weights from the cache go through
    ``tresnet_zoo.weights.load``, which hashes the bytes it loads.
    """
    return read_state(read_regular_file(path, max_bytes=max_bytes), source=path.name, max_bytes=max_bytes)


def classifier_rows(path: Path) -> int | None:
    """The rows of ``head.fc.weight`` in the checkpoint file at ``path`` (a fine-tuned file may have any
    number), read without loading its tensors; None when it has none or they cannot be told (the loader
    then reports what is wrong with the file).

    The count sizes a fresh classifier before the file is loaded, so it is untrusted like every size a file
    declares: the container is inspected first (``formats.inspect``: a compressed pickle is refused before it
    inflates), the file is memory-mapped rather than read, and only rows backed by bytes in the file count
    (``torch.save`` of a stride-0 view declares any number of rows in a few bytes).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UsageError(f"checkpoint {path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file; a checkpoint must be one")
        if info.st_size < 16:
            return None
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                kind = inspect(view, source=path.name)
                if kind == SAFETENSORS:
                    (length,) = struct.unpack("<Q", bytes(view[:8]))
                    spec = json.loads(bytes(view[8:8 + length])).get("head.fc.weight")
                    shape = spec.get("shape") if isinstance(spec, dict) else None
                    return shape[0] if isinstance(shape, list) and len(shape) == 2 else None
            finally:
                view.release()
        if kind != TORCH_ZIP:
            return None  # a legacy pickle cannot be memory-mapped; the loader reads it (bounded)
        # the very file inspected, not whatever the name points to by now
        same = f"/proc/self/fd/{fd}" if os.path.exists(f"/proc/self/fd/{fd}") else str(path)
        try:
            with warnings.catch_warnings():  # torch's notes on what a file holds: the checks after speak
                warnings.simplefilter("ignore")
                state = unwrap(torch.load(same, map_location="cpu", weights_only=True, mmap=True))
        except Exception:
            return None  # damaged, or pickled objects: the loader reports it
        head = state.get("head.fc.weight") if isinstance(state, Mapping) else None
        if not isinstance(head, torch.Tensor) or head.layout != torch.strided or head.is_quantized or head.is_nested \
                or head.dim() != 2 or not head.is_contiguous():
            return None
        if head.numel() * head.element_size() > info.st_size:
            return None
        return int(head.shape[0])
    finally:
        os.close(fd)


def read_state(data: bytes | bytearray | memoryview, *, source: str,
               max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """The state dict held by the checkpoint bytes ``data`` (torch zip, legacy pickle or safetensors).

    The format comes from the first bytes, not the file name. Before anything is allocated the container
    is inspected (``formats.inspect``): compressed zip records, records declaring more bytes than the
    file holds, tensors declaring more bytes than ``max_bytes`` are refused. Pickles are only ever read
    with ``torch.load(weights_only=True)``; safetensors with the ``safetensors`` package.
    """
    kind = inspect(data, source=source, max_bytes=max_bytes)
    if kind == SAFETENSORS:
        return accept_tensors(unwrap(load_safetensors(data, source=source)), source=source, max_bytes=max_bytes)
    try:
        with warnings.catch_warnings():  # torch's notes on a file's sparse or legacy storages: accept_tensors speaks
            warnings.simplefilter("ignore")
            obj = torch.load(BytesView(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "GLOBAL" in text or "Unsupported operand" in text:
            found = re.search(r"Unsupported (?:global|operand)[^`]*?(GLOBAL \S+|\b\d+\b)", text)
            what = f" ({found.group(1).replace('GLOBAL ', 'global ')})" if found else ""
            raise UnsafeCheckpointError(
                f"{source}: refused to load: the checkpoint holds pickled code or objects, not only tensors{what}",
                hint="checkpoints are loaded with torch.load(weights_only=True), which never runs pickled code; "
                "re-save the file as a plain state dict",
            ) from None
        raise _unreadable(source, exc) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError, ... on damaged files
        raise _unreadable(source, exc) from None
    return accept_tensors(unwrap(obj), source=source, max_bytes=max_bytes)


def accept_tensors(state: dict[str, torch.Tensor], *, source: str,
                   max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """``state`` if every tensor is dense, of a weight dtype, and backed by its own bytes; else CheckpointError.

    A loaded tensor is a view: ``torch.save`` of ``zeros(1).expand(10**8)`` is a 1.5 KB file whose tensor
    takes 400 MB once anything (the release layout's ``abs()``, a dtype cast, ``load_state_dict``) copies it.
    So each tensor's logical size, from its shape and dtype, must fit the storage bytes behind it, and all
    of them together ``max_bytes``, before any is computed on. Sparse and quantized tensors, which no TResNet
    weight is, are refused by name rather than left to fail inside ``load_state_dict``.
    """
    total = 0
    for key, value in state.items():
        counter = key.endswith("num_batches_tracked") and value.dtype == torch.long and value.numel() <= 1
        if value.layout != torch.strided or value.is_quantized or value.is_nested:
            kind = "quantized" if value.is_quantized else "nested" if value.is_nested else str(value.layout)
            problem = f"is {kind.replace('torch.', '')}"
        elif value.dtype not in _WEIGHT_DTYPES and not counter:
            problem = f"has dtype {str(value.dtype).replace('torch.', '')} (weights are float32, float16 or bfloat16)"
        else:
            logical = value.numel() * value.element_size()
            backed = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
            total += logical
            problem = None if logical <= backed else (
                f"is a view of {list(value.shape)} over {max(backed, 0)} stored bytes (strided or expanded)")
        if problem:
            raise CheckpointError(f"{source}: refused: tensor {key[:120]!r} {problem}; checkpoints hold dense tensors",
                                  hint="re-save the weights: torch.save({k: v.contiguous() for k, v in "
                                  "model.state_dict().items()}, path)")
    if max_bytes is not None and total > max_bytes:
        raise CheckpointError(f"{source}: refused: its tensors take {total} bytes once materialised, more than "
                              f"this architecture's weights ({max_bytes} bytes)")
    return state


def _unreadable(source: str, exc: Exception) -> CheckpointError:
    reason = _brief(str(exc)) or type(exc).__name__
    return CheckpointError(
        f"{source}: not a readable torch checkpoint ({type(exc).__name__}: {reason})",
        hint="the file may be truncated or not a checkpoint: fetch or save it again",
    )


def state_dict_for(model: torch.nn.Module, state: Mapping[str, torch.Tensor], *,
                   source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """``state`` in the model's own layout, or a CheckpointError naming missing/unexpected keys."""
    layout = detect_layout(state)
    converted = release_to_timm(state) if layout == "release" else dict(state)
    expected = model.state_dict()
    missing = [k for k in expected if k not in converted]
    unexpected = [k for k in converted if k not in expected]
    mismatched = [
        f"{k}: {list(converted[k].shape)} vs model {list(expected[k].shape)}"
        for k in expected
        if k in converted and converted[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
            if items:
                shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
                parts.append(f"{len(items)} {label} ({shown})")
        what = f"{layout} layout" if layout else "neither the timm nor the release layout"
        raise CheckpointError(
            f"{source} ({what}) does not fit the architecture: " + "; ".join(parts),
            hint="check that the file belongs to this model (see `tresnet-zoo info NAME`)",
        )
    return converted


def load_into(model: torch.nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint",
              head: bool = True) -> str:
    """Load ``state`` (either layout) into ``model`` strictly; returns the layout found.

    With ``head=False`` the classifier is left as initialised (fine-tuning to other classes). A model
    built on the meta device (``build_entry(initialise=False)``) takes the checkpoint's tensors as its
    own (``assign``), cast to the model's dtypes, never two parameters on one storage.
    """
    layout = detect_layout(state) or "unknown"
    assign = any(t.is_meta for t in model.state_dict().values())
    if not head:
        if assign:
            raise CheckpointError(f"{source}: a fresh classifier needs an initialised model")
        timm_state = release_to_timm(state) if layout == "release" else state
        state = {k: v for k, v in timm_state.items() if not k.startswith("head.")}
        own = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
        state = {**state, **own}
    converted = state_dict_for(model, state, source=source)
    if assign:
        converted = _owned(converted, model.state_dict())
    try:
        model.load_state_dict(converted, strict=True, assign=assign)
    except RuntimeError as exc:  # what accept_tensors and state_dict_for let through is torch's to judge
        raise CheckpointError(f"{source}: does not load into the model ({_brief(str(exc))})") from None
    left = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:  # unreachable after a strict load: every saved tensor was in the checkpoint
        raise AssertionError(f"{source}: tensors left unloaded: {left[:3]}")
    return layout


def _owned(state: Mapping[str, torch.Tensor], like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors fit to become a model's own: its dtype, and no storage shared between two of them."""
    seen: set[int] = set()
    out = {}
    for key, value in state.items():
        value = value.to(dtype=like[key].dtype)
        pointer = value.untyped_storage().data_ptr()
        if pointer in seen and value.numel():
            value = value.clone()
        seen.add(pointer)
        out[key] = value
    return out


def _brief(text: str, limit: int = 160) -> str:
    """The first line of a library's message, shortened at a word boundary with an ellipsis (never cut
    mid-word, never with escape codes)."""
    line = re.sub(r"\x1b\[[0-9;]*m", "", (text.strip().splitlines() or [""])[0]).strip()
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
