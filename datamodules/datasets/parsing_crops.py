"""Face-parsing crops of rendered faces (on the fly) or of a parsing set on disk.

The crop is square around the face: from the landmarks where the set gives them (the box of the points,
centre moved up 0.12 of its height as FAN's crop, side ``crop_scale`` x its larger side), else from the
ground-truth face parts (every class but background, hair and the classes below the face; sets without
landmarks give no other box), else the whole image (CelebAMask-HQ's aligned faces). Training crops add
scale / shift / rotation jitter and a horizontal flip that swaps the left/right classes (one affine warp:
bilinear for the image, nearest for the labels, 255 outside the image), then colour jitter; all drawn from
``default_rng([seed, 19, i])``. Items are :class:`datamodules.batches.ParsingBatch` items.
"""
from __future__ import annotations

import functools

import albumentations as A  # imported here, not in a worker: W&B's import hook fails in forked workers
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.batches import IndexBatch, ParsingBatch
from datamodules.datasets.device_ops import jitter_on_device, warp_batch
from datamodules.readers.parsing_sets import ParsingSample, open_parsing_set
from facebench.errors import ConfigError
from facebench.landmarks_ops import invert_affine
from facebench.parsing_classes import FACESYNTHETICS19, IGNORE, ClassMapping, ClassSet
from facebench.render.settings import RenderSettings
from facebench.render.spec import DatasetSpec

AUGMENT_KEYS = ("scale", "shift", "rotation", "flip")
# Classes that do not outline the face, left out of the part box (names across the class sets).
_NOT_FACE = {"background", "hair", "neck", "neck_l", "cloth", "clothing", "hat", "headwear", "ear_r"}


@functools.lru_cache(maxsize=1)
def _photometric():
    return A.Compose([A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.0, p=1.0),
                      A.GaussianBlur(blur_limit=(3, 7), p=0.2)])


def face_box(sample: ParsingSample, classes: ClassSet) -> tuple[np.ndarray | None, bool]:
    """(x0, y0, x1, y1) of the face in image pixels and whether it came from landmarks; None: use the image."""
    if sample.points is not None:
        p = sample.points
        return np.array([*p.min(0), *p.max(0)], np.float64), True
    face = np.isin(sample.label, [i for i, c in enumerate(classes.classes) if c not in _NOT_FACE])
    if face.any():
        ys, xs = np.nonzero(face)
        return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float64), False
    return None, False


def plan_parsing_crop(box: np.ndarray | None, from_points: bool, image_hw: tuple[int, int], size: int,
                      crop_scale: float, rng: np.random.Generator | None, augment: dict | None) -> tuple[np.ndarray, bool]:
    """(M 2x3 image -> crop pixels, mirrored?) of one crop; jitter drawn from ``rng`` when ``augment``."""
    if box is None:  # the whole image, already a face crop
        h, w = image_hw
        cx, cy, side = (w - 1) / 2, (h - 1) / 2, float(max(h, w))
    else:
        x0, y0, x1, y1 = box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - (0.12 * (y1 - y0) if from_points else 0.0)
        side = crop_scale * max(x1 - x0, y1 - y0, 1.0)
    ang, flip = 0.0, False
    if rng is not None and augment:
        side *= 1 + rng.uniform(-augment.get("scale", 0), augment.get("scale", 0))
        dx, dy = rng.uniform(-augment.get("shift", 0), augment.get("shift", 0), 2) * side
        cx, cy = cx + dx, cy + dy
        ang = rng.uniform(-augment.get("rotation", 0), augment.get("rotation", 0))
        flip = bool(augment.get("flip", False)) and rng.uniform() < 0.5
    s = size / side
    c = (size - 1) / 2
    R = cv2.getRotationMatrix2D((0.0, 0.0), ang, s)  # rotate + scale about the face centre
    M = np.hstack([R[:, :2], (np.array([c, c]) - R[:, :2] @ np.array([cx, cy]))[:, None]])
    if flip:  # mirror inside the crop: x -> size - 1 - x
        M = np.array([[-1, 0, size - 1], [0, 1, 0]], np.float64) @ np.vstack([M, [0, 0, 1]])
    return M, flip


def crop_parsing(sample: ParsingSample, classes: ClassSet, size: int, crop_scale: float,
                 rng: np.random.Generator | None = None, augment: dict | None = None,
                 relabel: ClassMapping | None = None) -> ParsingBatch:
    """One :class:`ParsingBatch` item of a sample labelled in ``classes``. ``relabel``: a class table applied
    to the labels first (a set shown in another class set, e.g. renders labelled as Helen for the stand-in)."""
    label = sample.label if relabel is None else relabel.labels(sample.label)
    label_classes = classes if relabel is None else relabel.target
    box, from_points = face_box(sample, classes)
    M, flip = plan_parsing_crop(box, from_points, sample.image.shape[:2], size, crop_scale, rng, augment)
    img = cv2.warpAffine(sample.image, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    lab = cv2.warpAffine(label, M, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=IGNORE)
    if flip:
        lab = label_classes.flip_lut()[lab]
    if rng is not None and augment:
        pipeline = _photometric()
        pipeline.set_random_seed(int(rng.integers(2 ** 31)))
        img = pipeline(image=np.ascontiguousarray(img))["image"]
    x = (torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    return ParsingBatch(x, torch.from_numpy(lab.astype(np.int64)), torch.from_numpy(invert_affine(M)).float())


class ParsingSetDataset(Dataset):
    """Crops of a parsing set on disk (:func:`datamodules.readers.parsing_sets.open_parsing_set`), labelled in
    its own class set (``classes``)."""

    def __init__(self, path: str, split: str, size: int, crop_scale: float = 1.5, augment: dict | None = None,
                 seed: int = 0):
        self.reader = open_parsing_set(path, split)
        self.classes, self.name = self.reader.classes, self.reader.name
        self.size, self.crop_scale, self.augment, self.seed = size, crop_scale, augment, seed

    def __len__(self) -> int:
        return len(self.reader)

    def original(self, i: int) -> ParsingSample:
        """Sample i as stored (image and label map at the original resolution)."""
        return self.reader.sample(i)

    def __getitem__(self, i: int) -> ParsingBatch:
        rng = np.random.default_rng([self.seed, 19, int(i)]) if self.augment else None
        return crop_parsing(self.reader.sample(i), self.classes, self.size, self.crop_scale, rng,
                            self.augment)._replace(index=int(i))


class RenderParsingDataset(Dataset):
    """Rendered wild-framing faces with their FaceSynthetics labels, cropped from the 68 landmarks; with
    ``mapping``, labelled in another class set through that table (the stand-in for a real set)."""

    def __init__(self, spec: DatasetSpec, render_size: int, size: int, render: RenderSettings,
                 augment: dict | None = None, crop_scale: float = 1.5, mapping: ClassMapping | None = None,
                 indices_only: bool = False, name: str = "render"):
        if not isinstance(render, RenderSettings):
            raise TypeError(f"render must be RenderSettings, got {type(render).__name__}")
        if mapping is not None and mapping.source.name != FACESYNTHETICS19.name:
            raise ConfigError(f"renders are labelled in {FACESYNTHETICS19.name}; a table from {mapping.source.name} "
                              "cannot relabel them")
        self.spec, self.render_size, self.size, self.render = spec, render_size, size, render
        self.augment, self.crop_scale, self.mapping = augment, crop_scale, mapping
        self.classes = mapping.target if mapping is not None else FACESYNTHETICS19
        self.indices_only, self.name = indices_only, name
        self._relabel = None if mapping is None else mapping.labels(np.arange(256, dtype=np.uint8))
        self._source = self._device_source = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_source"] = d["_device_source"] = None
        return d

    def __len__(self) -> int:
        return len(self.spec)

    def _rng(self, i: int):
        return np.random.default_rng([self.spec.seed, 19, int(i)]) if self.augment else None

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, indices):
        from facebench.render.source import RenderSource

        if self.indices_only:
            return [IndexBatch(int(i)) for i in indices]
        if self._source is None:
            self._source = RenderSource.from_settings(self.spec, self.render_size, "wild", self.render)
        r = self._source.render(np.asarray(indices))
        imgs, segs, pts = r.images_u8(), r.seg.cpu().numpy(), r.ldmk2d.cpu().numpy()[:, :68]
        return [crop_parsing(ParsingSample(imgs[j], segs[j], pts[j].astype(np.float64), f"render {i}"),
                             FACESYNTHETICS19, self.size, self.crop_scale, self._rng(i), self.augment,
                             self.mapping)._replace(index=int(i))
                for j, i in enumerate(indices)]

    def original(self, i: int) -> ParsingSample:
        """Rendered sample i before cropping (labels in :attr:`classes`)."""
        from facebench.render.source import RenderSource

        if self._source is None:
            self._source = RenderSource.from_settings(self.spec, self.render_size, "wild", self.render)
        r = self._source.render(np.asarray([i]))
        seg = r.seg[0].cpu().numpy()
        return ParsingSample(r.images_u8()[0], seg if self.mapping is None else self.mapping.labels(seg),
                             r.ldmk2d[0].cpu().numpy()[:68].astype(np.float64), f"render {i}")

    def render_batch(self, indices: torch.Tensor) -> ParsingBatch:
        """The training batch of ``indices`` rendered, cropped and augmented on ``indices.device``: the same
        crop geometry and labels as the worker path (same generators); the colour jitter is the torch
        version (same distribution, other draws)."""
        from facebench.render.source import RenderSource

        dev = indices.device
        if self._device_source is None:
            self._device_source = RenderSource.from_settings(self.spec, self.render_size, "wild", self.render,
                                                             device=dev)
        idx = indices.cpu().numpy()
        r = self._device_source.render(idx, chunk=len(idx))
        segs, pts = r.seg.cpu().numpy(), r.ldmk2d.cpu().numpy()[:, :68]
        Ms, rngs, flips = [], [], []
        for j, i in enumerate(idx):
            s = ParsingSample(np.zeros((1, 1, 3), np.uint8), segs[j], pts[j].astype(np.float64), "")
            box, from_points = face_box(s, FACESYNTHETICS19)
            rng = self._rng(i)
            M, flip = plan_parsing_crop(box, from_points, segs[j].shape, self.size, self.crop_scale, rng, self.augment)
            Ms.append(invert_affine(M))
            rngs.append(rng)
            flips.append(flip)
        Minv = torch.from_numpy(np.stack(Ms)).float().to(dev)
        x = warp_batch(r.image, Minv, self.size)
        seg = r.seg.to(dev).long()
        if self._relabel is not None:
            seg = torch.from_numpy(self._relabel).to(dev).long()[seg]
        # Nearest sampling of label + 1 so that the zero border becomes 255 (unlabelled) after the shift back.
        lab = warp_batch((seg + 1).float()[:, None], Minv, self.size, mode="nearest")[:, 0].long() - 1
        lab[lab < 0] = IGNORE
        flipped = torch.tensor(flips, device=dev)
        if flipped.any():
            lut = torch.from_numpy(self.classes.flip_lut()).to(dev).long()
            lab = torch.where(flipped.view(-1, 1, 1), lut[lab], lab)
        if self.augment:
            x = jitter_on_device(x, rngs)
        return ParsingBatch((x - 0.5) / 0.5, lab, Minv, indices)
