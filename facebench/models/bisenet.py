"""BiSeNet (Yu et al., "BiSeNet: Bilateral Segmentation Network for Real-time Semantic Segmentation", ECCV
2018): a spatial path (three stride-2 convolutions, 1/8 resolution, detail) and a context path (a ResNet-style
encoder to 1/32 with global pooling and attention refinement, large receptive field), fused by the feature
fusion module; the real-time parser most face-parsing users know (face-parsing.PyTorch trains it on
CelebAMask-HQ). With ``aux=True`` training also returns the context path's two auxiliary logits (the paper's
auxiliary losses); evaluation returns the main logits only."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facebench.models.resnet_encoder import ResNetEncoder, conv_bn_relu


class AttentionRefinement(nn.Module):
    """3x3 conv, then channel attention from the globally pooled features (1x1 conv, BN, sigmoid)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = conv_bn_relu(cin, cout)
        self.att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                 nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.att(y)


class FeatureFusion(nn.Module):
    """Concatenate spatial and context features, 1x1 conv-BN-ReLU, then y + y * channel attention."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = conv_bn_relu(cin, cout, 1)
        self.att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cout, max(cout // 4, 1), 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(max(cout // 4, 1), cout, 1), nn.Sigmoid())

    def forward(self, sp: torch.Tensor, cp: torch.Tensor) -> torch.Tensor:
        y = self.conv(torch.cat([sp, cp], 1))
        return y + y * self.att(y)


def _head(cin: int, mid: int, n: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(cin, mid), nn.Conv2d(mid, n, 1))


class BiSeNet(nn.Module):
    """Per-pixel class logits (B, num_classes, H, W) at the input resolution (H, W multiples of 32).

    ``width``: spatial-path and fusion channels are 2x width, the context encoder's first stage width
    (4 stages, ``depths``)."""

    def __init__(self, num_classes: int = 19, width: int = 64, depths: tuple[int, ...] = (2, 2, 2, 2),
                 aux: bool = True, input_size: int | None = None):
        super().__init__()
        if len(depths) != 4:
            raise ValueError(f"BiSeNet's context path has 4 stages (strides 4-32), got depths={depths}")
        c = 2 * width
        self.spatial = nn.Sequential(conv_bn_relu(3, width, 7, 2), conv_bn_relu(width, width, 3, 2),
                                     conv_bn_relu(width, c, 3, 2))
        self.context = ResNetEncoder(3, width, tuple(depths))
        c16, c32 = self.context.channels[-2], self.context.channels[-1]
        self.arm16, self.arm32 = AttentionRefinement(c16, c), AttentionRefinement(c32, c)
        self.global_context = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv_bn_relu(c32, c, 1))
        self.refine16, self.refine32 = conv_bn_relu(c, c), conv_bn_relu(c, c)
        self.fusion = FeatureFusion(2 * c, 2 * c)
        self.head = _head(2 * c, c, num_classes)
        self.aux = aux
        if aux:
            self.aux16, self.aux32 = _head(c, c // 2, num_classes), _head(c, c // 2, num_classes)
        self.num_classes, self.input_size = num_classes, input_size

    def forward(self, x: torch.Tensor):
        size = x.shape[-2:]
        sp = self.spatial(x)  # 1/8
        f16, f32 = self.context(x)[-2:]
        y32 = self.arm32(f32) + self.global_context(f32)
        y32 = self.refine32(F.interpolate(y32, size=f16.shape[-2:], mode="nearest"))
        y16 = self.refine16(F.interpolate(self.arm16(f16) + y32, size=sp.shape[-2:], mode="nearest"))
        out = F.interpolate(self.head(self.fusion(sp, y16)), size=size, mode="bilinear", align_corners=False)
        if self.training and self.aux:
            up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=False)  # noqa: E731
            return out, up(self.aux16(y16)), up(self.aux32(y32))
        return out
