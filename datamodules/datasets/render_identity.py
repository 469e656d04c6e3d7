"""Render-backed recognition datasets: identities rendered on the fly from a :class:`DatasetSpec`.

The datasets are map-style and *virtual*: item i is rendered from ``(seed, i)``, so Lightning's
DistributedSampler shards them across ranks and every rank/worker count sees the same samples.
``__getitems__`` renders a whole batch at once inside a DataLoader worker (CPU); with ``indices_only``
the workers pass :class:`IndexBatch` items and the DataModule renders on the accelerator.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from facebench.errors import ConfigError
from datamodules.batches import IdentityBatch, IndexBatch, PairBatch
from facebench.render.settings import RenderSettings
from facebench.render.spec import DatasetSpec


def normalise(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1], the insightface input convention."""
    return (img - 0.5) / 0.5


def augment_u8(u8: np.ndarray, seeds, kind: str = "digiface") -> np.ndarray:
    """DigiFace-1M's augmentation (``digiface``; ``digiface+erasing`` adds RandomErasing) of uint8 images
    (B, H, W, 3), one seed per image."""
    from facebench.render.augment import augment_batch, digiface_augment

    return augment_batch(u8, seeds, digiface_augment(erasing=kind == "digiface+erasing"))


def augment_seed(seed: int, index: int) -> int:
    """The augmentation seed of sample ``index``: derived from the sample, so as deterministic as a render."""
    return (seed * 1_000_003 + int(index)) % 2**31


class RenderBacked(Dataset):
    """A dataset drawing from a :class:`RenderSource` built lazily in each worker process."""

    def __init__(self, spec: DatasetSpec, size: int, framing: str, render: RenderSettings, indices_only: bool,
                 augment: str = "none", identity_mixup: float = 0.0):
        from facebench.render.augment import AUGMENTATIONS

        if augment not in AUGMENTATIONS:
            raise ConfigError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
        if not isinstance(render, RenderSettings):
            raise TypeError(f"render must be RenderSettings, got {type(render).__name__}")
        self.spec, self.size, self.framing, self.render = spec, size, framing, render
        self.indices_only, self.augment, self.identity_mixup = indices_only, augment, identity_mixup
        self._source = None

    def _images(self, indices, identity_override=None) -> torch.Tensor:
        """Rendered (and optionally DigiFace-augmented) images in [-1, 1]."""
        r = self.source.render(indices, identity_override=identity_override)
        if self.augment == "none":
            return normalise(r.image)
        aug = augment_u8(r.images_u8(), [augment_seed(self.spec.seed, i) for i in indices], self.augment)
        return normalise(torch.from_numpy(aug).permute(0, 3, 1, 2).float() / 255)

    @property
    def source(self):
        if self._source is None:  # built lazily inside each worker process
            from facebench.render.source import RenderSource

            self._source = RenderSource.from_settings(self.spec, self.size, self.framing, self.render)
        return self._source

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_source"] = None
        return d


class RenderIdentityDataset(RenderBacked):
    """Item i -> :class:`IdentityBatch` item (image (3, S, S) in [-1, 1], label, partner, weight).

    Without Identity Mixup partner = label and weight = 1. With ``identity_mixup`` = p, a fraction p of the
    samples show a mixed identity (facebench.methods.mixup)."""

    def __len__(self) -> int:
        return len(self.spec)

    def __getitem__(self, i: int):
        return self.__getitems__([i])[0]

    @property
    def num_classes(self) -> int:
        return self.spec.width

    def plan(self, indices):
        """(labels, partner labels, r, identity override) of a batch of sample indices."""
        from facebench.methods.mixup import identity_mixup_plan
        from facebench.render.source import load_head

        labels = self.spec.identity_of(np.asarray(indices)) - self.spec.identity_offset
        num_shape = load_head(self.render.head, self.render.ict_path).num_identity
        partner, r, override = identity_mixup_plan(self.spec.seed, indices, labels, self.spec.width,
                                                   self.identity_mixup, num_shape, self.spec.identity_offset)
        return labels, partner, r, override

    def __getitems__(self, indices):
        if self.indices_only:  # rendered later on the accelerator (the DataModule's on_after_batch_transfer)
            return [IndexBatch(int(i)) for i in indices]
        labels, partner, r, override = self.plan(indices)
        img = self._images(indices, override)
        return [IdentityBatch(img[j], int(labels[j]), int(partner[j]), float(r[j])) for j in range(len(indices))]

    def render_batch(self, index: torch.Tensor, source) -> IdentityBatch:
        """The training batch of sample ``index`` (B,) rendered by ``source`` on ``index.device``."""
        idx = index.cpu().numpy()
        labels, partner, r, override = self.plan(idx)
        img = source.render(idx, chunk=len(idx), identity_override=override).image
        dev = index.device
        return IdentityBatch(normalise(img), torch.as_tensor(labels, device=dev),
                             torch.as_tensor(partner, device=dev), torch.as_tensor(r, device=dev))


class RenderPairsDataset(RenderBacked):
    """Verification pairs on held-out identities: pair p is genuine when p is even.

    Item p -> :class:`PairBatch` item. Pairs are drawn from ``default_rng([seed, 3, p])``.
    """

    def __init__(self, spec: DatasetSpec, n_pairs: int, size: int, framing: str, render: RenderSettings,
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
        return [PairBatch(imgs[j], imgs[n + j], bool(p % 2 == 0), int(p)) for j, p in enumerate(ps)]


class LabelOffset(Dataset):
    """An identity dataset with labels shifted by ``offset`` (real classes after synthetic ones)."""

    def __init__(self, ds, offset: int, num_classes: int):
        self.ds, self.offset, self.num_classes = ds, offset, num_classes

    def __len__(self) -> int:
        return len(self.ds)

    def __getitems__(self, indices):
        return [b._replace(label=b.label + self.offset, partner=b.partner + self.offset)
                for b in self.ds.__getitems__(indices)]

    def __getitem__(self, i):
        return self.__getitems__([i])[0]
