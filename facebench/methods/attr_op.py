"""AttrOP (Vec2Face's attribute operation), bounded: gradient steps on the generator's input vectors that keep
each face's identity while pushing an attribute toward a target.

Loss per sample: ``100 (1 - cos(f(G(v)), v0))`` (the recognizer ``f`` keeps the identity of the original
vector v0) + ``relu(q_target - |q(G(v))|)`` (a quality hinge on the feature norm of a quality model, any
recognizer of the suite) + ``|target_yaw - |yaw(G(v))||`` when a pose model is given. Adam, lr 0.1, as the
public code. Unlike the public code (batch-mean acceptance, no cap: it can loop forever), a sample is accepted
on its *own* losses (identity loss <= ``id_tol``, quality hinge <= ``q_tol``, yaw error <= ``yaw_tol``), an
accepted sample's vector stops changing, and the loop ends after ``max_steps``; samples that never met the
target are reported and, per ``on_fail``, kept (their last vector), dropped, or retried from a fresh mask draw
(``retries`` times at most).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from facebench.errors import ConfigError

ON_FAIL = ("keep", "drop", "retry")


def _subset(draw, rows: torch.Tensor):
    """The mask draws of some rows of a batch (per-sample ratios stay with their rows)."""
    import dataclasses

    per_row = isinstance(draw.mask_rate, torch.Tensor) and draw.mask_rate.ndim > 0
    rate = draw.mask_rate[rows.cpu()] if per_row else draw.mask_rate
    return dataclasses.replace(draw, mask_rate=rate, noise=draw.noise[rows.to(draw.noise.device)])


@dataclass
class AttrOpResult:
    vectors: torch.Tensor  # (K, dim) the optimised vectors of the samples kept
    images: torch.Tensor  # (K, 3, 112, 112) their faces, clamped to [-1, 1]
    kept: torch.Tensor  # (K,) indices into the input batch
    steps: torch.Tensor  # (B,) steps each sample took until accepted (max_steps if never)
    failed: list[int] = field(default_factory=list)  # samples that never met the target (before on_fail)

    def report(self) -> str:
        return (f"AttrOP: {len(self.steps) - len(self.failed)} of {len(self.steps)} samples met the target "
                f"(median {int(self.steps.float().median())} steps); {len(self.failed)} did not: "
                f"{self.failed[:20]}{' ...' if len(self.failed) > 20 else ''}")


def _losses(img, v0, fr_model, quality_model, pose_model, target_yaw, q_target):
    idl = 1 - F.cosine_similarity(fr_model(img), v0, dim=1)
    q = torch.relu(q_target - quality_model(img).norm(dim=1)) if quality_model is not None else torch.zeros_like(idl)
    yaw = ((target_yaw - pose_model(img).abs()).abs() if pose_model is not None and target_yaw is not None
           else torch.zeros_like(idl))
    return idl, q, yaw


def attr_op(generator, vectors: torch.Tensor, fr_model, quality_model=None, pose_model=None,
            target_yaw: float | None = None, q_target: float = 27.0, lr: float = 0.1, max_steps: int = 100,
            id_tol: float = 0.3, q_tol: float = 1.0, yaw_tol: float = 5.0, on_fail: str = "keep", retries: int = 1,
            generator_seed: int = 0, draw=None) -> AttrOpResult:
    """Optimise ``vectors`` (B, dim) through ``generator`` (a :class:`Vec2FaceGenerator`); ``fr_model`` and
    ``quality_model`` map faces in [-1, 1] to features, ``pose_model`` to yaw in degrees (B,). ``draw``: the
    mask draws of the batch (default: one seeded draw per attempt); retries draw fresh ones."""
    if on_fail not in ON_FAIL:
        raise ConfigError(f"on_fail must be one of {ON_FAIL}, got {on_fail!r}")
    if max_steps < 1:
        raise ConfigError("max_steps must be >= 1 (AttrOP is bounded)")
    was_training = generator.training
    generator.eval()  # no dropout: the faces being judged are the faces generated
    v0 = vectors.detach()
    B = v0.shape[0]
    steps = torch.full((B,), max_steps)
    out_v = v0.clone()
    pending = torch.arange(B)
    for attempt in range(1 + (retries if on_fail == "retry" else 0)):
        v = v0[pending].clone().requires_grad_(True)
        opt = torch.optim.Adam([v], lr=lr)
        done = torch.zeros(len(pending), dtype=torch.bool)
        if draw is not None and attempt == 0:
            sub = _subset(draw, pending)
        else:  # one mask draw per attempt, as a generation call
            sub = generator.draw_masks(len(pending), torch.Generator().manual_seed(generator_seed + attempt),
                                       device=v.device)
        for step in range(max_steps):
            img = generator(v, sub).image.clamp(-1, 1)
            idl, q, yaw = _losses(img, v0[pending], fr_model, quality_model, pose_model, target_yaw, q_target)
            ok = (idl <= id_tol) & (q <= q_tol) & (yaw <= yaw_tol)
            newly = ok.cpu() & ~done
            steps[pending[newly]] = step
            done |= ok.cpu()
            if done.all():
                break
            loss = (100 * idl + q + yaw)[~done.to(idl.device)].sum()
            opt.zero_grad()
            loss.backward()
            before = v.detach().clone()
            opt.step()
            with torch.no_grad():  # accepted samples keep their vector (Adam's momentum would still move it)
                v[done.to(v.device)] = before[done.to(v.device)]
        out_v[pending] = v.detach()
        pending = pending[~done]
        if not len(pending):
            break
    failed = pending.tolist()
    keep = torch.tensor([i for i in range(B) if not (on_fail == "drop" and i in set(failed))], dtype=torch.long)
    imgs = torch.zeros(0, 3, 112, 112, device=out_v.device)
    if len(keep):
        with torch.no_grad():
            final = _subset(draw, keep) if draw is not None else generator.draw_masks(
                len(keep), torch.Generator().manual_seed(generator_seed), device=out_v.device)
            imgs = generator(out_v[keep], final).image.clamp(-1, 1)
    generator.train(was_training)
    return AttrOpResult(out_v[keep], imgs, keep, steps, failed)
