"""Recognition LightningModule: backbone -> embedding -> margin head (CosFace / ArcFace) -> cross-entropy;
validation by pair verification with flip-summed embeddings (insightface protocol)."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import DomainMixupBatch, IdentityBatch, PairBatch
from facebench.methods.mixup import domain_mixup_weight, mixed_margin_loss
from facebench.metrics.verification import VerificationAccuracy
from facebench.models.margin_heads import margin_head


class RecognitionModule(pl.LightningModule):
    def __init__(self, backbone: nn.Module, num_classes: int, lr: float = 0.1, weight_decay: float = 5e-4,
                 optimizer: str = "sgd", margin: str = "cosface", margin_s: float = 64.0, margin_m: float = 0.4,
                 warmup_steps: int = 0, seed: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone
        self.head = margin_head(margin, backbone.embedding_dim, num_classes, margin_s, margin_m)
        self.val_metrics = nn.ModuleList()

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self.trainer is not None else None
        names = getattr(dm, "val_set_names", ["val"])
        if len(self.val_metrics) != len(names):
            self.val_metrics = nn.ModuleList(VerificationAccuracy() for _ in names)
        self.val_names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def training_step(self, batch: IdentityBatch | DomainMixupBatch, batch_idx):
        """An :class:`IdentityBatch` (Identity Mixup where weight < 1) or, with Domain Mixup, a synthetic and a
        real batch blended in pixels with one weight per step."""
        if isinstance(batch, DomainMixupBatch):
            syn, real = batch.syn, batch.real
            lam = domain_mixup_weight(self.hparams.seed, self.global_step)
            emb = self.backbone(lam * syn.image + (1 - lam) * real.image)
            loss_syn, logits = mixed_margin_loss(self.head, emb, syn.label, syn.partner, syn.weight.float())
            loss = lam * loss_syn + (1 - lam) * F.cross_entropy(self.head(emb, real.label), real.label)
            self.log("train/dm_lambda", lam, on_step=True)
            y = syn.label
        else:
            y = batch.label
            loss, logits = mixed_margin_loss(self.head, self.backbone(batch.image), y, batch.partner,
                                             batch.weight.float())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.global_step}: lower the learning "
                                     "rate, enable gradient clipping or use bf16 instead of fp16")
        acc = (logits.argmax(1) == y).float().mean()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The verification embedding of images (B, 3, S, S) in [-1, 1]: the sum of the image's and its
        horizontal mirror's embeddings, unnormalised (insightface's protocol; the metric normalises)."""
        return self.backbone(x) + self.backbone(torch.flip(x, dims=[3]))

    def validation_step(self, batch: PairBatch, batch_idx, dataloader_idx: int = 0):
        self.val_metrics[dataloader_idx].update(self.embed(batch.image1), self.embed(batch.image2), batch.issame,
                                                batch.index)

    def on_validation_epoch_end(self):
        for name, m in zip(self.val_names, self.val_metrics):
            r = m.compute()
            self.log_dict({f"val/{name}/acc": r["acc"]}, prog_bar=True)
            self.log_dict({f"val/{name}/{k}": v for k, v in r.items() if k != "acc"})
            m.reset()

    def configure_optimizers(self):
        hp = self.hparams
        if hp.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw":
            opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {hp.optimizer!r}")
        total = max(1, self.trainer.estimated_stepping_batches)
        warm = hp.warmup_steps

        def poly(step):  # insightface's PolyScheduler: linear warmup then (1 - t)^2 decay
            if step < warm:
                return (step + 1) / warm
            return max(0.0, 1 - (step - warm) / max(1, total - warm)) ** 2

        sched = torch.optim.lr_scheduler.LambdaLR(opt, poly)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


