"""Expression faces: rendered (aligned framing, labelled by the render's expression; optionally with each
face's neutral twin for DeRL) or read from an expression set on disk (whole sets, splits or subject-disjoint
folds). Faces are resized to ``size`` (INTER_AREA), optionally converted to grey (FER2013-style input), and
in training jittered (mirror, scale, shift, rotation, colour; albumentations, seeded per sample from
``default_rng([seed, 20, i])``). Items are :class:`ExpressionBatch` or :class:`ExpressionPairBatch` items.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import albumentations as A  # imported here, not in a worker: W&B's import hook fails in forked workers
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.batches import ExpressionBatch, ExpressionPairBatch
from datamodules.readers.expression_sets import open_expression_set, subject_folds
from facebench.errors import ConfigError
from facebench.render.settings import RenderSettings
from facebench.render.spec import DatasetSpec

# A canonical light for fixed_light: ambient plus a key from the upper front right (camera frame).
_FIXED_SH0, _FIXED_KEY_DIR, _FIXED_KEY_RGB = 0.6, (0.35, 0.35, 0.87), 0.8


@dataclass(frozen=True)
class ExpressionEdit:
    """Changes to the drawn render factors of expression data. ``neutral``: the face's neutral twin
    (expression 0, no expression shape weights; identity, pose, light and camera unchanged);
    ``pose_scale``: head pose and gaze multiplied (0: frontal); ``fixed_light``: one canonical light for every
    face; ``intensity``: expression shape weights multiplied; face masks are always removed (they hide the
    mouth the label depends on)."""

    neutral: bool = False
    pose_scale: float = 1.0
    fixed_light: bool = False
    intensity: float = 1.0

    def __call__(self, f):
        ch = {"facewear": torch.zeros_like(f.facewear)}
        if self.neutral:
            ch.update(expression=torch.zeros_like(f.expression), expr_weights=torch.zeros_like(f.expr_weights))
        elif self.intensity != 1.0:
            ch["expr_weights"] = (f.expr_weights * self.intensity).clamp(0, 1)
        if self.pose_scale != 1.0:
            ch.update(pose=f.pose * self.pose_scale, gaze=f.gaze * self.pose_scale)
        if self.fixed_light:
            sh = torch.zeros_like(f.sh)
            sh[:, 0] = _FIXED_SH0
            ch.update(sh=sh, key_dir=torch.tensor(_FIXED_KEY_DIR, dtype=f.key_dir.dtype,
                                                  device=f.key_dir.device).expand_as(f.key_dir).clone(),
                      key_rgb=torch.full_like(f.key_rgb, _FIXED_KEY_RGB))
        return dataclasses.replace(f, **ch)


# The render-factor settings of the expression sweep (data.render_factors).
RENDER_FACTORS = {"all": ExpressionEdit(), "frontal": ExpressionEdit(pose_scale=0.0),
                  "fixed_light": ExpressionEdit(fixed_light=True), "low_intensity": ExpressionEdit(intensity=0.5)}


def _jitter() -> A.Compose:
    return A.Compose([A.HorizontalFlip(p=0.5),
                      A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=1.0),
                      A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.0, p=0.8)])


def to_input(img: np.ndarray, size: int, grey: bool) -> torch.Tensor:
    """(C, size, size) float in [-1, 1] of an RGB uint8 face; C = 1 when ``grey``."""
    if img.shape[0] != size or img.shape[1] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255
    if grey:  # ITU-R 601 luma, as cv2's RGB2GRAY
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    return (x - 0.5) / 0.5


def augment_faces(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """The same jitter (one draw) applied to each image of a group (a face and its neutral twin)."""
    pipeline = _jitter()
    out = []
    for img in images:
        pipeline.set_random_seed(seed)
        out.append(pipeline(image=np.ascontiguousarray(img))["image"])
    return out


class RenderExpressionDataset(Dataset):
    """Rendered aligned faces labelled with their expression; ``pairs`` adds each face's neutral twin
    (:class:`ExpressionPairBatch`). ``appearance='digiface'`` applies DigiFace-1M's augmentation (the
    stand-in's shifted look)."""

    def __init__(self, spec: DatasetSpec, size: int, render: RenderSettings, grey: bool = False,
                 augment: bool = False, edit: ExpressionEdit = ExpressionEdit(), pairs: bool = False,
                 render_size: int = 112, appearance: str = "none", name: str = "render"):
        if not isinstance(render, RenderSettings):
            raise TypeError(f"render must be RenderSettings, got {type(render).__name__}")
        self.spec, self.size, self.render, self.grey, self.augment = spec, size, render, grey, augment
        self.edit, self.pairs, self.render_size, self.appearance, self.name = edit, pairs, render_size, appearance, name
        self._source = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_source"] = None
        return d

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def _faces(self, idx: np.ndarray, edit: ExpressionEdit):
        from datamodules.datasets.render_identity import augment_seed, augment_u8
        from facebench.render.source import RenderSource

        if self._source is None:
            self._source = RenderSource.from_settings(self.spec, self.render_size, "aligned", self.render)
        r = self._source.render(idx, factor_edit=edit)
        u8 = r.images_u8()
        if self.appearance != "none":
            u8 = augment_u8(u8, [augment_seed(self.spec.seed, i) for i in idx], self.appearance)
        return u8, r.expression.cpu().numpy()

    def __getitems__(self, indices):
        idx = np.asarray(indices, np.int64)
        faces, labels = self._faces(idx, self.edit)
        neutral = self._faces(idx, dataclasses.replace(self.edit, neutral=True))[0] if self.pairs else None
        out = []
        for j, i in enumerate(idx):
            group = [faces[j]] + ([neutral[j]] if neutral is not None else [])
            if self.augment:
                group = augment_faces(group, int(np.random.default_rng([self.spec.seed, 20, int(i)]).integers(2 ** 31)))
            xs = [to_input(g, self.size, self.grey) for g in group]
            label = torch.tensor(int(labels[j]))
            out.append(ExpressionPairBatch(xs[0], xs[1], label, int(i)) if self.pairs
                       else ExpressionBatch(xs[0], label, int(i)))
        return out


class ExpressionSetDataset(Dataset):
    """Faces of an expression set on disk. ``folds`` > 0 selects a subject-disjoint fold: ``fold_role='val'``
    keeps the subjects of fold ``fold``, 'train' the others. ``pairs``: the set's (expressive, neutral) pairs
    of one subject (CK+ sequences, JAFFE) as :class:`ExpressionPairBatch` items."""

    def __init__(self, path: str, split: str, size: int, grey: bool = False, augment: bool = False, seed: int = 0,
                 folds: int = 0, fold: int = 0, fold_role: str = "val", pairs: bool = False, **reader_kwargs):
        self.set = open_expression_set(path, split, **reader_kwargs)
        self.size, self.grey, self.augment, self.seed, self.pairs = size, grey, augment, seed, pairs
        keep = list(range(len(self.set)))
        self.name = self.set.name
        if folds:
            if not 0 <= fold < folds:
                raise ConfigError(f"fold={fold} outside 0..{folds - 1}")
            which = subject_folds(self.set.subjects, folds)
            keep = [i for i in keep if (which[i] == fold) == (fold_role == "val")]
            self.name = f"{self.set.name}_fold{fold}of{folds}" + ("" if fold_role == "val" else "_train")
        if pairs:
            if not self.set.pairs:
                raise ConfigError(f"{path}: {self.set.kind} has no (expressive, neutral) pairs of one subject; real "
                                  "pairs come from CK+ sequences or JAFFE")
            kept = set(keep)
            self.index = [p for p in self.set.pairs if p[0] in kept]
        else:
            self.index = keep
        if not self.index:
            raise ConfigError(f"{path}: no samples left in {self.name}")

    @property
    def num_classes(self) -> int:
        return self.set.num_classes

    def __len__(self) -> int:
        return len(self.index)

    def subjects(self) -> list[str | None]:
        return [self.set.items[i if isinstance(i, int) else i[0]].subject for i in self.index]

    def __getitem__(self, k: int):
        entry = self.index[k]
        ids = list(entry) if self.pairs else [entry]
        samples = [self.set.sample(i) for i in ids]
        images = [s.image for s in samples]
        if self.augment:
            images = augment_faces(images, int(np.random.default_rng([self.seed, 20, int(k)]).integers(2 ** 31)))
        xs = [to_input(img, self.size, self.grey) for img in images]
        label = torch.tensor(samples[0].label)
        return ExpressionPairBatch(xs[0], xs[1], label, k) if self.pairs else ExpressionBatch(xs[0], label, k)
