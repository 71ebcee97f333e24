"""The public facade (timm's ``_factory.py`` role): the one module above index, models and weights.

``list_models`` reads only the index; ``create_model`` and ``fetch`` import torch-free weights code and,
for models, torch. Everything here is re-exported by ``tresnet_zoo``.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from .errors import UsageError
from .index import Index, load_index
from .models import build_entry, checkpoint_bytes_bound, entry_classes, load_checkpoint, variant_of
from .models.pretrained import timm_tags_of

__all__ = ["list_models", "list_pretrained", "create_model", "fetch", "fetch_entry_path", "fetch_checked"]


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
    *,
    num_classes: int | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    fuse: bool = False,
    channels_last: bool = True,
    index=None,
    cache_dir: str | os.PathLike | None = None,
    mirror: str | None = None,
    offline: bool | None = None,
    features_only: bool = False,
    out_indices=(1, 2, 3, 4),
    in_chans: int = 3,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    global_pool: str = "fast",
    public_key: str | os.PathLike | None = None,
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

    timm's model options: ``features_only=True`` returns the feature-map form (a list of maps at
    ``out_indices``, ``model.feature_info``); ``in_chans`` adapts pretrained RGB stem weights to other
    channel counts; ``drop_rate`` / ``drop_path_rate`` (dropout before the classifier, stochastic depth)
    act in training only; ``global_pool`` is 'fast'/'avg', 'max', 'avgmax' or '' (with num_classes=0).
    Unlike timm, the model is returned in eval mode (call ``model.train()`` to fine-tune).
    """
    if pretrained and checkpoint_path is not None:
        raise UsageError("give pretrained=True or checkpoint_path, not both")
    entry = _index(index).get(name)
    if pretrained:
        from .weights import Cache, FetchOptions  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading the weights code)
        from .weights.load import load_verified  # noqa: PLC0415 (keeps `import tresnet_zoo` from loading the weights code)

        options = FetchOptions.from_env(cache=Cache(Path(cache_dir) if cache_dir else None), mirror=mirror,
                                        offline=offline, public_key=str(public_key) if public_key else None)
        result, _ = fetch_checked(entry, options)
        model, _ = load_verified(entry, result.path, result.expected, record_sha256=result.sha256,
                                 num_classes=num_classes)
    else:
        model = build_entry(entry, num_classes=num_classes)
        if checkpoint_path is not None:
            # a fine-tuning run's model may have fewer classes than the checkpoint it starts from
            bound = checkpoint_bytes_bound(variant_of(entry), max(model.num_classes, entry_classes(entry)))
            load_checkpoint(model, Path(checkpoint_path), num_classes=num_classes, max_bytes=bound)
    # timm's model options, after loading: none is in a checkpoint; RGB stem weights are adapted, not refused
    model.configure(drop_rate=drop_rate, drop_path_rate=drop_path_rate, global_pool=global_pool)
    if in_chans != 3:
        model.set_in_chans(in_chans)
    model.eval()
    if fuse:
        model.fuse(channels_last=channels_last)
    elif channels_last:
        model.use_channels_last()
    if features_only:
        return model.as_features(out_indices)
    return model
