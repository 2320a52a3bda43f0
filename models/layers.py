"""Building blocks shared by the standard architectures: channel rounding, conv + BN +
activation, squeeze-and-excitation.

Everything is made of plain `nn.Conv2d`, `nn.BatchNorm2d` and activation modules, so that
BatchNorm folding (torch.fx `fuse`: a Conv2d whose only user is a BatchNorm2d), the pruner
(Conv2d with groups=1, Linear) and channel rearrangement (activation modules are channelwise)
see the layers they know.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """`value` rounded to the nearest multiple of `divisor` (at least `min_value`, default
    `divisor`), never more than 10% below `value` (MobileNetV2 / EfficientNet channel rounding)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def check_width(width: float) -> float:
    if not 0 < width <= 4:
        raise ValueError(f"width multiplier must be in (0, 4], got {width}")
    return float(width)


class ConvBNAct(nn.Sequential):
    """KxK convolution (padding (K-1)/2, no bias) + BatchNorm2d + activation (`act=None`: none).

    Children are named "0", "1", "2" like `nn.Sequential`, so `fuse` folds "1" into "0"."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: Callable[[], nn.Module] | None = nn.ReLU):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Hu et al. 2018: global average pool -> 1x1 conv (reduce, bias) -> activation -> 1x1 conv
    (expand, bias) -> gate -> per-channel scale of the input.

    EfficientNet: SiLU / Sigmoid; MobileNetV3: ReLU / Hardsigmoid."""

    def __init__(self, channels: int, squeeze: int, act: Callable[[], nn.Module] = nn.SiLU,
                 gate: Callable[[], nn.Module] = nn.Sigmoid):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.expand = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
        return x * s
