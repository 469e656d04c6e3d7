"""The attribute encoder of open-set identity-preserving synthesis (Bao et al., CVPR 2018): a VAE encoder from a
112x112 face to the mean and log-variance of an attribute code (pose, expression, light, background)."""
from __future__ import annotations

import torch
from torch import nn


class AttributeEncoder(nn.Module):
    """Face (B, 3, 112, 112) in [-1, 1] -> (mu, logvar), each (B, ``code_dim``). Four stride-2 convolution blocks
    (112 -> 7), global average pooling, two linear heads."""

    def __init__(self, code_dim: int = 128, width: int = 64, in_channels: int = 3):
        super().__init__()
        chans = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        c = in_channels
        for n in chans:
            layers += [nn.Conv2d(c, n, 4, 2, 1, bias=False), nn.BatchNorm2d(n), nn.LeakyReLU(0.2, inplace=True)]
            c = n
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.mu = nn.Linear(c, code_dim)
        self.logvar = nn.Linear(c, code_dim)
        self.code_dim = code_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h).clamp(-10, 10)  # clamped: exp(logvar) must not overflow in fp16


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the code, averaged over the batch (nats)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
