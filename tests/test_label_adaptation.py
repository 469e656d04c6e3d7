import torch

from facebench.methods.label_adaptation import LabelAdapter, fit_label_adapter
from facebench.metrics.landmarks import nme


def _faces(n, seed):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 68, 2, generator=g) * 100
    scale = 0.5 + torch.rand(n, 1, 1, generator=g)
    shift = torch.rand(n, 1, 2, generator=g) * 200
    return base * scale + shift + torch.randn(n, 68, 2, generator=g) * 0.5


def test_adapter_starts_as_identity():
    p = _faces(4, 0)
    assert torch.allclose(LabelAdapter()(p), p, atol=1e-5)


def test_adapter_learns_a_systematic_convention_shift():
    # "Real" labels put the jaw 4% of the face size lower than the network's convention.
    def convention(p):
        out = p.clone()
        size = (p.amax(1) - p.amin(1)).amax(-1)
        out[:, :17, 1] += 0.04 * size[:, None]
        return out

    ptr, pva, pte = _faces(200, 1), _faces(50, 2), _faces(50, 3)
    model, info = fit_label_adapter(ptr, convention(ptr), pva, convention(pva), epochs=300, lr=3e-3)
    with torch.no_grad():
        before = nme(pte, convention(pte), "box").mean().item()
        after = nme(model(pte), convention(pte), "box").mean().item()
    assert after < 0.5 * before and info["best_epoch"] > 0 and info["val_nme"] < info["val_nme_without"]
