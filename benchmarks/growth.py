"""Big indexes for the growth rows: copies of the bundled entries under new names.

The copies are built as data and written with ``yaml.safe_dump`` (never pasted text). Each copy keeps its
original's fields, so every copy is as valid as the bundled registry, and `check` sees only as many
distinct architecture configurations (variant, image size, classes) as the registry has; with
``distinct_heads`` each copy gets its own number of classes (its Parameters and FLOPs then read wrong).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

__all__ = ["write_index"]


def write_index(folder: Path, entries: int, *, registry: Path | None = None, distinct_heads: bool = False) -> Path:
    """Write ``folder/index-<entries>.yml`` holding ``entries`` copies of the registry's models."""
    if registry is None:
        from tresnet_zoo._resources import registry_dir

        registry = registry_dir() / "tresnet.yml"
    data = yaml.safe_load(registry.read_text(encoding="utf-8"))
    models = data["Models"]
    out = []
    for i in range(entries):
        model = copy.deepcopy(models[i % len(models)])
        model["Name"] = f"{model['Name']}-copy{i:05d}"
        x = (model.get("Metadata") or {}).get("x-tresnet-zoo")
        if x and x.get("timm"):
            x["timm"] = [f"{tag}_copy{i:05d}" for tag in x["timm"]]  # tags name exactly one entry
        if distinct_heads:
            model.setdefault("Metadata", {})["x-tresnet-zoo"] = {**(x or {}), "num_classes": 2 + i}
        out.append(model)
    doc = {"Type": "model-index", "Collections": data.get("Collections", []), "Models": out}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"index-{entries}{'-heads' if distinct_heads else ''}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
