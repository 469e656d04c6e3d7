"""A ResNet-style expression classifier for 48-112 px faces, grey (FER2013-style) or colour input."""
from __future__ import annotations

import torch
from torch import nn

from facebench.models.resnet_encoder import ResNetEncoder


class ExpressionResNet(nn.Module):
    """Class logits (B, num_classes) of faces (B, in_channels, S, S): :class:`ResNetEncoder` (stem stride 1 for
    inputs of 64 px or less, so a 48 px face keeps a 3x3 map at the last stage), global average pooling,
    dropout, one linear layer."""

    def __init__(self, num_classes: int = 7, in_channels: int = 3, width: int = 32,
                 depths: tuple[int, ...] = (2, 2, 2, 2), dropout: float = 0.2, input_size: int = 112):
        super().__init__()
        self.encoder = ResNetEncoder(in_channels, width, tuple(depths), stem_stride=1 if input_size <= 64 else 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.encoder.channels[-1], num_classes)
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.pool(self.encoder(x)[-1]).flatten(1)))
