"""Rotations, perspective projection and 2D similarity alignment (torch, batched).

World frame = head frame: metres, +Y up, +Z toward the camera, +X the subject's left. The camera sits
on the +Z axis looking toward -Z. Image frame: x right, y down, pixels.
Pose angles (degrees): yaw > 0 turns the face toward the subject's left (image right), pitch > 0 tilts
the face up, roll > 0 tilts the head toward the subject's left shoulder.
"""
from __future__ import annotations

import torch


def euler_to_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,) angles in degrees -> (B, 3, 3) rotation R = Rz(roll) @ Ry(yaw) @ Rx(-pitch)."""
    y, p, r = (torch.deg2rad(a) for a in (yaw, -pitch, -roll))
    cy, sy, cp, sp, cr, sr = y.cos(), y.sin(), p.cos(), p.sin(), r.cos(), r.sin()
    one, zero = torch.ones_like(y), torch.zeros_like(y)
    Ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    Rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).view(-1, 3, 3)
    Rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).view(-1, 3, 3)
    return Rz @ Ry @ Rx



def project(points: torch.Tensor, focal_px: torch.Tensor, cam_dist: torch.Tensor) -> torch.Tensor:
    """Perspective projection of (B, N, 3) world points to (B, N, 3): image x, y (pixels, principal
    point at 0) and inverse depth 1/z (1/metres)."""
    z = cam_dist[:, None] - points[..., 2]
    inv = 1.0 / z
    x = focal_px[:, None] * points[..., 0] * inv
    y = -focal_px[:, None] * points[..., 1] * inv
    return torch.stack([x, y, inv], -1)


def umeyama_similarity(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Least-squares 2D similarity (B, 2, 3) mapping (B, N, 2) src points onto dst (Umeyama 1991; rotation,
    uniform scale and translation, no reflection).

    In 2D the SVD of Umeyama's method has a closed form: with the centred points s, d and
    a = sum(s . d), b = sum(s x d), the best rotation is atan2(b, a) and the linear part is
    [[a, -b], [b, a]] / sum(|s|^2). (torch.linalg.svd would also synchronise a GPU with the host.)"""
    mu_s, mu_d = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    s, d = src - mu_s, dst - mu_d
    ss = (s ** 2).sum((1, 2))
    a = (s * d).sum((1, 2)) / ss
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(1) / ss
    A = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], 1)
    t = mu_d.squeeze(1) - (A @ mu_s.transpose(1, 2)).squeeze(-1)
    return torch.cat([A, t[..., None]], -1)


def apply_similarity(M: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Apply (B, 2, 3) to (B, N, 2+) points; extra columns (inverse depth) pass through."""
    xy = pts[..., :2] @ M[:, :, :2].transpose(1, 2) + M[:, None, :, 2]
    return torch.cat([xy, pts[..., 2:]], -1)
