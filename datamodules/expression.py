"""The expression DataModule: rendered faces (on the fly) labelled with their expression, an expression set on
disk, or the labelled stand-in, for training; held-out renders, expression sets and the stand-in for
validation. ``pairs=true`` serves (expressive, neutral) pairs for DeRL's de-expression GAN."""
from __future__ import annotations

from facebench.errors import ConfigError
from datamodules.base import FaceDataModule
from datamodules.datasets.expression_faces import RENDER_FACTORS, ExpressionSetDataset, RenderExpressionDataset
from facebench.render.settings import (HELD_OUT_IDENTITY_OFFSET, HELD_OUT_SEED_OFFSET, STANDIN_IDENTITY_OFFSET,
                                       STANDIN_SEED_OFFSET, STANDIN_TEST_SEED_OFFSET)
from facebench.render.spec import DatasetSpec

STANDIN = "standin"


class ExpressionDataModule(FaceDataModule):
    """Train on renders (``train_path=null``; ``render_factors`` picks which factors vary: all, frontal,
    fixed_light, low_intensity), a set's train split or subject-disjoint training folds (``train_path=PATH``,
    ``folds``/``fold``), or the stand-in (``train_path=standin``: held-out rendered faces with DigiFace-1M's
    appearance shift, named ``standin`` wherever it is logged; it stands in for a real set and is never a real
    result). Validate on ``val_render`` held-out renders, each of ``val_sets`` (its ``val_split``, or with
    ``folds`` the held-out fold of CK+ / CK+48 / JAFFE subjects) and, with ``val_standin``, held-out stand-in
    faces."""

    def __init__(self, size: int = 112, grey: bool = False, render_size: int = 112, n_train: int = 10000,
                 seed: int = 0, batch_size: int = 64, num_workers: int = 2, val_render: int = 500,
                 val_sets: list[str] | None = None, val_split: str = "test", train_path: str | None = None,
                 val_standin: bool = False, standin_size: int = 500, folds: int = 0, fold: int = 0,
                 pairs: bool = False, render_factors: str = "all", augment: bool = True, head: str = "auto",
                 ict_path: str | None = None, supersample: int = 2, render_on: str = "worker"):
        super().__init__(batch_size, num_workers, render_on, head, ict_path, supersample)
        if render_factors not in RENDER_FACTORS:
            raise ConfigError(f"render_factors must be one of {tuple(RENDER_FACTORS)}, got {render_factors!r}")
        if render_on == "device":
            raise ConfigError("expression data is rendered in DataLoader workers (render_on=worker or auto)")
        self.save_hyperparameters()
        self.val_paths = [str(p) for p in (val_sets or [])]
        if not val_render and not self.val_paths and not val_standin:
            raise ConfigError("no validation set: set data.val_render > 0, data.val_sets or data.val_standin")

    def _render(self, n: int, seed: int, identity_offset: int, augment: bool, appearance: str, name: str,
                edit=None) -> RenderExpressionDataset:
        hp = self.hparams
        spec = DatasetSpec(width=n, depth=1, seed=seed, vary="all", identity_offset=identity_offset)
        return RenderExpressionDataset(spec, hp.size, self.render, hp.grey, augment,
                                       edit if edit is not None else RENDER_FACTORS["all"], hp.pairs, hp.render_size,
                                       appearance, name)

    def _disk(self, path: str, split: str, role: str, augment: bool) -> ExpressionSetDataset:
        hp = self.hparams
        return ExpressionSetDataset(path, "all" if hp.folds else split, hp.size, hp.grey, augment, hp.seed,
                                    hp.folds, hp.fold, role, hp.pairs)

    def setup(self, stage=None):
        hp = self.hparams
        if hp.train_path == STANDIN:
            self.train_set = self._render(hp.n_train, hp.seed + STANDIN_SEED_OFFSET, STANDIN_IDENTITY_OFFSET,
                                          hp.augment, "digiface", "standin")
        elif hp.train_path:
            self.train_set = self._disk(hp.train_path, "train", "train", hp.augment)
        else:
            self.train_set = self._render(hp.n_train, hp.seed, 0, hp.augment, "none", "render",
                                          RENDER_FACTORS[hp.render_factors])
        self.val_datasets = []
        if hp.val_render:  # held-out identities, every factor varying (the same test whatever was trained on)
            self.val_datasets.append(self._render(hp.val_render, hp.seed + HELD_OUT_SEED_OFFSET,
                                                  HELD_OUT_IDENTITY_OFFSET, False, "none", "render_heldout"))
        self.val_datasets += [self._disk(p, hp.val_split, "val", False) for p in self.val_paths]
        if hp.val_standin:
            self.val_datasets.append(self._render(hp.standin_size, hp.seed + STANDIN_TEST_SEED_OFFSET,
                                                  STANDIN_IDENTITY_OFFSET + HELD_OUT_IDENTITY_OFFSET, False,
                                                  "digiface", "standin"))
        self.val_set_names = [ds.name for ds in self.val_datasets]

    def model_kwargs(self) -> dict:
        return {"in_channels": 1 if self.hparams.grey else 3}
