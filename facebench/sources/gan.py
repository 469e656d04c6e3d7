"""The GAN source: a width x depth spec of faces from a factor generator - the identity-preserving GAN trained
in the suite (``gan/*`` runs), or a user's TorchScript export (:mod:`facebench.sources.external_generator`).

Identity ``i`` of the spec gets an identity input, drawn once from the spec's seed:
- the suite's GAN: a unit identity feature from a Gaussian fitted by PCA to identity centres - by default the
  training identities in the checkpoint's feature bank, or ``reference_features`` (an (N, dim) ``.npy`` /
  ``.pt``, e.g. a recognizer's features of a real set) - kept only when its cosine to every accepted one is at
  most ``threshold`` (the minimum-distance rule), then normalised;
- a factor export (DiscoFaceGAN's): identity coefficients ~ N(0, I) under the same rule; a feature export:
  random unit directions under the same rule (or the PCA fit of ``reference_features``).
The other inputs (attribute code; expression, pose, light; noise) are drawn from N(0, attribute_scale^2 I) per
image, keyed by (seed, identity, image, factor) - the suite's GAN's attribute code alternatively encoded from a
pool of real or rendered faces (``attribute_pool``) - or once per identity for the factors the spec's ``vary``
holds fixed (SynFace's within-identity variation: vary=none, expression, pose, illumination, all). So sample
(seed, identity, image) is the same face in any batch, worker, shard or rank.

Identity Mixup (SynFace): a mixed sample's identity input is r c_a + (1 - r) c_b, renormalised to unit length
for identity features (linear for coefficients, as SynFace mixes DiscoFaceGAN's); its other factors its own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facebench.errors import ConfigError, DatasetError
from facebench.render.scene.factors import FACTOR_GROUPS
from facebench.render.spec import DatasetSpec
from facebench.sources.generated import GeneratedFaces, read_feature_file

# The renderer's factor group a named generator input belongs to (for the spec's ``vary``).
FACTOR_GROUP_OF = {"expression": "expression", "pose": "pose", "light": "illumination"}


class TrainedGan:
    """An :class:`facebench.tasks.identity_gan.IdentityGanModule` behind the factor interface
    (``identity`` (unit feature), ``attribute`` (code); ``identity_space`` "feature")."""

    identity_space = "feature"

    def __init__(self, module, device: str | torch.device = "cpu"):
        self.module = module.to(device).eval()
        self.device = torch.device(device)
        self.factor_sizes = {"identity": module.generator.identity_dim, "attribute": module.generator.attribute_dim}

    def __call__(self, factors: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return self.module.generate(factors["identity"].to(self.device),
                                        factors["attribute"].to(self.device)).clamp(-1, 1)

    def encode_attributes(self, images: torch.Tensor) -> torch.Tensor:
        """Attribute codes (the encoder's means) of faces (B, 3, 112, 112) in [-1, 1]."""
        with torch.no_grad():
            return self.module.attribute_encoder(images.to(self.device))[0].cpu()

    def training_identities(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, labels) of the training faces the checkpoint remembers."""
        f, y = self.module.bank()
        return f.cpu(), y.cpu()


def load_factor_generator(checkpoint: str | Path, device: str | torch.device = "cpu"):
    """A :class:`TrainedGan` from a ``gan/*`` run's checkpoint or a :class:`TorchScriptGenerator` from an export."""
    from facebench.sources.external_generator import TorchScriptGenerator, is_torchscript

    path = Path(checkpoint)
    if not path.is_file():
        raise DatasetError(f"{path}: generator not found")
    if is_torchscript(path):
        return TorchScriptGenerator(path, device)
    from facebench.eval import load_model
    from facebench.tasks.identity_gan import IdentityGanModule

    module = load_model(path)
    if not isinstance(module, IdentityGanModule):
        raise DatasetError(f"{path}: a Lightning checkpoint of a {type(module).__name__} run, not of a GAN run "
                           "(gan/*) nor a TorchScript generator")
    return TrainedGan(module, device)


def _varying(names, vary: tuple[str, ...]) -> dict[str, bool]:
    """Whether each non-identity input changes within an identity under the spec's ``vary``."""
    every = set(vary) == set(FACTOR_GROUPS)
    out = {}
    for n in names:
        if n == "noise":
            out[n] = True
        elif n in FACTOR_GROUP_OF:
            out[n] = FACTOR_GROUP_OF[n] in vary
        elif every or not vary:
            out[n] = every
        else:
            raise ConfigError(f"vary={'+'.join(vary)}: this generator's input '{n}' does not separate expression, "
                              "pose and illumination; use vary=all or vary=none")
    return out


class GanSource:
    """Generates sample ``i`` of ``spec`` with the interface ``facebench.generate`` writes from
    (``render(indices)`` -> :class:`GeneratedFaces`) and the training dataset's ``training_images``."""

    def __init__(self, checkpoint: str | Path, spec: DatasetSpec, threshold: float = 0.4,
                 reference_features: str | Path | None = None, attribute_scale: float = 1.0,
                 device: str = "cpu", max_draws: int = 1_000_000, generator=None,
                 attribute_pool: str | Path | None = None, pool_max: int = 2000):
        from facebench.methods.vec2face_sampling import (fit_pca_gaussian, sample_identities_pca,
                                                         sample_identities_rejection)

        self.spec, self.device, self.attribute_scale = spec, torch.device(device), float(attribute_scale)
        self.generator = generator if generator is not None else load_factor_generator(checkpoint, self.device)
        names = list(self.generator.factor_sizes)
        self.identity_name, self.other = names[0], names[1:]
        self.varying = _varying(self.other, spec.vary)
        dim = self.generator.factor_sizes[self.identity_name]
        n = spec.width
        self.unit = self.generator.identity_space == "feature"
        bank = self.generator.training_identities() if hasattr(self.generator, "training_identities") else None
        if reference_features:
            centres, where = read_feature_file(reference_features), f"{Path(reference_features).name}'s features"
        elif bank is not None and len(bank[0]) >= 2:
            from facebench.metrics.dataset_quality import identity_centres

            centres = identity_centres(*bank)[0].float()
            where = f"the {len(centres)} training identities in the checkpoint"
        else:
            centres, where = None, "N(0, I)"
        if centres is not None:
            if centres.shape[1] != dim:
                raise DatasetError(f"{where}: {centres.shape[1]}-d, the generator's identity input is {dim}-d")
            sample = sample_identities_pca(n, fit_pca_gaussian(centres), spec.seed, threshold, max_draws)
            where = f"a PCA Gaussian of {where}"
        else:
            sample = sample_identities_rejection(n, spec.seed, dim, threshold, max_draws=max_draws)
        vectors = sample.vectors
        self.identities = F.normalize(vectors, dim=1) if self.unit else vectors
        self.sampling, self.sampled_from = sample, where
        self.pool = self._encode_pool(attribute_pool, pool_max) if attribute_pool else None
        self.head = type("Head", (), {"name": f"gan({Path(checkpoint).name})"})()

    def _encode_pool(self, path, pool_max: int) -> torch.Tensor:
        """Attribute codes of at most ``pool_max`` faces spread evenly over an image set on disk (any identity set
        the suite reads), encoded by the GAN's attribute encoder."""
        from datamodules.datasets.disk import LabelledImageDataset

        if not hasattr(self.generator, "encode_attributes"):
            raise ConfigError("attribute_pool needs a GAN trained in the suite (its attribute encoder); a "
                              "TorchScript export has none")
        ds = LabelledImageDataset(str(path), 112)
        picks = np.unique(np.linspace(0, len(ds) - 1, min(len(ds), pool_max)).round().astype(int))
        codes = [self.generator.encode_attributes(torch.stack([ds[int(i)].image for i in picks[k:k + 64]]))
                 for k in range(0, len(picks), 64)]
        return torch.cat(codes)

    def describe(self) -> str:
        fixed = [n for n in self.other if not self.varying[n]]
        pool = f"; attributes from a pool of {len(self.pool)} encoded faces" if self.pool is not None else ""
        return (f"{self.spec.width} identities from {self.sampled_from} ({self.sampling.draws} drawn, "
                f"{self.sampling.rejected} rejected at cosine > threshold); per image: "
                f"{', '.join(n for n in self.other if self.varying[n]) or 'nothing'} drawn"
                + (f", {', '.join(fixed)} fixed per identity" if fixed else "") + pool)

    def _positions(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = np.asarray(indices, np.int64)
        ids = self.spec.identity_of(idx) - self.spec.identity_offset
        pos = idx - np.r_[0, np.cumsum(self.spec.depths())][ids]
        return idx, ids, pos

    def factors(self, indices) -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray]:
        """The generator inputs of samples ``indices`` (identity, then the others), their identities and image
        positions."""
        _, ids, pos = self._positions(indices)
        out = {self.identity_name: self.identities[torch.as_tensor(ids)]}
        sizes = self.generator.factor_sizes
        for k, name in enumerate(self.other, 1):
            if name == "attribute" and self.pool is not None:  # a pool face's code, picked by the same keys
                pick = [np.random.default_rng([self.spec.seed, 33, int(i)] + ([int(j)] if self.varying[name] else []))
                        .integers(len(self.pool)) for i, j in zip(ids, pos)]
                out[name] = self.pool[torch.as_tensor(pick)]
                continue
            key = ((lambda i, j: [self.spec.seed, 31, i, j, k]) if self.varying[name]  # per image
                   else (lambda i, j: [self.spec.seed, 32, i, k]))  # once per identity
            rows = [np.random.default_rng(key(int(i), int(j))).standard_normal(sizes[name]) for i, j in zip(ids, pos)]
            out[name] = torch.from_numpy(np.stack(rows)).float() * self.attribute_scale
        return out, ids, pos

    def render(self, indices, chunk: int = 64) -> GeneratedFaces:
        imgs = []
        indices = np.asarray(indices, np.int64)
        for k in range(0, len(indices), chunk):
            imgs.append(self.generator(self.factors(indices[k:k + chunk])[0]).cpu())
        return GeneratedFaces(torch.cat(imgs))

    def training_images(self, indices, partner: np.ndarray, r: np.ndarray, mixed: list[int]) -> torch.Tensor:
        """Faces of samples ``indices`` with Identity Mixup applied at positions ``mixed`` (partner identity
        ``partner``, own weight ``r``), on the source's device."""
        fac, _, _ = self.factors(indices)
        if mixed:
            w = torch.from_numpy(r[mixed]).float()[:, None]
            ident = fac[self.identity_name]
            mix = w * ident[mixed] + (1 - w) * self.identities[torch.as_tensor(partner[mixed])]
            ident[mixed] = F.normalize(mix, dim=1) if self.unit else mix
        return self.generator(fac)
