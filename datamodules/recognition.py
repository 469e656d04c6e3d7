"""The recognition DataModule: synthetic training identities (rendered on the fly, or a set on disk),
optionally real ones (SynFace's comparisons), and verification sets."""
from __future__ import annotations

import logging

from torch.utils.data import ConcatDataset

from facebench.errors import ConfigError
from datamodules.base import FaceDataModule, set_name
from datamodules.batches import DomainMixupBatch, IndexBatch
from datamodules.datasets.disk import LabelledImageDataset, PairDataset
from datamodules.datasets.render_identity import LabelOffset, RenderIdentityDataset, RenderPairsDataset
from facebench.render.settings import (HELD_OUT_IDENTITY_OFFSET, HELD_OUT_SEED_OFFSET, STANDIN_IDENTITY_OFFSET,
                                       STANDIN_SEED_OFFSET, STANDIN_TEST_SEED_OFFSET)
from facebench.render.spec import DatasetSpec

STANDIN = "standin"  # the value of a real-data path that asks for the labelled render stand-in
REAL_USES = ("domain_mixup", "mixed", "only")
log = logging.getLogger(__name__)


class RecognitionDataModule(FaceDataModule):
    """Recognition training data, synthetic (rendered on the fly; ``generator_path``: faces of a generator -
    Vec2Face or the identity-preserving GAN, a suite run or a TorchScript export - generated on the fly from a
    width x depth spec of identities at most ``generator_threshold`` apart in cosine; or
    ``train_path``: identity folders as ``facebench.generate`` writes them, insightface RecordIO or HSFace
    LMDB) and optionally real; verification
    on held-out rendered identities and on any ``val_sets`` (.bin files, pair lists).

    Real data for SynFace's comparisons (``real_path``, with ``real_use``):
    - ``domain_mixup``: each synthetic batch is blended with a real batch (facebench.methods.mixup);
    - ``mixed``: synthetic and real samples are concatenated;
    - ``only``: train on the real set alone (the real-data baseline, or the second stage of fine-tuning).
    Real classes are numbered after the synthetic ones. ``real_path=standin`` uses a *stand-in*: held-out
    rendered identities with a shifted appearance (DigiFace-1M augmentations), named "standin" in every
    log, for machines without real data.
    """

    def __init__(self, width: int = 100, depth: int = 20, long_tail_alpha: float = 0.0, vary: str = "all",
                 seed: int = 0, size: int = 112, framing: str = "aligned", batch_size: int = 64,
                 num_workers: int = 2, val_identities: int = 100, val_pairs: int = 600,
                 head: str = "auto", ict_path: str | None = None, supersample: int = 2,
                 render_on: str = "auto", augment: str = "none", train_path: str | None = None,
                 train_max_identities: int | None = None, train_max_depth: int | None = None,
                 val_sets: list[str] | None = None, val_render: bool = True, identity_mixup: float = 0.0,
                 real_path: str | None = None, real_use: str = "domain_mixup", real_width: int = 50,
                 real_depth: int = 10, val_standin: bool = False, generator_path: str | None = None,
                 generator_threshold: float = 0.4, generator_sigmas: list[float] | None = None,
                 generator_shares: list[float] | None = None, generator_reference_features: str | None = None,
                 generator_attribute_scale: float = 1.0, generator_attribute_pool: str | None = None):
        super().__init__(batch_size, num_workers, render_on, head, ict_path, supersample)
        self.save_hyperparameters()
        if real_use not in REAL_USES:
            raise ConfigError(f"real_use must be one of {REAL_USES}, got {real_use!r}")
        self.train_spec = DatasetSpec(width=width, depth=depth, long_tail_alpha=long_tail_alpha, vary=vary, seed=seed)
        self.val_spec = DatasetSpec(width=val_identities, depth=10, vary="all", seed=seed + HELD_OUT_SEED_OFFSET,
                                    identity_offset=HELD_OUT_IDENTITY_OFFSET)
        self.val_paths = [str(p) for p in (val_sets or [])]
        if not val_render and not self.val_paths and not val_standin:
            raise ConfigError("no validation set: keep val_render=true or give val_sets")
        self.val_set_names = (["render_heldout"] if val_render else []) + (["standin"] if val_standin else []) \
            + [set_name(p) for p in self.val_paths]
        self._folder = None
        if train_path:
            self._folder = LabelledImageDataset(train_path, size, augment, seed, max_identities=train_max_identities,
                                                max_depth=train_max_depth)
        self.num_syn_classes = self._folder.num_classes if self._folder is not None else self.train_spec.width
        self.real_set = None
        if real_path:
            offset = 0 if real_use == "only" else self.num_syn_classes
            if real_path == STANDIN:
                log.warning("real data: using the render STAND-IN (held-out rendered identities with shifted "
                            "appearance), not real faces")
                spec = DatasetSpec(width=real_width, depth=real_depth, vary="all", seed=seed + STANDIN_SEED_OFFSET,
                                   identity_offset=STANDIN_IDENTITY_OFFSET)
                self.real_set = LabelOffset(RenderIdentityDataset(spec, size, framing, self.render, False,
                                                                  augment="digiface"), offset, real_width)
            else:
                self.real_set = LabelledImageDataset(real_path, size, "none", seed, label_offset=offset)

    @property
    def num_classes(self) -> int:
        if self.real_set is None:
            return self.num_syn_classes
        n_real = self.real_set.num_classes
        return n_real if self.hparams.real_use == "only" else self.num_syn_classes + n_real

    def model_kwargs(self) -> dict:
        return {"num_classes": self.num_classes}

    @property
    def real_name(self) -> str | None:
        rp = self.hparams.real_path
        return None if not rp else (STANDIN if rp == STANDIN else set_name(rp))

    def setup(self, stage: str | None = None) -> None:
        from datamodules.readers.verification import read_pairs

        hp = self.hparams
        if self._folder is not None:
            syn = self._folder
        elif hp.generator_path:  # a generated source (Vec2Face, the GAN), generated on the fly
            from datamodules.datasets.generated_identity import GeneratedIdentityDataset

            sigmas = hp.generator_sigmas or (0.3, 0.5, 0.7)
            # Vec2Face's shares for its three sigmas; equal shares for any other list (the sigma ablation)
            shares = hp.generator_shares or ((0.4, 0.4, 0.2) if len(sigmas) == 3 else (1 / len(sigmas),) * len(sigmas))
            syn = GeneratedIdentityDataset(self.train_spec, hp.generator_path, hp.identity_mixup,
                                           indices_only=self._on_device(), threshold=hp.generator_threshold,
                                           reference_features=hp.generator_reference_features,
                                           sigmas=tuple(sigmas), shares=tuple(shares),
                                           attribute_scale=hp.generator_attribute_scale,
                                           attribute_pool=hp.generator_attribute_pool)
        else:
            syn = RenderIdentityDataset(self.train_spec, hp.size, hp.framing, self.render, self._on_device(),
                                        augment=hp.augment, identity_mixup=hp.identity_mixup)
        self.syn_set = syn
        if self.real_set is None or hp.real_use == "domain_mixup":
            self.train_set = syn
        elif hp.real_use == "only":
            self.train_set = self.real_set
        else:
            if self._on_device():
                raise ConfigError("real_use=mixed renders in DataLoader workers: use render_on=worker")
            self.train_set = ConcatDataset([syn, self.real_set])
        self.val_datasets = [RenderPairsDataset(self.val_spec, hp.val_pairs, hp.size, hp.framing, self.render)] \
            if hp.val_render else []
        if hp.val_standin:  # the "real" test side when no real test set exists: held-out stand-in identities
            spec = DatasetSpec(width=hp.val_identities, depth=10, vary="all", seed=hp.seed + STANDIN_TEST_SEED_OFFSET,
                               identity_offset=STANDIN_IDENTITY_OFFSET + HELD_OUT_IDENTITY_OFFSET)
            self.val_datasets.append(RenderPairsDataset(spec, hp.val_pairs, hp.size, hp.framing, self.render,
                                                        augment="digiface"))
        self.val_datasets += [PairDataset(read_pairs(p), hp.size) for p in self.val_paths]

    def train_dataloader(self):
        if self.real_set is not None and self.hparams.real_use == "domain_mixup":
            # One synthetic and one real batch per step; the shorter loader cycles.
            return {"syn": self._loader(self.syn_set, True), "real": self._loader(self.real_set, True)}
        return self._loader(self.train_set, True)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, dict):  # Domain Mixup's two loaders
            return DomainMixupBatch(**{k: self.on_after_batch_transfer(v, dataloader_idx) for k, v in batch.items()})
        return super().on_after_batch_transfer(batch, dataloader_idx)

    def render_on_device(self, batch: IndexBatch):
        from facebench.render.source import RenderSource

        if self.hparams.generator_path:
            return self.syn_set.render_batch(batch.index)
        if getattr(self, "_device_source", None) is None:
            self._device_source = RenderSource.from_settings(self.train_spec, self.hparams.size, self.hparams.framing,
                                                             self.render, device=batch.index.device)
        return self.syn_set.render_batch(batch.index, self._device_source)
