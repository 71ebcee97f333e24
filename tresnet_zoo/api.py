"""The public facade (timm's ``_factory.py`` role): the one module above index, models and weights.

``list_models`` reads only the index; ``create_model`` and ``fetch`` import torch-free weights code and,
for models, torch. Everything here is re-exported by ``tresnet_zoo``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from ._urls import redact
from .errors import UsageError
from .index import Index, load_index
from .models import build_entry, checkpoint_bytes_bound, entry_classes, load_checkpoint, variant_of
from .models.pretrained import timm_tags_of

__all__ = ["list_models", "list_pretrained", "create_model", "fetch", "fetch_entry_path", "fetch_checked",
           "BareNameWarning"]


def _index(index) -> Index:
    return index if isinstance(index, Index) else load_index(index)


def list_models(pattern: str | None = None, *, index=None) -> list[str]:
    """Names of the index's models, optionally filtered by an fnmatch ``pattern``.

    ``index`` is an ``Index``, a path (or paths) to index files, or None for the bundled registry.
    """
    loaded = _index(index)
    return [m.name for m in loaded.select([pattern] if pattern else None)]


def list_pretrained(pattern: str | None = None, *, index=None) -> list[str]:
    """timm's ``list_pretrained``: the timm tags (``tresnet_m.miil_in1k``) of the index's weights, sorted,
    optionally filtered by an fnmatch ``pattern`` (case-insensitive). Every tag is a name ``create_model``
    accepts."""
    tags = {tag for entry in _index(index) for tag in timm_tags_of(entry)}
    if pattern:
        tags = {t for t in tags if fnmatch.fnmatch(t.lower(), pattern.lower())}
    return sorted(tags)


def fetch(
    name: str,
    *,
    verify: bool = False,
    index=None,
    cache_dir: str | Path | None = None,
    mirror: str | None = None,
    offline: bool | None = None,
    force: bool = False,
    config=None,
    public_key: str | os.PathLike | None = None,
) -> Path:
    """The path of entry ``name``'s weights in the cache, downloading and verifying them if needed.

    Size and sha256 are always checked; ``verify=True`` adds the deep check (the file loads into the
    reference model and runs). ``mirror`` and ``offline`` default to ``$TRESNET_ZOO_MIRROR`` and
    ``$TRESNET_ZOO_OFFLINE``. ``config`` is a ``DownloadConfig`` (timeouts, retries). ``public_key`` (default
    ``$TRESNET_ZOO_PUBLIC_KEY``): a mirror's signature must verify with it, and its files match what it signs.
    """
    return fetch_entry_path(_index(index).get(name), verify=verify, cache_dir=cache_dir, mirror=mirror,
                            offline=offline, force=force, config=config, public_key=public_key)


def fetch_entry_path(entry, *, verify: bool = False, cache_dir=None, mirror=None, offline=None, force=False,
                     config=None, public_key=None) -> Path:
    """``fetch`` for an entry already read from an index. With ``verify=True`` the file is read and
    hashed again in this call (a cache hit is otherwise trusted on its record and size), then loaded
    into the reference model and run."""
    from .weights import Cache, DownloadConfig, FetchOptions  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading the weights code)

    options = FetchOptions.from_env(
        cache=Cache(Path(cache_dir) if cache_dir else None), mirror=mirror, offline=offline, force=force,
        config=config or DownloadConfig(), public_key=str(public_key) if public_key else None,
    )
    return fetch_checked(entry, options, verify=verify)[0].path


def fetch_checked(entry, options, *, verify: bool = False):
    """The one fetch behind ``fetch``, ``create_model`` and the CLI: (FetchResult, the deep check's report
    or None). ``options`` is a ``weights.FetchOptions``; ``verify=True`` adds the deep check of the bytes
    the file was held to (its source's, with lock and manifest applied)."""
    from .weights import fetch_entry  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading the weights code)

    result = fetch_entry(entry, options)
    if not verify:
        return result, None
    from .weights.verify import deep_check  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading torch)

    return result, deep_check(entry, result.path, result.expected, record_sha256=result.sha256)


def create_model(
    name: str,
    pretrained: bool = False,
    pretrained_cfg=None,
    pretrained_cfg_overlay: Mapping | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    scriptable: bool | None = None,
    exportable: bool | None = None,
    no_jit: bool | None = None,
    *,
    num_classes: int | None = None,
    fuse: bool = False,
    channels_last: bool = True,
    index=None,
    mirror: str | None = None,
    offline: bool | None = None,
    features_only: bool = False,
    out_indices=(1, 2, 3, 4),
    feature_cls: str | None = None,
    feature_cfg: Mapping | None = None,
    in_chans: int = 3,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    global_pool: str = "fast",
    public_key: str | os.PathLike | None = None,
    device=None,
    dtype=None,
):
    """Build the architecture of index entry ``name``; with ``pretrained=True`` load its weights from the
    cache, or load ``checkpoint_path`` (any format: torch zip, legacy pickle, safetensors; either layout).

    Pretrained weights are fetched if missing (``mirror``/``offline``/``public_key`` as for ``fetch``), then read once
    and hashed while reading: the model is loaded from exactly the bytes whose size and sha256 matched
    the index and the download's record, so a cached file changed since it was verified is refused.
    ``num_classes`` other than the checkpoint's keeps a freshly initialised classifier (for fine-tuning).
    ``fuse=True`` folds BatchNorm into the convs for faster inference (eval mode, not trainable).
    ``channels_last`` (default on) keeps weights and activations NHWC: same numbers, faster convolutions.
    The model carries ``model.pretrained_cfg``: timm's fields (input size, crop, interpolation, mean/std,
    classes, tag, licence), so ``timm.data.resolve_model_data_config(model)`` gives the entry's own input.

    timm's keywords, with timm's meaning: ``pretrained_cfg`` (a tag, or a config dict replacing the entry's)
    and ``pretrained_cfg_overlay`` (fields over it); weights they name (``file``, ``hf_hub_id``, ``url``, in
    timm's order) load only as verified as everything else: a ``file`` as ``checkpoint_path``, a hub id or
    URL as the index entry publishing it (none: refused). ``features_only=True`` returns the feature-map
    form (a list of maps at ``out_indices``, negative ones from the end; ``feature_cls`` 'hook', 'fx',
    'getter' or 'list' all give it); ``in_chans`` adapts pretrained RGB stem weights to other channel counts;
    ``drop_rate`` / ``drop_path_rate`` act in training only; ``global_pool`` is 'fast'/'avg', 'max', 'avgmax'
    or '' (with num_classes=0); ``device`` and ``dtype`` place the model. ``scriptable``, ``exportable`` and
    ``no_jit`` change nothing: every model is scriptable and exportable as built.
    Unlike timm, the model is returned in eval mode (call ``model.train()`` to fine-tune).
    """
    loaded = _index(index)
    cfg, weights_from = _requested_cfg(pretrained_cfg, pretrained_cfg_overlay)
    if isinstance(pretrained_cfg, str):  # timm: a tag of this architecture
        name = f"{name.split('.', 1)[0]}.{pretrained_cfg}"
    entry = loaded.get(name)
    if pretrained and weights_from is not None:
        key, value = weights_from
        if key == "file":
            pretrained, checkpoint_path = False, value
        else:
            entry = _entry_publishing(loaded, key, value)
    if pretrained and checkpoint_path is not None:
        raise UsageError("give pretrained=True or checkpoint_path, not both")
    if (feature_cfg or {}).get("feature_cls") is not None:
        feature_cls = feature_cfg["feature_cls"]
    if feature_cls not in (None, "hook", "fx", "getter", "list"):
        raise UsageError(f"feature_cls {feature_cls!r}: TResNet's feature form returns a list ('hook', 'fx', "
                         "'getter' or 'list')")
    if pretrained:
        _tell_bare_name(name, entry, loaded)
        model, _ = load_weights(entry, num_classes=num_classes, cache_dir=cache_dir, mirror=mirror, offline=offline,
                                  public_key=public_key)
    else:
        model = build_entry(entry, num_classes=num_classes)
        if checkpoint_path is not None:
            # a fine-tuning run's model may have fewer classes than the checkpoint it starts from
            bound = checkpoint_bytes_bound(variant_of(entry), max(model.num_classes, entry_classes(entry)))
            load_checkpoint(model, Path(checkpoint_path), num_classes=num_classes, max_bytes=bound)
    if cfg:
        model.pretrained_cfg = {**model.pretrained_cfg, **cfg}  # timm's: the fields given win
    # timm's model options, after loading: none is in a checkpoint; RGB stem weights are adapted, not refused
    model.configure(drop_rate=drop_rate, drop_path_rate=drop_path_rate, global_pool=global_pool)
    if in_chans != 3:
        model.set_in_chans(in_chans)
    model.eval()
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    if fuse:
        model.fuse(channels_last=channels_last)
    elif channels_last:
        model.use_channels_last()
    if features_only:
        return model.as_features(out_indices)
    return model


def load_weights(entry, *, checkpoint=None, num_classes: int | None = None, cache_dir=None, mirror=None,
                 offline=None, public_key=None):
    """``(model, sha256)``: ``entry``'s model with its verified weights (fetched if missing, hashed while
    read, loaded from those bytes), or with the local ``checkpoint`` (any class count: its head's), read
    once, hashed and loaded from the same bytes. The sha256 is of the bytes loaded."""
    from .weights.load import load_verified  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading the weights code)

    if checkpoint is None:
        from .weights import Cache, FetchOptions  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading the weights code)

        options = FetchOptions.from_env(cache=Cache(Path(cache_dir) if cache_dir else None), mirror=mirror,
                                        offline=offline, public_key=str(public_key) if public_key else None)
        result, _ = fetch_checked(entry, options)
        model, hashed = load_verified(entry, result.path, result.expected, record_sha256=result.sha256,
                                      num_classes=num_classes)
        return model, hashed.sha256
    import hashlib  # noqa: PLC0415 (only here)

    from .models import load_entry_weights  # noqa: PLC0415 (torch-free package, kept off the import path)
    from .models.formats import read_regular_file  # noqa: PLC0415 (checkpoint readers: not at `list` start-up)
    from .models.layouts import classifier_rows  # noqa: PLC0415 (imports torch)

    path = Path(checkpoint)
    classes = num_classes if num_classes is not None else classifier_rows(path) or entry_classes(entry)
    model = build_entry(entry, num_classes=classes)
    bound = checkpoint_bytes_bound(variant_of(entry), max(classes, entry_classes(entry)))
    digest = hashlib.sha256()  # the user's own file: a link to it is followed, as by checkpoint_path
    data = read_regular_file(path, max_bytes=bound, update=digest.update)
    load_entry_weights(model, data, source=path.name, num_classes=classes, max_bytes=bound)
    return model, digest.hexdigest()


# timm 1.0.31's default tag of each architecture: what its bare name loads with pretrained=True
TIMM_DEFAULT_TAGS = {"tresnet_m": "miil_in21k_ft_in1k", "tresnet_l": "miil_in1k", "tresnet_xl": "miil_in1k",
                     "tresnet_v2_l": "miil_in21k_ft_in1k"}
_TOLD: set[str] = set()


def _tell_bare_name(name: str, entry, index: Index) -> None:
    """Warn (once per name) when a bare architecture name loads other weights here than in timm."""
    bare = name.lower()
    theirs = TIMM_DEFAULT_TAGS.get(bare)
    ours = timm_tags_of(entry)
    if theirs is None or not ours or f"{bare}.{theirs}" in ours or bare in _TOLD:
        return  # not a bare timm name, weights of unknown tag (an own index), the same weights, or said
    _TOLD.add(bare)
    try:
        other = index.get(f"{bare}.{theirs}")
    except UsageError:
        other = None
    warnings.warn(f"{name!r} loads {ours[0]}{_top1(entry)}; timm's bare {name!r} loads "
                  f"{bare}.{theirs}{_top1(other)}: name the tag ({bare}.{theirs}) to get timm's",
                  BareNameWarning, stacklevel=3)


def _top1(entry) -> str:
    return f" ({entry.top1}% top-1)" if entry is not None and entry.top1 is not None else ""


class BareNameWarning(UserWarning):
    """A bare architecture name gives other weights here than in timm (see the "Coming from timm" guide)."""


_WEIGHT_KEYS = ("file", "hf_hub_id", "url")  # timm's order of preference


def _requested_cfg(pretrained_cfg, overlay) -> tuple[dict, tuple[str, str] | None]:
    """The config fields a caller gave (``pretrained_cfg`` dict, then ``overlay``) and the weights they name."""
    cfg: dict = {}
    for given in (pretrained_cfg, overlay):
        if given is None or isinstance(given, str) and given is pretrained_cfg:
            continue
        if dataclasses.is_dataclass(given) and not isinstance(given, type):
            given = dataclasses.asdict(given)
        if not isinstance(given, Mapping):
            raise UsageError(f"a pretrained config is a dict (or timm's PretrainedCfg), not {type(given).__name__}")
        cfg.update(given)
    for key in _WEIGHT_KEYS:
        if cfg.get(key):
            return cfg, (key, str(cfg[key]))
    return cfg, None


def _entry_publishing(index: Index, key: str, value: str):
    """The index entry whose weights a hub id or URL names: loading them is then held to its hashes."""
    for entry in index:
        tags = timm_tags_of(entry)
        if key == "hf_hub_id" and any(value.split("@", 1)[0] in (f"timm/{t}", t) for t in tags):
            return entry
        if key == "url" and (value == entry.weights or any(value == s.url for s in entry.sources)):
            return entry
    raise UsageError(f"{key} {redact(value)!r} names weights no index entry publishes: tresnet-zoo has no hash to "
                     "verify them against (download them yourself and pass the file as checkpoint_path)")
