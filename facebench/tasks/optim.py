"""Optimiser set-ups shared by the task modules."""
from __future__ import annotations

import pytorch_lightning as pl
import torch


def adamw_cosine(module: pl.LightningModule, lr: float, weight_decay: float, params=None):
    """AdamW over the trainable parameters (of ``params``, default the module's) with a per-step cosine decay
    to 0 over the run's estimated steps."""
    params = [p for p in (params if params is not None else module.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = max(int(module.trainer.estimated_stepping_batches), 1) if module.trainer is not None else 1
    return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps),
                                               "interval": "step"}}
