"""Head yaw from the suite's landmark models, differentiable (AttrOP's pose term).

A FAN (``LandmarkModule``) gives 68 points by soft-argmax over its final heatmaps, a 2D-to-3D-FAN
(``LandmarkDepthModule``) their depths; yaw is the angle of the face's left-right axis out of the image plane:
the sum of the outer-eye-corner vector (ibug points 36 -> 45) and the mouth-corner vector (48 -> 54), in
heatmap pixels, as atan2(dz, dx) in degrees. 0 for a frontal face; the sign follows the depth model's
convention (AttrOP uses |yaw|).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facebench.errors import ConfigError
from facebench.landmarks_ops import soft_argmax

# ibug 68 (0-based): outer eye corners and mouth corners, left of the image first
EYE_CORNERS, MOUTH_CORNERS = (36, 45), (48, 54)


def yaw_from_points(points: torch.Tensor) -> torch.Tensor:
    """Yaw in degrees (B,) of 3D landmarks (B, 68, 3) (x right, y down, z depth; any common unit)."""
    if points.ndim != 3 or points.shape[1] != 68 or points.shape[2] != 3:
        raise ConfigError(f"yaw needs 68 3D points per face (ibug order), got shape {tuple(points.shape)}")
    axis = (points[:, EYE_CORNERS[1]] - points[:, EYE_CORNERS[0]]) + (points[:, MOUTH_CORNERS[1]]
                                                                      - points[:, MOUTH_CORNERS[0]])
    return torch.atan2(axis[:, 2], axis[:, 0]) * (180 / math.pi)


class LandmarkYaw(nn.Module):
    """Faces (B, 3, S, S) in [-1, 1] (aligned crops, resized to FAN's 256) -> yaw in degrees (B,), through a
    frozen FAN and 2D-to-3D-FAN of the suite; gradients flow to the faces."""

    def __init__(self, fan: nn.Module, depth: nn.Module, beta: float = 50.0):
        super().__init__()
        if not hasattr(fan, "heatmaps") or not hasattr(depth, "hparams") or not hasattr(depth, "net"):
            raise ConfigError("the pose term needs a FAN run (fan/*) and a 2D-to-3D-FAN run (fan/fan2to3d_*)")
        self.fan, self.depth, self.beta = fan.eval().requires_grad_(False), depth.eval().requires_grad_(False), beta

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(faces, size=(256, 256), mode="bilinear", align_corners=False)
        hm = self.fan.heatmaps(x, flip_test=False)
        if hm.shape[1] != 68:
            raise ConfigError(f"the pose term needs a 68-point FAN, this one predicts {hm.shape[1]} points")
        pts = soft_argmax(hm, self.beta)
        z = self.depth(x, pts)
        return yaw_from_points(torch.cat([pts, z[..., None]], -1))
