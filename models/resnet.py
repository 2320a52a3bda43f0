"""ResNet-18, -34 and -50 (He et al. 2016, "Deep Residual Learning for Image Recognition").

7x7/2 conv (64) + BN + ReLU, 3x3/2 max pooling, four stages of residual blocks (64, 128, 256,
512 channels; the first block of stages 2-4 has stride 2), global average pooling, fully-connected
classifier.
- ResNet-18/34: BasicBlock, two 3x3 conv + BN (ReLU after the first, and after the add);
  [2, 2, 2, 2] / [3, 4, 6, 3] blocks.
- ResNet-50: Bottleneck, 1x1 (reduce) -> 3x3 -> 1x1 (expand x4), stride on the 3x3 conv (the
  "v1.5" placement every common implementation uses, and the one the 4.1G figure counts);
  [3, 4, 6, 3] blocks.
A block whose stride or channel count changes gets a projection shortcut: 1x1 conv (stride 2 where
the block strides) + BN ("option B" of the paper).

Width multiplier (not in the paper): every channel count times `width`, rounded by
`make_divisible(c * width, 8)`; 1.0 is the published network. At 224x224: ResNet-18 ~1.82G
multiply-adds, 11,689,512 parameters; ResNet-34 ~3.67G, 21,797,672; ResNet-50 ~4.1G, 25,557,032
(BatchNorm included).
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import ConvBNAct, check_width, make_divisible

STAGE_CHANNELS = (64, 128, 256, 512)
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return ConvBNAct(cin, cout, 1, stride, act=None)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = ConvBNAct(cin, planes, 3, stride, act=nn.ReLU)
        self.conv2 = ConvBNAct(planes, cout, 3, act=None)
        self.downsample = _shortcut(cin, cout, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = ConvBNAct(cin, planes, 1, act=nn.ReLU)
        self.conv2 = ConvBNAct(planes, planes, 3, stride, act=nn.ReLU)
        self.conv3 = ConvBNAct(planes, cout, 1, act=None)
        self.downsample = _shortcut(cin, cout, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class ResNet(nn.Module):
    def __init__(self, depth: int = 18, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth {depth} is not built here: choose one of {', '.join(map(str, DEPTHS))}")
        width = check_width(width)
        block = Bottleneck if depth >= 50 else BasicBlock
        c = make_divisible(STAGE_CHANNELS[0] * width)
        self.stem = ConvBNAct(in_channels, c, 7, 2, act=nn.ReLU)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        stages = []
        for i, (planes, n) in enumerate(zip(STAGE_CHANNELS, DEPTHS[depth])):
            planes = make_divisible(planes * width)
            blocks = []
            for j in range(n):
                blocks.append(block(c, planes, 2 if i > 0 and j == 0 else 1))
                c = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet18(**kw) -> ResNet:
    return ResNet(18, **kw)


def resnet34(**kw) -> ResNet:
    return ResNet(34, **kw)


def resnet50(**kw) -> ResNet:
    return ResNet(50, **kw)
