"""Reading checkpoints: weights only (``torch.load(weights_only=True)``), with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import torch

from datamodules.readers.images import DatasetError


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a Lightning checkpoint; no pickled object is executed."""
    return load_checkpoint(path)[0]


def read_checkpoint(path: str | Path):
    """The object stored in a checkpoint file, read with ``weights_only=True`` on the CPU; a missing, torn or
    refused file is a DatasetError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torn files, non-checkpoints, refused globals
        raise DatasetError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from e


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(``state_dict``, ``hyper_parameters``) of a Lightning checkpoint; no pickled object is executed."""
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise DatasetError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    return ckpt["state_dict"], dict(ckpt.get("hyper_parameters") or {})


def init_backbone_from(model: torch.nn.Module, path: str | Path) -> None:
    """Fine-tuning: copy another run's backbone into ``model.backbone`` (its classifier is not reused)."""
    state = load_state_dict(path)
    sub = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    if not sub:
        raise DatasetError(f"{path}: holds no backbone.* weights (not a recognition checkpoint)")
    try:
        model.backbone.load_state_dict(sub)
    except RuntimeError as e:
        raise DatasetError(f"{path}: its backbone does not fit this run's model ({str(e).splitlines()[0]})") from e
