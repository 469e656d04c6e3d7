import pytest
import torch

from facebench.models.iresnet import IResNet


@pytest.mark.parametrize("depth,params_m", [(18, 24.03), (50, 43.59), (100, 65.16)])
def test_parameter_counts_match_insightface(depth, params_m):
    # insightface's iresnet18/50/100 with a 512-d embedding have 24.0M / 43.6M / 65.2M parameters.
    n = sum(p.numel() for p in IResNet(depth).parameters()) / 1e6
    assert abs(n - params_m) < 0.01


def test_forward_shape_and_frozen_feature_scale():
    m = IResNet(18).eval()
    assert m(torch.randn(2, 3, 112, 112)).shape == (2, 512)
    assert not m.features.weight.requires_grad
