"""The generator of open-set identity-preserving synthesis (Bao et al., CVPR 2018): (identity feature, attribute
code) -> a 112x112 aligned face."""
from __future__ import annotations

import torch
from torch import nn


def _up(cin: int, cout: int) -> nn.Sequential:
    # nearest-neighbour upsampling then a 3x3 convolution (no transposed-convolution checkerboards)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class IdentityGenerator(nn.Module):
    """``forward(identity (B, identity_dim), attribute (B, attribute_dim))`` -> faces (B, 3, 112, 112) in [-1, 1].

    The concatenated codes are projected to a 7x7 map of ``8 * width`` channels and upsampled four times
    (7 -> 14 -> 28 -> 56 -> 112), halving the channels each time, then a 3x3 convolution to RGB and tanh."""

    def __init__(self, identity_dim: int = 512, attribute_dim: int = 128, width: int = 64):
        super().__init__()
        c = 8 * width
        self.identity_dim, self.attribute_dim, self.width = identity_dim, attribute_dim, width
        self.project = nn.Sequential(nn.Linear(identity_dim + attribute_dim, c * 7 * 7), nn.Unflatten(1, (c, 7, 7)),
                                     nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.up = nn.Sequential(_up(c, c // 2), _up(c // 2, c // 4), _up(c // 4, c // 8), _up(c // 8, c // 8))
        self.to_rgb = nn.Conv2d(c // 8, 3, 3, 1, 1)

    def forward(self, identity: torch.Tensor, attribute: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_rgb(self.up(self.project(torch.cat([identity, attribute], 1)))))
