"""Datasets over sets on disk, through the readers: labelled identity sets (identity folders, insightface
RecordIO, HSFace LMDB) and verification pair sets."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.batches import IdentityBatch, PairBatch
from datamodules.datasets.render_identity import augment_seed, augment_u8, normalise
from datamodules.readers.images import DatasetError


def open_identity_set(path: str):
    """A labelled training set on disk: insightface RecordIO (train.rec/.idx), HSFace LMDB or identity folders."""
    from datamodules.readers import hsface_lmdb, recordio
    from datamodules.readers.identity_folders import IdentityFolder

    if recordio.detect(Path(path)):
        return recordio.InsightfaceRec(path)
    if hsface_lmdb.detect(Path(path)):
        return hsface_lmdb.HSFaceLMDB(path)
    return IdentityFolder(path)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float (3, H, W) in [-1, 1]."""
    return normalise(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255)


class LabelledImageDataset(Dataset):
    """Item i of an identity set on disk -> :class:`IdentityBatch` item (unmixed), resized to S when needed.

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

    def __getitem__(self, i: int) -> IdentityBatch:
        j = int(self.keep[i])
        img, label = self.reader.sample(j)
        if img.shape[:2] != (self.size, self.size):
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.augment != "none":
            img = augment_u8(img[None], [augment_seed(self.seed, j)], self.augment)[0]
        y = label + self.label_offset
        return IdentityBatch(to_tensor(img), y, y, 1.0)


class PairDataset(Dataset):
    """Dataset over a :class:`datamodules.readers.verification.PairSet`: item i -> :class:`PairBatch` item.
    Images must already be aligned squares (as the .bin sets are); they are resized to S."""

    def __init__(self, pairs, size: int = 112):
        self.pairs, self.size = pairs, size

    def __len__(self) -> int:
        return len(self.pairs)

    def _prep(self, img: np.ndarray, k: int) -> torch.Tensor:
        h, w = img.shape[:2]
        if h != w:
            raise DatasetError(f"{self.pairs.name} image {k}: {w}x{h} is not an aligned square face crop; "
                               "verification needs the same 112x112 ArcFace alignment as training")
        if h != self.size:
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return to_tensor(img)

    def __getitem__(self, i: int) -> PairBatch:
        a, b, same = self.pairs.pair(i)
        return PairBatch(self._prep(a, 2 * i), self._prep(b, 2 * i + 1), same, i)
