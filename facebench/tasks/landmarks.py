"""Landmark LightningModule (FAN): Gaussian heatmap regression with intermediate supervision; evaluation
decodes heatmaps (argmax + quarter pixel) and maps them back through the crop's inverse transform."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import LandmarkBatch
from facebench.labels import IBUG68_FLIP
from facebench.landmarks_ops import decode_heatmaps, heatmaps, soft_argmax
from facebench.metrics.landmarks import LandmarkNME


def val_set_names(trainer) -> list[str]:
    """Names of the DataModule's validation sets, in dataloader order (["val"] without a DataModule)."""
    dm = trainer.datamodule if trainer is not None else None
    return list(getattr(dm, "val_set_names", ["val"]))


def landmark_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    """FAN's RMSprop, or Adam."""
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"optimizer must be rmsprop or adam, got {name!r}")


class LandmarkModule(pl.LightningModule):
    """FAN training: heatmap MSE over all stacks. ``coord_weight`` > 0 adds an auxiliary L1 loss on the
    soft-argmax of every stack's heatmaps (in units of the heatmap side); it is not part of FAN's protocol
    (default 0) but gives the network a localisation signal far from the target, which shortens the
    plateau of small, short runs (see results/landmarks/). Decoding is FAN's argmax either way."""

    def __init__(self, net: nn.Module, lr: float = 2.5e-4, optimizer: str = "rmsprop", sigma: float = 1.0,
                 normalisers: tuple[str, ...] = ("inter_ocular", "box"), flip_test: bool = False,
                 coord_weight: float = 0.0, coord_beta: float = 50.0):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.val_metrics = nn.ModuleList()

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        if len(self.val_metrics) != len(self.val_names):
            self.val_metrics = nn.ModuleList(nn.ModuleDict({n: LandmarkNME(n) for n in self.hparams.normalisers})
                                             for _ in self.val_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Final-stack heatmaps (B, N, 64, 64); with flip_test, averaged with the flipped image's."""
        return self.heatmaps(x, self.hparams.flip_test)

    def heatmaps(self, x: torch.Tensor, flip_test: bool) -> torch.Tensor:
        """Final-stack heatmaps (B, N, 64, 64), averaged with the mirrored crop's when ``flip_test``."""
        hm = self.net(x)[-1]
        if flip_test:
            hf = self.net(torch.flip(x, dims=[3]))[-1]
            hm = (hm + torch.flip(hf, dims=[3])[:, IBUG68_FLIP]) / 2
        return hm

    def predict_landmarks(self, x: torch.Tensor, hm_to_img: torch.Tensor, flip_test: bool | None = None) -> torch.Tensor:
        """Landmarks (B, N, 2) in image pixels of crops x (B, 3, 256, 256) in [-1, 1]: FAN's argmax decoding
        with the quarter-pixel shift, mapped through ``hm_to_img`` (B, 2, 3). ``flip_test`` (None: the
        module's setting) averages the heatmaps with the mirrored crop's."""
        hm = self.heatmaps(x, self.hparams.flip_test if flip_test is None else flip_test)
        p = decode_heatmaps(hm)
        return p @ hm_to_img[:, :, :2].transpose(1, 2) + hm_to_img[:, None, :, 2]

    def training_step(self, batch: LandmarkBatch, batch_idx):
        pts_hm = batch.points_hm
        hp = self.hparams
        target = heatmaps(pts_hm, 64, hp.sigma)
        outs = self.net(batch.image)
        loss = sum(F.mse_loss(o, target) for o in outs)
        if hp.coord_weight:
            coord = sum((soft_argmax(o, hp.coord_beta) - pts_hm).abs().mean() for o in outs) / target.shape[-1]
            self.log("train/coord_l1", coord)
            loss = loss + hp.coord_weight * coord
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: LandmarkBatch, batch_idx, dataloader_idx: int = 0):
        pred = self.predict_landmarks(batch.image, batch.hm_to_img)
        for m in self.val_metrics[dataloader_idx].values():
            m.update(pred, batch.points_img, index=batch.index)

    def on_validation_epoch_end(self):
        for name, metrics in zip(self.val_names, self.val_metrics):
            for norm, m in metrics.items():
                r = m.compute()
                self.log(f"val/{name}/nme_{norm}", r["nme"], prog_bar=norm == "inter_ocular")
                self.log_dict({f"val/{name}/{k}_{norm}": v for k, v in r.items() if k != "nme"})
                m.reset()

    def configure_optimizers(self):
        return landmark_optimizer(self.parameters(), self.hparams.optimizer, self.hparams.lr)
