"""IResNet (the insightface ArcFace backbone): 112x112 RGB -> 512-d embedding.

Layout as in insightface's ``iresnet.py``: 3x3 stem (64, PReLU), four stages of "improved" basic blocks
(BN -> conv3x3 -> BN -> PReLU -> conv3x3 (stride) -> BN, plus a projection shortcut), then
BN -> dropout -> flatten -> linear(512 * 7 * 7 -> 512) -> BN1d with a frozen unit scale.
Depths: r18 [2, 2, 2, 2], r34 [3, 4, 6, 3], r50 [3, 4, 14, 3], r100 [3, 13, 30, 3].
"""
from __future__ import annotations

import torch
from torch import nn

LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}


class IBasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin, eps=1e-5), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5),
            nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class IResNet(nn.Module):
    """``IResNet(depth=50)``; ``embedding_dim`` 512 by default; ``dropout`` before the embedding layer."""

    def __init__(self, depth: int = 50, embedding_dim: int = 512, dropout: float = 0.0, input_size: int = 112,
                 widths: tuple[int, ...] = (64, 128, 256, 512)):
        super().__init__()
        if depth not in LAYERS:
            raise ValueError(f"depth must be one of {sorted(LAYERS)}, got {depth}")
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0], eps=1e-5),
                                  nn.PReLU(widths[0]))
        blocks, cin = [], widths[0]
        for n, cout in zip(LAYERS[depth], widths):
            for i in range(n):
                blocks.append(IBasicBlock(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*blocks)
        side = input_size // 16
        self.bn2 = nn.BatchNorm2d(cin, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin * side * side, embedding_dim)
        self.features = nn.BatchNorm1d(embedding_dim, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        self.embedding_dim = embedding_dim
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.stages(self.stem(x)))
        return self.features(self.fc(self.dropout(torch.flatten(x, 1))))


def iresnet18(**kw) -> IResNet:
    return IResNet(18, **kw)


def iresnet34(**kw) -> IResNet:
    return IResNet(34, **kw)


def iresnet50(**kw) -> IResNet:
    return IResNet(50, **kw)


def iresnet100(**kw) -> IResNet:
    return IResNet(100, **kw)
