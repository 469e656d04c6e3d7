"""Render-source DataModules: samples rendered on the fly from a :class:`DatasetSpec`, or read from a
folder that ``python -m facebench.generate layout=identity_folders`` wrote.

The datasets are map-style and *virtual*: item i is rendered from ``(seed, i)``, so Lightning's
DistributedSampler shards them across ranks and every rank/worker count sees the same samples.
``__getitems__`` renders a whole batch at once inside a DataLoader worker (CPU). With
``render_on='device'`` the workers only pass indices and the batch is rendered on the accelerator in
``on_after_batch_transfer``.
"""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facebench.render.spec import DatasetSpec

HELD_OUT_OFFSET = 1_000_000  # identity ids of held-out verification sets start here


def normalise(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1], the insightface input convention."""
    return (img - 0.5) / 0.5


class _RenderBacked(Dataset):
    def __init__(self, spec: DatasetSpec, size: int, framing: str, render: dict, indices_only: bool,
                 augment: str = "none"):
        if augment not in ("none", "digiface"):
            raise ValueError(f"augment must be 'none' or 'digiface', got {augment!r}")
        self.spec, self.size, self.framing, self.render_kw = spec, size, framing, render
        self.indices_only, self.augment = indices_only, augment
        self._source = None

    def _images(self, indices) -> torch.Tensor:
        """Rendered (and optionally DigiFace-augmented) images in [-1, 1]."""
        r = self.source.render(indices)
        if self.augment == "none":
            return normalise(r.image)
        u8 = (r.image.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        # The augmentation seed is derived from the sample index, so it is as deterministic as the render.
        aug = _augment(u8, [(self.spec.seed * 1_000_003 + int(i)) % 2**31 for i in indices])
        return normalise(torch.from_numpy(aug).permute(0, 3, 1, 2).float() / 255)

    @property
    def source(self):
        if self._source is None:  # built lazily inside each worker process
            from facebench.render.source import RenderSource

            self._source = RenderSource(self.spec, self.size, self.framing, **self.render_kw)
        return self._source

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_source"] = None
        return d


class RenderIdentityDataset(_RenderBacked):
    """Item i -> (image (3, S, S) in [-1, 1], identity label in [0, width))."""

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, i: int):
        return self.__getitems__([i])[0]

    def __getitems__(self, indices):
        labels = self.spec.identity_of(np.asarray(indices)) - self.spec.identity_offset
        if self.indices_only:
            return [(int(i), int(k)) for i, k in zip(indices, labels)]
        img = self._images(indices)
        return [(img[j], int(labels[j])) for j in range(len(indices))]


def _augment(u8: np.ndarray, seeds) -> np.ndarray:
    from facebench.render.augment import augment_batch

    return augment_batch(u8, seeds)


def open_identity_set(path: str):
    """A labelled training set on disk: insightface RecordIO (train.rec/.idx) or identity folders."""
    from pathlib import Path

    from datamodules import recordio
    from datamodules.identity_folders import IdentityFolder

    return recordio.InsightfaceRec(path) if recordio.detect(Path(path)) else IdentityFolder(path)


class LabelledImageDataset(Dataset):
    """Item i of a set on disk -> (image (3, S, S) in [-1, 1], label); resized to S when needed."""

    def __init__(self, root: str, size: int, augment: str = "none", seed: int = 0):
        self.reader, self.size, self.augment, self.seed = open_identity_set(root), size, augment, seed

    @property
    def num_classes(self) -> int:
        return self.reader.num_classes

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int):
        import cv2

        img, label = self.reader.sample(i)
        if img.shape[:2] != (self.size, self.size):
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.augment == "digiface":
            img = _augment(img[None], [(self.seed * 1_000_003 + i) % 2**31])[0]
        return normalise(torch.from_numpy(img).permute(2, 0, 1).float() / 255), label


class RenderPairsDataset(_RenderBacked):
    """Verification pairs on held-out identities: pair p is genuine when p is even.

    Returns (image1, image2, issame, p). Pairs are drawn from ``default_rng([seed, 3, p])``.
    """

    def __init__(self, spec: DatasetSpec, n_pairs: int, size: int, framing: str, render: dict):
        super().__init__(spec, size, framing, render, indices_only=False)
        self.n_pairs = n_pairs
        starts = np.r_[0, np.cumsum(spec.depths())]
        a, b = np.zeros(n_pairs, np.int64), np.zeros(n_pairs, np.int64)
        for p in range(n_pairs):
            rng = np.random.default_rng([spec.seed, 3, p])
            if p % 2 == 0:
                k = rng.integers(spec.width)
                i, j = rng.choice(spec.depths()[k], 2, replace=False)
                a[p], b[p] = starts[k] + i, starts[k] + j
            else:
                k1, k2 = rng.choice(spec.width, 2, replace=False)
                a[p] = starts[k1] + rng.integers(spec.depths()[k1])
                b[p] = starts[k2] + rng.integers(spec.depths()[k2])
        self.a, self.b = a, b

    def __len__(self) -> int:
        return self.n_pairs

    def __getitem__(self, p: int):
        return self.__getitems__([p])[0]

    def __getitems__(self, ps):
        ps = np.asarray(ps)
        imgs = normalise(self.source.render(np.r_[self.a[ps], self.b[ps]]).image)
        n = len(ps)
        return [(imgs[j], imgs[n + j], bool(p % 2 == 0), int(p)) for j, p in enumerate(ps)]


class RenderRecognitionDataModule(pl.LightningDataModule):
    """Train on width x depth rendered identities (or on ``train_path``: identity folders such as those
    ``facebench.generate`` writes, or an insightface RecordIO folder); validate on held-out rendered pairs."""

    def __init__(self, width: int = 100, depth: int = 20, long_tail_alpha: float = 0.0, vary: str = "all",
                 seed: int = 0, size: int = 112, framing: str = "aligned", batch_size: int = 64,
                 num_workers: int = 2, val_identities: int = 100, val_pairs: int = 600,
                 head: str = "auto", ict_path: str | None = None, supersample: int = 2,
                 render_on: str = "auto", augment: str = "none", train_path: str | None = None,
                 val_sets: list[str] | None = None, val_render: bool = True):
        super().__init__()
        self.save_hyperparameters()
        self.train_spec = DatasetSpec(width=width, depth=depth, long_tail_alpha=long_tail_alpha, vary=vary, seed=seed)
        self.val_spec = DatasetSpec(width=val_identities, depth=10, vary="all", seed=seed + 7919,
                                    identity_offset=HELD_OUT_OFFSET)
        self.render_kw = {"head": head, "ict_path": ict_path, "supersample": supersample}
        self.val_paths = [str(p) for p in (val_sets or [])]
        if not val_render and not self.val_paths:
            raise ValueError("no validation set: keep val_render=true or give val_sets")
        self.val_set_names = (["render_heldout"] if val_render else []) + [self._set_name(p) for p in self.val_paths]
        self._folder = None
        if train_path:
            self._folder = LabelledImageDataset(train_path, size, augment, seed)

    @property
    def num_classes(self) -> int:
        return self._folder.num_classes if self._folder is not None else self.train_spec.width

    @staticmethod
    def _set_name(path: str) -> str:
        from pathlib import Path

        p = Path(path)
        return p.stem if p.suffix in (".bin", ".txt") else p.name

    def _on_device(self) -> bool:
        ro = self.hparams.render_on
        if ro == "auto":
            return self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return ro == "device"

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self._folder is not None:
            self.train_set = self._folder
        else:
            self.train_set = RenderIdentityDataset(self.train_spec, hp.size, hp.framing, self.render_kw,
                                                   self._on_device(), augment=hp.augment)
        from datamodules.verification import PairDataset, read_pairs

        self.val_datasets = [RenderPairsDataset(self.val_spec, hp.val_pairs, hp.size, hp.framing, self.render_kw)] \
            if hp.val_render else []
        self.val_datasets += [PairDataset(read_pairs(p), hp.size) for p in self.val_paths]

    def _loader(self, ds, shuffle: bool):
        hp = self.hparams
        return DataLoader(ds, batch_size=hp.batch_size, shuffle=shuffle, num_workers=hp.num_workers,
                          persistent_workers=hp.num_workers > 0, drop_last=shuffle)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return [self._loader(ds, False) for ds in self.val_datasets]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if (self.trainer is not None and self.trainer.training and self._folder is None and self._on_device()
                and batch[0].dim() == 1):
            from facebench.render.source import RenderSource

            if getattr(self, "_device_source", None) is None:
                self._device_source = RenderSource(self.train_spec, self.hparams.size, self.hparams.framing,
                                                   device=batch[0].device, **self.render_kw)
            idx, labels = batch
            img = self._device_source.render(idx.cpu().numpy(), chunk=len(idx)).image
            return normalise(img), labels
        return batch
