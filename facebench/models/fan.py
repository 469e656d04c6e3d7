"""FAN: stacked hourglasses for face alignment (Bulat & Tzimiropoulos, ICCV 2017).

256x256 RGB -> ``num_points`` heatmaps of 64x64 from every stack (intermediate supervision).
Stem: 7x7/2 conv -> block -> 2x2 avg-pool -> block -> block. Each stack: hourglass of depth 4 -> block ->
1x1 conv-BN-ReLU -> 1x1 heatmap head; between stacks the features and the heatmaps are mapped back by
1x1 convs and added to the stack input. All blocks are the hierarchical, parallel, multi-scale block.
``width`` (256 in the paper) scales every layer: 4 stacks at width 256 have ~24M parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HPMBlock(nn.Module):
    """Three BN-ReLU-3x3 convs of out/2, out/4, out/4 channels, concatenated, plus a (projected) residual."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        h, q = cout // 2, cout // 4
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, h, 3, 1, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(h), nn.Conv2d(h, q, 3, 1, 1, bias=False)
        self.bn3, self.conv3 = nn.BatchNorm2d(q), nn.Conv2d(q, cout - h - q, 3, 1, 1, bias=False)
        self.shortcut = None if cin == cout else nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        o1 = self.conv1(F.relu(self.bn1(x)))
        o2 = self.conv2(F.relu(self.bn2(o1)))
        o3 = self.conv3(F.relu(self.bn3(o2)))
        return torch.cat([o1, o2, o3], 1) + (x if self.shortcut is None else self.shortcut(x))


class Hourglass(nn.Module):
    def __init__(self, depth: int, ch: int):
        super().__init__()
        self.up = HPMBlock(ch, ch)
        self.low1 = HPMBlock(ch, ch)
        self.low2 = Hourglass(depth - 1, ch) if depth > 1 else HPMBlock(ch, ch)
        self.low3 = HPMBlock(ch, ch)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.avg_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class FAN(nn.Module):
    """``FAN(stacks=4, width=256, num_points=68, in_channels=3)``; forward returns a list of heatmaps,
    one (B, num_points, 64, 64) tensor per stack (the last is the prediction)."""

    def __init__(self, stacks: int = 4, width: int = 256, num_points: int = 68, in_channels: int = 3, depth: int = 4):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w // 4, 7, 2, 3), nn.BatchNorm2d(w // 4), nn.ReLU(inplace=True),
                                  HPMBlock(w // 4, w // 2), nn.AvgPool2d(2), HPMBlock(w // 2, w // 2), HPMBlock(w // 2, w))
        self.hourglasses = nn.ModuleList(Hourglass(depth, w) for _ in range(stacks))
        self.tops = nn.ModuleList(nn.Sequential(HPMBlock(w, w), nn.Conv2d(w, w, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
                                  for _ in range(stacks))
        self.heads = nn.ModuleList(nn.Conv2d(w, num_points, 1) for _ in range(stacks))
        self.back_features = nn.ModuleList(nn.Conv2d(w, w, 1) for _ in range(stacks - 1))
        self.back_heatmaps = nn.ModuleList(nn.Conv2d(num_points, w, 1) for _ in range(stacks - 1))
        self.num_points = num_points

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, (hg, top, head) in enumerate(zip(self.hourglasses, self.tops, self.heads)):
            feat = top(hg(x))
            hm = head(feat)
            outs.append(hm)
            if i < len(self.back_features):
                x = x + self.back_features[i](feat) + self.back_heatmaps[i](hm)
        return outs


class DepthFAN(nn.Module):
    """2D-to-3D-FAN: image and the 2D heatmaps (3 + N channels) -> a depth per landmark, via an hourglass
    feature extractor and a linear regressor on pooled features."""

    def __init__(self, stacks: int = 2, width: int = 128, num_points: int = 68):
        super().__init__()
        self.fan = FAN(stacks, width, num_points=width, in_channels=3 + num_points)
        self.regress = nn.Sequential(nn.Flatten(), nn.Linear(width * 4 * 4, 256), nn.ReLU(inplace=True),
                                     nn.Linear(256, num_points))

    def forward(self, image: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        hm = F.interpolate(heatmaps, size=image.shape[-2:], mode="bilinear", align_corners=False)
        feat = self.fan(torch.cat([image, hm], 1))[-1]
        return self.regress(F.adaptive_avg_pool2d(feat, 4))
