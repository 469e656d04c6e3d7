"""Training the open-set identity-preserving GAN (Bao et al., CVPR 2018) on any identity set the suite reads.

Networks: the identity encoder I is a frozen recognizer of the suite (``recognizer_from``; identity feature
f = I(x) / |I(x)|), the attribute encoder A a VAE encoder, the generator G(f, z) and a patch discriminator D.
Each step takes a batch x; its subject images x_s = x and its attribute images x_a = x for the first half (the
reconstruction pairs) and another sample of the batch (the batch rolled by one) for the second half:

- x' = G(f(x_s), z), z ~ N(mu, sigma^2) from A(x_a); the paper's asymmetric losses on it:
  - reconstruction ||x' - x_a||^2, weight 1 where x_s = x_a and ``cross_weight`` (the paper's lambda = 0.1)
    where they differ;
  - KL(A(x_a) || N(0, I)) (``kl_weight``);
  - identity: 1 - cos(f(x'), f(x_s)) and feature matching on the recognizer's intermediate maps between x' and
    x_s (the paper's classifier feature matching; here the frozen recognizer plays the classifier C);
  - adversarial: a hinge generator loss and feature matching between D's features of x' and of x_a;
- x_p = G(f(x_s), z_p), z_p ~ N(0, I): the faces the source generates (attributes from the prior) get the
  identity and adversarial terms too, so the prior side is trained, not only the encoder side (a VAE-GAN
  addition to the paper, which always encodes an attribute image).
D is trained with the hinge loss on x (real) against x' and x_p (fake).

The module keeps a bank of the training faces' identity features and labels (``bank_size`` rows, a buffer
saved in the checkpoint): the source samples new identities from a Gaussian fitted to it, and the leakage
measure compares generated identities with the training identities it holds.

Validation generates from held-out faces' identity features with seeded prior attributes and logs the identity
cosine ``val/<set>/id_cos`` (and the reconstruction L1 of the encoded face, ``val/<set>/recon_l1``). NaN losses
stop the run.
"""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import IdentityBatch, PairBatch
from facebench.errors import ConfigError
from facebench.models.attribute_encoder import kl_to_standard_normal
from facebench.tasks.gan_steps import generator_step, hinge_discriminator_step
from facebench.tasks.landmarks import val_set_names
from facebench.tasks.recognizer_losses import perceptual_loss


class IdentityGanModule(pl.LightningModule):
    """``generator`` builds an :class:`facebench.models.identity_generator.IdentityGenerator` from
    ``identity_dim`` (the recognizer's embedding size) and ``attribute_dim``; ``attribute_encoder`` an
    :class:`facebench.models.attribute_encoder.AttributeEncoder` from ``code_dim``; ``discriminator`` a patch
    discriminator from ``in_channels``; ``recognizer`` a trained recognition module (frozen)."""

    def __init__(self, generator: Callable[..., nn.Module], attribute_encoder: Callable[..., nn.Module],
                 discriminator: Callable[..., nn.Module], recognizer: nn.Module, attribute_dim: int = 128,
                 lr: float = 2e-4, cross_weight: float = 0.1, kl_weight: float = 0.01, id_weight: float = 1.0,
                 perceptual_weight: float = 1.0, adv_weight: float = 0.1, fm_weight: float = 1.0,
                 bank_size: int = 8192, num_classes: int | None = None):
        super().__init__()  # num_classes: the identity DataModule's class count, not used (no classifier here)
        if not hasattr(recognizer, "backbone"):
            raise ConfigError("GAN training needs a trained recognizer: set recognizer_from=<recognition checkpoint>")
        self.save_hyperparameters(ignore=["generator", "attribute_encoder", "discriminator", "recognizer"])
        self.automatic_optimization = False
        self.recognizer = recognizer.eval().requires_grad_(False)
        dim = getattr(recognizer.backbone, "embedding_dim", 512)
        self.generator = generator(identity_dim=dim, attribute_dim=attribute_dim)
        self.attribute_encoder = attribute_encoder(code_dim=attribute_dim)
        self.discriminator = discriminator(in_channels=3)
        self.register_buffer("bank_features", torch.zeros(bank_size, dim))
        self.register_buffer("bank_labels", torch.full((bank_size,), -1, dtype=torch.long))
        self.register_buffer("bank_seen", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True):
        super().train(mode)
        self.recognizer.eval()  # frozen, batch-norm statistics included
        return self

    def identity(self, x: torch.Tensor) -> torch.Tensor:
        """The unit identity feature f(x) of faces in [-1, 1] (the generator's identity input)."""
        return F.normalize(self.recognizer.backbone(x).float(), dim=1)

    def generate(self, identity: torch.Tensor, attribute: torch.Tensor) -> torch.Tensor:
        """Faces (B, 3, 112, 112) in [-1, 1] of unit identity features (B, dim) with attribute codes (B, A)."""
        return self.generator(identity, attribute)

    def _remember(self, f: torch.Tensor, labels: torch.Tensor) -> None:
        n = self.bank_features.shape[0]
        pos = (self.bank_seen + torch.arange(len(f), device=f.device)) % n
        self.bank_features[pos] = f.detach().to(self.bank_features.dtype)
        self.bank_labels[pos] = labels.to(self.bank_labels)
        self.bank_seen += len(f)

    def bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (m, dim), labels (m,)) of the training faces remembered (m <= bank_size)."""
        m = int(min(int(self.bank_seen), self.bank_features.shape[0]))
        return self.bank_features[:m], self.bank_labels[:m]

    def training_step(self, batch: IdentityBatch, batch_idx):
        x, hp = batch.image, self.hparams
        opt_g, opt_d = self.optimizers()
        b = x.shape[0]
        with torch.no_grad():
            f = self.identity(x)
        self._remember(f, batch.label)
        same = torch.arange(b, device=x.device) < (b + 1) // 2
        x_a = torch.where(same[:, None, None, None], x, torch.roll(x, 1, 0))
        mu, logvar = self.attribute_encoder(x_a)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        fake = self.generate(f, z)
        prior = self.generate(f, torch.randn_like(mu))
        both = torch.cat([fake, prior])

        w = torch.where(same, 1.0, hp.cross_weight)
        recon = (w * ((fake - x_a) ** 2).flatten(1).mean(1)).mean()
        kl = kl_to_standard_normal(mu, logvar)
        ident = (1 - F.cosine_similarity(self.identity(both), torch.cat([f, f]), dim=1)).mean()
        perceptual = perceptual_loss(self.recognizer.backbone, fake, x)
        logits, feats = self.discriminator.forward_features(both)
        with torch.no_grad():
            _, real_feats = self.discriminator.forward_features(x_a)
        fm = sum(F.mse_loss(a[:b], r) for a, r in zip(feats, real_feats))  # x' against its attribute image
        adv = -logits.mean()
        loss = (recon + hp.kl_weight * kl + hp.id_weight * ident + hp.perceptual_weight * perceptual
                + hp.adv_weight * adv + hp.fm_weight * fm)
        generator_step(self, opt_g, loss, "GAN")
        d_loss = hinge_discriminator_step(self, opt_d, self.discriminator, x, both)
        self.log_dict({"train/loss": loss, "train/recon": recon, "train/kl": kl, "train/id": ident,
                       "train/perceptual": perceptual, "train/adv": adv, "train/fm": fm, "train/loss_d": d_loss},
                      prog_bar=True)

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        self._sums = [[0.0, 0.0, 0] for _ in self.val_names]

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x = batch.image1 if isinstance(batch, PairBatch) else batch.image
        f = self.identity(x)
        gen = torch.Generator().manual_seed(1000 + batch_idx)  # the same prior draws every epoch
        z = torch.randn(x.shape[0], self.hparams.attribute_dim, generator=gen).to(x)
        cos = F.cosine_similarity(self.identity(self.generate(f, z)), f, dim=1)
        recon = (self.generate(f, self.attribute_encoder(x)[0]) - x).abs().flatten(1).mean(1)
        s = self._sums[dataloader_idx]
        s[0] += float(cos.sum())
        s[1] += float(recon.sum())
        s[2] += cos.numel()

    def on_validation_epoch_end(self):
        for name, (cos, recon, n) in zip(self.val_names, self._sums):
            self.log(f"val/{name}/id_cos", cos / max(n, 1), prog_bar=True, sync_dist=True)
            self.log(f"val/{name}/recon_l1", recon / max(n, 1), sync_dist=True)
        self._sums = [[0.0, 0.0, 0] for _ in self.val_names]

    def configure_optimizers(self):
        betas = (0.5, 0.999)  # the usual GAN Adam (DCGAN onwards)
        g = list(self.generator.parameters()) + list(self.attribute_encoder.parameters())
        return (torch.optim.Adam(g, lr=self.hparams.lr, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas))
