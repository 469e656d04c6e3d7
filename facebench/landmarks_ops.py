"""Landmark geometry: FAN's crop from a face box, Gaussian heatmaps and their decoding, flips.

Coordinates are pixels with centres at integers (0-based). The crop maps the box's square
``centre = box centre shifted up by 0.12 * h``, ``side = 200 * s`` with ``s = (w + h) / 195`` onto the
network input (256 px); heatmaps are a quarter of that (64 px).
"""
from __future__ import annotations

import numpy as np
import torch


def fan_crop_transform(box, out_size: int = 256, scale_noise: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
    """2x3 affine (image -> crop pixels) of FAN's crop of box (x0, y0, x1, y1); optional box noise as a
    scale factor and a shift in units of the box size."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + shift[0] * w
    cy = (y0 + y1) / 2 - 0.12 * h + shift[1] * h
    side = 200.0 * (w + h) / 195.0 * scale_noise
    k = out_size / side
    # Points and box use pixel-centre coordinates; the crop centre lands on the crop's centre (out - 1) / 2.
    c = (out_size - 1) / 2
    return np.array([[k, 0, c - k * cx], [0, k, c - k * cy]], np.float64)


def rescale_affine(M: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Compose M with the map from a from_size image to a to_size one (pixel centres: (u + .5) r - .5)."""
    r = to_size / from_size
    S = np.array([[r, 0, 0.5 * r - 0.5], [0, r, 0.5 * r - 0.5], [0, 0, 1]])
    return (S @ np.vstack([M, [0, 0, 1]]))[:2]


def apply_affine(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ M[:, :2].T + M[:, 2]


def invert_affine(M: np.ndarray) -> np.ndarray:
    A = np.linalg.inv(M[:, :2])
    return np.hstack([A, -A @ M[:, 2:]])


def heatmaps(pts: torch.Tensor, size: int = 64, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian heatmaps (B, N, size, size) of points (B, N, 2) given in heatmap pixels (unnormalised
    peak 1 at the point)."""
    g = torch.arange(size, dtype=pts.dtype, device=pts.device)
    dx = (g[None, None, None, :] - pts[..., 0, None, None]) ** 2
    dy = (g[None, None, :, None] - pts[..., 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / (2 * sigma ** 2))


def decode_heatmaps(hm: torch.Tensor) -> torch.Tensor:
    """FAN's decoding: argmax, then a quarter-pixel shift toward the larger neighbour (B, N, 2)."""
    B, N, H, W = hm.shape
    flat = hm.reshape(B, N, -1).argmax(-1)
    y, x = (flat // W), (flat % W)
    pts = torch.stack([x, y], -1).to(hm.dtype)
    xi, yi = x.clamp(1, W - 2), y.clamp(1, H - 2)
    b = torch.arange(B, device=hm.device)[:, None]
    n = torch.arange(N, device=hm.device)[None]
    dx = hm[b, n, y, xi + 1] - hm[b, n, y, xi - 1]
    dy = hm[b, n, yi + 1, x] - hm[b, n, yi - 1, x]
    inner_x = (x > 0) & (x < W - 1)
    inner_y = (y > 0) & (y < H - 1)
    pts[..., 0] += 0.25 * torch.sign(dx) * inner_x
    pts[..., 1] += 0.25 * torch.sign(dy) * inner_y
    return pts


def flip_points(pts: np.ndarray, width: int, permutation) -> np.ndarray:
    """Horizontal flip of (N, 2) points in an image of ``width`` pixels, with the left/right permutation."""
    out = pts[list(permutation)].copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


def soft_argmax(hm: torch.Tensor, beta: float = 50.0) -> torch.Tensor:
    """Differentiable expected position (B, N, 2) in heatmap pixels (x, y) under softmax(beta * hm) over
    each map (B, N, H, W). Heatmaps are in [0, 1] (Gaussian targets with peak 1), so beta sets how peaky
    the distribution is."""
    B, N, H, W = hm.shape
    p = torch.softmax(beta * hm.reshape(B, N, -1).float(), -1).reshape(B, N, H, W)
    xs = torch.arange(W, dtype=p.dtype, device=p.device)
    ys = torch.arange(H, dtype=p.dtype, device=p.device)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)
