"""EfficientNet-B0 (Tan & Le 2019): MBConv blocks with squeeze-and-excitation and SiLU (swish).

3x3/2 conv (32) + BN + SiLU, 16 MBConv blocks in 7 stages, 1x1 conv to 1280 + BN + SiLU, global
average pooling, dropout, fully-connected classifier. An MBConv block expands its input t times
with a 1x1 conv + BN + SiLU (skipped when t = 1), filters with a KxK depthwise conv + BN + SiLU
(K = 3 or 5 per stage; stride on the first block of a stage), applies squeeze-and-excitation
(reduced channels max(1, int(block input channels * 0.25)), SiLU then sigmoid), and projects with
a 1x1 conv + BN and no activation; it adds its input when the stride is 1 and the channel counts
match.

Inference graphs only: dropout is an `nn.Dropout` (identity in eval); the training-time
drop-connect (stochastic depth) on the residual branch is not modelled, as it is the identity
in eval.

Width multiplier: every channel count (head included) times `width`, rounded by
`make_divisible(c * width, 8)`; block repeats are not scaled (that is the depth coefficient of
B1-B7). At 224x224: ~386M multiply-adds, 5,288,548 parameters (BatchNorm included), as published
(paper Table 2: 0.39B FLOPS, 5.3M).
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import ConvBNAct, SqueezeExcitation, check_width, make_divisible

# (expansion t, depthwise kernel k, stride s, output channels c, repeats n), paper Table 1.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
SE_RATIO = 0.25


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(cin, hidden, 1, act=nn.SiLU))
        layers += [
            ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, act=nn.SiLU),
            SqueezeExcitation(hidden, max(1, int(cin * SE_RATIO)), act=nn.SiLU, gate=nn.Sigmoid),
            ConvBNAct(hidden, cout, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


class EfficientNetB0(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.2):
        super().__init__()
        width = check_width(width)
        c = make_divisible(STEM_CHANNELS * width)
        layers: list[nn.Module] = [ConvBNAct(in_channels, c, 3, 2, act=nn.SiLU)]
        for t, k, s, cout, n in STAGES:
            cout = make_divisible(cout * width)
            for i in range(n):
                layers.append(MBConv(c, cout, k, s if i == 0 else 1, t))
                c = cout
        head = make_divisible(HEAD_CHANNELS * width)
        layers.append(ConvBNAct(c, head, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
