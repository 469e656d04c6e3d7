"""Expression LightningModules: a classifier (cross-entropy), and DeRL's two stages (Yang et al., "Facial
Expression Recognition by De-expression Residue Learning", CVPR 2018): a conditional GAN whose generator
turns an expressive face into the same person's neutral face (PatchGAN adversarial loss on (input, output)
pairs plus an L1 term), then a classifier reading the frozen generator's intermediate decoder layers (the
"expression residue")."""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import ExpressionBatch, ExpressionPairBatch
from facebench.errors import ConfigError
from facebench.expression_classes import class_names
from facebench.metrics.expression import ExpressionConfusion, accuracy, mean_class_accuracy
from facebench.tasks.landmarks import val_set_names
from facebench.tasks.optim import adamw_cosine


class _ExpressionScores(pl.LightningModule):
    """Per-validation-set confusion matrices: ``val/<set>/acc`` and ``val/<set>/mean_class_acc``."""

    num_classes: int

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        self.val_metrics = nn.ModuleList(ExpressionConfusion(self.num_classes) for _ in self.val_names)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def validation_step(self, batch: ExpressionBatch, batch_idx, dataloader_idx: int = 0):
        self.val_metrics[dataloader_idx].update(self.logits(batch.image).argmax(1), batch.label)

    def on_validation_epoch_end(self):
        for name, m in zip(self.val_names, self.val_metrics):
            conf = m.compute()
            self.log(f"val/{name}/acc", accuracy(conf), prog_bar=True)
            self.log(f"val/{name}/mean_class_acc", mean_class_accuracy(conf))
            m.reset()


class ExpressionModule(_ExpressionScores):
    """Classifier training: cross-entropy (optional label smoothing), AdamW with a cosine schedule. ``net``
    builds the network from ``num_classes`` and ``in_channels`` (a Hydra partial; ``in_channels`` from the
    DataModule: 1 for grey input). The network is ``self.backbone`` so that ``init_from`` fine-tunes it."""

    def __init__(self, net: Callable[..., nn.Module], num_classes: int = 7, in_channels: int = 3, lr: float = 1e-3,
                 weight_decay: float = 5e-4, label_smoothing: float = 0.0):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        class_names(num_classes)
        self.num_classes = num_classes
        self.backbone = net(num_classes=num_classes, in_channels=in_channels)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def training_step(self, batch: ExpressionBatch, batch_idx):
        loss = F.cross_entropy(self.backbone(batch.image), batch.label, label_smoothing=self.hparams.label_smoothing)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return adamw_cosine(self, self.hparams.lr, self.hparams.weight_decay)


class DeRLGanModule(pl.LightningModule):
    """DeRL stage 1: ``generator`` (expressive -> neutral face) against ``discriminator`` (a PatchGAN on
    (input, neutral) pairs), pix2pix's objective: BCE adversarial terms plus ``l1_weight`` x L1 to the true
    neutral face; Adam (2e-4, betas 0.5, 0.999). Validation logs the L1 of the generated neutral faces
    (``val/<set>/l1``, in [-1, 1] image units)."""

    def __init__(self, generator: Callable[..., nn.Module], discriminator: Callable[..., nn.Module],
                 in_channels: int = 3, lr: float = 2e-4, l1_weight: float = 100.0):
        super().__init__()
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.automatic_optimization = False
        self.generator = generator(in_channels=in_channels)
        self.discriminator = discriminator(in_channels=2 * in_channels)

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        self._l1 = [[0.0, 0] for _ in self.val_names]

    def training_step(self, batch: ExpressionPairBatch, batch_idx):
        if not isinstance(batch, ExpressionPairBatch):
            raise ConfigError("the DeRL GAN trains on (expressive, neutral) pairs: set data.pairs=true")
        opt_g, opt_d = self.optimizers()
        x, y = batch.image, batch.neutral
        fake = self.generator(x)
        # discriminator: real pairs -> 1, generated pairs -> 0
        d_real, d_fake = self.discriminator(y, condition=x), self.discriminator(fake.detach(), condition=x)
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad()
        self.manual_backward(loss_d)
        opt_d.step()
        # generator: fool the discriminator and stay close to the true neutral face
        d_gen = self.discriminator(fake, condition=x)
        adv = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        l1 = (fake - y).abs().mean()
        loss_g = adv + self.hparams.l1_weight * l1
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        self.log_dict({"train/loss_d": loss_d, "train/loss_g": loss_g, "train/l1": l1}, prog_bar=True)

    def validation_step(self, batch: ExpressionPairBatch, batch_idx, dataloader_idx: int = 0):
        err = (self.generator(batch.image) - batch.neutral).abs().mean((1, 2, 3))
        self._l1[dataloader_idx][0] += float(err.sum())
        self._l1[dataloader_idx][1] += err.numel()

    def on_validation_epoch_end(self):
        for name, (s, n) in zip(self.val_names, self._l1):
            self.log(f"val/{name}/l1", s / max(n, 1), sync_dist=True)
        self._l1 = [[0.0, 0] for _ in self.val_names]

    def configure_optimizers(self):
        betas = (0.5, 0.999)
        return (torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas))


class ResidueHead(nn.Module):
    """Reads decoder feature maps: per layer a 1x1 conv-BN-ReLU and global average pooling; the pooled
    vectors concatenated, then an MLP to class logits."""

    def __init__(self, channels: list[int], num_classes: int, width: int = 64, hidden: int = 256,
                 dropout: float = 0.3):
        super().__init__()
        self.reads = nn.ModuleList(nn.Sequential(nn.Conv2d(c, width, 1, bias=False), nn.BatchNorm2d(width),
                                                 nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)) for c in channels)
        self.mlp = nn.Sequential(nn.Linear(width * len(channels), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, num_classes))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.mlp(torch.cat([r(f).flatten(1) for r, f in zip(self.reads, feats)], 1))


class DeRLResidueModule(_ExpressionScores):
    """DeRL stage 2: ``generator`` (a trained :class:`DeRLGanModule`, from ``generator_from``) stays frozen; a
    :class:`ResidueHead` learns the expression from the generator's decoder layers ``residue_layers``
    (indices into its decoder, coarsest first; the paper reads several intermediate layers)."""

    def __init__(self, generator: nn.Module, num_classes: int = 7, in_channels: int = 3,
                 residue_layers: list[int] | None = None, width: int = 64, lr: float = 1e-3, weight_decay: float = 5e-4):
        super().__init__()
        if not hasattr(generator, "generator"):
            raise ConfigError("DeRL's residue classifier needs a trained DeRL GAN: set generator_from=<checkpoint>")
        self.save_hyperparameters(ignore=["generator"])
        self.num_classes = num_classes
        self.gan = generator.eval().requires_grad_(False)
        chans = self.gan.generator.decoder_channels
        self.layers = list(range(len(chans))) if residue_layers is None else list(residue_layers)
        if not self.layers or any(not 0 <= i < len(chans) for i in self.layers):
            raise ConfigError(f"model.residue_layers={residue_layers}: the generator has decoder layers "
                              f"0..{len(chans) - 1}")
        self.head = ResidueHead([chans[i] for i in self.layers], num_classes, width)

    def train(self, mode: bool = True):
        super().train(mode)
        self.gan.eval()  # frozen, batch-norm statistics included
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            _, feats = self.gan.generator(x, features=True)
        return self.head([feats[i] for i in self.layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def training_step(self, batch: ExpressionBatch, batch_idx):
        loss = F.cross_entropy(self.logits(batch.image), batch.label)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return adamw_cosine(self, self.hparams.lr, self.hparams.weight_decay, self.head.parameters())
