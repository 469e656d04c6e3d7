import numpy as np
import torch
import torch.nn.functional as F

from facebench.methods.mixup import GRID, domain_mixup_weight, identity_mixup_plan, mixed_margin_loss
from facebench.models.margin_heads import CosFaceHead
from facebench.render.scene.factors import sample_identity


def test_identity_mixup_plan_mixes_coefficients_and_is_per_sample():
    idx, ids = np.arange(10), np.arange(10) // 2
    partner, r, ov = identity_mixup_plan(3, idx, ids, 5, 1.0, 80)
    assert (partner != ids).all() and (np.abs(r[:, None] - GRID[None]).min(1) < 1e-6).all()
    a, b = sample_identity(3, int(ids[4]), 80), sample_identity(3, int(partner[4]), 80)
    assert np.allclose(ov[4]["shape"], r[4] * a["shape"] + (1 - r[4]) * b["shape"], atol=1e-6)
    assert np.allclose(ov[4]["albedo"], r[4] * a["albedo"] + (1 - r[4]) * b["albedo"], atol=1e-6)
    # The plan of a sample does not depend on the batch it is in.
    p2, r2, ov2 = identity_mixup_plan(3, idx[[4]], ids[[4]], 5, 1.0, 80)
    assert p2[0] == partner[4] and r2[0] == r[4] and np.array_equal(ov2[0]["shape"], ov[4]["shape"])
    p0, r0, ov0 = identity_mixup_plan(3, idx, ids, 5, 0.0, 80)
    assert (p0 == ids).all() and (r0 == 1).all() and not ov0


def test_mixed_margin_loss_matches_the_formula():
    torch.manual_seed(0)
    head = CosFaceHead(8, 4, s=8.0, m=0.2)
    emb = torch.randn(3, 8)
    y1, y2, r = torch.tensor([0, 1, 2]), torch.tensor([3, 1, 0]), torch.tensor([0.25, 1.0, 0.6])
    loss, _ = mixed_margin_loss(head, emb, y1, y2, r)
    manual = torch.stack([r[i] * F.cross_entropy(head(emb[i:i + 1], y1[i:i + 1]), y1[i:i + 1])
                          + (1 - r[i]) * F.cross_entropy(head(emb[i:i + 1], y2[i:i + 1]), y2[i:i + 1])
                          for i in range(3)]).mean()
    assert torch.allclose(loss, manual, atol=1e-6)


def test_domain_mixup_weight_is_on_the_grid_and_seeded():
    w = [domain_mixup_weight(0, s) for s in range(50)]
    assert set(w) <= set(GRID.tolist()) and len(set(w)) > 5
    assert w == [domain_mixup_weight(0, s) for s in range(50)]


class _Recorder(torch.nn.Module):
    """A linear 'backbone' that remembers its input, to check what the training step feeds it."""

    embedding_dim = 4

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3 * 2 * 2, 4)

    def forward(self, x):
        self.seen = x.detach().clone()
        return self.lin(x.flatten(1))


def test_domain_mixup_training_step_blends_pixels_and_losses(monkeypatch):
    import facebench.tasks.recognition as rec

    monkeypatch.setattr(rec, "domain_mixup_weight", lambda seed, step: 0.3)
    m = rec.RecognitionModule(_Recorder(), num_classes=5, margin="cosface", margin_s=4.0, margin_m=0.1)
    m.log = lambda *a, **k: None
    m.log_dict = lambda *a, **k: None
    torch.manual_seed(0)
    xs, xr = torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)
    ys, yr = torch.tensor([0, 1]), torch.tensor([3, 4])  # real classes after the synthetic ones
    from datamodules.batches import DomainMixupBatch, IdentityBatch

    batch = DomainMixupBatch(IdentityBatch(xs, ys, ys, torch.ones(2)), IdentityBatch(xr, yr, yr, torch.ones(2)))
    loss = m.training_step(batch, 0)
    assert torch.allclose(m.backbone.seen, 0.3 * xs + 0.7 * xr)
    emb = m.backbone(0.3 * xs + 0.7 * xr)
    expect = 0.3 * F.cross_entropy(m.head(emb, ys), ys) + 0.7 * F.cross_entropy(m.head(emb, yr), yr)
    assert torch.allclose(loss, expect, atol=1e-6)


def test_nan_loss_stops_with_a_clear_message():
    import pytest

    import facebench.tasks.recognition as rec

    m = rec.RecognitionModule(_Recorder(), num_classes=3)
    m.log_dict = lambda *a, **k: None
    x = torch.full((2, 3, 2, 2), float("nan"))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        from datamodules.batches import IdentityBatch

        m.training_step(IdentityBatch(x, torch.tensor([0, 1]), torch.tensor([0, 1]), torch.ones(2)), 0)
