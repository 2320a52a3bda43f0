"""MobileNetV3-Large (Howard et al. 2019, "Searching for MobileNetV3").

3x3/2 conv (16) + BN + hardswish, 15 bottleneck blocks, 1x1 conv to 960 + BN + hardswish, global
average pooling, 1x1 (as a Linear) to 1280 + hardswish without BN, dropout, fully-connected
classifier. A block expands its input with a 1x1 conv + BN + activation (skipped when the
expansion size equals the input channels), filters with a KxK depthwise conv + BN + activation,
optionally applies squeeze-and-excitation (reduced channels make_divisible(expanded / 4, 8),
ReLU then hard-sigmoid), and projects with a 1x1 conv + BN and no activation; it adds its input
when the stride is 1 and the channel counts match. The activation is ReLU in the early blocks
and hardswish from the 7th block on (paper Table 1).

Width multiplier: every channel count (the 1280 of the head included) times `width`, rounded by
`make_divisible(c * width, 8)`. At width 1.0 and 224x224: ~217M multiply-adds, 5,483,032
parameters (BatchNorm included); published (paper Table 3): 219M, 5.4M.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import ConvBNAct, SqueezeExcitation, check_width, make_divisible

# (kernel, expansion size, output channels, squeeze-and-excitation, activation, stride), Table 1.
BLOCKS: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1), (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1), (5, 960, 160, True, "HS", 1),
)
STEM_CHANNELS = 16
LAST_CONV_CHANNELS = 960
HEAD_CHANNELS = 1280
ACTIVATIONS = {"RE": nn.ReLU, "HS": nn.Hardswish}


class Bottleneck(nn.Module):
    def __init__(self, cin: int, kernel: int, expanded: int, cout: int, se: bool, act: str, stride: int):
        super().__init__()
        activation = ACTIVATIONS[act]
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(ConvBNAct(cin, expanded, 1, act=activation))
        layers.append(ConvBNAct(expanded, expanded, kernel, stride, groups=expanded, act=activation))
        if se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded / 4), act=nn.ReLU,
                                            gate=nn.Hardsigmoid))
        layers.append(ConvBNAct(expanded, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


class MobileNetV3Large(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.2):
        super().__init__()
        width = check_width(width)
        c = make_divisible(STEM_CHANNELS * width)
        layers: list[nn.Module] = [ConvBNAct(in_channels, c, 3, 2, act=nn.Hardswish)]
        for k, exp, cout, se, act, s in BLOCKS:
            cout = make_divisible(cout * width)
            layers.append(Bottleneck(c, k, make_divisible(exp * width), cout, se, act, s))
            c = cout
        last = make_divisible(LAST_CONV_CHANNELS * width)
        layers.append(ConvBNAct(c, last, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        head = make_divisible(HEAD_CHANNELS * width)
        self.classifier = nn.Sequential(
            nn.Linear(last, head), nn.Hardswish(), nn.Dropout(dropout), nn.Linear(head, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
