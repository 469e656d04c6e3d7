"""Generated faces on the fly for recognition training: a width x depth spec served by a generated source
(Vec2Face or the GAN, :func:`facebench.sources.generated.open_generator_source`) in DataLoader workers, or on
the accelerator (``indices_only``: the workers pass indices and the DataModule generates the batch on the
device). Identity Mixup happens in the generator's identity space (each source's ``training_images``), with
SynFace's mixed label and the same draws as the render source's Identity Mixup."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.batches import IdentityBatch, IndexBatch
from facebench.render.spec import DatasetSpec


class GeneratedIdentityDataset(Dataset):
    """Item i -> :class:`IdentityBatch` item (a generated 112x112 face in [-1, 1], its identity label).
    ``options``: the source's settings (threshold, reference_features, sigmas, shares, attribute_scale)."""

    def __init__(self, spec: DatasetSpec, checkpoint: str, identity_mixup: float = 0.0, indices_only: bool = False,
                 kind: str = "auto", **options):
        self.spec, self.checkpoint, self.kind, self.options = spec, checkpoint, kind, options
        self.identity_mixup, self.indices_only = identity_mixup, indices_only
        self._sources: dict[str, object] = {}
        self.name = "generated"

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_sources"] = {}  # each worker opens the generator itself
        return d

    @property
    def num_classes(self) -> int:
        return self.spec.width

    def __len__(self) -> int:
        return len(self.spec)

    def source(self, device="cpu"):
        from facebench.sources.generated import open_generator_source

        key = str(device)
        if key not in self._sources:  # built lazily in each worker / on the accelerator
            self._sources[key] = open_generator_source(self.checkpoint, self.spec, device, self.kind, **self.options)
        return self._sources[key]

    def generate(self, indices, device="cpu") -> IdentityBatch:
        """The training batch of ``indices`` generated on ``device``."""
        from facebench.methods.mixup import mixup_draws

        idx = np.asarray(indices, np.int64)
        labels = self.spec.identity_of(idx) - self.spec.identity_offset
        partner, r, mixed = mixup_draws(self.spec.seed, idx, labels, self.spec.width, self.identity_mixup)
        img = self.source(device).training_images(idx, partner, r, mixed)
        dev = img.device
        return IdentityBatch(img, torch.as_tensor(labels, device=dev), torch.as_tensor(partner, device=dev),
                             torch.as_tensor(r, device=dev))

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, indices):
        if self.indices_only:
            return [IndexBatch(int(i)) for i in indices]
        b = self.generate(indices)
        return [IdentityBatch(b.image[j], int(b.label[j]), int(b.partner[j]), float(b.weight[j]))
                for j in range(len(indices))]

    def render_batch(self, index: torch.Tensor, source=None) -> IdentityBatch:
        return self.generate(index.cpu().numpy(), index.device)
