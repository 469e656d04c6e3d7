"""PatchGAN discriminator (Isola et al., pix2pix, 2017) on (input, output) pairs, as DeRL's conditional GAN."""
from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """Real/fake logits per patch (B, 1, h, w) of an image, or of a pair (a conditioning image concatenated on
    channels: DeRL's (expressive, neutral) pairs, ``in_channels`` = 2 x image channels). ``layers`` stride-2
    4x4 convolutions then a stride-1 one and a 1-channel output (70x70 receptive field for layers=3)."""

    def __init__(self, in_channels: int = 6, width: int = 32, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for i in range(1, layers):
            n = min(width * 2 ** i, width * 8)
            mods += [nn.Conv2d(c, n, 4, 2, 1, bias=False), nn.BatchNorm2d(n), nn.LeakyReLU(0.2, inplace=True)]
            c = n
        n = min(c * 2, width * 8)
        mods += [nn.Conv2d(c, n, 4, 1, 1, bias=False), nn.BatchNorm2d(n), nn.LeakyReLU(0.2, inplace=True),
                 nn.Conv2d(n, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(image if condition is None else torch.cat([condition, image], 1))

    def forward_features(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The patch logits and the activation after each LeakyReLU (the features a feature-matching loss
        compares)."""
        feats, h = [], image
        for m in self.net:
            h = m(h)
            if isinstance(m, nn.LeakyReLU):
                feats.append(h)
        return h, feats
