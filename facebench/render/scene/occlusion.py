"""Ambient occlusion of a head template, baked once per head (the creases the sky light reaches less:
nostrils, ear folds, eye corners, under the jaw)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def sphere_directions(n: int) -> torch.Tensor:
    """n unit vectors (n, 3) spread evenly over the sphere (Fibonacci lattice)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * k / n
    phi = k * np.pi * (3 - 5 ** 0.5)
    r = (1 - z * z).sqrt()
    return torch.stack([r * phi.cos(), r * phi.sin(), z], -1).float()


def ambient_occlusion(verts: np.ndarray, faces: np.ndarray, normals: np.ndarray, directions: int = 64,
                      size: int = 256) -> np.ndarray:
    """Per-vertex ambient visibility (V,) in [0, 1] of a mesh (metres): over ``directions`` directions on the
    sphere, the cosine-weighted fraction of each vertex's hemisphere (unit normals (V, 3)) from which no
    other surface hides it. Visibility per direction from an orthographic depth map of ``size`` texels (the
    key light's shadow test, 3x3 PCF, with a bias of a texel plus a texel times the slope: the key light's
    centimetre-scale bias would see past the near walls of creases), so creases narrower than a few texels
    are not resolved."""
    from facebench.render.backends.cpu.mesh import light_space_numba
    from facebench.render.backends.cpu.rasterize import depth_map_numba
    from facebench.render.backends.torch.shade import shadow_visibility

    d = sphere_directions(directions)
    up = torch.tensor([0.0, 1.0, 0.0]).expand_as(d)
    up = torch.where((d[:, 1].abs() > 0.95)[:, None], torch.tensor([1.0, 0.0, 0.0]), up)
    u = F.normalize(torch.cross(up, d, dim=-1), dim=-1)
    basis = torch.stack([u, torch.cross(d, u, dim=-1), d], 1)
    v = torch.from_numpy(np.ascontiguousarray(verts, np.float32))[None].expand(directions, -1, -1).contiguous()
    f = torch.from_numpy(np.ascontiguousarray(faces, np.int64))
    ls = light_space_numba(v, basis, size)
    depth = depth_map_numba(ls, f, size, size, torch.ones(directions, len(f), dtype=torch.bool))
    cos = torch.from_numpy(np.asarray(normals, np.float32)) @ d.T  # (V, D)
    lp = v @ basis.transpose(1, 2)
    texel = float(((lp[..., :2].amax(1) - lp[..., :2].amin(1)).amax() / (size - 2)))  # metres, the widest view
    vis = shadow_visibility(ls[:, :, None], depth, cos.T.clamp(min=1e-3)[:, :, None], bias=(texel, texel))
    vis = vis[:, :, 0].T  # (V, D)
    w = cos.clamp(min=0)
    return ((w * vis).sum(1) / w.sum(1).clamp(min=1e-6)).numpy()
