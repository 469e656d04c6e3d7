"""The aligned framing's least-squares similarity (camera.umeyama_similarity)."""
import math

import numpy as np
import torch

from facebench.render.camera import umeyama_similarity


def _umeyama_svd(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Reference: Umeyama (1991) eqs. 38-42 with NumPy's SVD, no reflection."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    U, S, Vt = np.linalg.svd(cov)
    D = np.diag([1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt))])
    R = U @ D @ Vt
    c = np.trace(np.diag(S) @ D) / (s ** 2).sum(1).mean()
    return np.concatenate([c * R, (mu_d - c * R @ mu_s)[:, None]], 1)


def test_recovers_a_known_similarity_exactly():
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 5, 2, generator=g, dtype=torch.float64) * 100
    ang, scale, t = math.radians(23.0), 1.7, torch.tensor([12.0, -4.0], dtype=torch.float64)
    R = torch.tensor([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], dtype=torch.float64)
    dst = src @ (scale * R).T + t
    M = umeyama_similarity(src, dst)[0]
    assert torch.allclose(M[:, :2], scale * R, atol=1e-12) and torch.allclose(M[:, 2], t, atol=1e-10)


def test_matches_the_svd_solution_on_noisy_and_mirrored_points():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 100, (4, 5, 2))
    dst = src @ np.array([[0.9, -0.3], [0.3, 0.9]]).T + rng.normal(0, 3, (4, 5, 2))
    dst[3] = src[3] * np.array([-1.0, 1.0])  # a mirror image: the best rotation-only fit, no reflection
    M = umeyama_similarity(torch.from_numpy(src), torch.from_numpy(dst)).numpy()
    for b in range(4):
        assert np.allclose(M[b], _umeyama_svd(src[b], dst[b]), atol=1e-9)
    assert np.linalg.det(M[3, :, :2]) >= 0
