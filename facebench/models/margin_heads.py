"""Margin classification heads for face recognition (normalised embeddings x normalised class weights).

- CosFace (Wang et al. 2018): target logit s * (cos(theta) - m).
- ArcFace (Deng et al. 2019): target logit s * cos(theta + m), with the usual fallback
  cos(theta) - m * sin(m) when theta + m > pi so the logit stays monotonic in theta.
Unlike insightface's implementation, which edits the logits under ``torch.no_grad()``, the margin here is
part of the autograd graph: the gradient reaching the embedding is the gradient of the margin logit.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _MarginHead(nn.Module):
    def __init__(self, embedding_dim: int, num_classes: int, s: float, m: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim) * 0.01)
        self.s, self.m = s, m

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(emb.float()), F.normalize(self.weight.float()))

    def target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scaled logits (B, C) with the margin applied at each sample's label."""
        cos = self.cosine(emb)
        onehot = F.one_hot(labels, cos.shape[1]).bool()
        return self.s * torch.where(onehot, self.target_logit(cos), cos)


class CosFaceHead(_MarginHead):
    def __init__(self, embedding_dim: int, num_classes: int, s: float = 64.0, m: float = 0.4):
        super().__init__(embedding_dim, num_classes, s, m)

    def target_logit(self, cos):
        return cos - self.m


class ArcFaceHead(_MarginHead):
    def __init__(self, embedding_dim: int, num_classes: int, s: float = 64.0, m: float = 0.5):
        super().__init__(embedding_dim, num_classes, s, m)
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.th, self.mm = math.cos(math.pi - m), math.sin(math.pi - m) * m

    def target_logit(self, cos):
        # Clamp away from +-1: d acos / d cos is infinite there.
        c = cos.clamp(-1 + 1e-7, 1 - 1e-7)
        sin = torch.sqrt(1.0 - c * c)
        phi = c * self.cos_m - sin * self.sin_m  # cos(theta + m)
        return torch.where(c > self.th, phi, c - self.mm)


def margin_head(kind: str, embedding_dim: int, num_classes: int, s: float, m: float) -> _MarginHead:
    heads = {"cosface": CosFaceHead, "arcface": ArcFaceHead}
    if kind not in heads:
        raise ValueError(f"margin head must be one of {sorted(heads)}, got {kind!r}")
    return heads[kind](embedding_dim, num_classes, s, m)
