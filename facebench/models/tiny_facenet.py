"""A tiny face-embedding CNN for CPU smoke runs: 112x112 RGB -> unit-free embedding (not normalised)."""
from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout))


class TinyFaceNet(nn.Module):
    """Four stride-2 blocks (112 -> 7), then BN-dropout-linear to ``embedding_dim`` (insightface-style neck)."""

    def __init__(self, embedding_dim: int = 128, width: int = 32, input_size: int = 112):
        super().__init__()
        w = width
        self.features = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 4 * w))
        side = input_size // 16
        self.neck = nn.Sequential(nn.BatchNorm2d(4 * w), nn.Flatten(), nn.Linear(4 * w * side * side, embedding_dim),
                                  nn.BatchNorm1d(embedding_dim))
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.features(x))
