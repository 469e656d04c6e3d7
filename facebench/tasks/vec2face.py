"""Training the Vec2Face generator on any identity set the suite reads, with a frozen recognizer of the suite.

Each step: the recognizer's raw feature v of a real face x (frozen; ``recognizer_from``), the generator's face
G(v) under the training masking schedule (mask ratio ~ truncated N(0.75, 0.25) on [0.5, 1], half of the 49
positions dropped), and the losses of the public training code: pixel MSE (G(v) - x)^2, the token loss (L1
between decoder tokens and the unmasked input tokens over the masked positions), the identity loss
1 - cos(f(G(v)), v), a perceptual term (weight 0.2, as its 0.1 x 2 LPIPS) and a patch-GAN hinge loss from
``adv_start`` steps on. Differences, stated: the perceptual term is the MSE between the suite recognizer's
intermediate feature maps (LPIPS needs downloaded weights); the public code's SSIM term (0.1) and its adaptive
GAN weight are not used (a fixed ``adv_weight``). Validation generates from the features of held-out faces and
logs their identity cosine (``val/<set>/id_cos``). NaN losses stop the run.
"""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import IdentityBatch, PairBatch
from facebench.errors import ConfigError
from facebench.models.vec2face import TRAINING_MASKING
from facebench.tasks.gan_steps import generator_step, hinge_discriminator_step
from facebench.tasks.landmarks import val_set_names
from facebench.tasks.recognizer_losses import perceptual_loss


class Vec2FaceModule(pl.LightningModule):
    """``generator`` builds a :class:`facebench.models.vec2face.Vec2FaceGenerator` from ``rep_dim`` (the
    recognizer's embedding size); ``recognizer`` is a trained recognition module (frozen); ``discriminator``
    builds a patch discriminator from ``in_channels`` (None: no adversarial loss)."""

    def __init__(self, generator: Callable[..., nn.Module], recognizer: nn.Module,
                 discriminator: Callable[..., nn.Module] | None = None, lr: float = 1e-4, pixel_weight: float = 1.0,
                 token_weight: float = 1.0, id_weight: float = 1.0, perceptual_weight: float = 0.2,
                 adv_weight: float = 0.1, adv_start: int = 0, num_classes: int | None = None):
        super().__init__()  # num_classes: the identity DataModule's class count, not used (no classifier here)
        if not hasattr(recognizer, "backbone"):
            raise ConfigError("Vec2Face training needs a trained recognizer: set recognizer_from=<recognition checkpoint>")
        self.save_hyperparameters(ignore=["generator", "recognizer", "discriminator"])
        self.automatic_optimization = False
        self.recognizer = recognizer.eval().requires_grad_(False)
        rep_dim = getattr(recognizer.backbone, "embedding_dim", 512)
        self.generator = generator(rep_dim=rep_dim)
        self.discriminator = discriminator(in_channels=3) if discriminator is not None else None

    def train(self, mode: bool = True):
        super().train(mode)
        self.recognizer.eval()  # frozen, batch-norm statistics included
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The recognizer's raw (unnormalised) feature of faces in [-1, 1] (the generator's input)."""
        return self.recognizer.backbone(x)

    def _generate(self, v: torch.Tensor, training: bool):
        gen = torch.Generator().manual_seed(int(self.global_step) * 7919 + (0 if training else 1))
        draw = self.generator.draw_masks(v.shape[0], gen, TRAINING_MASKING if training else None, device=v.device)
        return self.generator(v, draw)

    def training_step(self, batch: IdentityBatch, batch_idx):
        x = batch.image
        opts = self.optimizers()
        opt_g, opt_d = (opts if isinstance(opts, (list, tuple)) else (opts, None))
        with torch.no_grad():
            v = self.features(x)
        out = self._generate(v, training=True)
        img, hp = out.image, self.hparams
        pixel = ((img - x) ** 2).mean()
        masked = out.token_all_mask[:, 1:, None]
        token = ((out.logits[:, 1:] - out.gt_tokens[:, 1:]).abs() * masked).sum() / masked.sum().clamp(min=1)
        ident = (1 - F.cosine_similarity(self.features(img), v, dim=1)).mean()
        perceptual = perceptual_loss(self.recognizer.backbone, img, x)
        loss = hp.pixel_weight * pixel + hp.token_weight * token + hp.id_weight * ident + hp.perceptual_weight * perceptual
        use_adv = self.discriminator is not None and self.global_step >= hp.adv_start
        if use_adv:
            loss = loss + hp.adv_weight * (-self.discriminator(img).mean())
        generator_step(self, opt_g, loss, "Vec2Face")
        logs = {"train/loss": loss, "train/pixel": pixel, "train/token": token, "train/id": ident,
                "train/perceptual": perceptual}
        if use_adv:
            d_loss = hinge_discriminator_step(self, opt_d, self.discriminator, x, img)
            logs["train/loss_d"] = d_loss
        self.log_dict(logs, prog_bar=True)

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        self._cos = [[0.0, 0] for _ in self.val_names]

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x = batch.image1 if isinstance(batch, PairBatch) else batch.image
        v = self.features(x)
        cos = F.cosine_similarity(self.features(self._generate(v, training=False).image.clamp(-1, 1)), v, dim=1)
        self._cos[dataloader_idx][0] += float(cos.sum())
        self._cos[dataloader_idx][1] += cos.numel()

    def on_validation_epoch_end(self):
        for name, (s, n) in zip(self.val_names, self._cos):
            self.log(f"val/{name}/id_cos", s / max(n, 1), prog_bar=True, sync_dist=True)
        self._cos = [[0.0, 0] for _ in self.val_names]

    def configure_optimizers(self):
        betas = (0.9, 0.99)  # the public training code's AdamW for both networks
        opt_g = torch.optim.AdamW(self.generator.parameters(), lr=self.hparams.lr, betas=betas)
        if self.discriminator is None:
            return opt_g
        return opt_g, torch.optim.AdamW(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas)
