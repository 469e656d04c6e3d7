"""Lighting and procedural textures, per pixel, batched (torch).

Colours are linear RGB until :func:`to_display`. Normals are in the camera frame (+Z toward the
camera). SH uses the real second-order basis with Ramamoorthi & Hanrahan's irradiance convolution.
"""
from __future__ import annotations

import math

import torch

# Irradiance convolution constants times the SH basis normalisations.
_C1, _C2, _C3, _C4, _C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708


def sh_irradiance(n: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
    """Irradiance of unit normals n (..., 3) under SH coefficients sh (B, 9, 3); n's leading dim is B."""
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    shp = (sh.shape[0],) + (1,) * (n.dim() - 2) + (9, 3)
    L = sh.view(shp)
    e = (_C4 * L[..., 0, :]
         + 2 * _C2 * (L[..., 3, :] * x[..., None] + L[..., 1, :] * y[..., None] + L[..., 2, :] * z[..., None])
         + _C1 * L[..., 8, :] * (x * x - y * y)[..., None] + _C3 * L[..., 6, :] * (z * z)[..., None]
         - _C5 * L[..., 6, :]
         + 2 * _C1 * (L[..., 4, :] * (x * y)[..., None] + L[..., 7, :] * (x * z)[..., None] + L[..., 5, :] * (y * z)[..., None]))
    return e.clamp(min=0) / math.pi


_M32 = 0xFFFFFFFF


def hash_u32(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Integer hash of three int64 tensors to [0, 2^32) (int64). Exact on every device and in the numba
    kernels (facebench.render.backends.cpu.shade.hash_u32 is the same function), unlike sin-based hashes whose
    output changes completely under a one-ulp difference of their argument."""
    h = ((a & _M32) * 0x8DA6B343 ^ (b & _M32) * 0xD8163841 ^ (c & _M32) * 0xCB1AB31F) & _M32
    h = h ^ (h >> 16)
    h = (h * 0x7FEB352D) & _M32
    h = h ^ (h >> 15)
    h = (h * 0x846CA68B) & _M32
    return h ^ (h >> 16)


def hash_noise(a: torch.Tensor, b: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Deterministic white noise in [0, 1) (float32) from integer coordinates and a seed."""
    # Top 24 bits: exactly representable in float32, so the result stays below 1.
    return (hash_u32(a.long(), b.long(), seed.long()) >> 8).float() * (1.0 / 16777216.0)


def value_noise(u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Smooth lattice noise in [0, 1) at continuous coordinates (smoothstep-bilinear of hash_noise)."""
    fu0, fv0 = torch.floor(u), torch.floor(v)
    iu, iv = fu0.long(), fv0.long()
    fu, fv = u - fu0, v - fv0
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    a = hash_noise(iu, iv, seed)
    b = hash_noise(iu + 1, iv, seed)
    c = hash_noise(iu, iv + 1, seed)
    d = hash_noise(iu + 1, iv + 1, seed)
    return (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv


def fbm(u, v, seed, octaves: int = 4):
    out, amp, tot = 0.0, 1.0, 0.0
    for o in range(octaves):
        out = out + amp * value_noise(u * 2 ** o, v * 2 ** o, seed + 17 * o)
        tot += amp
        amp *= 0.5
    return out / tot


def background(params: torch.Tensor, seeds: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Random display-space backgrounds (B, 3, H, W) from (B, 24) uniform parameters: a gradient,
    soft blobs, a few hard-edged shapes (walls, frames) and fractal texture."""
    B, dev = params.shape[0], params.device
    ys, xs = torch.meshgrid(torch.linspace(0, 1, H, device=dev), torch.linspace(0, 1, W, device=dev), indexing="ij")
    p = params.view(B, 24, 1, 1)
    c0 = p[:, 0:3] ** 1.2
    c1 = p[:, 3:6] ** 1.2
    ang = p[:, 6] * 2 * math.pi
    t = (xs * torch.cos(ang) + ys * torch.sin(ang) + 1) / 2
    img = c0 * (1 - t[:, None]) + c1 * t[:, None]
    for k in range(2):
        cx, cy, r = p[:, 7 + 3 * k], p[:, 8 + 3 * k], 0.1 + 0.4 * p[:, 9 + 3 * k]
        g = torch.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / r ** 2))
        col = p[:, (13 + 3 * k) % 24:(13 + 3 * k) % 24 + 3]
        img = img * (1 - 0.7 * g[:, None]) + 0.7 * g[:, None] * col
    # Hard-edged rectangle (a door, a picture frame, a window), present in about half of the images.
    x0, y0 = p[:, 19] * 0.8, p[:, 20] * 0.8
    rect = ((xs > x0) & (xs < x0 + 0.1 + 0.5 * p[:, 21]) & (ys > y0) & (ys < y0 + 0.1 + 0.6 * p[:, 22])).float()
    rect = rect * (p[:, 23] > 0.5).float()
    img = img * (1 - rect[:, None]) + rect[:, None] * p[:, [22, 7, 10]] ** 1.3
    scale = 4 + 24 * p[:, 18]
    tex = fbm(xs[None] * scale, ys[None] * scale, seeds.view(B, 1, 1))
    img = img * (0.75 + 0.5 * tex[:, None])
    return img.clamp(0, 1)


def to_display(lin: torch.Tensor) -> torch.Tensor:
    """Linear RGB -> display sRGB-like values in [0, 1] (soft shoulder, then gamma 2.2)."""
    x = lin.clamp(min=0)
    x = x / (1 + 0.25 * x)  # soft roll-off of highlights
    return x.clamp(0, 1) ** (1 / 2.2)
