"""Vec2Face's generation recipe, made reproducible and bounded.

Identity vectors (512-d, raw recognizer features) come from
- :func:`sample_identities_rejection`: Gaussian draws kept only when no accepted vector is within cosine
  ``threshold`` (default 0.4, the paper's separability threshold), or
- :func:`sample_identities_pca`: a Gaussian fitted by PCA to a feature set's identity centres (mean plus
  ``components`` principal directions with their variances), with the same rejection rule.
Both stop after ``max_draws`` draws and report how many were rejected; too few accepted vectors is an
error, never an endless loop.

Images of an identity (:func:`image_vectors`): the base vector plus Gaussian noise of sigma 0.3 / 0.5 / 0.7 on
40 / 40 / 20% of its images (largest-remainder counts, so they add up to any depth; the order shuffled per
identity), each noisy vector rescaled to the base vector's norm; other sigmas / shares for the ablation. Every draw is keyed by (seed, identity,
image), so a sample is the same in any batch, worker or rank.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facebench.errors import ConfigError

SIGMAS = (0.3, 0.5, 0.7)
SIGMA_SHARES = (0.4, 0.4, 0.2)


@dataclass
class IdentitySample:
    vectors: torch.Tensor  # (n, dim) float32
    draws: int  # candidates drawn
    rejected: int  # candidates refused by the threshold


def _rejection(draw, n: int, threshold: float, max_draws: int, what: str) -> IdentitySample:
    """Greedy rejection over a stream of candidates (``draw(k)`` gives k rows): keep a candidate whose cosine
    to every kept one is at most ``threshold``; stops at ``n`` kept or ``max_draws`` looked at. Each chunk is
    first screened against the kept vectors in one matrix product, then accepted in order against the
    chunk's own earlier acceptances (the same result as one-by-one)."""
    kept = None
    kept_unit = None
    count = used = 0
    while used < max_draws:
        chunk = draw(min(4096, max_draws - used))
        unit = chunk / np.linalg.norm(chunk, axis=1, keepdims=True).clip(1e-12)
        if kept is None:
            kept, kept_unit = np.empty((n, chunk.shape[1])), np.empty((n, chunk.shape[1]))
        ok = (unit @ kept_unit[:count].T).max(1) <= threshold if count else np.ones(len(chunk), bool)
        start = count
        for i in range(len(chunk)):
            if ok[i] and (count == start or float((kept_unit[start:count] @ unit[i]).max()) <= threshold):
                kept[count], kept_unit[count] = chunk[i], unit[i]
                count += 1
                if count == n:
                    used += i + 1
                    return IdentitySample(torch.from_numpy(kept).float(), used, used - n)
        used += len(chunk)
    raise ConfigError(f"{what}: only {count} of {n} identity vectors found with cosine <= {threshold} in "
                      f"{max_draws} draws; raise max_draws or the threshold (identities too alike in the space "
                      "sampled: e.g. a recognizer whose features barely separate identities)")


def sample_identities_rejection(n: int, seed: int = 0, dim: int = 512, threshold: float = 0.4, scale: float = 1.0,
                                max_draws: int = 1_000_000) -> IdentitySample:
    """``n`` identity vectors ~ N(0, scale^2 I) with pairwise cosine <= ``threshold`` (random directions in 512-d
    are nearly orthogonal, so few are rejected at 0.4)."""
    rng = np.random.default_rng([seed, 21])
    return _rejection(lambda k: rng.standard_normal((k, dim)) * scale, n, threshold, max_draws, "rejection sampling")


def fit_pca_gaussian(centres: torch.Tensor, components: int = 128) -> dict:
    """Mean, principal directions (k, dim) and their standard deviations of identity centres (m, dim)."""
    x = centres.double().numpy()
    if x.shape[0] < 2:
        raise ConfigError("a PCA fit needs at least 2 identity centres")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(components, vt.shape[0])
    return {"mean": mean, "directions": vt[:k], "std": s[:k] / np.sqrt(max(x.shape[0] - 1, 1))}


def sample_identities_pca(n: int, fit: dict, seed: int = 0, threshold: float = 0.4,
                          max_draws: int = 1_000_000) -> IdentitySample:
    """``n`` identity vectors from the PCA-fitted Gaussian ``fit`` (:func:`fit_pca_gaussian`), pairwise cosine
    <= ``threshold``."""
    rng = np.random.default_rng([seed, 23])
    k = len(fit["std"])
    return _rejection(lambda m: fit["mean"] + (rng.standard_normal((m, k)) * fit["std"]) @ fit["directions"], n,
                      threshold, max_draws, "PCA sampling")


def sigma_counts(depth: int, shares=SIGMA_SHARES) -> list[int]:
    """Images per sigma for one identity: largest-remainder rounding of ``shares`` x depth (sums to depth)."""
    raw = [s * depth for s in shares]
    counts = [int(np.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:depth - sum(counts)]:
        counts[i] += 1
    return counts


def image_sigmas(identity: int, depth: int, seed: int = 0, sigmas=SIGMAS, shares=SIGMA_SHARES) -> np.ndarray:
    """The sigma of each of an identity's ``depth`` images (the same mix for every identity, order shuffled)."""
    if len(sigmas) != len(shares) or abs(sum(shares) - 1) > 1e-6:
        raise ConfigError(f"sigmas {list(sigmas)} need as many shares summing to 1, got {list(shares)}")
    sig = np.repeat(np.asarray(sigmas, float), sigma_counts(depth, shares))
    return np.random.default_rng([seed, 24, identity]).permutation(sig)


def image_vectors(base: torch.Tensor, identities, images, depth, seed: int = 0, sigmas=SIGMAS,
                  shares=SIGMA_SHARES) -> torch.Tensor:
    """Input vectors of images (identity i, image j): base[i] + sigma_ij N(0, I), rescaled to |base[i]|; the
    noise drawn from (seed, identity, image) only. ``depth``: images per identity (an int, or one per identity
    for unbalanced specs)."""
    out = []
    for i, j in zip(np.asarray(identities).tolist(), np.asarray(images).tolist()):
        d = int(depth) if np.isscalar(depth) else int(depth[i])
        if not 0 <= j < d:
            raise ConfigError(f"image {j} outside 0..{d - 1}")
        b = base[i].double()
        noise = torch.from_numpy(np.random.default_rng([seed, 25, i, j]).standard_normal(b.shape[0]))
        v = b + float(image_sigmas(i, d, seed, sigmas, shares)[j]) * noise
        out.append((v * b.norm() / v.norm()).float())
    return torch.stack(out)
