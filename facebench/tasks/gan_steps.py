"""The optimiser steps the adversarially trained generators (Vec2Face, the identity-preserving GAN) share under
Lightning's manual optimisation."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F


def generator_step(module: pl.LightningModule, opt, loss: torch.Tensor, what: str) -> None:
    """One step of ``opt`` on ``loss``; a NaN / inf loss stops the run with advice instead of corrupting it."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} loss became {loss.item()} at step {module.global_step}: lower the "
                                 "learning rate or use bf16 instead of fp16")
    opt.zero_grad()
    module.manual_backward(loss)
    opt.step()


def hinge_discriminator_step(module: pl.LightningModule, opt, discriminator, real: torch.Tensor,
                             fake: torch.Tensor) -> torch.Tensor:
    """One hinge-loss step of ``discriminator`` (real logits pushed above 1, fake ones below -1; the fakes
    detached); returns the loss."""
    d_loss = F.relu(1 - discriminator(real)).mean() + F.relu(1 + discriminator(fake.detach())).mean()
    opt.zero_grad()
    module.manual_backward(d_loss)
    opt.step()
    return d_loss
