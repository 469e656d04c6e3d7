import math

import torch

from facebench.models.margin_heads import ArcFaceHead, CosFaceHead


def test_arcface_logits_are_cos_theta_plus_m():
    torch.manual_seed(0)
    head = ArcFaceHead(8, 5, s=10.0, m=0.3)
    emb = torch.randn(4, 8)
    y = torch.tensor([0, 1, 2, 3])
    cos = torch.nn.functional.normalize(emb) @ torch.nn.functional.normalize(head.weight).T
    logits = head(emb, y)
    theta = torch.acos(cos[torch.arange(4), y])
    expect = torch.where(theta + 0.3 < math.pi, torch.cos(theta + 0.3), cos[torch.arange(4), y] - math.sin(math.pi - 0.3) * 0.3)
    assert torch.allclose(logits[torch.arange(4), y], 10 * expect, atol=1e-5)
    other = torch.ones_like(cos, dtype=torch.bool)
    other[torch.arange(4), y] = False
    assert torch.allclose(logits[other], 10 * cos[other], atol=1e-6)


def test_arcface_margin_receives_its_gradient():
    # The embedding's gradient must be that of the margin logit s*cos(theta+m), not of s*cos(theta) as
    # when the margin is applied under no_grad (insightface).
    torch.manual_seed(1)
    head = ArcFaceHead(6, 3, s=16.0, m=0.5)
    emb = torch.randn(2, 6, requires_grad=True)
    y = torch.tensor([1, 2])
    torch.nn.functional.cross_entropy(head(emb, y), y).backward()
    g = emb.grad.clone()

    emb2 = emb.detach().clone().requires_grad_(True)
    cos = torch.nn.functional.normalize(emb2) @ torch.nn.functional.normalize(head.weight.detach()).T
    theta = torch.acos(cos.gather(1, y[:, None]).clamp(-1 + 1e-7, 1 - 1e-7))
    logits = 16.0 * cos.scatter(1, y[:, None], torch.cos(theta + 0.5))
    torch.nn.functional.cross_entropy(logits, y).backward()
    assert torch.allclose(g, emb2.grad, atol=1e-5)

    emb3 = emb.detach().clone().requires_grad_(True)
    cos3 = torch.nn.functional.normalize(emb3) @ torch.nn.functional.normalize(head.weight.detach()).T
    with torch.no_grad():  # the insightface way
        shift = torch.zeros_like(cos3).scatter(1, y[:, None], torch.cos(torch.acos(cos3.gather(1, y[:, None])) + 0.5)
                                               - cos3.gather(1, y[:, None]))
    torch.nn.functional.cross_entropy(16.0 * (cos3 + shift), y).backward()
    assert not torch.allclose(g, emb3.grad, atol=1e-4)


def test_cosface_subtracts_margin_at_label_only():
    head = CosFaceHead(4, 3, s=2.0, m=0.25)
    emb = torch.randn(2, 4)
    cos = torch.nn.functional.normalize(emb) @ torch.nn.functional.normalize(head.weight).T
    out = head(emb, torch.tensor([0, 2]))
    expect = cos.clone()
    expect[0, 0] -= 0.25
    expect[1, 2] -= 0.25
    assert torch.allclose(out, 2 * expect, atol=1e-6)
