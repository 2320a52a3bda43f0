"""MobileNet-v1 (Howard et al. 2017): the standard architecture.

3x3/2 conv (32 x alpha), 13 depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise
+ BN + ReLU), global average pooling, fully-connected classifier. At width 1.0 and 224x224:
~569M multiply-adds, ~4.23M parameters (BatchNorm not counted, as published).
"""
from __future__ import annotations

import torch
from torch import nn

# (output channels at width 1.0, stride of the depthwise conv) for the 13 separable blocks.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def _scaled(channels: int, width: float) -> int:
    return max(8, int(channels * width))


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=False),
    )


class SeparableBlock(nn.Sequential):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(
            conv_bn_relu(cin, cin, 3, stride, groups=cin),
            conv_bn_relu(cin, cout, 1, 1),
        )


class MobileNetV1(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        if not 0 < width <= 4:
            raise ValueError(f"width multiplier must be in (0, 4], got {width}")
        c = _scaled(32, width)
        layers: list[nn.Module] = [conv_bn_relu(in_channels, c, 3, 2)]
        for cout, stride in BLOCKS:
            cout = _scaled(cout, width)
            layers.append(SeparableBlock(c, cout, stride))
            c = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.pool(x)
        return self.classifier(torch.flatten(x, 1))
