"""The renderer's per-identity evaluation of the albedo model: the same values as per image, once per identity."""
import torch

from facebench.render.renderer import _per_identity


def test_per_identity_evaluates_distinct_rows_once_and_scatters_back():
    basis = torch.randn(3, 5, dtype=torch.float64)
    coef = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    seen = []

    def fn(c):
        seen.append(len(c))
        return c.double() @ basis

    out = _per_identity(coef, fn)
    assert seen == [2]  # two distinct identities among four images
    torch.testing.assert_close(out, coef.double() @ basis, rtol=0, atol=0)


def test_per_identity_all_distinct_is_one_call_on_the_batch():
    coef = torch.randn(4, 3)
    seen = []
    out = _per_identity(coef, lambda c: seen.append(len(c)) or c * 2)
    assert seen == [4] and torch.equal(out, coef * 2)
