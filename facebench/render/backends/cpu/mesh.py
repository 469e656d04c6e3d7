"""Small CPU kernels (numba) for per-batch mesh and label work: vertex normals and block majority."""
from __future__ import annotations

import math

from facebench.render.backends.cpu._numba import numba
import numpy as np
import torch


@numba.njit(parallel=True, cache=True)
def _normals(v, faces, out):
    for b in numba.prange(v.shape[0]):
        n = out[b]
        for f in range(faces.shape[0]):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            ux, uy, uz = v[b, i1, 0] - v[b, i0, 0], v[b, i1, 1] - v[b, i0, 1], v[b, i1, 2] - v[b, i0, 2]
            wx, wy, wz = v[b, i2, 0] - v[b, i0, 0], v[b, i2, 1] - v[b, i0, 1], v[b, i2, 2] - v[b, i0, 2]
            cx, cy, cz = uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx
            for i in (i0, i1, i2):
                n[i, 0] += cx
                n[i, 1] += cy
                n[i, 2] += cz
        for i in range(n.shape[0]):
            length = math.sqrt(n[i, 0] ** 2 + n[i, 1] ** 2 + n[i, 2] ** 2)
            length = max(length, 1e-12)
            n[i, 0] /= length
            n[i, 1] /= length
            n[i, 2] /= length


def vertex_normals_numba(v: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (B, V, 3) of CPU tensors; same as the PyTorch scatter version."""
    vv = np.ascontiguousarray(v.numpy(), dtype=np.float32)
    out = np.zeros_like(vv)
    _normals(vv, np.ascontiguousarray(faces.numpy(), dtype=np.int64), out)
    return torch.from_numpy(out)


@numba.njit(parallel=True, cache=True)
def _majority(x, s, out):
    B, H, W = out.shape
    for b in numba.prange(B):
        for i in range(H):
            for j in range(W):
                best, best_n = x[b, i * s, j * s], 0
                for k in range(s * s):
                    val = x[b, i * s + k // s, j * s + k % s]
                    n = 0
                    for m in range(s * s):
                        if x[b, i * s + m // s, j * s + m % s] == val:
                            n += 1
                    if n > best_n:  # strict: ties keep the earlier sample, as the PyTorch version
                        best, best_n = val, n
                out[b, i, j] = best


def majority_numba(x: torch.Tensor, s: int) -> torch.Tensor:
    """Per-block mode (B, H, W) of a (B, H*s, W*s) integer image; ties go to the first sample."""
    B, Hs, Ws = x.shape
    out = np.zeros((B, Hs // s, Ws // s), np.int64)
    _majority(np.ascontiguousarray(x.numpy(), dtype=np.int64), s, out)
    return torch.from_numpy(out)


@numba.njit(parallel=True, cache=True)
def _light_space(v, basis, size, out):
    for b in numba.prange(v.shape[0]):
        R = basis[b]
        N = v.shape[1]
        xlo, ylo, zlo = np.inf, np.inf, np.inf
        xhi, yhi = -np.inf, -np.inf
        for i in range(N):
            x, y, z = v[b, i, 0], v[b, i, 1], v[b, i, 2]
            px = x * R[0, 0] + y * R[0, 1] + z * R[0, 2]
            py = x * R[1, 0] + y * R[1, 1] + z * R[1, 2]
            pz = x * R[2, 0] + y * R[2, 1] + z * R[2, 2]
            out[b, i, 0], out[b, i, 1], out[b, i, 2] = px, py, pz
            xlo, xhi = min(xlo, px), max(xhi, px)
            ylo, yhi = min(ylo, py), max(yhi, py)
            zlo = min(zlo, pz)
        scale = (size - 2) / max(max(xhi - xlo, yhi - ylo), 1e-6)
        for i in range(N):
            out[b, i, 0] = (out[b, i, 0] - xlo) * scale + 1
            out[b, i, 1] = (out[b, i, 1] - ylo) * scale + 1
            out[b, i, 2] = out[b, i, 2] - zlo + 0.5


def light_space_numba(v: torch.Tensor, basis: torch.Tensor, size: int) -> torch.Tensor:
    """Vertices (B, N, 3) in shadow-map space (texel x, y and depth toward the light + 0.5 m) for the
    orthonormal light frames ``basis`` (B, 3, 3: rows u, v, w); the map spans the scene's extent with a
    one-texel border. The CPU counterpart of the torch code in FaceRenderer.shadow_map."""
    out = np.empty(tuple(v.shape), np.float32)
    _light_space(np.ascontiguousarray(v.numpy(), np.float32), np.ascontiguousarray(basis.numpy(), np.float32),
                 float(size), out)
    return torch.from_numpy(out)


@numba.njit(parallel=True, cache=True)
def _screen_space(v, cam_dist, M, out):
    for b in numba.prange(v.shape[0]):
        cd = cam_dist[b]
        m00, m01, m02, m10, m11, m12 = M[b, 0, 0], M[b, 0, 1], M[b, 0, 2], M[b, 1, 0], M[b, 1, 1], M[b, 1, 2]
        for i in range(v.shape[1]):
            inv = np.float32(1.0) / (cd - v[b, i, 2])
            x = v[b, i, 0] * inv
            y = -v[b, i, 1] * inv
            out[b, i, 0] = x * m00 + y * m01 + m02
            out[b, i, 1] = x * m10 + y * m11 + m12
            out[b, i, 2] = inv


def screen_space_numba(v: torch.Tensor, cam_dist: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """camera.project (unit focal length) then camera.apply_similarity(M) of (B, N, 3) posed vertices in
    one pass: screen x, y (supersampled pixels) and inverse depth (1/m), float32 (equal to the torch ops up
    to float32 rounding of the 2x2 product)."""
    out = np.empty(tuple(v.shape), np.float32)
    _screen_space(np.ascontiguousarray(v.numpy(), np.float32), np.ascontiguousarray(cam_dist.numpy(), np.float32),
                  np.ascontiguousarray(M.numpy(), np.float32), out)
    return torch.from_numpy(out)
