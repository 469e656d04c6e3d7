"""De-expression generator of DeRL (Yang et al., "Facial Expression Recognition by De-expression Residue
Learning", CVPR 2018): an encoder-decoder (no skip connections, so the expression has to pass through the
code and the decoder) that maps an expressive face to the same person's neutral face. Its decoder's
intermediate feature maps hold the "expression residue" a classifier then reads."""
from __future__ import annotations

import torch
from torch import nn


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class NeutralGenerator(nn.Module):
    """Faces (B, C, S, S) in [-1, 1] -> neutral faces (B, C, S, S) in [-1, 1] (tanh); S divisible by 2**levels.

    Encoder: ``levels`` stride-2 4x4 convolutions (width, 2 width, ... capped at 8 width); decoder: as many
    stride-2 4x4 transposed convolutions back. ``forward(x, features=True)`` also returns the decoder's
    feature maps, coarsest first (``decoder_channels`` lists their widths)."""

    def __init__(self, in_channels: int = 3, width: int = 32, levels: int = 4, input_size: int | None = None):
        super().__init__()
        widths = [min(width * 2 ** i, width * 8) for i in range(levels)]
        self.encoder = nn.ModuleList(_down(in_channels if i == 0 else widths[i - 1], w, norm=i > 0)
                                     for i, w in enumerate(widths))
        dec = list(reversed(widths))
        self.decoder = nn.ModuleList(_up(dec[i], dec[i + 1]) for i in range(levels - 1))
        self.out = nn.Sequential(nn.ConvTranspose2d(dec[-1], in_channels, 4, 2, 1), nn.Tanh())
        self.decoder_channels = dec[1:]
        self.in_channels, self.input_size = in_channels, input_size

    def forward(self, x: torch.Tensor, features: bool = False):
        for layer in self.encoder:
            x = layer(x)
        feats = []
        for layer in self.decoder:
            x = layer(x)
            feats.append(x)
        y = self.out(x)
        return (y, feats) if features else y
