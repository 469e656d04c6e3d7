"""CPU kernel (numba) for the per-vertex part of :meth:`FaceRenderer.geometry`: the accessory shells, the
rigid meshes and the head pose, in one pass per image, plus the posed vertex normals.

The PyTorch path does the same in a dozen batched ops (gathers, concatenations and 3x3 batched matmuls
over every vertex), which cost more than the arithmetic on two cores. Head normals are rotated rather
than recomputed: a rotation maps the unposed head's unit normals to the posed ones, so only the shells'
and rigid meshes' normals are summed here.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from facebench.render.backends.cpu._numba import numba


@numba.njit(cache=True, inline="always")
def _rotation_at(Rs, b, w, M):
    """The rotation of image b at follow weight w into M (3, 3): renderer.pose_points' blend of two levels."""
    L = Rs.shape[1] - 1
    if w >= 1 or w <= 0:
        lvl = L if w >= 1 else 0
        for r in range(3):
            for c in range(3):
                M[r, c] = Rs[b, lvl, r, c]
        return
    t = w * np.float32(L)
    lvl = min(int(t), L - 1)
    f = t - np.float32(lvl)
    for r in range(3):
        for c in range(3):
            M[r, c] = (np.float32(1) - f) * Rs[b, lvl, r, c] + f * Rs[b, lvl + 1, r, c]


@numba.njit(parallel=True, cache=True)
def _assemble(vh, nh, shell_vids, shell_thick, shell_offset, rigid_verts, rigid_follow, eye_mid, scale, head_scale,
              t_eye_mid, Rs, pose_w, pivot, faces, f_start, out, out_n):
    B, V = vh.shape[0], vh.shape[1]
    ns, nr = shell_vids.shape[0], rigid_verts.shape[0]
    for b in numba.prange(B):
        M = np.empty((3, 3), np.float32)
        # Unposed positions: head, shells (offset along the head normal, then by their fixed offset), rigid meshes.
        for i in range(V):
            for c in range(3):
                out[b, i, c] = vh[b, i, c]
        for j in range(ns):
            k = shell_vids[j]
            for c in range(3):
                out[b, V + j, c] = vh[b, k, c] + nh[b, k, c] * shell_thick[b, j] + shell_offset[j, c]
        for j in range(nr):
            for c in range(3):  # follow the eyes' midpoint and the inter-ocular scale (or the head's)
                sc = scale[b] + rigid_follow[j] * (head_scale[b, c] - scale[b])
                out[b, V + ns + j, c] = eye_mid[b, c] + sc * (rigid_verts[j, c] - t_eye_mid[c])
        # Pose about the neck pivot, each vertex with the rotation of its follow weight (the neck twists);
        # the head's normals turned with their vertices (renormalised where the rotation is a blend), the
        # rest summed over their faces below (area-weighted) and normalised.
        N = out.shape[1]
        for i in range(N):
            _rotation_at(Rs, b, pose_w[i], M)
            x, y, z = out[b, i, 0] - pivot[0], out[b, i, 1] - pivot[1], out[b, i, 2] - pivot[2]
            for c in range(3):
                out[b, i, c] = M[c, 0] * x + M[c, 1] * y + M[c, 2] * z + pivot[c]
            if i < V:
                x, y, z = nh[b, i, 0], nh[b, i, 1], nh[b, i, 2]
                for c in range(3):
                    out_n[b, i, c] = M[c, 0] * x + M[c, 1] * y + M[c, 2] * z
                if 0 < pose_w[i] < 1:
                    length = max(math.sqrt(out_n[b, i, 0] ** 2 + out_n[b, i, 1] ** 2 + out_n[b, i, 2] ** 2), 1e-12)
                    for c in range(3):
                        out_n[b, i, c] /= length
        for i in range(V, N):
            for c in range(3):
                out_n[b, i, c] = 0.0
        for f in range(f_start, faces.shape[0]):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            ux, uy, uz = out[b, i1, 0] - out[b, i0, 0], out[b, i1, 1] - out[b, i0, 1], out[b, i1, 2] - out[b, i0, 2]
            wx, wy, wz = out[b, i2, 0] - out[b, i0, 0], out[b, i2, 1] - out[b, i0, 1], out[b, i2, 2] - out[b, i0, 2]
            cx, cy, cz = uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx
            for i in (i0, i1, i2):
                out_n[b, i, 0] += cx
                out_n[b, i, 1] += cy
                out_n[b, i, 2] += cz
        for i in range(V, N):
            length = max(math.sqrt(out_n[b, i, 0] ** 2 + out_n[b, i, 1] ** 2 + out_n[b, i, 2] ** 2), 1e-12)
            for c in range(3):
                out_n[b, i, c] /= length


def assemble_numba(vh, nh, shell_vids, shell_thick, shell_offset, rigid_verts, rigid_follow, eye_mid, scale,
                   head_scale, t_eye_mid, Rs, pose_w, pivot, faces, f_start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed vertices and unit normals (B, N, 3) of the combined mesh (see FaceRenderer.geometry).

    vh, nh (B, V, 3): head vertices and unit normals before pose; shell_vids (S,) head vertex of each shell
    vertex, shell_thick (B, S) its offset along that vertex's normal and shell_offset (S, 3) its fixed
    displacement (m); rigid_verts (Rv, 3) template positions, following the eyes, with rigid_follow (Rv,)
    how far each takes head_scale (B, 3) (width, height, depth) instead of scale (B,); eye_mid (B, 3), t_eye_mid (3,);
    Rs (B, L + 1, 3, 3) the rotations about pivot (3,) from the torso's to the head's and pose_w (N,) each
    vertex's follow weight (renderer.pose_points); faces (F, 3) of the combined mesh, of which
    faces[f_start:] (the non-head faces whose normals count) are summed."""
    f32 = lambda t: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)  # noqa: E731
    i64 = lambda t: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.int64)  # noqa: E731
    B, V = vh.shape[:2]
    N = V + shell_vids.shape[0] + rigid_verts.shape[0]
    out = np.empty((B, N, 3), np.float32)
    out_n = np.empty((B, N, 3), np.float32)
    _assemble(f32(vh), f32(nh), i64(shell_vids), f32(shell_thick), f32(shell_offset), f32(rigid_verts),
              f32(rigid_follow), f32(eye_mid), f32(scale), f32(head_scale), f32(t_eye_mid), f32(Rs), f32(pose_w),
              f32(pivot), i64(faces), int(f_start), out, out_n)
    return torch.from_numpy(out), torch.from_numpy(out_n)
