"""SynFace's Identity Mixup (IM) and Domain Mixup (DM), as data-side plans and a mixed loss.

IM (in the generator's identity space: the renderer's identity coefficients, or the Vec2Face source's identity
vectors, mixed as r v_a + (1 - r) v_b rescaled to r |v_a| + (1 - r) |v_b|): sample i, of identity a, is rendered with the
coefficients r * c_a + (1 - r) * c_b of a partner identity b, with expression, pose and light unchanged,
and trained with the mixed label r * CE(logits(y_a)) + (1 - r) * CE(logits(y_b)), margin logits included.
r comes from the grid {0, 0.05, ..., 1}. The partner and r are drawn from ``default_rng([seed, 4, i])``.

DM (in pixels): a synthetic batch and a real batch are blended with one weight l per batch from the
same grid, l * x_syn + (1 - l) * x_real; real classes are numbered after the synthetic ones and the
loss is l * (synthetic loss) + (1 - l) * CE(logits(y_real)).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from facebench.render.scene.factors import sample_identity

GRID = np.round(np.arange(0, 21) * 0.05, 2)


def mixup_draws(seed: int, indices, identities, width: int, p: float):
    """Per sample: partner label and the weight r of its own identity (partner = own and r = 1 when not
    mixed), drawn from ``default_rng([seed, 4, i])``; and the positions that are mixed."""
    n = len(indices)
    partner = np.asarray(identities, np.int64).copy()
    r = np.ones(n, np.float32)
    mixed = []
    if p <= 0 or width < 2:
        return partner, r, mixed
    for pos, (i, k) in enumerate(zip(indices, identities)):
        rng = np.random.default_rng([seed, 4, int(i)])
        if rng.uniform() >= p:
            continue
        b = int(rng.integers(width - 1))
        b += b >= k  # a different identity
        partner[pos], r[pos] = b, float(rng.choice(GRID))
        mixed.append(pos)
    return partner, r, mixed


def identity_mixup_plan(seed: int, indices, identities, width: int, p: float, num_shape: int,
                        identity_offset: int = 0):
    """Per sample: partner label, weight r of the sample's own identity, and the coefficient override
    ({position: {"shape", "albedo"}}) for the renderer. Samples not mixed get partner = own, r = 1."""
    partner, r, mixed = mixup_draws(seed, indices, identities, width, p)
    override = {}
    for pos in mixed:
        w = float(r[pos])
        a_id = sample_identity(seed, int(identities[pos]) + identity_offset, num_shape)
        b_id = sample_identity(seed, int(partner[pos]) + identity_offset, num_shape)
        override[pos] = {"shape": w * a_id["shape"] + (1 - w) * b_id["shape"],
                         "albedo": (w * a_id["albedo"] + (1 - w) * b_id["albedo"]).astype(np.float32)}
    return partner, r, override


def domain_mixup_weight(seed: int, step: int) -> float:
    """The DM weight of the synthetic batch at a training step (one per batch, from the grid)."""
    return float(np.random.default_rng([seed, 5, step]).choice(GRID))


def mixed_margin_loss(head, emb: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor, r: torch.Tensor) -> tuple:
    """r * CE(head(emb, y1), y1) + (1 - r) * CE(head(emb, y2), y2), per-sample weights r (B,).

    Returns (loss, logits at y1). The margin is applied at each label in its own pass, as the margin
    logits depend on the label.
    """
    logits1 = head(emb, y1)
    loss = r * F.cross_entropy(logits1, y1, reduction="none")
    mixed = r < 1
    if mixed.any():
        logits2 = head(emb[mixed], y2[mixed])
        loss = loss.clone()
        loss[mixed] = loss[mixed] + (1 - r[mixed]) * F.cross_entropy(logits2, y2[mixed], reduction="none")
    return loss.mean(), logits1
