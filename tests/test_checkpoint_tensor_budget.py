"""A checkpoint's tensors are accepted only dense, non-quantized float32/float16/bfloat16, with their
logical sizes (shape x dtype) bounded before anything is computed on them; torch's own exceptions on
them become exit 1 naming the file and the key (found by an attack: strided views, sparse, quantized)."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from .conftest import PYTHON, python_env  # noqa: E402


@pytest.fixture(scope="module")
def state(checkpoints):
    import io

    return torch.load(io.BytesIO(checkpoints["tresnet_m"].data), weights_only=True)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "cat.png"
    Image.new("RGB", (64, 48), (120, 30, 200)).save(path)
    return path


def _quantized(t):
    with pytest.warns(UserWarning):  # deprecated in torch, still loadable with weights_only
        return torch.quantize_per_tensor(t.float(), 0.1, 0, torch.qint8)


@pytest.mark.parametrize(("key", "kind", "make"), [
    ("body.layer1.0.conv1.conv.weight", "sparse", lambda t: torch.zeros_like(t).to_sparse()),
    ("head.fc.weight", "sparse", lambda t: torch.zeros_like(t).to_sparse()),
    ("body.layer2.0.conv2.conv.weight", "quantized", _quantized),
    ("body.conv1.conv.weight", "float64", lambda t: t.double()),
    ("body.layer1.0.conv1.conv.weight", "view", lambda t: torch.zeros(1).expand(t.shape)),
])
def test_a_tensor_of_the_right_shape_but_not_dense_weights_is_refused_by_key(state, key, kind, make, tmp_path, image,
                                                                             cli):
    bad = dict(state)
    bad[key] = make(state[key])
    path = tmp_path / "fine-tuned.pth"
    torch.save(bad, path)
    done = cli("predict", "tresnet_m", image, "--checkpoint", path)
    assert done.code == 1, done.text
    assert "fine-tuned.pth" in done.err and key in done.err
    assert "Traceback" not in done.text


CHILD = textwrap.dedent("""
    import resource, sys, torch
    from tresnet_zoo.errors import CheckpointError
    from tresnet_zoo.models import load_checkpoint
    from tresnet_zoo.models.tresnet import build
    model = build("tresnet_m")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_checkpoint(model, sys.argv[1])
    except CheckpointError as exc:
        print("refused:", exc)
    print("grew_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""")


def test_strided_views_in_the_release_layout_are_refused_before_any_allocation(tmp_path):
    """A ~100 KB file whose release-layout tensors are stride-0 views claiming 1 GB: refused, the process
    grows by far less than the claim (peak RSS measured in a child, no clock)."""
    claim = 250_000_000  # float32 elements: 1 GB once the release layout's abs() materialises it
    views = {f"body.layer1.{i}.conv1.1.weight": torch.zeros(1).expand(claim) for i in range(3)}
    views["body.conv1.0.weight"] = torch.zeros(20_000).as_strided((20_000, 20_000), (0, 1))
    path = tmp_path / "views.pth"
    torch.save({"model": views}, path)
    assert path.stat().st_size < 100_000
    done = subprocess.run([PYTHON, "-c", CHILD, str(path)], capture_output=True, text=True, env=python_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "refused: views.pth: refused: tensor" in done.stdout
    grew_kb = int(done.stdout.split("grew_kb")[1])
    assert grew_kb < 100_000  # 100 MB, against the 1 GB (x3) the views claim


def test_dense_half_precision_weights_still_load(state, tmp_path):
    from tresnet_zoo.models import load_checkpoint
    from tresnet_zoo.models.tresnet import build

    path = tmp_path / "half.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)
    model = build("tresnet_m")
    assert load_checkpoint(model, path) == "timm"
    assert model.head.fc.weight.dtype == torch.float32
    torch.testing.assert_close(model.head.fc.weight, state["head.fc.weight"].half().float())


def test_a_safetensors_tensor_of_an_integer_dtype_is_refused_by_key(state, tmp_path, image, cli):
    from safetensors.torch import save_file

    bad = {k: v.contiguous() for k, v in state.items()}
    bad["head.fc.bias"] = torch.zeros(bad["head.fc.bias"].shape, dtype=torch.int32)
    path = tmp_path / "weights.safetensors"
    save_file(bad, str(path))
    done = cli("predict", "tresnet_m", image, "--checkpoint", path)
    assert done.code == 1, done.text
    assert "weights.safetensors" in done.err and "head.fc.bias" in done.err and "int32" in done.err
