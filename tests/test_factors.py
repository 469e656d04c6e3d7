"""The counter-based factor sampler: distributions, independence of rows, and batch-free sampling."""
import numpy as np
import torch

from facebench.render.scene.factors import FACTOR_GROUPS, CounterRNG, sample_factors, sample_identity

N = 20000


def test_counter_rng_distributions():
    rng = CounterRNG(7, 1, torch.arange(N))
    u = rng.uniform(2)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.003
    # Successive draws and neighbouring keys are uncorrelated.
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.03
    assert abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < 0.03
    z = rng.normal()
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1) < 0.03
    assert abs((z.abs() < 1.96).float().mean().item() - 0.95) < 0.01
    c = rng.choice([0.7, 0.2, 0.1])
    freq = torch.bincount(c, minlength=3).float() / N
    assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.015)
    # Per-row probabilities: row-dependent choices follow their own row's p.
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).repeat(N // 2, 1)
    assert torch.equal(rng.choice(p), torch.tensor([0, 1]).repeat(N // 2))


def test_streams_seeds_and_large_keys_differ():
    keys = torch.tensor([5, 5 + 2 ** 32])
    a = CounterRNG(1, 1, keys).uniform(4)
    assert not torch.equal(a[0], a[1])  # the high bits of a key matter
    assert not torch.equal(CounterRNG(1, 1, keys).uniform(4), CounterRNG(2, 1, keys).uniform(4))
    assert not torch.equal(CounterRNG(1, 1, keys).uniform(4), CounterRNG(1, 2, keys).uniform(4))


def test_factor_ranges_and_batch_independence():
    f = sample_factors(3, np.arange(2000), np.arange(2000) // 4, frozenset(FACTOR_GROUPS), 50)
    assert f.pose[:, 0].abs().max() <= 90 and f.pose[:, 1].abs().max() <= 40 and f.pose[:, 2].abs().max() <= 30
    assert abs(f.pose[:, 0].std().item() - 38) < 6  # N(0, 35) clipped, plus 15% uniform over +-90
    assert torch.allclose(f.key_dir.norm(dim=-1), torch.ones(2000), atol=1e-5) and (f.key_dir[:, 2] > 0).all()
    assert set(f.expression.tolist()) == set(range(7))
    assert ((f.expr_weights >= 0) & (f.expr_weights <= 1)).all()
    tone = f.id_albedo[:, 0]
    assert tone.min() < 0.05 and tone.max() > 0.95  # the full range of skin tones
    assert ((f.beard > 0) <= (f.feminine < 0.5)).all()  # no beards on feminine identities
    one = sample_factors(3, [1234], [1234 // 4], frozenset(FACTOR_GROUPS), 50)
    for name in ("pose", "sh", "id_shape", "background", "expr_weights", "seeds", "hair"):
        assert torch.equal(getattr(one, name)[0], getattr(f, name)[1234])
    ident = sample_identity(3, 1234 // 4, 50)
    assert np.array_equal(ident["shape"], f.id_shape[1234].numpy())
