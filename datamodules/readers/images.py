"""Image decoding shared by the readers (OpenCV; RGB uint8 out), with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".pgm", ".tif", ".tiff")


from facebench.errors import DatasetError  # noqa: F401 - the one error type of bad input, re-exported here


def check_labelled(ds, report, what: str, where) -> list[int | None]:
    """Decode every sample of a labelled reader (``sample(i)`` -> (image, label), ``num_classes``),
    reporting undecodable images and labels outside [0, num_classes); returns the label of each sample by
    index, None where the sample could not be read (so later checks stay aligned and add no follow-on
    errors). ``where(i)`` names sample i in messages."""
    labels: list[int | None] = []
    for i in report.progress(range(len(ds)), what):
        try:
            _, lab = ds.sample(i)
        except DatasetError as e:
            report.problem(str(e))
            labels.append(None)
            continue
        labels.append(lab)
        if ds.num_classes is not None and not 0 <= lab < ds.num_classes:
            report.problem(f"{where(i)}: label {lab} outside [0, {ds.num_classes})")
    return labels


def _complete(buf: bytes, where: str) -> None:
    """Refuse empty and truncated JPEG / PNG data. OpenCV decodes a truncated JPEG, filling the rest with grey
    (it only prints "Premature end of JPEG file", naming nothing), so completeness is checked on the bytes:
    a JPEG's last scan (SOS marker) must be followed by its end marker (EOI; inside entropy-coded data 0xFF
    is always stuffed, so EOI cannot occur by chance), and a PNG must hold its IEND chunk after the last IDAT."""
    if not buf:
        raise DatasetError(f"{where}: empty image (0 bytes)")
    if buf[:3] == b"\xff\xd8\xff":
        sos, eoi = buf.rfind(b"\xff\xda"), buf.rfind(b"\xff\xd9")
        if sos < 0 or eoi < sos:
            raise DatasetError(f"{where}: truncated JPEG (no end-of-image marker after the last scan)")
    elif buf[:8] == b"\x89PNG\r\n\x1a\n":
        if buf.rfind(b"IEND") < buf.rfind(b"IDAT"):
            raise DatasetError(f"{where}: truncated PNG (no IEND chunk after the image data)")


def _decode(buf: bytes, where: str, flags: int, what: str) -> np.ndarray:
    """Complete-and-decode of image bytes (``cv2.imdecode`` flags); ``what`` ends the undecodable message."""
    _complete(buf, where)
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), flags)
    if img is None:
        raise DatasetError(f"{where}: {what}")
    return img


def decode_rgb(buf: bytes, where: str) -> np.ndarray:
    """Decode image bytes to RGB uint8 (H, W, 3), refusing empty, truncated or undecodable data."""
    img = _decode(bytes(buf), where, cv2.IMREAD_COLOR, "image bytes do not decode")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def first_non_finite(points: np.ndarray) -> int | None:
    """Index of the first row of ``points`` (N, D) holding a NaN or infinity, None when all are finite."""
    bad = ~np.isfinite(points).all(1)
    return int(np.argmax(bad)) if bad.any() else None


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror or e})") from None


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file fully (truncation is an error) as RGB uint8 (H, W, 3)."""
    img = _decode(_read_bytes(path), str(path), cv2.IMREAD_COLOR, "not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_gray_exact(path: str | Path) -> np.ndarray:
    """Read a single-channel label map without any conversion (truncation is an error)."""
    img = _decode(_read_bytes(path), str(path), cv2.IMREAD_UNCHANGED, "not a readable image")
    if img.ndim != 2:
        raise DatasetError(f"{path}: label map must be single-channel, got shape {img.shape}")
    return img


def write_rgb(path: str | Path, img: np.ndarray, quality: int = 95) -> None:
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"{path}: could not write image")


def read_label_map(path: str | Path) -> np.ndarray:
    """Read a label map as (H, W) uint8 class ids: a single-channel PNG's values, or a palette PNG's *indices*
    (OpenCV would return the palette colours). Truncation is an error; colour images are refused."""
    import io

    from PIL import Image

    buf = _read_bytes(path)
    _complete(buf, str(path))
    try:
        with Image.open(io.BytesIO(buf)) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except Exception as e:  # noqa: BLE001 - PIL raises several types for bad data
        raise DatasetError(f"{path}: not a readable label map ({type(e).__name__})") from None
    if mode not in ("L", "P", "I;16", "I"):
        raise DatasetError(f"{path}: label map must be single-channel or palette, got a {mode} image")
    if arr.max(initial=0) > 255:
        raise DatasetError(f"{path}: label ids above 255")
    return arr.astype(np.uint8)


def read_part_mask(path: str | Path) -> np.ndarray:
    """A binary part mask (any channel layout) as (H, W) bool: pixels brighter than half."""
    img = _decode(_read_bytes(path), str(path), cv2.IMREAD_GRAYSCALE, "not a readable mask")
    return img > 127
