"""tresnet-zoo's models speak timm's model API: pretrained_cfg that timm's data pipeline reads,
forward_features / forward_head, get/reset_classifier, features_only with timm's feature_info,
in_chans, drop rates, list_pretrained. timm is the test-only oracle."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import tresnet_zoo
from tresnet_zoo.models.tresnet import build

from .test_models import one_entry_index, randomised_state

timm = pytest.importorskip("timm", reason="timm is the test-only oracle: pip install -e '.[test]'")

VARIANTS_4 = ["tresnet_m", "tresnet_l", "tresnet_xl", "tresnet_v2_l"]


@pytest.mark.parametrize("variant", VARIANTS_4)
@pytest.mark.parametrize("size", [224, 448])
def test_resolve_model_data_config_agrees_with_timm(variant, size, tmp_path):
    """timm's own data config for the tag of these weights, and ours for an entry of that size."""
    name = f"{variant}_{size}" if size == 448 else variant
    with torch.device("meta"):
        ours = tresnet_zoo.create_model(name, index=one_entry_index(tmp_path, name, size), channels_last=False)
        tag = {224: "miil_in1k", 448: "miil_in1k_448"}[size] if variant != "tresnet_v2_l" else "miil_in21k_ft_in1k"
        theirs = timm.create_model(f"{variant}.{tag}", pretrained=False)
    expected = timm.data.resolve_model_data_config(theirs)
    if variant == "tresnet_v2_l":  # timm has only 224 px weights of v2: its config at 448 is ours by size
        expected["input_size"] = (3, size, size)
    got = timm.data.resolve_model_data_config(ours)
    assert got == expected
    assert got["input_size"] == (3, size, size)  # a 448 entry is evaluated at 448, not timm's default 224
    for key in ("first_conv", "classifier", "crop_mode", "mean", "std", "num_classes"):
        assert ours.pretrained_cfg[key] == theirs.pretrained_cfg[key], key
    assert ours.pretrained_cfg["pool_size"] == (size // 32, size // 32)


def test_every_tagged_entry_of_the_bundled_index_resolves_like_timm():
    """For each entry that carries timm tags (all of them once the registry has its ten entries):
    the data config, class count, licence and hub id equal timm's for its canonical tag."""
    index = tresnet_zoo.load_index()
    checked = 0
    for entry in index:
        tags = tuple(getattr(entry, "timm_tags", ()) or ())
        if not tags:
            continue
        with torch.device("meta"):
            ours = tresnet_zoo.create_model(entry.name, index=index, channels_last=False)
            theirs = timm.create_model(tags[0], pretrained=False)
        assert timm.data.resolve_model_data_config(ours) == timm.data.resolve_model_data_config(theirs), entry.name
        for key in ("num_classes", "hf_hub_id", "tag", "architecture", "license", "pool_size", "input_size"):
            assert ours.pretrained_cfg[key] == theirs.pretrained_cfg[key], (entry.name, key)
        assert ours.num_classes == theirs.num_classes
        checked += 1
    assert checked == sum(1 for e in index if getattr(e, "timm_tags", ())), "every tagged entry was checked"
    if any(f.name == "timm_tags" for f in dataclasses.fields(tresnet_zoo.ModelEntry)):  # records carry tags
        assert checked == len(index) >= 10  # the bundled registry: every public TResNet weight, each tagged
    assert sorted(t for e in index for t in getattr(e, "timm_tags", ())) == tresnet_zoo.list_pretrained() or not checked


def test_pretrained_cfg_of_an_untagged_entry_still_carries_timm_fields(tmp_path):
    model = tresnet_zoo.create_model("tresnet_m_448", index=one_entry_index(tmp_path, "tresnet_m_448", 448))
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 448, 448) and cfg["pool_size"] == (14, 14)
    assert cfg["crop_pct"] == 0.875 and cfg["crop_mode"] == "center" and cfg["interpolation"] == "bilinear"
    assert cfg["first_conv"] == "body.conv1.conv" and cfg["classifier"] == "head.fc"
    assert cfg["num_classes"] == 1000 and cfg["label_set"] == "imagenet-1k"
    assert model.default_cfg is cfg
    # the names in the cfg are real modules of the model, as timm's helpers assume
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert isinstance(modules[cfg["classifier"]], torch.nn.Linear)


@pytest.mark.parametrize("variant", VARIANTS_4)
def test_feature_info_channels_and_reductions_equal_timm(variant):
    with torch.device("meta"):
        ours = build(variant).as_features()
        theirs = timm.create_model(variant, pretrained=False, features_only=True)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    assert ours.feature_info.module_name() == theirs.feature_info.module_name()
    assert len(ours.feature_info) == 4 and ours.feature_info.channels(-1) == theirs.feature_info.channels(-1)


def test_features_only_returns_timm_feature_maps(tmp_path):
    index = one_entry_index(tmp_path, "tresnet_m")
    ours = tresnet_zoo.create_model("tresnet_m", index=index, features_only=True, channels_last=False)
    theirs = timm.create_model("tresnet_m", pretrained=False, features_only=True).eval()
    full = build("tresnet_m")
    state = randomised_state(full, seed=11)
    ours.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")})
    theirs.load_state_dict({k.replace("body.", "body_", 1): v for k, v in state.items() if not k.startswith("head.")})
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert isinstance(a, list) and [t.shape for t in a] == [t.shape for t in b]
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-4)
    assert ours.pretrained_cfg["architecture"] == "tresnet_m"
    stem_and_last = build("tresnet_m").as_features(out_indices=(0, 4))
    assert [t.shape[1] for t in stem_and_last(x)] == [64, 2048] and stem_and_last.feature_info.reduction() == [4, 32]
    with pytest.raises(tresnet_zoo.UsageError, match="out_indices"):
        build("tresnet_m").as_features(out_indices=(5,))


def test_forward_head_reset_classifier_and_get_classifier_shapes_equal_timm():
    ours, theirs = build("tresnet_m").eval(), timm.create_model("tresnet_m", pretrained=False).eval()
    state = randomised_state(ours, seed=4)
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        fa, fb = ours.forward_features(x), theirs.forward_features(x)
        torch.testing.assert_close(fa, fb, rtol=0, atol=1e-4)
        assert fa.shape == (2, 2048, 2, 2)
        torch.testing.assert_close(ours.forward_head(fa, pre_logits=True), theirs.forward_head(fb, pre_logits=True))
        torch.testing.assert_close(ours.forward_head(fa), theirs.forward_head(fb), rtol=0, atol=1e-4)
    assert ours.get_classifier().weight.shape == theirs.get_classifier().weight.shape == (1000, 2048)
    assert ours.num_features == theirs.num_features == 2048
    for n in (10, 0):
        ours.reset_classifier(n)
        theirs.reset_classifier(n)
        with torch.no_grad():
            assert ours(x).shape == theirs(x).shape == ((2, n) if n else (2, 2048))
        assert ours.num_classes == theirs.num_classes == n
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.reset_classifier(0, global_pool="")
    assert ours(x).shape == (2, 2048, 2, 2)
    with pytest.raises(tresnet_zoo.UsageError, match="num_classes=0"):
        ours.reset_classifier(5, global_pool="")


def test_create_model_with_num_classes_zero_gives_pooled_features(tmp_path):
    model = tresnet_zoo.create_model("tresnet_m", num_classes=0, index=one_entry_index(tmp_path, "tresnet_m"))
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 2048)
    assert model.pretrained_cfg["num_classes"] == 1000  # the cfg describes the weights, as timm's does


def test_drop_rates_follow_timm_and_act_only_in_training():
    from tresnet_zoo.models.tresnet import drop_path_rates

    theirs = timm.create_model("tresnet_m", pretrained=False, drop_path_rate=0.2, drop_rate=0.3)
    ours = build("tresnet_m", drop_path_rate=0.2, drop_rate=0.3)
    their_rates = [[b.drop_path.drop_prob if hasattr(b.drop_path, "drop_prob") else 0.0 for b in stage]
                   for stage in (theirs.body.layer1, theirs.body.layer2, theirs.body.layer3, theirs.body.layer4)]
    ours_rates = drop_path_rates(0.2, (3, 4, 11, 3))
    assert [[round(r, 6) for r in s] for s in ours_rates] == [[round(r, 6) for r in s] for s in their_rates]
    assert [[b.drop_path for b in getattr(ours.body, f"layer{i}")] for i in range(1, 5)] == ours_rates
    assert ours.head.drop_rate == theirs.head.drop.p == 0.3
    assert set(ours.state_dict()) == set(theirs.state_dict())  # no saved state for either
    ours.load_state_dict(randomised_state(ours, seed=2))
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        ours.eval()
        assert torch.equal(ours(x), ours(x))
        ours.train()
        torch.manual_seed(0)
        a = ours(x)
        torch.manual_seed(1)
        assert not torch.equal(a, ours(x))  # stochastic depth and dropout do act in training


def test_in_chans_adapts_pretrained_rgb_weights(tmp_path):
    """One channel: the stem sums its colour weights, so a grey image gives what RGB gives on the same grey
    (what timm's adapt_input_conv does for TResNet's 48-channel stem)."""
    rgb = build("tresnet_m").eval()
    state = randomised_state(rgb, seed=6)
    rgb.load_state_dict(state)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    index = one_entry_index(tmp_path, "tresnet_m")
    grey = tresnet_zoo.create_model("tresnet_m", checkpoint_path=path, in_chans=1, index=index)
    assert grey.in_chans == 1 and grey.body.conv1.conv.weight.shape == (64, 16, 3, 3)
    theirs = timm.create_model("tresnet_m", pretrained=False, in_chans=1).eval()
    from timm.models import adapt_input_conv

    torch.testing.assert_close(grey.body.conv1.conv.weight, adapt_input_conv(1, state["body.conv1.conv.weight"]))
    assert theirs.body.conv1.conv.weight.shape == grey.body.conv1.conv.weight.shape
    g = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(g), rgb(g.expand(1, 3, 64, 64)), rtol=0, atol=1e-4)
    four = build("tresnet_m").eval()
    four.load_state_dict(state)
    four.set_in_chans(4)
    with torch.no_grad():
        assert four(torch.rand(1, 4, 64, 64)).shape == (1, 1000)


def test_models_are_returned_in_eval_mode_unlike_timm(tmp_path):
    """Documented difference: tresnet-zoo's create_model returns eval mode (inference is right by
    default); timm returns train mode."""
    assert not tresnet_zoo.create_model("tresnet_m", index=one_entry_index(tmp_path, "tresnet_m")).training
    assert timm.create_model("tresnet_m", pretrained=False).training


def test_list_pretrained_lists_the_tags_of_an_index(tmp_path):
    index = tresnet_zoo.load_index()
    expected = sorted({t for e in index for t in getattr(e, "timm_tags", ())})
    assert tresnet_zoo.list_pretrained(index=index) == expected
    assert tresnet_zoo.list_pretrained("nothing*", index=index) == []
    assert all(t.startswith("tresnet_m") for t in tresnet_zoo.list_pretrained("TRESNET_M*", index=index))
    if expected:  # every tag is one of timm's own pretrained tags
        assert set(expected) <= set(timm.list_pretrained("tresnet*"))


def test_forward_intermediates_equal_timm():
    ours, theirs = build("tresnet_m").eval(), timm.create_model("tresnet_m", pretrained=False).eval()
    state = randomised_state(ours, seed=8)
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for indices in (None, 2, [0, 3]):
            final_a, maps_a = ours.forward_intermediates(x, indices=indices)
            final_b, maps_b = theirs.forward_intermediates(x, indices=indices)
            torch.testing.assert_close(final_a, final_b, rtol=0, atol=1e-4)
            assert [m.shape for m in maps_a] == [m.shape for m in maps_b]
            for a, b in zip(maps_a, maps_b):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
        only = ours.forward_intermediates(x, indices=[1], intermediates_only=True)
        assert len(only) == 1 and only[0].shape == (1, 64, 16, 16)


def test_grad_checkpointing_gives_the_same_gradients():
    model = build("tresnet_m", num_classes=5)
    model.load_state_dict(randomised_state(model, seed=12))
    model.train()
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for enable in (False, True):
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        torch.manual_seed(0)
        model(x).sum().backward()
        grads.append(model.body.conv1.conv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_create_model_sets_timm_options_after_loading(tmp_path):
    index = one_entry_index(tmp_path, "tresnet_m")
    model = tresnet_zoo.create_model("tresnet_m", index=index, drop_rate=0.25, drop_path_rate=0.1, num_classes=0,
                                     global_pool="max")
    reference = build("tresnet_m", drop_rate=0.25, drop_path_rate=0.1, num_classes=0, global_pool="max")
    assert model.head.drop_rate == 0.25 and model.head.global_pool == "max"
    assert [b.drop_path for b in model.body.layer4] == [b.drop_path for b in reference.body.layer4]
    with pytest.raises(tresnet_zoo.UsageError, match="global_pool"):
        tresnet_zoo.create_model("tresnet_m", index=index, global_pool="median")
