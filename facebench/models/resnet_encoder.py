"""A ResNet-style encoder (basic residual blocks, He et al. 2016) returning the features of every stride, as
the parsers' encoders (UNet skip connections, BiSeNet's context path) need them."""
from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 strided projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """Stem (3x3 conv, stride ``stem_stride``) then one stage per entry of ``depths``; stage i has
    ``width * 2**i`` channels and stride 2 (the first stage: stride 2 after the stem, as ResNet's max-pool).
    ``forward`` returns the features at strides 2, 4, 8, ... (len(depths) + 1 maps; halve them for stem
    stride 1)."""

    def __init__(self, in_channels: int = 3, width: int = 64, depths: tuple[int, ...] = (2, 2, 2, 2),
                 stem_stride: int = 2):
        super().__init__()
        self.stem = conv_bn_relu(in_channels, width, 3, stem_stride)
        self.channels = [width] + [width * 2 ** i for i in range(len(depths))]
        stages, cin = [], width
        for i, d in enumerate(depths):
            cout = width * 2 ** i
            stages.append(nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, 2 if j == 0 else 1)
                                          for j in range(d)]))
            cin = cout
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for s in self.stages:
            feats.append(s(feats[-1]))
        return feats
