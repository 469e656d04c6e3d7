"""Dataset-quality measures of Vec2Face, from a recognizer's embeddings of an identity dataset.

Given unit embeddings and identity labels:
- identity centres: the normalised mean embedding of each identity;
- separability: the fraction of identities whose most similar *other* centre has cosine <= 0.4 (Vec2Face
  counts identities with no other identity centre above 0.4);
- mean inter-identity similarity: the mean cosine between distinct centres;
- intra-class spread: the mean of 1 - cos(embedding, its identity centre);
- leakage: the fraction of identities whose centre matches a reference dataset's centre (e.g. the
  generator's real training identities) with cosine above a threshold.
Similarities are computed in blocks, so 10^5+ identities fit in memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def identity_centres(emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit centres (K, D), identity ids (K,)) of unit embeddings (N, D) with labels (N,)."""
    ids, inv = torch.unique(labels, return_inverse=True)
    sums = torch.zeros(len(ids), emb.shape[1], dtype=emb.dtype, device=emb.device).index_add_(0, inv, emb)
    return F.normalize(sums, dim=1), ids


def _max_other(a: torch.Tensor, b: torch.Tensor, same: bool, block: int = 4096) -> torch.Tensor:
    """For each row of a: the largest cosine to a row of b (excluding itself when a is b)."""
    out = torch.empty(a.shape[0], dtype=a.dtype, device=a.device)
    for i in range(0, a.shape[0], block):
        s = a[i:i + block] @ b.T
        if same:
            r = torch.arange(s.shape[0], device=a.device)
            s[r, r + i] = -2.0
        out[i:i + block] = s.max(1).values
    return out


def _mean_offdiag(c: torch.Tensor, block: int = 4096) -> float:
    k = c.shape[0]
    if k < 2:
        return float("nan")
    total = 0.0
    for i in range(0, k, block):
        total += (c[i:i + block] @ c.T).sum().item()
    return (total - k) / (k * (k - 1))  # the diagonal contributes exactly k


def dataset_quality(emb: torch.Tensor, labels: torch.Tensor, threshold: float = 0.4,
                    reference_centres: torch.Tensor | None = None, leak_threshold: float = 0.4) -> dict[str, float]:
    emb = F.normalize(emb.double(), dim=1)
    c, ids = identity_centres(emb, labels)
    _, inv = torch.unique(labels, return_inverse=True)
    out = {
        "identities": float(len(ids)),
        "images": float(len(labels)),
        "separability": (_max_other(c, c, True) <= threshold).double().mean().item() if len(ids) > 1 else float("nan"),
        "mean_inter_identity_similarity": _mean_offdiag(c),
        "intra_class_spread": (1 - (emb * c[inv]).sum(1)).mean().item(),
    }
    if reference_centres is not None:
        ref = F.normalize(reference_centres.double(), dim=1)
        out["leakage"] = (_max_other(c, ref, False) > leak_threshold).double().mean().item()
    return out
