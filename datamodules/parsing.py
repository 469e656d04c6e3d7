"""The face-parsing DataModule: crops of rendered faces (on the fly), of a parsing set on disk, or of the
labelled stand-in for a real set, for training; held-out renders, parsing sets' validation splits and the
stand-in for validation. Each set keeps its own class set (``val_class_sets``); the task maps predictions
into it through an explicit table."""
from __future__ import annotations

from facebench.errors import ConfigError
from datamodules.base import FaceDataModule
from datamodules.batches import IndexBatch, ParsingBatch
from datamodules.datasets.parsing_crops import AUGMENT_KEYS, ParsingSetDataset, RenderParsingDataset
from facebench.parsing_classes import mapping
from facebench.render.settings import (HELD_OUT_IDENTITY_OFFSET, HELD_OUT_SEED_OFFSET, STANDIN_IDENTITY_OFFSET,
                                       STANDIN_SEED_OFFSET, STANDIN_TEST_SEED_OFFSET)
from facebench.render.spec import DatasetSpec

STANDIN = "standin"


class ParsingDataModule(FaceDataModule):
    """Train on renders (``train_path=null``), a parsing set's train split (``train_path=PATH``) or the stand-in
    (``train_path=standin``: held-out rendered faces labelled in ``standin_classes`` through the table from
    FaceSynthetics' classes, named ``standin_<classes>`` wherever it is logged; it stands in for a real set
    when none is at hand and is never a real result). Validate on ``val_render`` held-out renders, the
    validation split of each of ``val_sets`` and, with ``val_standin``, held-out stand-in faces."""

    def __init__(self, size: int = 256, render_size: int = 256, n_train: int = 10000, seed: int = 0,
                 batch_size: int = 16, num_workers: int = 2, val_render: int = 200, val_sets: list[str] | None = None,
                 train_path: str | None = None, val_standin: bool = False, standin_size: int = 200,
                 standin_classes: str = "helen11", crop_scale: float = 1.5, scale: float = 0.15, shift: float = 0.08,
                 rotation: float = 15.0, flip: bool = True, head: str = "auto", ict_path: str | None = None,
                 supersample: int = 2, render_on: str = "auto"):
        super().__init__(batch_size, num_workers, render_on, head, ict_path, supersample)
        if size % 32:
            raise ConfigError(f"data.size={size}: parsers need a multiple of 32 (256 or 512 as the papers)")
        self.save_hyperparameters()
        self.augment = dict(zip(AUGMENT_KEYS, (scale, shift, rotation, flip)))
        self.val_paths = [str(p) for p in (val_sets or [])]
        self.standin_mapping = mapping("facesynthetics19", standin_classes)
        if not val_render and not self.val_paths and not val_standin:
            raise ConfigError("no validation set: set data.val_render > 0, data.val_sets or data.val_standin")

    def _standin(self, seed_offset: int, identity_offset: int, n: int, augment) -> RenderParsingDataset:
        hp = self.hparams
        spec = DatasetSpec(width=n, depth=1, seed=hp.seed + seed_offset, vary="all", identity_offset=identity_offset)
        return RenderParsingDataset(spec, hp.render_size, hp.size, self.render, augment, hp.crop_scale,
                                    self.standin_mapping, name=f"standin_{hp.standin_classes}")

    def setup(self, stage=None):
        hp = self.hparams
        if hp.train_path == STANDIN:
            self.train_set = self._standin(STANDIN_SEED_OFFSET, STANDIN_IDENTITY_OFFSET, hp.n_train, self.augment)
        elif hp.train_path:
            self.train_set = ParsingSetDataset(hp.train_path, "train", hp.size, hp.crop_scale, self.augment, hp.seed)
        else:
            spec = DatasetSpec(width=hp.n_train, depth=1, seed=hp.seed)
            self.train_set = RenderParsingDataset(spec, hp.render_size, hp.size, self.render, self.augment,
                                                  hp.crop_scale, indices_only=self._on_device())
        self.val_datasets = []
        if hp.val_render:
            spec = DatasetSpec(width=hp.val_render, depth=1, seed=hp.seed + HELD_OUT_SEED_OFFSET,
                               identity_offset=HELD_OUT_IDENTITY_OFFSET)
            # A model trained in another class set (a real set, the stand-in) sees the held-out renders labelled
            # in its own classes, through the table from FaceSynthetics' classes.
            train_classes = self.train_classes
            table = None if train_classes == "facesynthetics19" else mapping("facesynthetics19", train_classes)
            name = "render_heldout" if table is None else f"render_heldout_{train_classes}"
            self.val_datasets.append(RenderParsingDataset(spec, hp.render_size, hp.size, self.render, None,
                                                          hp.crop_scale, table, name=name))
        self.val_datasets += [ParsingSetDataset(p, "val", hp.size, hp.crop_scale) for p in self.val_paths]
        if hp.val_standin:
            self.val_datasets.append(self._standin(STANDIN_TEST_SEED_OFFSET,
                                                   STANDIN_IDENTITY_OFFSET + HELD_OUT_IDENTITY_OFFSET, hp.standin_size,
                                                   None))
        self.val_set_names = [ds.name for ds in self.val_datasets]
        self.val_class_sets = [ds.classes.name for ds in self.val_datasets]

    @property
    def train_classes(self) -> str:
        """The class set of the training labels (known before setup: it decides the network's outputs)."""
        hp = self.hparams
        if hp.train_path == STANDIN:
            return hp.standin_classes
        if hp.train_path:
            from datamodules.readers.parsing_sets import open_parsing_set

            return open_parsing_set(hp.train_path, "train").classes.name
        return "facesynthetics19"

    def model_kwargs(self) -> dict:
        return {"class_set": self.train_classes}

    def render_on_device(self, batch: IndexBatch) -> ParsingBatch:
        return self.train_set.render_batch(batch.index)
