"""The reference TResNet against timm (a test-only oracle): same parameters, same state-dict keys and
shapes, same logits (TResNet-M/L/XL and TResNet-v2-L); release-layout checkpoints; fused inference;
counting on meta."""

from __future__ import annotations

import pytest
import torch

from tresnet_zoo.models.layouts import detect_layout, timm_to_release
from tresnet_zoo.models.tresnet import VARIANTS, SpaceToDepth, build

timm = pytest.importorskip("timm", reason="timm is the test-only oracle: pip install -e '.[test]'")

VARIANT_NAMES = list(VARIANTS)
# tresnet_m in the default run; the larger variants' full-size forward passes (seconds each at 448 px) in the
# `slow` step of .ci/run
M_FIRST = [name if name == "tresnet_m" else pytest.param(name, marks=pytest.mark.slow) for name in VARIANT_NAMES]


def randomised_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Random weights *and* BatchNorm statistics, scaled so that activations stay O(1) through 30+ blocks."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            out[key] = value
            continue
        shape = value.shape
        if key.endswith("running_var"):
            v = torch.rand(shape, generator=gen) * 0.5 + 0.75
        elif key.endswith("running_mean"):
            v = torch.randn(shape, generator=gen) * 0.05
        elif key.endswith("bn.weight"):
            v = torch.rand(shape, generator=gen) * 0.4 + 0.2
        elif key.endswith("bias"):
            v = torch.randn(shape, generator=gen) * 0.05
        else:  # conv / linear weights: He-like scale
            fan_in = max(1, value[0].numel())
            v = torch.randn(shape, generator=gen) * (1.0 / fan_in) ** 0.5
        out[key] = v
    return out


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_state_dict_keys_shapes_and_parameter_count_equal_timm(variant):
    with torch.device("meta"):  # keys, shapes and counts need no initialised weights
        ours, theirs = build(variant), timm.create_model(variant, pretrained=False)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert {k: tuple(v.shape) for k, v in a.items()} == {k: tuple(v.shape) for k, v in b.items()}
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("variant", M_FIRST)
def test_logits_equal_timm_with_random_weights_at_224_and_448(variant):
    ours, theirs = build(variant).eval(), timm.create_model(variant, pretrained=False).eval()
    state = randomised_state(ours, seed=len(variant))
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    gen = torch.Generator().manual_seed(0)
    for size, batch in ((224, 2), (448, 1)):
        x = torch.rand(batch, 3, size, size, generator=gen)
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        assert a.shape == (batch, 1000)
        assert a.std() > 1e-3  # the random weights do reach the logits
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


def one_entry_index(tmp_path, name: str, image_size: int = 224):
    """An index of one entry called ``name``: the bundled registry need not hold every variant."""
    path = tmp_path / "one.yml"
    path.write_text(f"Collections:\n- Name: TResNet\nModels:\n- Name: {name}\n  In Collection: TResNet\n"
                    f"  Metadata:\n    Image Size: {image_size}\n")
    return path


def test_variants_include_tresnet_v2_l_with_timm_parameter_count():
    config = VARIANTS["tresnet_v2_l"]
    assert config.layers == (3, 4, 23, 3) and config.v2 and config.planes == 64
    assert sum(p.numel() for p in build("tresnet_v2_l").parameters()) == 46_174_824  # timm's count


@pytest.mark.parametrize("variant", M_FIRST)
def test_release_layout_checkpoint_gives_the_same_logits(variant, tmp_path):
    import tresnet_zoo

    reference = build(variant).eval()
    state = randomised_state(reference, seed=7)
    reference.load_state_dict(state)
    release = timm_to_release(state, reference)
    assert detect_layout(release) == "release" and "body.conv1.0.weight" in release
    assert not any(k.endswith("num_batches_tracked") for k in release)
    # InPlace-ABN's weight sign is free: flip half of them, loading must take |w| + eps
    for key in [k for k in release if k.endswith(".1.weight") and release[k].dim() == 1][::2]:
        release[key] = -release[key]
    path = tmp_path / "release.pth"
    torch.save({"model": release}, path)
    loaded = tresnet_zoo.create_model(variant, checkpoint_path=path, index=one_entry_index(tmp_path, variant))
    assert loaded.layout == "release"
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x), rtol=0, atol=1e-4)


def test_timm_checkpoint_loads_into_tresnet_zoo_and_back(tmp_path):
    import tresnet_zoo

    theirs = timm.create_model("tresnet_m", pretrained=False).eval()
    theirs.load_state_dict(randomised_state(theirs, seed=3))
    path = tmp_path / "timm.pth"
    torch.save(theirs.state_dict(), path)
    ours = tresnet_zoo.create_model("tresnet_m", checkpoint_path=path)
    assert ours.layout == "timm"
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-4)
    back = timm.create_model("tresnet_m", pretrained=False).eval()
    back.load_state_dict(ours.state_dict(), strict=True)


def test_fused_model_equals_unfused_within_1e4():
    model = build("tresnet_m").eval()
    model.load_state_dict(randomised_state(model, seed=5))
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        expected = model(x)
        fused = model.fuse()
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
        torch.testing.assert_close(fused(x), expected, rtol=0, atol=1e-4)


def test_space_to_depth_channel_order_is_block_row_block_col_colour():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    y = SpaceToDepth()(x)
    assert y.shape == (2, 48, 2, 2)
    for bh in range(4):
        for bw in range(4):
            for c in range(3):
                channel = (bh * 4 + bw) * 3 + c
                torch.testing.assert_close(y[:, channel], x[:, c, bh::4, bw::4])


def test_blur_is_fixed_and_not_saved():
    model = build("tresnet_m")
    assert not any("kernel" in k for k in model.state_dict())
    assert not any("kernel" in n for n, _ in model.named_parameters())
    blur = model.body.layer2[0].conv1.aa
    expected = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    torch.testing.assert_close(blur.kernel[0, 0], expected)
    x = torch.ones(1, blur.channels, 8, 8)
    torch.testing.assert_close(blur(x), torch.ones(1, blur.channels, 4, 4))  # a blur keeps a constant image


def test_num_classes_and_feature_head():
    assert build("tresnet_m", num_classes=10)(torch.rand(1, 3, 64, 64)).shape == (1, 10)
    features = build("tresnet_m", num_classes=0)(torch.rand(1, 3, 64, 64))
    assert features.shape == (1, 2048)


def test_v2_release_layout_wraps_the_stride_2_bottleneck_conv_and_the_stride_1_shortcut():
    """TResNet-v2's first stage is Bottleneck blocks: a shortcut conv without pooling (stride 1,
    64 -> 256) sits at downsample.0; the 2021 release file names it downsample.0.0 / .0.1."""
    model = build("tresnet_v2_l")
    release = timm_to_release(model.state_dict(), model)
    assert release["body.layer1.0.downsample.0.0.weight"].shape == (256, 64, 1, 1)
    assert "body.layer2.0.conv2.0.0.weight" in release  # anti-aliased 3x3 conv in stage 2's Bottleneck
    assert "body.layer2.0.downsample.1.0.weight" in release  # pool, then conv


def test_fused_v2_equals_unfused_within_1e4():
    model = build("tresnet_v2_l").eval()
    model.load_state_dict(randomised_state(model, seed=9))
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(model.fuse()(x), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_parameters_and_macs_are_counted_on_meta_and_agree_with_a_real_model(variant):
    from torch.utils.flop_counter import FlopCounterMode

    from tresnet_zoo.measure import count

    counts = count(variant, 224)
    theirs = timm.create_model(variant, pretrained=False)
    assert counts.parameters == sum(p.numel() for p in theirs.parameters())
    if variant == "tresnet_v2_l":  # one real-tensor count, for the architecture this issue adds
        with torch.device("meta"):
            meta = timm.create_model(variant, pretrained=False).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            meta(torch.empty(1, 3, 224, 224, device="meta"))
        # timm's model runs its BatchNorm (not counted either way) and its pooling: the MACs agree closely
        assert abs(counter.get_total_flops() // 2 - counts.macs) / counts.macs < 0.01
    assert count(variant, 448).macs > 3.9 * counts.macs


def test_11221_class_head_for_the_in21k_weights():
    model = build("tresnet_v2_l", num_classes=11221)
    assert model.head.fc.weight.shape == (11221, 2048)
    assert set(model.state_dict()) == set(timm.create_model("tresnet_v2_l", num_classes=11221).state_dict())


def test_variant_names_resolve_including_the_v2_release_file_stem():
    from tresnet_zoo.models.variants import resolve_variant

    assert resolve_variant("tresnet_l_v2_83_9") == "tresnet_v2_l"
    assert resolve_variant("tresnet_v2_l.miil_in21k") == "tresnet_v2_l"
    assert resolve_variant("tresnet_l.miil_in1k_448") == "tresnet_l"
    assert resolve_variant("tresnet_l_448") == "tresnet_l"
    assert resolve_variant("tresnet_lv2") is None
