"""Small numpy geometry helpers used to label head meshes (run once per model, not per sample)."""
from __future__ import annotations

import numpy as np


def points_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd test of (N, 2) points against a closed (M, 2) polygon; returns (N,) bool."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    ax, ay = poly[:, 0][None], poly[:, 1][None]
    bx, by = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    cond = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = ax + (y - ay) * (bx - ax) / (by - ay)
    return (cond & (x < xint)).sum(1) % 2 == 1


def distance_to_polyline(pts: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of (N, D) points to the open polyline (M, D)."""
    a, b = line[:-1][None], line[1:][None]
    ab = b - a
    t = np.clip(((pts[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    proj = a + t[..., None] * ab
    return np.linalg.norm(pts[:, None] - proj, axis=-1).min(1)


def sphere_fit(pts: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through (N, 3) points: returns (centre, radius)."""
    A = np.c_[2 * pts, np.ones(len(pts))]
    b = (pts ** 2).sum(1)
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    c = sol[:3]
    return c, float(np.sqrt(sol[3] + c @ c))


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals of a triangle mesh."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    n = np.zeros_like(verts)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
