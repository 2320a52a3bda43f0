"""ResNet-18 (He et al. 2016, "Deep Residual Learning", table 1) written from the paper, for the
KxK-convolution tests and bench/resnet18.py, until the model registry has it.

7x7/2 conv (64) + BN + ReLU, 3x3/2 max pooling, four stages of two BasicBlocks (3x3 conv + BN +
ReLU, 3x3 conv + BN, + shortcut, ReLU; the first block of stages 2-4 has stride 2 and a 1x1/2
conv + BN shortcut), global average pooling, fully-connected classifier. At 224x224 and width
64: 1.82G multiply-adds, 11.69M parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from spiree.models.init import randomize_


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000, width: int = 64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, c = [], w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            blocks += [BasicBlock(c, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
            c = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(self.layers(x)), 1))


def factory(resolution: int = 224, width: float = 64, num_classes: int = 1000, seed: int = 0):
    """(model, example inputs) with random variance-preserving weights (models/init.py), for
    `spiree compile tests.resnet18:factory`."""
    model = randomize_(ResNet18(int(num_classes), int(width)), seed).eval()
    x = torch.randn(1, 3, int(resolution), int(resolution), generator=torch.Generator().manual_seed(seed + 1))
    return model, (x,)
