"""The landmark DataModule: FAN crops of rendered faces (on the fly) or of a landmark set on disk for
training; held-out renders and any landmark sets on disk for validation."""
from __future__ import annotations

from pathlib import Path

from facebench.errors import ConfigError
from datamodules.base import FaceDataModule
from datamodules.batches import IndexBatch, LandmarkBatch
from datamodules.datasets.landmark_crops import LandmarkSetDataset, RenderLandmarkDataset
from facebench.render.settings import HELD_OUT_IDENTITY_OFFSET, HELD_OUT_SEED_OFFSET
from facebench.render.spec import DatasetSpec

CONVENTIONS = ("2d", "3d")


class LandmarkDataModule(FaceDataModule):
    """Train on rendered faces (or ``train_path``); validate on held-out renders and ``val_sets``."""

    def __init__(self, n_train: int = 10000, render_size: int = 256, seed: int = 0, batch_size: int = 16,
                 num_workers: int = 2, val_render: int = 200, val_sets: list[str] | None = None,
                 train_path: str | None = None, box_noise: float = 0.2, rotation: float = 30.0, scale: float = 0.3,
                 flip: bool = True, head: str = "auto", ict_path: str | None = None, supersample: int = 2,
                 convention: str = "3d", depth: bool = False, render_on: str = "auto"):
        super().__init__(batch_size, num_workers, render_on, head, ict_path, supersample)
        if convention not in CONVENTIONS:
            raise ConfigError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        if depth and convention != "3d":
            raise ConfigError("depth (2D-to-3D-FAN) pairs each depth with its 3D point's projection: use convention=3d")
        self.save_hyperparameters()
        self.augment = {"box_noise": box_noise, "rotation": rotation, "scale": scale, "flip": flip}
        self.val_paths = [str(p) for p in (val_sets or [])]
        self.val_set_names = (["render_heldout"] if val_render else []) + [Path(p).name for p in self.val_paths]

    def setup(self, stage=None):
        hp = self.hparams
        if hp.train_path:
            self.train_set = LandmarkSetDataset(hp.train_path, self.augment, hp.seed, convention=hp.convention,
                                                depth=hp.depth)
        else:
            self.train_set = RenderLandmarkDataset(DatasetSpec(width=hp.n_train, depth=1, seed=hp.seed),
                                                   hp.render_size, self.render, self.augment, hp.convention, hp.depth,
                                                   indices_only=self._on_device())
        self.val_datasets = []
        if hp.val_render:
            spec = DatasetSpec(width=hp.val_render, depth=1, seed=hp.seed + HELD_OUT_SEED_OFFSET,
                               identity_offset=HELD_OUT_IDENTITY_OFFSET)
            self.val_datasets.append(RenderLandmarkDataset(spec, hp.render_size, self.render, None, hp.convention,
                                                           hp.depth))
        # Real sets keep their own labels; depth is validated on rendered data only.
        self.val_datasets += [LandmarkSetDataset(p, convention=hp.convention, depth=hp.depth) for p in self.val_paths]

    def render_on_device(self, batch: IndexBatch) -> LandmarkBatch:
        # Training batches of indices (render_on=device): render, crop and augment them on the accelerator;
        # validation stays in the workers (held-out renders, sets on disk).
        return self.train_set.render_batch(batch.index)
