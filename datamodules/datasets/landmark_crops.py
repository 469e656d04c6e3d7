"""FAN crops of rendered faces (on the fly) or of any landmark set on disk.

Each sample is cropped as FAN does (box from the ground-truth landmarks, centre shifted up 0.12 h, side
200 (w + h) / 195, to 256 px), with training-time box noise (a fraction of the box size), rotation, scale,
horizontal flip with the left/right permutation (one affine warp), then colour jitter and blur
(albumentations), all drawn from ``default_rng([seed, 6, i])``. Items are :class:`datamodules.batches.LandmarkBatch` items. The render source's 70 points map to iBUG 68 by
:data:`facebench.labels.FS70_TO_IBUG68`; they are projections of 3D points, as 3D-FAN's labels.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import albumentations as A  # imported here, not in a worker: W&B's import hook fails in forked workers
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from facebench.errors import ConfigError, DatasetError
from facebench.labels import FS70_TO_IBUG68, IBUG68_FLIP, WFLW98_TO_IBUG68
from facebench.landmark_conventions import contour_to_2d, depth_in_pixels
from facebench.landmarks_ops import apply_affine, fan_crop_transform, flip_points, invert_affine, rescale_affine
from datamodules.batches import IndexBatch, LandmarkBatch
from datamodules.datasets.device_ops import jitter_on_device, warp_batch
from facebench.render.settings import RenderSettings
from facebench.render.spec import DatasetSpec

CROP, HEATMAP = 256, 64


@functools.lru_cache(maxsize=1)
def _photometric():
    """Colour jitter and blur of a training crop (the geometric part is the crop's own affine warp)."""
    return A.Compose([A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.0, p=1.0),
                      A.GaussianBlur(blur_limit=(3, 7), p=0.2)])


@dataclass
class CropPlan:
    """The geometric part of one FAN training crop: the affine ``M`` (2x3, image -> crop pixels), whether the
    crop is mirrored, and the generator left for the photometric draws."""

    M: np.ndarray
    flip: bool
    rng: np.random.Generator | None


def plan_crop(pts: np.ndarray, rng: np.random.Generator | None, box_noise: float = 0.0, rotation: float = 0.0,
              scale: float = 0.0, flip: bool = False) -> CropPlan:
    """Draw the crop geometry of one sample (box noise, scale, rotation, flip) from ``rng``."""
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    shift, s, ang, do_flip = (0.0, 0.0), 1.0, 0.0, False
    if rng is not None:
        shift = tuple(rng.uniform(-box_noise, box_noise, 2))
        s = (1 + rng.uniform(-box_noise, box_noise)) * (1 + rng.uniform(-scale, scale))
        ang = rng.uniform(-rotation, rotation)
        do_flip = flip and rng.uniform() < 0.5
    M = fan_crop_transform((x0, y0, x1, y1), CROP, s, shift)
    if ang:
        c = (CROP - 1) / 2
        R = cv2.getRotationMatrix2D((c, c), ang, 1.0)
        M = (np.vstack([R, [0, 0, 1]]) @ np.vstack([M, [0, 0, 1]]))[:2]
    return CropPlan(M, do_flip, rng)


def crop_labels(plan: CropPlan, pts: np.ndarray, depth: np.ndarray | None = None) -> tuple:
    """The label part of a :class:`LandmarkBatch` item: (points in heatmap pixels, points in image pixels,
    heatmap->image affine, depths in heatmap pixels or an empty tensor), for the crop ``plan``."""
    M, do_flip = plan.M, plan.flip
    Mh = rescale_affine(M, CROP, HEATMAP)
    if do_flip:
        ph = (flip_points(apply_affine(M, pts), CROP, IBUG68_FLIP) + 0.5) * HEATMAP / CROP - 0.5
    else:
        ph = apply_affine(Mh, pts)
    item = (torch.from_numpy(ph).float(), torch.from_numpy(pts.astype(np.float32)),
            torch.from_numpy(invert_affine(Mh)).float())
    if depth is None:
        return item + (torch.zeros(0),)
    zh = np.asarray(depth, np.float64) * np.sqrt(abs(np.linalg.det(Mh[:, :2])))
    if do_flip:
        zh = zh[list(IBUG68_FLIP)]
    return item + (torch.from_numpy(zh).float(),)


def crop_sample(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator | None, box_noise: float = 0.0,
                rotation: float = 0.0, scale: float = 0.0, flip: bool = False, colour: bool = True,
                face_px: int | None = None, depth: np.ndarray | None = None):
    """FAN crop of one image with optional augmentation; returns a :class:`LandmarkBatch` item.

    face_px (the resolution ablation): first downscale the image so that the face box's larger side is
    face_px pixels; ground truth is then expressed in the downscaled image (NME does not depend on scale).
    depth (N,) landmark depths in image pixels (2D-to-3D-FAN): the item's ``depth`` holds them in heatmap
    pixels (same scale as the heatmap x, y; permuted with the points under a flip); else it is empty.
    """
    if face_px:
        f = face_px / float((pts.max(0) - pts.min(0)).max())
        if f < 1:
            img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            pts = (pts + 0.5) * f - 0.5
            depth = None if depth is None else depth * f
    plan = plan_crop(pts, rng, box_noise, rotation, scale, flip)
    crop = cv2.warpAffine(img, plan.M, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if plan.flip:
        crop = crop[:, ::-1].copy()
    if rng is not None and colour:  # photometric: albumentations, seeded from this sample's generator
        pipeline = _photometric()
        pipeline.set_random_seed(int(rng.integers(2 ** 31)))
        crop = pipeline(image=np.ascontiguousarray(crop))["image"]
    x = (torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    return LandmarkBatch(x, *crop_labels(plan, pts, depth))


def crop_batch_on_device(img: torch.Tensor, plans: list[CropPlan], colour: bool = True) -> torch.Tensor:
    """FAN crops (B, 3, 256, 256) in [-1, 1] of images (B, 3, H, W) in [0, 1] on their own device: one
    batched bilinear warp (grid_sample, zero border, as cv2.warpAffine), mirroring, and the photometric
    jitter of :func:`_photometric` written in torch (brightness, contrast, saturation in [0.7, 1.3]; a
    Gaussian blur of size 3-7 with probability 0.2), drawn from each plan's generator.

    The photometric draws differ from the worker path's (albumentations seeds its own generator), so the
    two paths apply the same distribution of jitter, not the same jitter to a given sample."""
    B, dev = img.shape[0], img.device
    Minv = torch.from_numpy(np.stack([invert_affine(plan.M) for plan in plans])).float().to(dev)  # crop -> image
    crop = warp_batch(img, Minv, CROP)
    flip = torch.tensor([plan.flip for plan in plans], device=dev)
    crop = torch.where(flip.view(B, 1, 1, 1), crop.flip(-1), crop)
    if colour and all(plan.rng is not None for plan in plans):
        crop = jitter_on_device(crop, [plan.rng for plan in plans])
    return (crop - 0.5) / 0.5


class RenderLandmarkDataset(Dataset):
    """Rendered wild-framing faces; iBUG 68 landmarks in the ``convention`` "3d" (projections of 3D points,
    3D-FAN) or "2d" (jaw contour on the visible silhouette, 2D-FAN); with ``depth``, also each landmark's
    depth (2D-to-3D-FAN)."""

    def __init__(self, spec: DatasetSpec, size: int, render: RenderSettings, augment: dict | None, convention: str = "3d",
                 depth: bool = False, box_noise: float = 0.0, face_px: int | None = None, indices_only: bool = False):
        if convention not in ("2d", "3d"):
            raise ConfigError(f"convention must be '2d' or '3d', got {convention!r}")
        if indices_only and (box_noise or face_px):
            raise ConfigError("the on-device path serves training crops: box_noise / face_px are evaluation ablations")
        if not isinstance(render, RenderSettings):
            raise TypeError(f"render must be RenderSettings, got {type(render).__name__}")
        self.spec, self.size, self.render, self.augment = spec, size, render, augment
        self.convention, self.depth = convention, depth
        self.box_noise, self.face_px = box_noise, face_px  # evaluation-time ablations (without augment)
        self.indices_only = indices_only  # workers pass indices; render_batch renders on the accelerator
        self._source = None
        self._device_source = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_source"] = d["_device_source"] = None
        return d

    def _labels(self, r, j: int):
        """(points (68, 2) float64 in the convention, depths or None) of sample j of a render on the CPU."""
        pts = r["pts"][j]
        z = depth_in_pixels(pts, r["p3"][j]) if self.depth else None
        p = contour_to_2d(pts, r["vis"][j], r["seg"][j]) if self.convention == "2d" else pts
        return p.astype(np.float64), z

    @staticmethod
    def _host_labels(r, need_seg: bool) -> dict:
        return {"pts": r.ldmk2d.cpu().numpy()[:, FS70_TO_IBUG68], "vis": r.ldmk_visible.cpu().numpy()[:, FS70_TO_IBUG68],
                "p3": r.ldmk3d.cpu().numpy()[:, FS70_TO_IBUG68], "seg": r.seg.cpu().numpy() if need_seg else None}

    def render_batch(self, indices: torch.Tensor) -> LandmarkBatch:
        """The training batch of ``indices`` rendered, cropped and augmented on ``indices.device`` (the
        stacked items of :meth:`__getitems__`, on that device). Crop geometry and labels are drawn from the
        same generators as the worker path, so they match it exactly (see crop_batch_on_device for colour)."""
        from facebench.render.source import RenderSource

        dev = indices.device
        if self._device_source is None:
            self._device_source = RenderSource.from_settings(self.spec, self.size, "wild", self.render, device=dev)
        idx = indices.cpu().numpy()
        r = self._device_source.render(idx, chunk=len(idx))
        host = self._host_labels(r, self.convention == "2d")
        aug = dict(self.augment or {})
        colour = aug.pop("colour", True)
        plans, labels = [], []
        for j, i in enumerate(idx):
            p, z = self._labels(host, j)
            rng = np.random.default_rng([self.spec.seed, 6, int(i)]) if self.augment else None
            plan = plan_crop(p, rng, **aug)
            plans.append(plan)
            labels.append(crop_labels(plan, p, z))
        x = crop_batch_on_device(r.image, plans, colour=colour and bool(self.augment))
        return LandmarkBatch(x, *(torch.stack(col).to(dev) for col in zip(*labels)), index=indices)

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, indices):
        from facebench.render.source import RenderSource

        if self.indices_only:
            return [IndexBatch(int(i)) for i in indices]
        if self._source is None:
            self._source = RenderSource.from_settings(self.spec, self.size, "wild", self.render)
        r = self._source.render(np.asarray(indices))
        imgs = r.images_u8()
        host = self._host_labels(r, self.convention == "2d")
        out = []
        for j, i in enumerate(indices):
            p, z = self._labels(host, j)
            if self.augment:
                rng = np.random.default_rng([self.spec.seed, 6, int(i)])
                out.append(crop_sample(imgs[j], p, rng, depth=z, **self.augment)._replace(index=int(i)))
            else:
                rng = np.random.default_rng([self.spec.seed, 7, int(i)]) if self.box_noise else None
                out.append(crop_sample(imgs[j], p, rng, box_noise=self.box_noise, colour=False, face_px=self.face_px,
                                       depth=z)._replace(index=int(i)))
        return out

    def yaw(self, i: int) -> float:
        """Head yaw of sample i in degrees (from the factors; nothing is rendered)."""
        return self.yaws([i])[0]

    def yaws(self, indices) -> list[float]:
        """Head yaws (degrees) of samples ``indices``, drawn in one batch."""
        from facebench.render.source import RenderSource

        if self._source is None:
            self._source = RenderSource.from_settings(self.spec, self.size, "wild", self.render)
        return self._source.factors(np.asarray(indices, np.int64)).pose[:, 0].tolist()


def _meta_yaw(path: Path) -> float:
    return float(json.loads(path.read_text())["pose_yaw_pitch_roll_deg"][0])


class LandmarkSetDataset(Dataset):
    """A landmark set on disk (300-W .pts folder, AFLW2000-3D folder, WFLW list, FaceSynthetics folder) ->
    iBUG 68 points (WFLW's 98 and FaceSynthetics' 70 through their index tables).

    ``convention`` applies to FaceSynthetics-layout folders, whose landmarks are projections of 3D points
    ("3d", as stored; "2d" moves the hidden jaw points to the silhouette, which needs the ``_meta.json``
    visibility our generator writes). Other sets keep the labels their annotators defined. ``depth``
    (2D-to-3D-FAN targets) needs the meta's 3D landmarks; asking it of another set is an error.
    """

    def __init__(self, path: str, augment: dict | None = None, seed: int = 0, box_noise: float = 0.0,
                 face_px: int | None = None, convention: str = "3d", depth: bool = False):
        from datamodules.readers.facesynthetics import FaceSyntheticsFolder
        from datamodules.readers.formats import detect_format
        from datamodules.readers.images import read_rgb
        from datamodules.readers.landmark_sets import PtsFolder, read_aflw2000, read_wflw_list

        p = Path(path)
        fmt = detect_format(p)
        name = fmt.name if fmt else None
        if convention not in ("2d", "3d"):
            raise ConfigError(f"convention must be '2d' or '3d', got {convention!r}")
        self.convention, self.depth = convention, depth
        if name == "pts_landmarks":
            ds = PtsFolder(p)
            self._get = lambda i: (lambda s: (s.image, s.points, None))(ds.sample(i))  # noqa: E731
            self._n = len(ds)
        elif name == "aflw2000_3d":
            mats = sorted(p.glob("*.mat"))
            self._get = lambda i: (lambda s: (s.image, s.points, None))(read_aflw2000(mats[i]))  # noqa: E731
            self._n = len(mats)
            self.yaw = lambda i: read_aflw2000(mats[i]).meta["yaw_deg"]  # noqa: E731
        elif name == "wflw_list":
            rows = read_wflw_list(p)
            table = list(WFLW98_TO_IBUG68)
            self._get = lambda i: (read_rgb(rows[i][0]), rows[i][1][table], None)  # noqa: E731
            self._n = len(rows)
            self.attributes = lambda i: rows[i][3]  # noqa: E731
        elif name == "facesynthetics":
            ds = FaceSyntheticsFolder(p)
            self._get = lambda i: (lambda s: (s["image"], s["ldmks"][FS70_TO_IBUG68], s))(ds.sample(i))  # noqa: E731
            self._n = len(ds)
            if ds.paths(0)["meta"].is_file():  # a facebench-generated folder: yaw from the meta alone
                self.yaw = lambda i: _meta_yaw(ds.paths(i)["meta"])  # noqa: E731
            self._paths = ds.paths
        else:
            raise DatasetError(f"{path}: not a landmark set this DataModule reads (.pts folder, AFLW2000-3D, "
                             f"WFLW list, FaceSynthetics); detected {name}")
        if name != "facesynthetics":
            self.convention = "annotated"  # the set's own labels, whatever was asked
        if depth and name != "facesynthetics":
            raise ConfigError(f"{path}: depth targets need 3D landmarks in the render's frame, which only a "
                             f"facebench-generated FaceSynthetics-layout folder carries ({name} does not)")
        self.augment, self.seed, self.name = augment, seed, p.name
        self.box_noise, self.face_px = box_noise, face_px  # evaluation-time ablations (no augmentation)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        img, pts, sample = self._get(i)
        if pts.shape[0] != 68:
            raise DatasetError(f"{self.name} sample {i}: {pts.shape[0]} points; map it to iBUG 68 with a table first")
        pts, z = pts.astype(np.float64), None
        if sample is not None and (self.convention == "2d" or self.depth):
            meta = sample.get("meta")
            if meta is None or "landmarks_visible" not in meta or "landmarks_3d_m" not in meta:
                raise DatasetError(f"{self._paths(i)['meta']}: missing or without landmarks_visible / landmarks_3d_m "
                                 f"(needed for convention=2d or depth)")
            if self.depth:
                z = depth_in_pixels(pts, np.asarray(meta["landmarks_3d_m"], np.float64)[FS70_TO_IBUG68])
            if self.convention == "2d":
                vis = np.asarray(meta["landmarks_visible"], bool)[FS70_TO_IBUG68]
                pts = contour_to_2d(pts, vis, sample["seg"])
        if self.augment:
            return crop_sample(img, pts, np.random.default_rng([self.seed, 6, i]), depth=z, **self.augment)._replace(index=i)
        rng = np.random.default_rng([self.seed, 7, i]) if self.box_noise else None
        return crop_sample(img, pts, rng, box_noise=self.box_noise, colour=False, face_px=self.face_px,
                           depth=z)._replace(index=i)
