"""tresnet-zoo's models pass what timm's own model tests (tests/test_models.py in timm's repository) ask of
a TResNet: forward, backward, TorchScript, FX and FX-then-TorchScript, forward_features / forward_head,
forward_intermediates, features_only (also ``feature_cls='getter'``), default cfgs, ``num_classes=0``,
``reset_classifier``, ``in_chans``; and timm's ``create_model`` keywords with timm's meaning.

The same assertions as timm's tests, on all four architectures, at small inputs (timm's tests shrink
inputs the same way). timm is the test-only oracle: its FX helpers and FeatureInfo are used as timm
uses them.
"""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch

import tresnet_zoo
from tresnet_zoo.api import TIMM_DEFAULT_TAGS, BareNameWarning
from tresnet_zoo.models.tresnet import VARIANTS

from .test_models import randomised_state

timm = pytest.importorskip("timm", reason="timm is the test-only oracle: pip install -e '.[test]'")
fx_features = pytest.importorskip("torchvision.models.feature_extraction")

SIZE = 64  # divisible by 32: every stage has at least 2x2 positions (BatchNorm in training needs more than one)
ARCHS = list(VARIANTS)
_BUILT: dict[str, torch.nn.Module] = {}


@pytest.fixture(scope="module", params=[pytest.param(a, marks=[] if a in ("tresnet_m", "tresnet_v2_l") else
                                                     [pytest.mark.slow]) for a in ARCHS])  # L, XL: the slow set
def arch(request):
    return request.param


@pytest.fixture()
def model(arch):
    """The architecture built once per module (eval, contiguous, as timm's tests build it), copied per test."""
    if arch not in _BUILT:
        _BUILT[arch] = tresnet_zoo.create_model(arch, channels_last=False)
    return copy.deepcopy(_BUILT[arch])


def _x(batch=1, chans=3, seed=0):
    return torch.randn(batch, chans, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _fx(model, train=False):
    """timm's ``_create_fx_model``: torchvision's feature extractor with timm's no-trace leaves."""
    from timm.models._features_fx import get_notrace_functions, get_notrace_modules

    kwargs = dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions(),
                  param_shapes_constant=True)
    train_nodes, eval_nodes = fx_features.get_graph_node_names(model, tracer_kwargs=kwargs)
    return fx_features.create_feature_extractor(model, train_return_nodes=[train_nodes[-1]],
                                                eval_return_nodes=[eval_nodes[-1]], tracer_kwargs=kwargs)


def _assert_backward(model, outputs):
    outputs.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:3]}"
    assert outputs.shape[-1] == 42 and not torch.isnan(outputs).any()


def test_forward(model):
    out = model(_x())
    assert out.shape == (1, 1000) and not torch.isnan(out).any()


def test_backward(model):
    model.reset_classifier(42)
    model.train()
    _assert_backward(model, model(_x(2)))


@pytest.mark.parametrize("form", ["plain", "fused", "features_only"])
def test_torchscript(model, form):
    if form == "fused":
        model.fuse(channels_last=True)
    elif form == "features_only":
        model = model.as_features((1, 2, 3, 4))
    scripted = torch.jit.script(model)
    x = _x()
    with torch.no_grad():
        got, expected = scripted(x), model(x)
    if form == "features_only":
        assert len(got) == 4 and all(torch.equal(a, b) for a, b in zip(got, expected))
    else:
        assert got.shape == (1, 1000) and not torch.isnan(got).any()
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_fx_forward_equals_eager(model):
    x = _x()
    with torch.inference_mode():
        expected = model(x)
        got = torch.cat(tuple(_fx(model)(x).values()))
    assert torch.all(got == expected)
    assert got.shape[0] == 1 and not torch.isnan(got).any()


def test_fx_backward(model):
    model.reset_classifier(42)
    model.train()
    fx_model = _fx(model, train=True)
    _assert_backward(fx_model, torch.cat(tuple(fx_model(_x(2)).values())))


def test_fx_then_torchscript(model):
    scripted = torch.jit.script(_fx(model))
    x = _x()
    with torch.inference_mode():
        got = torch.cat(tuple(scripted(x).values()))
        expected = model(x)
    assert got.shape == (1, 1000) and not torch.isnan(got).any()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_default_cfgs_forward_features_and_classifier_removal(model, arch):
    assert model.num_classes == 1000 and model.num_features > 0 and model.head_hidden_size > 0
    cfg = model.default_cfg
    state = model.state_dict()
    assert cfg["classifier"] + ".weight" in state and cfg["first_conv"] + ".weight" in state
    # timm checks the output sizes at the cfg's input size (<= 448)
    x = torch.randn(1, *cfg["input_size"])
    with torch.no_grad():
        features = model.forward_features(x)
        pre = model.forward_head(features, pre_logits=True)
        assert features.shape[-2:] == cfg["pool_size"] and features.shape[1] == model.num_features
        assert pre.shape[1] == model.head_hidden_size
        model.reset_classifier(0)
        assert model.num_classes == 0
        pooled = model(x)
        assert pooled.shape == pre.shape and torch.allclose(pooled, pre)
        model.reset_classifier(0, "")
        assert model(x).shape[-2:] == cfg["pool_size"] and model(x).dim() == 4
        bare = tresnet_zoo.create_model(arch, num_classes=0, global_pool="", channels_last=False)
        assert bare(x).dim() == 4 and bare(x).shape[-2:] == cfg["pool_size"]


@pytest.mark.parametrize("feature_cls", [None, "getter"])
def test_features_only(arch, feature_cls):
    model = tresnet_zoo.create_model(arch, features_only=True, feature_cls=feature_cls, channels_last=False)
    assert model.training is False and all(not m.training for m in model.modules())
    channels, reductions = model.feature_info.channels(), model.feature_info.reduction()
    assert len(channels) >= 3
    outputs = model(_x())
    assert len(outputs) == len(channels)
    for c, r, o in zip(channels, reductions, outputs):
        assert o.shape[1] == c and o.shape[0] == 1 and not torch.isnan(o).any()
        assert o.shape[2] <= math.ceil(SIZE / r) + 1 and o.shape[3] <= math.ceil(SIZE / r) + 1


def test_forward_intermediates(model):
    info = timm.models.FeatureInfo(model.feature_info, len(model.feature_info))
    x = _x()
    with torch.no_grad():
        output, intermediates = model.forward_intermediates(x, output_fmt="NCHW")
        assert len(intermediates) == len(info.channels()) >= 3
        for c, r, o in zip(info.channels(), info.reduction(), intermediates):
            assert o.shape[1] == c and o.shape[2] <= math.ceil(SIZE / r) + 1
        assert torch.allclose(output, model.forward_features(x))
        model.set_grad_checkpointing()
        again, _ = model.forward_intermediates(x, output_fmt="NCHW")
    assert torch.allclose(output, again, rtol=1e-4, atol=1e-5)


def test_negative_indices_pruning_and_weight_decay(model):
    x = _x()
    with torch.no_grad():
        maps = model.forward_intermediates(x, intermediates_only=True)
        features = model.as_features((-1, 0))
        assert features.out_indices == (0, 4)
        assert [m.shape for m in features(x)] == [maps[0].shape, maps[4].shape]
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        assert [m.shape for m in last_two] == [maps[3].shape, maps[4].shape]
        assert model.no_weight_decay() == set()
        assert model.prune_intermediate_layers([-3]) == [2]  # layer2 and what it needs remain
        assert model.num_classes == 0 and model.num_features == model.feature_info[2]["num_chs"]
        assert torch.equal(model.forward_features(x), maps[2])
        assert torch.jit.script(model)(x).dim() == 4  # pruned and headless: the feature map


@pytest.mark.parametrize("in_chans", [1, 2, 4])
def test_in_chans(arch, in_chans):
    model = tresnet_zoo.create_model(arch, in_chans=in_chans, num_classes=5, channels_last=False)
    assert model.body.conv1.conv.in_channels == 16 * in_chans
    out = model(_x(chans=in_chans))
    assert out.shape == (1, 5) and not torch.isnan(out).any()


# --- timm's create_model keywords -------------------------------------------------------------------

def test_timm_keywords_are_accepted_with_timm_meaning():
    model = tresnet_zoo.create_model("tresnet_m", scriptable=True, exportable=True, no_jit=True, device="cpu",
                                     dtype=torch.float64, channels_last=False,
                                     pretrained_cfg_overlay={"crop_pct": 0.95, "input_size": (3, 256, 256)})
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.pretrained_cfg["crop_pct"] == 0.95 and model.default_cfg["input_size"] == (3, 256, 256)
    assert timm.data.resolve_model_data_config(model)["input_size"] == (3, 256, 256)
    assert model(_x().double()).dtype == torch.float64
    tagged = tresnet_zoo.create_model("tresnet_m", pretrained_cfg="miil_in21k_ft_in1k")
    assert tagged.pretrained_cfg["tag"] == "miil_in21k_ft_in1k"
    with pytest.raises(tresnet_zoo.UsageError, match="feature_cls"):
        tresnet_zoo.create_model("tresnet_m", features_only=True, feature_cls="dict")


def test_a_file_in_the_overlay_loads_as_checkpoint_path_does(tmp_path):
    reference = tresnet_zoo.create_model("tresnet_m", channels_last=False)
    reference.load_state_dict(randomised_state(reference, seed=3))
    path = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), path)
    x = _x()
    for cfg in ({"pretrained_cfg_overlay": {"file": str(path)}}, {"pretrained_cfg": {"file": str(path)}}):
        model = tresnet_zoo.create_model("tresnet_m", pretrained=True, channels_last=False, **cfg)
        with torch.no_grad():
            assert torch.equal(model(x), reference(x))
    # the same safe loader: a pickle that runs code is refused as with checkpoint_path
    evil = tmp_path / "evil.pth"
    torch.save({"x": _Evil()}, evil)
    with pytest.raises(tresnet_zoo.ZooError):
        tresnet_zoo.create_model("tresnet_m", pretrained=True, pretrained_cfg_overlay={"file": str(evil)})


class _Evil:
    def __reduce__(self):
        return (print, ("ran",))


def test_hub_ids_and_urls_load_only_as_index_entries(tmp_path):
    """A hub id the index publishes is that entry's weights (held to its hashes); any other is refused."""
    file = tresnet_zoo.load_index().get("tresnet_m.miil_in21k_ft_in1k").weights_filename
    with pytest.raises(tresnet_zoo.OfflineError, match=file.replace(".", r"\.")):
        tresnet_zoo.create_model("tresnet_m", pretrained=True, offline=True, cache_dir=tmp_path,
                                 pretrained_cfg_overlay={"hf_hub_id": "timm/tresnet_m.miil_in21k_ft_in1k"})
    for key, value in (("hf_hub_id", "someone/tresnet_m.backdoored"), ("url", "https://example.com/w.pth")):
        with pytest.raises(tresnet_zoo.UsageError, match="no index entry publishes"):
            tresnet_zoo.create_model("tresnet_m", pretrained=True, offline=True, cache_dir=tmp_path,
                                     pretrained_cfg_overlay={key: value})


# --- bare names -------------------------------------------------------------------------------------

def test_timm_default_tags_are_timms():
    for arch in ARCHS:
        assert TIMM_DEFAULT_TAGS[arch] == timm.models.get_pretrained_cfg(arch).tag, arch


def test_a_bare_name_that_loads_other_weights_than_timm_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(tresnet_zoo.api, "_TOLD", set())  # said once per name and process
    with pytest.warns(BareNameWarning) as told, pytest.raises(tresnet_zoo.OfflineError):
        tresnet_zoo.create_model("tresnet_m", pretrained=True, offline=True, cache_dir=tmp_path)
    message = str(told[0].message)
    index = tresnet_zoo.load_index()
    for tag in ("tresnet_m.miil_in1k", "tresnet_m.miil_in21k_ft_in1k"):  # both weights, each with its score
        assert f"{tag} ({index.get(tag).top1}% top-1)" in message
    assert index.get("tresnet_m").timm_tags[0] == "tresnet_m.miil_in1k"
    with warnings.catch_warnings():  # where timm's bare name loads the same weights: nothing to say
        warnings.simplefilter("error", BareNameWarning)
        with pytest.raises(tresnet_zoo.OfflineError):
            tresnet_zoo.create_model("tresnet_v2_l", pretrained=True, offline=True, cache_dir=tmp_path)
        with pytest.raises(tresnet_zoo.OfflineError):
            tresnet_zoo.create_model("tresnet_m.miil_in1k", pretrained=True, offline=True, cache_dir=tmp_path)


def test_the_cli_says_it_as_a_warning_line(tmp_path, cli, monkeypatch):
    monkeypatch.setattr(tresnet_zoo.api, "_TOLD", set())
    monkeypatch.setenv("TRESNET_ZOO_OFFLINE", "1")
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    result = cli("--cache-dir", tmp_path / "cache", "predict", "tresnet_m", image)
    assert result.code == 2  # offline, nothing cached
    (line,) = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert "tresnet_m.miil_in1k" in line and "tresnet_m.miil_in21k_ft_in1k" in line
