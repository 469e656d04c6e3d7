"""The base of every facebench DataModule: render settings, validation-set names, loaders, and the hook
that renders training batches on the accelerator."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from facebench.errors import ConfigError
from datamodules.batches import IndexBatch
from datamodules.readers.images import DatasetError
from facebench.render.settings import RenderSettings

RENDER_ON = ("auto", "device", "worker")


def renders_on_device(render_on: str, trainer) -> bool:
    """Whether a DataModule renders its training batches on the accelerator: ``render_on='device'``, or
    'auto' with a trainer on a CUDA device (else in DataLoader workers)."""
    if render_on == "auto":
        return trainer is not None and trainer.strategy.root_device.type == "cuda"
    return render_on == "device"


def set_name(path: str) -> str:
    """The name a set on disk is logged under: a file's stem (lfw.bin -> lfw), a folder's name."""
    p = Path(path)
    return p.stem if p.suffix in (".bin", ".txt") else p.name


class FaceDataModule(pl.LightningDataModule):
    """Shared parts of the task DataModules. Subclasses build ``train_set`` and ``val_datasets`` (one
    validation dataloader each, named by ``val_set_names``) in ``setup`` and may render training batches on
    the accelerator by overriding :meth:`render_on_device`."""

    def __init__(self, batch_size: int, num_workers: int, render_on: str, head: str, ict_path: str | None,
                 supersample: int):
        super().__init__()
        if render_on not in RENDER_ON:
            raise ConfigError(f"render_on must be one of {RENDER_ON}, got {render_on!r}")
        if batch_size < 1 or num_workers < 0:
            raise ConfigError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size} and {num_workers}")
        self.render = RenderSettings(head=head, ict_path=ict_path, supersample=supersample)
        self.batch_size, self.num_workers, self.render_on = batch_size, num_workers, render_on
        self.val_set_names: list[str] = []

    def model_kwargs(self) -> dict:
        """Arguments of the model that depend on the data (e.g. the number of classes)."""
        return {}

    def _on_device(self) -> bool:
        return renders_on_device(self.render_on, self.trainer)

    def _loader(self, ds, shuffle: bool) -> DataLoader:
        if shuffle and len(ds) < self.batch_size:  # drop_last would leave no batch at all
            raise DatasetError(f"training set {getattr(ds, 'name', type(ds).__name__)}: {len(ds)} samples, fewer "
                               f"than one batch of {self.batch_size}: lower data.batch_size or use a larger set")
        return DataLoader(ds, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, drop_last=shuffle)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return [self._loader(ds, False) for ds in self.val_datasets]

    def render_on_device(self, batch: IndexBatch):
        """The typed training batch for the sample indices of ``batch`` (on the accelerator)."""
        raise NotImplementedError(f"{type(self).__name__} does not render on the device")

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training and isinstance(batch, IndexBatch):
            return self.render_on_device(batch)
        return batch
