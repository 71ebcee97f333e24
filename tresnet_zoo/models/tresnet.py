"""TResNet: the reference implementation that tresnet-zoo checks every index entry against.

Ridnik, Lawen, Noy, Ben Baruch, Sharir, Friedman: "TResNet: High Performance GPU-Dedicated Architecture",
WACV 2021, arXiv:2003.13630.

The design, as the paper describes it (and as the released weights need it):

- **SpaceToDepth stem**: 4x4 blocks of the image become channels (3 -> 48), ordered block-row,
  block-column, colour; then one 3x3 conv.
- **InPlace-ABN** in the paper; here conv + BatchNorm + LeakyReLU units with the same numbers (slope 1e-2
  in the stem, 1e-3 inside blocks; no activation on a block's last conv nor on the shortcut conv;
  ReLU after the residual add). Release checkpoints in the InPlace-ABN layout load through
  ``tresnet_zoo.models.layouts``.
- **Anti-aliased downsampling**: a strided 3x3 conv runs at stride 1, then a fixed (not learned) depthwise
  [1,2,1]x[1,2,1]/16 blur with reflect padding does the stride 2.
- **Shortcuts**: 2x2 average pool (ceil mode, padding not counted), then a 1x1 conv, wherever the stride
  or the width changes.
- **Squeeze-and-excitation** in stages 1-3, not in 4.
- **Stages**: BasicBlock, BasicBlock, Bottleneck (expansion 4), Bottleneck; strides 1, 2, 2, 2.
- **TResNet-v2** (``tresnet_v2_l``, from "ImageNet-21K Pretraining for the Masses", arXiv:2104.10972):
  Bottleneck blocks in all four stages and widths rounded down to a multiple of 8; the rest as above.

The module tree and parameter names are chosen so that ``state_dict()`` has exactly the keys and shapes
of timm's ``tresnet_m/l/xl/v2_l``: weights move freely between the two. The model also speaks timm's
model API (``forward_features``, ``forward_head``, ``get_classifier``, ``reset_classifier``,
``feature_info``, ``as_features`` for ``features_only``), so code written for timm's TResNet runs on it.
"""

from collections import OrderedDict
from typing import Iterable, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import UsageError
from .variants import VARIANTS, TResNetConfig

__all__ = [
    "TResNet",
    "TResNetFeatures",
    "FeatureInfo",
    "TResNetConfig",
    "VARIANTS",
    "GLOBAL_POOLS",
    "tresnet_m",
    "tresnet_l",
    "tresnet_xl",
    "tresnet_v2_l",
    "build",
    "drop_path_rates",
    "adapt_stem_weight",
]

STEM_SLOPE = 1e-2
BLOCK_SLOPE = 1e-3


class SpaceToDepth(nn.Module):
    """(N, C, H, W) -> (N, 16C, H/4, W/4); channel = (block_row * 4 + block_col) * C + colour."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, c, h // 4, 4, w // 4, 4)
        return x.permute(0, 3, 5, 1, 2, 4).reshape(n, c * 16, h // 4, w // 4)


class BlurDownsample(nn.Module):
    """Anti-aliased stride 2: a fixed depthwise [1,2,1]x[1,2,1]/16 blur, reflect-padded, stride 2."""

    # [1,2,1] outer [1,2,1] / 16, written out: arithmetic here would run under a meta-device context too
    TAPS = ((1 / 16, 2 / 16, 1 / 16), (2 / 16, 4 / 16, 2 / 16), (1 / 16, 2 / 16, 1 / 16))

    def __init__(self, channels: int) -> None:
        super().__init__()
        kernel = torch.empty(channels, 1, 3, 3)
        with torch.no_grad():
            kernel.copy_(torch.tensor(self.TAPS, device="cpu").expand(channels, 1, 3, 3))
        # not a parameter and not saved: checkpoints of either layout carry no blur weights
        self.register_buffer("kernel", kernel, persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.channels)


class ConvUnit(nn.Module):
    """conv (no bias) -> BatchNorm -> optional LeakyReLU -> optional anti-aliased stride 2.

    Stands in for the paper's conv + InPlace-ABN. ``fuse()`` folds the BatchNorm into the conv for
    inference.
    """

    def __init__(self, cin: int, cout: int, kernel: int, *, slope: Optional[float], downsample: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=1, padding=kernel // 2, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)
        self.slope = slope
        self.aa = BlurDownsample(cout) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        if self.slope is not None:
            x = F.leaky_relu(x, self.slope, inplace=True)
        if self.aa is not None:
            x = self.aa(x)
        return x

    @torch.no_grad()
    def fuse(self) -> None:
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size,
            padding=self.conv.padding, bias=True, device=self.conv.weight.device, dtype=self.conv.weight.dtype,
        )
        fused.weight.copy_(self.conv.weight * scale[:, None, None, None])
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        self.bn = nn.Identity()


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(F.relu(self.fc1(s), inplace=True))
        return x * torch.sigmoid(s)


def _shortcut(cin: int, cout: int, stride: int) -> Optional[nn.Sequential]:
    if stride == 1 and cin == cout:
        return None
    layers: list[nn.Module] = []
    if stride == 2:
        layers.append(nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False))
    layers.append(ConvUnit(cin, cout, 1, slope=None))
    return nn.Sequential(*layers)


def _drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: in training, zero a sample's residual branch with probability ``rate`` and scale
    the survivors by 1 / (1 - rate); the identity otherwise."""
    if rate <= 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty([x.shape[0]] + [1] * (x.dim() - 1)).bernoulli_(keep)
    return x * mask.div_(keep) if keep > 0 else x * mask


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, use_se: bool, drop_path: float = 0.0) -> None:
        super().__init__()
        self.downsample = _shortcut(cin, planes, stride)
        self.conv1 = ConvUnit(cin, planes, 3, slope=BLOCK_SLOPE, downsample=stride == 2)
        self.conv2 = ConvUnit(planes, planes, 3, slope=None)
        self.se = SqueezeExcite(planes, max(planes // 4, 64)) if use_se else None
        self.drop_path = drop_path  # a rate, not a module: nothing of it is saved

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        if self.se is not None:
            out = self.se(out)
        out = _drop_path(out, self.drop_path, self.training)
        return F.relu(out.add_(shortcut), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, use_se: bool, drop_path: float = 0.0) -> None:
        super().__init__()
        self.downsample = _shortcut(cin, planes * 4, stride)
        self.conv1 = ConvUnit(cin, planes, 1, slope=BLOCK_SLOPE)
        self.conv2 = ConvUnit(planes, planes, 3, slope=BLOCK_SLOPE, downsample=stride == 2)
        self.se = SqueezeExcite(planes, max(planes * 4 // 8, 64)) if use_se else None
        self.conv3 = ConvUnit(planes, planes * 4, 1, slope=None)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        if self.se is not None:
            out = self.se(out)
        out = self.conv3(out)
        out = _drop_path(out, self.drop_path, self.training)
        return F.relu(out.add_(shortcut), inplace=True)


# global_pool spellings timm accepts for this head ('fast' is timm's TResNet default: a plain mean)
GLOBAL_POOLS = ("fast", "avg", "max", "avgmax", "")


class ClassifierHead(nn.Module):
    """Global pooling -> dropout (training only) -> linear. ``num_classes=0`` keeps the pooled features;
    ``global_pool=''`` skips pooling (then there can be no classifier)."""

    def __init__(self, features: int, num_classes: int, global_pool: str = "fast", drop_rate: float = 0.0) -> None:
        super().__init__()
        if global_pool not in GLOBAL_POOLS:
            raise UsageError(f"global_pool {global_pool!r} is not one of {', '.join(map(repr, GLOBAL_POOLS))}")
        if global_pool == "" and num_classes > 0:
            raise UsageError("global_pool='' (no pooling) needs num_classes=0: a classifier needs pooled features")
        self.global_pool = global_pool
        self.drop_rate = drop_rate
        self.in_features = features
        self.fc = nn.Linear(features, num_classes) if num_classes > 0 else nn.Identity()

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.global_pool == "fast" or self.global_pool == "avg":
            return x.mean((2, 3))
        if self.global_pool == "max":
            return x.amax((2, 3))
        if self.global_pool == "avgmax":
            return 0.5 * (x.mean((2, 3)) + x.amax((2, 3)))
        return x

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x)
        if self.drop_rate > 0.0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)


def drop_path_rates(drop_path_rate: float, layers: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rate per block, stage by stage: rising linearly from 0 at the first block to
    ``drop_path_rate`` at the last (timm's schedule for TResNet)."""
    total = sum(layers)
    rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    out, start = [], 0
    for depth in layers:
        out.append(rates[start:start + depth])
        start += depth
    return out


class FeatureInfo:
    """What ``features_only`` models return, timm's way: ``channels()``, ``reduction()``, ``module_name()``
    for the selected feature maps, ``get_dicts()`` for everything."""

    def __init__(self, info: Sequence[dict], out_indices: Sequence[int]) -> None:
        self.info = [dict(d) for d in info]
        self.out_indices = tuple(out_indices)

    def _get(self, key: str, idx: Union[int, Sequence[int], None]):
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, int):
            return self.info[self.out_indices[idx]][key]
        return [self.info[self.out_indices[i]][key] for i in idx]

    def channels(self, idx=None):
        return self._get("num_chs", idx)

    def reduction(self, idx=None):
        return self._get("reduction", idx)

    def module_name(self, idx=None):
        return self._get("module", idx)

    def get_dicts(self, keys: Optional[Iterable[str]] = None) -> list[dict]:
        picked = [self.info[i] for i in self.out_indices]
        return [dict(d) if keys is None else {k: d[k] for k in keys} for d in picked]

    def __getitem__(self, i: int) -> dict:
        return self.info[self.out_indices[i]]

    def __len__(self) -> int:
        return len(self.out_indices)


class TResNet(nn.Module):
    """A TResNet of the given stage depths and width; ``num_classes=0`` leaves the pooled features.

    ``drop_rate`` is dropout before the classifier and ``drop_path_rate`` the largest stochastic-depth
    rate (both act in training mode only; neither changes the state dict). ``in_chans`` other than 3
    widens or narrows the stem (see ``adapt_stem_weight`` for pretrained weights).

    Scriptable (``torch.jit.script``), FX-traceable and exportable (``torch.export``, ONNX), plain or fused.
    """

    # a dict of mixed values: TorchScript cannot type it, and compiled code never reads it
    __jit_unused_properties__ = ["default_cfg"]

    def __init__(
        self,
        config: TResNetConfig,
        num_classes: int = 1000,
        in_chans: int = 3,
        *,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "fast",
    ) -> None:
        super().__init__()
        if in_chans < 1:
            raise UsageError(f"in_chans must be at least 1, not {in_chans}")
        if num_classes < 0:
            raise UsageError(f"num_classes must be 0 (no classifier) or more, not {num_classes}")
        self.config = config
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.drop_path_rate = drop_path_rate
        self.grad_checkpointing = False
        self.channels_last = False
        planes = config.planes
        stages: list[tuple[str, nn.Module]] = [
            ("s2d", SpaceToDepth()),
            ("conv1", ConvUnit(in_chans * 16, planes, 3, slope=STEM_SLOPE)),
        ]
        # (block, stride, squeeze-excite) per stage; v2 uses Bottleneck blocks in the first two stages too
        early = Bottleneck if config.v2 else BasicBlock
        plan = [(early, 1, True), (early, 2, True), (Bottleneck, 2, True), (Bottleneck, 2, False)]
        # the stem's output is at 1/4 of the input (SpaceToDepth); timm's table says 2 for it, see README
        info = [{"num_chs": planes, "reduction": 4, "module": "body.conv1"}]
        cin = planes
        for i, ((block, stride, use_se), depth, rates) in enumerate(
            zip(plan, config.layers, drop_path_rates(drop_path_rate, config.layers))
        ):
            width = planes * 2**i
            blocks = []
            for j in range(depth):
                blocks.append(block(cin, width, stride if j == 0 else 1, use_se, rates[j]))
                cin = width * block.expansion
            stages.append((f"layer{i + 1}", nn.Sequential(*blocks)))
            info.append({"num_chs": cin, "reduction": 4 * 2**i, "module": f"body.layer{i + 1}"})
        self.body = nn.Sequential(OrderedDict(stages))
        self.feature_info = info
        self.num_features = self.head_hidden_size = cin
        self.head = ClassifierHead(cin, num_classes, global_pool, drop_rate)
        self._init_weights()

    def _init_weights(self) -> None:
        if self.body.conv1.conv.weight.is_meta:
            return  # shapes only (counting): nothing to initialise, and torch's meta RNG path is slow
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        # each residual branch starts as the identity: zero its last BatchNorm's scale
        for m in self.modules():
            last = m.conv2 if isinstance(m, BasicBlock) else m.conv3 if isinstance(m, Bottleneck) else None
            if last is not None and isinstance(last.bn, nn.BatchNorm2d):
                nn.init.zeros_(last.bn.weight)

    # --- timm's model API -------------------------------------------------------------------------

    @property
    def default_cfg(self) -> dict:
        """timm's older name for ``pretrained_cfg``."""
        return getattr(self, "pretrained_cfg", {})

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier of ``num_classes`` outputs (0: none, the model returns pooled features),
        on the model's device and dtype; ``global_pool`` changes the pooling when given."""
        ref = next(self.parameters())
        self.head = ClassifierHead(
            self.num_features, num_classes, self.head.global_pool if global_pool is None else global_pool,
            self.drop_rate,
        )
        if isinstance(self.head.fc, nn.Linear):
            nn.init.normal_(self.head.fc.weight, 0, 0.01)
            nn.init.zeros_(self.head.fc.bias)
        self.head.to(device=ref.device, dtype=ref.dtype)
        self.num_classes = num_classes

    def configure(self, *, drop_rate: float | None = None, drop_path_rate: float | None = None,
                  global_pool: str | None = None) -> "TResNet":
        """Set timm's regularisation and pooling options on a built (or loaded) model, in place: none of
        them is saved in a checkpoint, so they can be chosen after the weights are in."""
        if global_pool is not None and global_pool != self.head.global_pool:
            if global_pool not in GLOBAL_POOLS:
                raise UsageError(f"global_pool {global_pool!r} is not one of {', '.join(map(repr, GLOBAL_POOLS))}")
            if global_pool == "" and self.num_classes > 0:
                raise UsageError("global_pool='' (no pooling) needs num_classes=0: a classifier needs pooled features")
            self.head.global_pool = global_pool
        if drop_rate is not None:
            self.drop_rate = self.head.drop_rate = drop_rate
        if drop_path_rate is not None:
            self.drop_path_rate = drop_path_rate
            for stage, rates in zip((self.body.layer1, self.body.layer2, self.body.layer3, self.body.layer4),
                                    drop_path_rates(drop_path_rate, self.config.layers)):
                for block, rate in zip(stage, rates):
                    block.drop_path = rate
        return self

    @torch.no_grad()
    def set_in_chans(self, in_chans: int) -> "TResNet":
        """Take ``in_chans`` input channels, keeping what the stem learned (``adapt_stem_weight``); in
        place. This is how pretrained RGB weights serve grey (1) or multispectral (4+) images."""
        if in_chans < 1:
            raise UsageError(f"in_chans must be at least 1, not {in_chans}")
        conv = self.body.conv1.conv
        weight = adapt_stem_weight(conv.weight, in_chans)
        new = nn.Conv2d(weight.shape[1], conv.out_channels, conv.kernel_size, padding=conv.padding,
                        bias=conv.bias is not None, device=weight.device, dtype=weight.dtype)
        new.weight.copy_(weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
        if self.channels_last:
            new.to(memory_format=torch.channels_last)
        self.body.conv1.conv = new
        self.in_chans = in_chans
        return self

    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups by name, as timm's layer-wise optimiser helpers expect."""
        return {"stem": r"^body\.conv1", "blocks": r"^body\.layer(\d+)" if coarse else r"^body\.layer(\d+)\.(\d+)"}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each stage's activations in the backward pass instead of storing them (training only)."""
        self.grad_checkpointing = enable

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (N, num_features, H/32, W/32), before pooling."""
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return self._checkpointed_features(x)
        for i, stage in enumerate(self.body):
            if i == 1 and self.channels_last:  # after SpaceToDepth: the convolutions run channels-last
                x = x.contiguous(memory_format=torch.channels_last)
            x = stage(x)
        return x

    @torch.jit.unused
    def _checkpointed_features(self, x: torch.Tensor) -> torch.Tensor:
        for i, stage in enumerate(self.body):
            if i == 1 and self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            x = stage(x) if i == 0 else checkpoint(stage, x, use_reentrant=False)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling and classifier on ``forward_features``' output; ``pre_logits=True`` stops after pooling."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_stages(self, x: torch.Tensor, indices: List[int]) -> List[torch.Tensor]:
        """The feature maps after the stages in ``indices`` (0: stem, 1-4: layer1-4), stopping at the last."""
        out: List[torch.Tensor] = []
        last = max(indices) + 1  # body position of the last stage wanted (SpaceToDepth is position 0)
        for i, stage in enumerate(self.body):
            if i <= last:
                if i == 1 and self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                x = stage(x)
                if i - 1 in indices:
                    out.append(x)
        return out

    def forward_intermediates(self, x: torch.Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False):
        """timm's ``forward_intermediates``: the feature maps at ``indices`` (None: all five, 0 the stem and
        1-4 the stages; an int n: the last n) and, unless ``intermediates_only``, the final feature map.
        ``norm`` has nothing to act on in TResNet; only NCHW output exists."""
        if output_fmt != "NCHW":
            raise UsageError(f"output_fmt {output_fmt!r}: TResNet gives NCHW feature maps only")
        wanted = take_indices(len(self.body) - 1, indices)
        if intermediates_only:
            return self.forward_stages(x, wanted)
        maps = self.forward_stages(x, list(range(len(self.body) - 1)))
        return maps[-1], [maps[i] for i in sorted(wanted)]

    @torch.jit.ignore
    def prune_intermediate_layers(self, indices: Union[int, Sequence[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """timm's: drop the stages after the last feature map ``indices`` takes (as ``forward_intermediates``
        counts them), and the classifier when ``prune_head`` or when stages went; in place. Returns the
        indices taken. ``prune_norm`` has nothing to act on in TResNet."""
        wanted = take_indices(len(self.body) - 1, indices)
        keep = max(wanted) + 2  # body positions: SpaceToDepth, the stem conv, then the stages
        if keep < len(self.body):
            self.body = self.body[:keep]
            self.num_features = self.head_hidden_size = self.feature_info[keep - 2]["num_chs"]
            prune_head = True
        if prune_head:
            self.reset_classifier(0, "")
        return wanted

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        """timm's optimiser factory asks which parameters skip weight decay: none by name in TResNet."""
        return set()

    def as_features(self, out_indices: Union[int, Sequence[int]] = (1, 2, 3, 4)) -> "TResNetFeatures":
        """timm's ``features_only=True``: a module returning a list of feature maps (see TResNetFeatures)."""
        return TResNetFeatures(self, out_indices)

    def use_channels_last(self, enabled: bool = True) -> "TResNet":
        """Keep weights and activations channels-last (NHWC): the same numbers and state dict, faster
        convolutions on CPU (oneDNN) and on tensor-core GPUs. In place."""
        self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
        self.channels_last = enabled
        return self

    @torch.no_grad()
    def fuse(self, channels_last: bool = True) -> "TResNet":
        """Inference-only form, in place: every BatchNorm folded into its conv (equal outputs, fewer ops)
        and, by default, channels-last memory."""
        self.eval()
        for m in self.modules():
            if isinstance(m, ConvUnit):
                m.fuse()
        return self.use_channels_last(channels_last)


class TResNetFeatures(nn.Module):
    """timm's ``features_only`` form: ``forward`` returns the list of feature maps at ``out_indices``
    (0: the stem at 1/4, 1-4: the four stages at 1/4, 1/8, 1/16, 1/32; timm's default is (1, 2, 3, 4)).

    It shares the body of the model it was made from (same ``body.*`` state-dict keys, so a full
    checkpoint loads into it with the ``head.*`` keys left out) and has no classifier.
    """

    __jit_unused_properties__ = ["default_cfg"]

    def __init__(self, model: TResNet, out_indices: Union[int, Sequence[int]] = (1, 2, 3, 4)) -> None:
        super().__init__()
        indices = take_indices(len(model.feature_info), out_indices, "out_indices")
        if len(set(indices)) != len(indices):
            raise UsageError(f"out_indices must be distinct stage numbers, not {list(out_indices)}")
        self.body = model.body
        self.config = model.config
        self.in_chans = model.in_chans
        self.out_indices = tuple(sorted(indices))
        self.stage_indices: List[int] = list(self.out_indices)
        self.feature_info = FeatureInfo(model.feature_info, self.out_indices)
        self.channels_last = model.channels_last
        if hasattr(model, "pretrained_cfg"):
            self.pretrained_cfg = model.pretrained_cfg
        self.train(model.training)  # the mode its (shared) layers are in

    forward_stages = TResNet.forward_stages
    default_cfg = TResNet.default_cfg

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return self.forward_stages(x, self.stage_indices)


def take_indices(count: int, indices: Union[int, Sequence[int], None], what: str = "indices") -> List[int]:
    """timm's index convention for feature maps, of ``count``: None all; an int n the last n; a sequence
    of positions, negative ones counted from the end."""
    if indices is None:
        return list(range(count))
    if isinstance(indices, int):
        if not 0 < indices <= count:
            raise UsageError(f"{what}={indices}: take the last 1-{count} feature maps")
        return list(range(count - indices, count))
    wanted = [int(i) + count if int(i) < 0 else int(i) for i in indices]
    if not wanted or any(not 0 <= i < count for i in wanted):
        raise UsageError(f"{what} {list(indices)} outside {-count}-{count - 1}")
    return wanted


def adapt_stem_weight(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A pretrained stem conv weight (out, 16 * 3, k, k) for ``in_chans`` input channels.

    SpaceToDepth makes stem channel ``block * C + colour`` (16 blocks), so colours are adapted within
    each block: one channel takes the sum of the three colour weights (a grey image then gives the
    RGB model's output on the same grey); more channels repeat R, G, B, ... scaled by 3 / in_chans.
    """
    out, stem_in, kh, kw = weight.shape
    if stem_in % 16:
        raise UsageError(f"a stem weight has a multiple of 16 input channels, not {stem_in}")
    colours = stem_in // 16
    if colours == in_chans:
        return weight
    per_block = weight.reshape(out, 16, colours, kh, kw)
    if in_chans == 1:
        adapted = per_block.sum(dim=2, keepdim=True)
    else:
        repeat = -(-in_chans // colours)
        adapted = per_block.repeat(1, 1, repeat, 1, 1)[:, :, :in_chans] * (colours / in_chans)
    return adapted.reshape(out, 16 * in_chans, kh, kw).contiguous()


def build(variant: str, num_classes: int = 1000, **kwargs) -> TResNet:
    """Variant ``variant`` of VARIANTS; kwargs are TResNet's (in_chans, drop_rate, drop_path_rate, global_pool)."""
    return TResNet(VARIANTS[variant], num_classes=num_classes, **kwargs)


def tresnet_m(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_m", num_classes, **kwargs)


def tresnet_l(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_l", num_classes, **kwargs)


def tresnet_xl(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_xl", num_classes, **kwargs)


def tresnet_v2_l(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_v2_l", num_classes, **kwargs)
