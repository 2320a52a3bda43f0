"""Small conv nets for fast tests: the same layer kinds as MobileNet-v1, a few channels."""
from __future__ import annotations

import torch
from torch import nn

from .mobilenet_v1 import SeparableBlock, conv_bn_relu


class TinySeparableCNN(nn.Module):
    """3x3/2 conv, three separable blocks (one strided), average pool, linear classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16, stem_stride: int = 2):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, w, 3, stem_stride),
            SeparableBlock(w, 2 * w, 1),
            SeparableBlock(2 * w, 4 * w, 2),
            SeparableBlock(4 * w, 4 * w, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class TinyResidualCNN(nn.Module):
    """A separable net with residual adds (channels that meet at an add share a permutation)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16):
        super().__init__()
        w = width
        self.stem = conv_bn_relu(in_channels, w, 3, 2)
        self.block1 = SeparableBlock(w, w, 1)
        self.block2 = SeparableBlock(w, w, 1)
        self.down = SeparableBlock(w, 2 * w, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.block1(x)
        x = x + self.block2(x)
        x = self.down(x)
        return self.classifier(torch.flatten(self.pool(x), 1))
