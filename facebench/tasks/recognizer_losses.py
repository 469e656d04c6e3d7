"""Losses through a frozen recognizer of the suite, shared by the generators trained on its features (Vec2Face,
the identity-preserving GAN): its intermediate feature maps (a perceptual / feature-matching term) and the
identity cosine."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facebench.errors import ConfigError


def feature_maps(backbone: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The last feature map of each resolution of a suite recognizer's convolutional trunk (IResNet: stem +
    stages; TinyFaceNet: features)."""
    if hasattr(backbone, "stages"):
        h, seq = backbone.stem(x), backbone.stages
    elif isinstance(getattr(backbone, "features", None), nn.Sequential):
        h, seq = x, backbone.features
    else:
        raise ConfigError(f"{type(backbone).__name__}: no convolutional trunk to take perceptual features from")
    maps = []
    for blk in seq:
        h = blk(h)
        if maps and maps[-1].shape[-1] == h.shape[-1]:
            maps[-1] = h
        else:
            maps.append(h)
    return maps


def perceptual_loss(backbone: nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Sum over resolutions of the MSE between the recognizer's feature maps of ``fake`` and of ``real`` (no
    gradient through the real side)."""
    with torch.no_grad():
        real_maps = feature_maps(backbone, real)
    return sum(F.mse_loss(a, b) for a, b in zip(feature_maps(backbone, fake), real_maps))
