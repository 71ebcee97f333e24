"""`check` counts each distinct architecture once: a different head size needs no new body.

The body (everything but the classifier) is built once per variant and FLOP-counted once per (variant,
image size); the classifier, a Linear layer, is added by arithmetic. These tests count body builds, never time.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from tresnet_zoo import measure  # noqa: E402
from tresnet_zoo.index import load_index  # noqa: E402
from tresnet_zoo.models import tresnet  # noqa: E402

from .conftest import REGISTRY  # noqa: E402


@pytest.fixture
def builds(monkeypatch):
    """How many models ``measure`` builds, by num_classes, from a cold memo."""
    made: list[int] = []
    real = tresnet.build

    def counting(variant, *args, num_classes=1000, **kwargs):
        made.append(num_classes)
        return real(variant, *args, num_classes=num_classes, **kwargs)

    monkeypatch.setattr(tresnet, "build", counting)
    measure._body_counts.cache_clear()
    measure._meta_body.cache_clear()
    yield made
    measure._body_counts.cache_clear()
    measure._meta_body.cache_clear()


def test_distinct_heads_build_one_body_per_variant(builds):
    for classes in range(1, 41):
        measure.count("tresnet_m", 224, classes)
        measure.count("tresnet_m", 448, 1000 + classes)
        measure.count("tresnet_l", 224, classes)
    assert builds == [0, 0]  # tresnet_m and tresnet_l, each the body alone: no head is built to be counted
    assert measure._body_counts.cache_info().misses == 3  # one count per (variant, image size)


@pytest.mark.parametrize("classes", [1, 10, 1000, 11221])
def test_head_arithmetic_equals_a_real_build(classes):
    counts = measure.count("tresnet_m", 224, classes)
    with torch.device("meta"):
        model = tresnet.build("tresnet_m", num_classes=classes).eval()
    state = model.state_dict()
    assert counts.parameters == sum(p.numel() for p in model.parameters())
    assert counts.state_numel == sum(t.numel() for t in state.values())
    assert counts.state_tensors == len(state)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert counts.macs == counter.get_total_flops() // 2
    assert counts == measure.count_unmemoized("tresnet_m", 224, classes)


def test_check_of_many_head_sizes_builds_one_body(builds, write):
    import yaml

    data = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    model = next(m for m in data["Models"] if m["Name"] == "tresnet_m")
    models = []
    for i in range(25):
        copy = yaml.safe_load(yaml.safe_dump(model))
        copy["Name"] = f"tresnet_m-head{i}"
        copy["Metadata"]["x-tresnet-zoo"] = {"num_classes": 2 + i}
        models.append(copy)
    path = write("heads.yml", yaml.safe_dump({"Collections": data.get("Collections", []), "Models": models}))
    from tresnet_zoo.check import check_index

    report = check_index(load_index(path))
    params = {e.name: e.verdict("Parameters").measured for e in report.entries}
    assert len(set(params.values())) == 25  # every head counted, with its own size
    assert builds == [0]
