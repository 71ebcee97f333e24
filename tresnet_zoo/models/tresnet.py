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

The module tree and parameter names are chosen so that ``state_dict()`` has exactly the keys and shapes
of timm's ``tresnet_m/l/xl``: weights move freely between the two.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .variants import VARIANTS, TResNetConfig

__all__ = ["TResNet", "TResNetConfig", "VARIANTS", "tresnet_m", "tresnet_l", "tresnet_xl", "build"]

STEM_SLOPE = 1e-2
BLOCK_SLOPE = 1e-3


class SpaceToDepth(nn.Module):
    """(N, C, H, W) -> (N, 16C, H/4, W/4); channel = (block_row * 4 + block_col) * C + colour."""

    block = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        b = self.block
        x = x.view(n, c, h // b, b, w // b, b)
        return x.permute(0, 3, 5, 1, 2, 4).reshape(n, c * b * b, h // b, w // b)


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

    def __init__(self, cin: int, cout: int, kernel: int, *, slope: float | None, downsample: bool = False) -> None:
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


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    layers: list[nn.Module] = []
    if stride == 2:
        layers.append(nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False))
    layers.append(ConvUnit(cin, cout, 1, slope=None))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, use_se: bool) -> None:
        super().__init__()
        self.downsample = _shortcut(cin, planes, stride)
        self.conv1 = ConvUnit(cin, planes, 3, slope=BLOCK_SLOPE, downsample=stride == 2)
        self.conv2 = ConvUnit(planes, planes, 3, slope=None)
        self.se = SqueezeExcite(planes, max(planes // 4, 64)) if use_se else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        if self.se is not None:
            out = self.se(out)
        return F.relu(out.add_(shortcut), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, use_se: bool) -> None:
        super().__init__()
        self.downsample = _shortcut(cin, planes * 4, stride)
        self.conv1 = ConvUnit(cin, planes, 1, slope=BLOCK_SLOPE)
        self.conv2 = ConvUnit(planes, planes, 3, slope=BLOCK_SLOPE, downsample=stride == 2)
        self.se = SqueezeExcite(planes, max(planes * 4 // 8, 64)) if use_se else None
        self.conv3 = ConvUnit(planes, planes * 4, 1, slope=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        if self.se is not None:
            out = self.se(out)
        out = self.conv3(out)
        return F.relu(out.add_(shortcut), inplace=True)


class ClassifierHead(nn.Module):
    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))


class TResNet(nn.Module):
    """A TResNet of the given stage depths and width; ``num_classes=0`` leaves the pooled features."""

    def __init__(self, config: TResNetConfig, num_classes: int = 1000, in_chans: int = 3) -> None:
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        planes = config.planes
        stages: list[tuple[str, nn.Module]] = [
            ("s2d", SpaceToDepth()),
            ("conv1", ConvUnit(in_chans * 16, planes, 3, slope=STEM_SLOPE)),
        ]
        cin = planes
        plan = [(BasicBlock, 1, True), (BasicBlock, 2, True), (Bottleneck, 2, True), (Bottleneck, 2, False)]
        for i, ((block, stride, use_se), depth) in enumerate(zip(plan, config.layers)):
            width = planes * 2**i
            blocks = []
            for j in range(depth):
                blocks.append(block(cin, width, stride if j == 0 else 1, use_se))
                cin = width * block.expansion
            stages.append((f"layer{i + 1}", nn.Sequential(*blocks)))
        self.body = nn.Sequential(OrderedDict(stages))
        self.num_features = cin
        self.head = ClassifierHead(cin, num_classes)
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

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body.s2d(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for name, stage in self.body.named_children():
            if name != "s2d":
                x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    channels_last = False

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


def build(variant: str, num_classes: int = 1000, **kwargs) -> TResNet:
    return TResNet(VARIANTS[variant], num_classes=num_classes, **kwargs)


def tresnet_m(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_m", num_classes, **kwargs)


def tresnet_l(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_l", num_classes, **kwargs)


def tresnet_xl(num_classes: int = 1000, **kwargs) -> TResNet:
    return build("tresnet_xl", num_classes, **kwargs)
