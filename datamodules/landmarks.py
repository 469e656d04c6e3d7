"""Landmark DataModule: FAN crops of rendered faces (on the fly) or of any landmark set on disk.

Each sample is cropped as FAN does (box from the ground-truth landmarks, centre shifted up 0.12 h, side
200 (w + h) / 195, to 256 px), with training-time box noise (a fraction of the box size), rotation, scale,
horizontal flip with the left/right permutation (one affine warp), then colour jitter and blur
(albumentations), all drawn from ``default_rng([seed, 6, i])``. Items: (crop (3, 256, 256) in [-1, 1], points in heatmap pixels (N, 2), points in image pixels
(N, 2), heatmap->image affine (2, 3)). The render source's 70 points map to iBUG 68 by
:data:`facebench.labels.FS70_TO_IBUG68`; they are projections of 3D points, as 3D-FAN's labels.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facebench.labels import FS70_TO_IBUG68, IBUG68_FLIP, WFLW98_TO_IBUG68
from facebench.landmark_conventions import contour_to_2d, depth_in_pixels
from facebench.landmarks_ops import apply_affine, fan_crop_transform, flip_points, invert_affine, rescale_affine
from datamodules.render import HELD_OUT_OFFSET
from facebench.render.spec import DatasetSpec

CROP, HEATMAP = 256, 64


@functools.lru_cache(maxsize=1)
def _photometric():
    """Colour jitter and blur of a training crop (the geometric part is the crop's own affine warp)."""
    import albumentations as A

    return A.Compose([A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.0, p=1.0),
                      A.GaussianBlur(blur_limit=(3, 7), p=0.2)])


def crop_sample(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator | None, box_noise: float = 0.0,
                rotation: float = 0.0, scale: float = 0.0, flip: bool = False, colour: bool = True,
                face_px: int | None = None, depth: np.ndarray | None = None):
    """FAN crop of one image with optional augmentation; returns the 4-tuple item (numpy/torch).

    face_px (the resolution ablation): first downscale the image so that the face box's larger side is
    face_px pixels; ground truth is then expressed in the downscaled image (NME does not depend on scale).
    depth (N,) landmark depths in image pixels (2D-to-3D-FAN): the item gains a fifth entry, the depths
    in heatmap pixels (same scale as the heatmap x, y; permuted with the points under a flip).
    """
    if face_px:
        f = face_px / float((pts.max(0) - pts.min(0)).max())
        if f < 1:
            img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            pts = (pts + 0.5) * f - 0.5
            depth = None if depth is None else depth * f
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
    crop = cv2.warpAffine(img, M, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    pc = apply_affine(M, pts)
    if do_flip:
        crop = crop[:, ::-1].copy()
        pc = flip_points(pc, CROP, IBUG68_FLIP)
    if rng is not None and colour:  # photometric: albumentations, seeded from this sample's generator
        pipeline = _photometric()
        pipeline.set_random_seed(int(rng.integers(2 ** 31)))
        crop = pipeline(image=np.ascontiguousarray(crop))["image"]
    Mh = rescale_affine(M, CROP, HEATMAP)
    ph = apply_affine(Mh, pts) if not do_flip else (pc + 0.5) * HEATMAP / CROP - 0.5
    x = (torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    item = (x, torch.from_numpy(ph).float(), torch.from_numpy(pts.astype(np.float32)),
            torch.from_numpy(invert_affine(Mh)).float())
    if depth is None:
        return item
    zh = np.asarray(depth, np.float64) * np.sqrt(abs(np.linalg.det(Mh[:, :2])))
    if do_flip:
        zh = zh[list(IBUG68_FLIP)]
    return item + (torch.from_numpy(zh).float(),)


class RenderLandmarkDataset(Dataset):
    """Rendered wild-framing faces; iBUG 68 landmarks in the ``convention`` "3d" (projections of 3D points,
    3D-FAN) or "2d" (jaw contour on the visible silhouette, 2D-FAN); with ``depth``, also each landmark's
    depth (2D-to-3D-FAN)."""

    def __init__(self, spec: DatasetSpec, size: int, render: dict, augment: dict | None, convention: str = "3d",
                 depth: bool = False, box_noise: float = 0.0, face_px: int | None = None):
        if convention not in ("2d", "3d"):
            raise ValueError(f"convention must be '2d' or '3d', got {convention!r}")
        self.spec, self.size, self.render_kw, self.augment = spec, size, render, augment
        self.convention, self.depth = convention, depth
        self.box_noise, self.face_px = box_noise, face_px  # evaluation-time ablations (without augment)
        self._source = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_source"] = None
        return d

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, indices):
        from facebench.render.source import RenderSource

        if self._source is None:
            self._source = RenderSource(self.spec, self.size, "wild", **self.render_kw)
        r = self._source.render(np.asarray(indices))
        imgs = r.images_u8()
        pts = r.ldmk2d.numpy()[:, FS70_TO_IBUG68]
        vis, seg, p3 = r.ldmk_visible.numpy()[:, FS70_TO_IBUG68], r.seg.numpy(), r.ldmk3d.numpy()[:, FS70_TO_IBUG68]
        out = []
        for j, i in enumerate(indices):
            z = depth_in_pixels(pts[j], p3[j]) if self.depth else None
            p = (contour_to_2d(pts[j], vis[j], seg[j]) if self.convention == "2d" else pts[j]).astype(np.float64)
            if self.augment:
                rng = np.random.default_rng([self.spec.seed, 6, int(i)])
                out.append(crop_sample(imgs[j], p, rng, depth=z, **self.augment))
            else:
                rng = np.random.default_rng([self.spec.seed, 7, int(i)]) if self.box_noise else None
                out.append(crop_sample(imgs[j], p, rng, box_noise=self.box_noise, colour=False, face_px=self.face_px,
                                       depth=z))
        return out

    def yaw(self, i: int) -> float:
        """Head yaw of sample i in degrees (from the factors; nothing is rendered)."""
        return self.yaws([i])[0]

    def yaws(self, indices) -> list[float]:
        """Head yaws (degrees) of samples ``indices``, drawn in one batch."""
        from facebench.render.source import RenderSource

        if self._source is None:
            self._source = RenderSource(self.spec, self.size, "wild", **self.render_kw)
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
        from datamodules.facesynthetics import FaceSyntheticsFolder
        from datamodules.formats import detect_format
        from datamodules.images import read_rgb
        from datamodules.landmark_sets import PtsFolder, read_aflw2000, read_wflw_list

        p = Path(path)
        fmt = detect_format(p)
        name = fmt.name if fmt else None
        if convention not in ("2d", "3d"):
            raise ValueError(f"convention must be '2d' or '3d', got {convention!r}")
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
            raise ValueError(f"{path}: not a landmark set this DataModule reads (.pts folder, AFLW2000-3D, "
                             f"WFLW list, FaceSynthetics); detected {name}")
        if name != "facesynthetics":
            self.convention = "annotated"  # the set's own labels, whatever was asked
        if depth and name != "facesynthetics":
            raise ValueError(f"{path}: depth targets need 3D landmarks in the render's frame, which only a "
                             f"facebench-generated FaceSynthetics-layout folder carries ({name} does not)")
        self.augment, self.seed, self.name = augment, seed, p.name
        self.box_noise, self.face_px = box_noise, face_px  # evaluation-time ablations (no augmentation)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        img, pts, sample = self._get(i)
        if pts.shape[0] != 68:
            raise ValueError(f"{self.name} sample {i}: {pts.shape[0]} points; map it to iBUG 68 with a table first")
        pts, z = pts.astype(np.float64), None
        if sample is not None and (self.convention == "2d" or self.depth):
            meta = sample.get("meta")
            if meta is None or "landmarks_visible" not in meta or "landmarks_3d_m" not in meta:
                raise ValueError(f"{self._paths(i)['meta']}: missing or without landmarks_visible / landmarks_3d_m "
                                 f"(needed for convention=2d or depth)")
            if self.depth:
                z = depth_in_pixels(pts, np.asarray(meta["landmarks_3d_m"], np.float64)[FS70_TO_IBUG68])
            if self.convention == "2d":
                vis = np.asarray(meta["landmarks_visible"], bool)[FS70_TO_IBUG68]
                pts = contour_to_2d(pts, vis, sample["seg"])
        if self.augment:
            return crop_sample(img, pts, np.random.default_rng([self.seed, 6, i]), depth=z, **self.augment)
        rng = np.random.default_rng([self.seed, 7, i]) if self.box_noise else None
        return crop_sample(img, pts, rng, box_noise=self.box_noise, colour=False, face_px=self.face_px, depth=z)


class LandmarkDataModule(pl.LightningDataModule):
    """Train on rendered faces (or ``train_path``); validate on held-out renders and ``val_sets``."""

    def __init__(self, n_train: int = 10000, render_size: int = 256, seed: int = 0, batch_size: int = 16,
                 num_workers: int = 2, val_render: int = 200, val_sets: list[str] | None = None,
                 train_path: str | None = None, box_noise: float = 0.2, rotation: float = 30.0, scale: float = 0.3,
                 flip: bool = True, head: str = "auto", ict_path: str | None = None, supersample: int = 2,
                 convention: str = "3d", depth: bool = False):
        super().__init__()
        if depth and convention != "3d":
            raise ValueError("depth (2D-to-3D-FAN) pairs each depth with its 3D point's projection: use convention=3d")
        self.save_hyperparameters()
        self.augment = {"box_noise": box_noise, "rotation": rotation, "scale": scale, "flip": flip}
        self.render_kw = {"head": head, "ict_path": ict_path, "supersample": supersample}
        self.val_paths = [str(p) for p in (val_sets or [])]
        self.val_set_names = (["render_heldout"] if val_render else []) + [Path(p).name for p in self.val_paths]

    def model_kwargs(self) -> dict:
        return {}

    def setup(self, stage=None):
        hp = self.hparams
        if hp.train_path:
            self.train_set = LandmarkSetDataset(hp.train_path, self.augment, hp.seed, convention=hp.convention,
                                                depth=hp.depth)
        else:
            self.train_set = RenderLandmarkDataset(DatasetSpec(width=hp.n_train, depth=1, seed=hp.seed),
                                                   hp.render_size, self.render_kw, self.augment, hp.convention, hp.depth)
        self.val_datasets = []
        if hp.val_render:
            spec = DatasetSpec(width=hp.val_render, depth=1, seed=hp.seed + 7919, identity_offset=HELD_OUT_OFFSET)
            self.val_datasets.append(RenderLandmarkDataset(spec, hp.render_size, self.render_kw, None, hp.convention,
                                                           hp.depth))
        # Real sets keep their own labels; depth is validated on rendered data only.
        self.val_datasets += [LandmarkSetDataset(p, convention=hp.convention, depth=hp.depth) for p in self.val_paths]

    def _loader(self, ds, shuffle):
        hp = self.hparams
        return DataLoader(ds, batch_size=hp.batch_size, shuffle=shuffle, num_workers=hp.num_workers,
                          persistent_workers=hp.num_workers > 0, drop_last=shuffle)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return [self._loader(ds, False) for ds in self.val_datasets]
