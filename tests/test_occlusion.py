"""Baked ambient occlusion (facebench.render.scene.occlusion) against an analytic case."""
from __future__ import annotations

import numpy as np
import torch

from facebench.render.scene.occlusion import ambient_occlusion, sphere_directions


def _grid(xs, ys, fn):
    """A grid mesh over xs x ys with vertex positions fn(x, y) -> (..., 3); faces wound for +z / +x normals."""
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    v = fn(X, Y).reshape(-1, 3)
    n1 = len(ys)
    f = []
    for i in range(len(xs) - 1):
        for j in range(len(ys) - 1):
            a, b, c, d = i * n1 + j, (i + 1) * n1 + j, (i + 1) * n1 + j + 1, i * n1 + j + 1
            f += [(a, b, c), (a, c, d)]
    return v, np.array(f)


def test_directions_cover_the_sphere_evenly():
    d = sphere_directions(200)
    assert torch.allclose(d.norm(dim=-1), torch.ones(200), atol=1e-6)
    assert d.mean(0).norm() < 0.01  # no side favoured


def test_a_wall_hides_half_the_sky_of_the_floor_at_its_foot():
    """A floor (z = 0, facing up) with a 20 cm wall rising at x = 0 (facing +x): a floor vertex 5 mm from the
    wall sees the sky only on the wall's side away from it, half its hemisphere by the cosine weight
    (the wall hides all but a sliver above its top); one 35 cm away sees nearly all of it."""
    floor_v, floor_f = _grid(np.linspace(0.0, 0.4, 81), np.linspace(-0.2, 0.2, 41),
                             lambda x, y: np.stack([x, y, np.zeros_like(x)], -1))
    wall_v, wall_f = _grid(np.linspace(-0.2, 0.2, 41), np.linspace(0.0, 0.2, 21),
                           lambda y, z: np.stack([np.full_like(y, -0.001), y, z], -1))
    v = np.concatenate([floor_v, wall_v]).astype(np.float32)
    f = np.concatenate([floor_f, wall_f + len(floor_v)])
    n = np.concatenate([np.tile([0.0, 0.0, 1.0], (len(floor_v), 1)), np.tile([1.0, 0.0, 0.0], (len(wall_v), 1))])
    ao = ambient_occlusion(v, f, n, directions=256, size=256)
    near = np.argmin(np.linalg.norm(floor_v - [0.005, 0.0, 0.0], axis=1))
    far = np.argmin(np.linalg.norm(floor_v - [0.35, 0.0, 0.0], axis=1))
    assert abs(ao[near] - 0.5) < 0.08, ao[near]
    assert ao[far] > 0.93, ao[far]
