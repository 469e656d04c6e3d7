"""2D-to-3D-FAN LightningModule: the image and Gaussian heatmaps of its 2D landmarks -> a depth per landmark.

Trained, as in the paper, with heatmaps of the ground-truth 2D points (projections of the 3D landmarks) and
an L2 loss on the depths; depths are in heatmap pixels (the 2D points' scale), zero-mean per face. The
metric is the depth error normalised by the 2D box (:class:`facebench.metrics.landmarks.LandmarkDepthError`).
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import LandmarkBatch
from facebench.landmarks_ops import heatmaps
from facebench.metrics.landmarks import LandmarkDepthError
from facebench.tasks.landmarks import landmark_optimizer, val_set_names


class LandmarkDepthModule(pl.LightningModule):
    def __init__(self, net: nn.Module, lr: float = 2.5e-4, optimizer: str = "rmsprop", sigma: float = 1.0):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.val_metrics = nn.ModuleList()

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        if len(self.val_metrics) != len(self.val_names):
            self.val_metrics = nn.ModuleList(LandmarkDepthError() for _ in self.val_names)

    def forward(self, x: torch.Tensor, pts_hm: torch.Tensor) -> torch.Tensor:
        """Depths (B, N) in heatmap pixels from crops (B, 3, 256, 256) and 2D points (B, N, 2) in heatmap
        pixels (ground truth, or another model's predictions)."""
        z = self.net(x, heatmaps(pts_hm, 64, self.hparams.sigma))
        return z - z.mean(1, keepdim=True)

    def training_step(self, batch: LandmarkBatch, batch_idx):
        z = self._depth(batch)
        loss = F.mse_loss(self(batch.image, batch.points_hm), z - z.mean(1, keepdim=True))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: LandmarkBatch, batch_idx, dataloader_idx: int = 0):
        self.val_metrics[dataloader_idx].update(self(batch.image, batch.points_hm), self._depth(batch),
                                                batch.points_hm)

    @staticmethod
    def _depth(batch: LandmarkBatch) -> torch.Tensor:
        if not batch.has_depth:
            raise ValueError("2D-to-3D-FAN needs depth targets: set data.depth=true")
        return batch.depth

    def on_validation_epoch_end(self):
        for name, m in zip(self.val_names, self.val_metrics):
            self.log(f"val/{name}/depth_nme_box", m.compute(), prog_bar=True)
            m.reset()

    def configure_optimizers(self):
        return landmark_optimizer(self.parameters(), self.hparams.optimizer, self.hparams.lr)
