"""MobileNetV2 (Sandler et al. 2018): inverted residual blocks with linear bottlenecks.

3x3/2 conv (32), 17 inverted residual blocks, 1x1 conv to 1280, global average pooling, dropout,
fully-connected classifier. A block expands its input t times with a 1x1 conv + BN + ReLU6
(skipped when t = 1), filters with a 3x3 depthwise conv + BN + ReLU6 (stride s on the first block
of a stage), and projects back with a 1x1 conv + BN and no activation; it adds its input when the
stride is 1 and the channel counts match.

Width multiplier: every channel count times `width`, rounded by `make_divisible(c * width, 8)`;
the last conv keeps 1280 channels unless width > 1. At width 1.0 and 224x224: ~300M multiply-adds,
3,504,872 parameters (BatchNorm included); published: 300M, 3.4M (paper Table 4), 3.47M
in the authors' table of variants.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import ConvBNAct, check_width, make_divisible

# (expansion t, output channels c, repeats n, stride s of the first block), paper Table 2.
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(cin, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            ConvBNAct(hidden, cout, 1, act=None),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.2):
        super().__init__()
        width = check_width(width)
        c = make_divisible(STEM_CHANNELS * width)
        layers: list[nn.Module] = [ConvBNAct(in_channels, c, 3, 2, act=nn.ReLU6)]
        for t, cout, n, s in STAGES:
            cout = make_divisible(cout * width)
            for i in range(n):
                layers.append(InvertedResidual(c, cout, s if i == 0 else 1, t))
                c = cout
        last = make_divisible(LAST_CHANNELS * max(1.0, width))
        layers.append(ConvBNAct(c, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
