"""Render-source DataModules: samples rendered on the fly from a :class:`DatasetSpec`, or read from a
folder that ``python -m facebench.generate layout=identity_folders`` wrote.

The datasets are map-style and *virtual*: item i is rendered from ``(seed, i)``, so Lightning's
DistributedSampler shards them across ranks and every rank/worker count sees the same samples.
``__getitems__`` renders a whole batch at once inside a DataLoader worker (CPU). With
``render_on='device'`` the workers only pass indices and the batch is rendered on the accelerator in
``on_after_batch_transfer``.
"""
from __future__ import annotations

import logging

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facebench.render.spec import DatasetSpec

HELD_OUT_OFFSET = 1_000_000  # identity ids of held-out verification sets start here
log = logging.getLogger(__name__)


def renders_on_device(render_on: str, trainer) -> bool:
    """Whether a DataModule renders its training batches on the accelerator: ``render_on='device'``, or
    'auto' with a trainer on a CUDA device (else in DataLoader workers)."""
    if render_on == "auto":
        return trainer is not None and trainer.strategy.root_device.type == "cuda"
    return render_on == "device"


def normalise(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1], the insightface input convention."""
    return (img - 0.5) / 0.5


class _RenderBacked(Dataset):
    def __init__(self, spec: DatasetSpec, size: int, framing: str, render: dict, indices_only: bool,
                 augment: str = "none", identity_mixup: float = 0.0):
        from facebench.render.augment import AUGMENTATIONS

        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
        self.spec, self.size, self.framing, self.render_kw = spec, size, framing, render
        self.indices_only, self.augment, self.identity_mixup = indices_only, augment, identity_mixup
        self._source = None

    def _images(self, indices, identity_override=None) -> torch.Tensor:
        """Rendered (and optionally DigiFace-augmented) images in [-1, 1]."""
        r = self.source.render(indices, identity_override=identity_override)
        if self.augment == "none":
            return normalise(r.image)
        u8 = r.images_u8()
        # The augmentation seed is derived from the sample index, so it is as deterministic as the render.
        aug = _augment(u8, [(self.spec.seed * 1_000_003 + int(i)) % 2**31 for i in indices], self.augment)
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
    """Item i -> (image (3, S, S) in [-1, 1], label, partner label, weight r of the label).

    Without Identity Mixup partner = label and r = 1. With ``identity_mixup`` = p, a fraction p of the
    samples show a mixed identity (facebench.methods.mixup)."""

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, i: int):
        return self.__getitems__([i])[0]

    def plan(self, indices):
        """(labels, partner labels, r, identity override) of a batch of sample indices."""
        from facebench.methods.mixup import identity_mixup_plan
        from facebench.render.source import load_head

        labels = self.spec.identity_of(np.asarray(indices)) - self.spec.identity_offset
        num_shape = load_head(self.render_kw.get("head", "auto"), self.render_kw.get("ict_path")).num_identity
        partner, r, override = identity_mixup_plan(self.spec.seed, indices, labels, self.spec.width,
                                                   self.identity_mixup, num_shape, self.spec.identity_offset)
        return labels, partner, r, override

    def __getitems__(self, indices):
        if self.indices_only:  # rendered later on the accelerator (RenderRecognitionDataModule)
            labels = self.spec.identity_of(np.asarray(indices)) - self.spec.identity_offset
            return [(int(i), int(k)) for i, k in zip(indices, labels)]
        labels, partner, r, override = self.plan(indices)
        img = self._images(indices, override)
        return [(img[j], int(labels[j]), int(partner[j]), float(r[j])) for j in range(len(indices))]


def _augment(u8: np.ndarray, seeds, kind: str = "digiface") -> np.ndarray:
    from facebench.render.augment import augment_batch, digiface_augment

    return augment_batch(u8, seeds, digiface_augment(erasing=kind == "digiface+erasing"))


def open_identity_set(path: str):
    """A labelled training set on disk: insightface RecordIO (train.rec/.idx), HSFace LMDB or identity folders."""
    from pathlib import Path

    from datamodules import hsface_lmdb, recordio
    from datamodules.identity_folders import IdentityFolder

    if recordio.detect(Path(path)):
        return recordio.InsightfaceRec(path)
    if hsface_lmdb.detect(Path(path)):
        return hsface_lmdb.HSFaceLMDB(path)
    return IdentityFolder(path)


class LabelledImageDataset(Dataset):
    """Item i of a set on disk -> (image (3, S, S) in [-1, 1], label, label, 1.0), the batch format of
    :class:`RenderIdentityDataset` without mixing; resized to S when needed.

    max_identities / max_depth keep the first identities / the first images of each identity (a width x
    depth sub-grid of one generated set); label_offset shifts labels (real classes after synthetic ones).
    """

    def __init__(self, root: str, size: int, augment: str = "none", seed: int = 0, label_offset: int = 0,
                 max_identities: int | None = None, max_depth: int | None = None):
        self.reader, self.size, self.augment, self.seed = open_identity_set(root), size, augment, seed
        self.label_offset = label_offset
        labels = np.array([self.reader.label(i) if hasattr(self.reader, "label") else self.reader.items[i][1]
                           for i in range(len(self.reader))]) if (max_identities or max_depth) else None
        self.keep = np.arange(len(self.reader))
        self._classes = self.reader.num_classes
        if labels is not None:
            ok = np.ones(len(labels), bool)
            if max_identities:
                ok &= labels < max_identities
                self._classes = min(self._classes, max_identities)
            if max_depth:
                order = np.argsort(labels, kind="stable")
                rank = np.empty(len(labels), np.int64)
                starts = np.searchsorted(labels[order], labels[order])
                rank[order] = np.arange(len(labels)) - starts
                ok &= rank < max_depth
            self.keep = np.nonzero(ok)[0]

    @property
    def num_classes(self) -> int:
        return self._classes

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, i: int):
        import cv2

        j = int(self.keep[i])
        img, label = self.reader.sample(j)
        if img.shape[:2] != (self.size, self.size):
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.augment != "none":
            img = _augment(img[None], [(self.seed * 1_000_003 + j) % 2**31], self.augment)[0]
        y = label + self.label_offset
        return normalise(torch.from_numpy(img).permute(2, 0, 1).float() / 255), y, y, 1.0


class RenderPairsDataset(_RenderBacked):
    """Verification pairs on held-out identities: pair p is genuine when p is even.

    Returns (image1, image2, issame, p). Pairs are drawn from ``default_rng([seed, 3, p])``.
    """

    def __init__(self, spec: DatasetSpec, n_pairs: int, size: int, framing: str, render: dict,
                 augment: str = "none"):
        super().__init__(spec, size, framing, render, indices_only=False, augment=augment)
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
        imgs = self._images(np.r_[self.a[ps], self.b[ps]])
        n = len(ps)
        return [(imgs[j], imgs[n + j], bool(p % 2 == 0), int(p)) for j, p in enumerate(ps)]


STANDIN = "standin"  # the value of a real-data path that asks for the labelled render stand-in
STANDIN_OFFSET = 2_000_000  # identity ids of the stand-in "real" identities


class RenderRecognitionDataModule(pl.LightningDataModule):
    """Recognition training data, synthetic (rendered on the fly, or ``train_path``: identity folders as
    ``facebench.generate`` writes them, or insightface RecordIO) and optionally real; verification on
    held-out rendered identities and on any ``val_sets`` (.bin files, pair lists).

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
                 real_depth: int = 10, val_standin: bool = False):
        super().__init__()
        self.save_hyperparameters()
        if real_use not in ("domain_mixup", "mixed", "only"):
            raise ValueError(f"real_use must be domain_mixup, mixed or only, got {real_use!r}")
        self.train_spec = DatasetSpec(width=width, depth=depth, long_tail_alpha=long_tail_alpha, vary=vary, seed=seed)
        self.val_spec = DatasetSpec(width=val_identities, depth=10, vary="all", seed=seed + 7919,
                                    identity_offset=HELD_OUT_OFFSET)
        self.render_kw = {"head": head, "ict_path": ict_path, "supersample": supersample}
        self.val_paths = [str(p) for p in (val_sets or [])]
        if not val_render and not self.val_paths:
            raise ValueError("no validation set: keep val_render=true or give val_sets")
        self.val_set_names = (["render_heldout"] if val_render else []) + (["standin"] if val_standin else []) \
            + [self._set_name(p) for p in self.val_paths]
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
                spec = DatasetSpec(width=real_width, depth=real_depth, vary="all", seed=seed + 104729,
                                   identity_offset=STANDIN_OFFSET)
                self.real_set = _Offset(RenderIdentityDataset(spec, size, framing, self.render_kw, False,
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
        """Arguments of the model that depend on the data."""
        return {"num_classes": self.num_classes}

    @property
    def real_name(self) -> str | None:
        rp = self.hparams.real_path
        return None if not rp else (STANDIN if rp == STANDIN else self._set_name(rp))

    @staticmethod
    def _set_name(path: str) -> str:
        from pathlib import Path

        p = Path(path)
        return p.stem if p.suffix in (".bin", ".txt") else p.name

    def _on_device(self) -> bool:
        return renders_on_device(self.hparams.render_on, self.trainer)

    def setup(self, stage: str | None = None) -> None:
        from torch.utils.data import ConcatDataset

        from datamodules.verification import PairDataset, read_pairs

        hp = self.hparams
        if self._folder is not None:
            syn = self._folder
        else:
            syn = RenderIdentityDataset(self.train_spec, hp.size, hp.framing, self.render_kw, self._on_device(),
                                        augment=hp.augment, identity_mixup=hp.identity_mixup)
        self.syn_set = syn
        self.train_set = {"only": self.real_set, "mixed": ConcatDataset([syn, self.real_set]) if self.real_set else syn,
                          "domain_mixup": syn}[hp.real_use] if self.real_set is not None else syn
        if self.real_set is not None and hp.real_use == "mixed" and self._on_device():
            raise ValueError("real_use=mixed renders in DataLoader workers: use render_on=worker")
        self.val_datasets = [RenderPairsDataset(self.val_spec, hp.val_pairs, hp.size, hp.framing, self.render_kw)] \
            if hp.val_render else []
        if hp.val_standin:  # the "real" test side when no real test set exists: held-out stand-in identities
            spec = DatasetSpec(width=hp.val_identities, depth=10, vary="all", seed=hp.seed + 104729 + 1,
                               identity_offset=STANDIN_OFFSET + HELD_OUT_OFFSET)
            self.val_datasets.append(RenderPairsDataset(spec, hp.val_pairs, hp.size, hp.framing, self.render_kw,
                                                        augment="digiface"))
        self.val_datasets += [PairDataset(read_pairs(p), hp.size) for p in self.val_paths]

    def _loader(self, ds, shuffle: bool):
        hp = self.hparams
        return DataLoader(ds, batch_size=hp.batch_size, shuffle=shuffle, num_workers=hp.num_workers,
                          persistent_workers=hp.num_workers > 0, drop_last=shuffle)

    def train_dataloader(self):
        if self.real_set is not None and self.hparams.real_use == "domain_mixup":
            # One synthetic and one real batch per step; the shorter loader cycles.
            return {"syn": self._loader(self.syn_set, True), "real": self._loader(self.real_set, True)}
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return [self._loader(ds, False) for ds in self.val_datasets]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, dict):
            return {k: self.on_after_batch_transfer(v, dataloader_idx) for k, v in batch.items()}
        if (self.trainer is not None and self.trainer.training and self._folder is None and self._on_device()
                and len(batch) == 2 and batch[0].dim() == 1):
            from facebench.render.source import RenderSource

            if getattr(self, "_device_source", None) is None:
                self._device_source = RenderSource(self.train_spec, self.hparams.size, self.hparams.framing,
                                                   device=batch[0].device, **self.render_kw)
            idx = batch[0].cpu().numpy()
            labels, partner, r, override = self.syn_set.plan(idx)
            img = self._device_source.render(idx, chunk=len(idx), identity_override=override).image
            dev = batch[0].device
            return (normalise(img), torch.as_tensor(labels, device=dev), torch.as_tensor(partner, device=dev),
                    torch.as_tensor(r, device=dev))
        return batch


class _Offset(Dataset):
    """A 4-tuple dataset with labels shifted by ``offset`` (real classes after synthetic ones)."""

    def __init__(self, ds, offset: int, num_classes: int):
        self.ds, self.offset, self.num_classes = ds, offset, num_classes

    def __len__(self) -> int:
        return len(self.ds)

    def __getitems__(self, indices):
        return [(x, y + self.offset, y2 + self.offset, r) for x, y, y2, r in self.ds.__getitems__(indices)]

    def __getitem__(self, i):
        return self.__getitems__([i])[0]
