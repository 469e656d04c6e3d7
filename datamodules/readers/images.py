"""Image decoding shared by the readers (OpenCV; RGB uint8 out), with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


from facebench.errors import DatasetError  # noqa: F401 - the one error type of bad input, re-exported here


def check_labelled(ds, report, what: str, where) -> list[int]:
    """Decode every sample of a labelled reader (``sample(i)`` -> (image, label), ``num_classes``),
    reporting undecodable images and labels outside [0, num_classes); returns the labels read.
    ``where(i)`` names sample i in messages."""
    labels = []
    for i in report.progress(range(len(ds)), what):
        try:
            _, lab = ds.sample(i)
        except DatasetError as e:
            report.problem(str(e))
            continue
        labels.append(lab)
        if ds.num_classes is not None and not 0 <= lab < ds.num_classes:
            report.problem(f"{where(i)}: label {lab} outside [0, {ds.num_classes})")
    return labels


def read_rgb(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_gray_exact(path: str | Path) -> np.ndarray:
    """Read a single-channel label map without any conversion."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"{path}: not a readable image")
    if img.ndim != 2:
        raise DatasetError(f"{path}: label map must be single-channel, got shape {img.shape}")
    return img


def decode_rgb(buf: bytes, where: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"{where}: image bytes do not decode")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_rgb(path: str | Path, img: np.ndarray, quality: int = 95) -> None:
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"{path}: could not write image")
