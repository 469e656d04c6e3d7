"""UNet with a ResNet-style encoder: the parser of "Fake It Till You Make It" (Wood et al. 2021), and, on
class probabilities instead of an image, the label-adaptation network of the same paper."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facebench.models.resnet_encoder import ResNetEncoder, conv_bn_relu


class UpBlock(nn.Module):
    """x2 bilinear upsampling, concatenation with the skip features, two 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(cin + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip], 1))


class UNetResNet(nn.Module):
    """Per-pixel class logits (B, num_classes, H, W) at the input resolution of x (B, in_channels, H, W).

    Encoder: :class:`ResNetEncoder` (``width``, ``depths``); decoder: one :class:`UpBlock` per encoder level
    back to stride 2, then a x2 upsampling and a 3x3 + 1x1 head at full resolution (H and W must be
    multiples of 2**(len(depths)+1) for exact skips; other sizes are interpolated)."""

    def __init__(self, num_classes: int = 19, in_channels: int = 3, width: int = 64,
                 depths: tuple[int, ...] = (2, 2, 2, 2), input_size: int | None = None):
        super().__init__()
        self.encoder = ResNetEncoder(in_channels, width, tuple(depths))
        ch = self.encoder.channels
        ups, cin = [], ch[-1]
        for skip in reversed(ch[:-1]):
            ups.append(UpBlock(cin, skip, skip))
            cin = skip
        self.ups = nn.ModuleList(ups)
        self.head = nn.Sequential(conv_bn_relu(cin + in_channels, cin), nn.Conv2d(cin, num_classes, 1))
        self.num_classes, self.input_size = num_classes, input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        y = feats[-1]
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            y = up(y, skip)
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([y, x], 1))
