"""Microsoft FaceSynthetics layout: ``NNNNNN.png``, ``NNNNNN_seg.png``, ``NNNNNN_ldmks.txt``.

Segmentation ids follow :data:`facebench.labels.SEG_CLASSES` (255 = ignore); landmarks are 70 lines
``x y`` in pixels (iBUG 68 + two pupils). Our generator also writes an optional ``NNNNNN_meta.json``
(identity, expression, pose, landmark visibility, 3D landmarks) that this reader uses when present.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from datamodules.readers.images import DatasetError, first_non_finite, read_gray_exact, read_rgb
from facebench.labels import NUM_LANDMARKS_FS, NUM_SEG_CLASSES, SEG_IGNORE

_NAME = re.compile(r"^(\d{6})\.png$")


def read_landmarks(path: str | Path, n_points: int = NUM_LANDMARKS_FS) -> np.ndarray:
    """(n_points, 2) float32 from a ``_ldmks.txt`` file; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: landmark file missing")
    rows = []
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(f"{path}:{ln}: expected 'x y', got {line!r}")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise DatasetError(f"{path}:{ln}: non-numeric landmark {line!r}") from None
    if len(rows) != n_points:
        raise DatasetError(f"{path}: expected {n_points} landmarks, found {len(rows)}")
    out = np.asarray(rows, np.float32)
    if (k := first_non_finite(out)) is not None:
        raise DatasetError(f"{path}: landmark {k} is not finite")
    return out


def write_landmarks(path: str | Path, pts: np.ndarray) -> None:
    Path(path).write_text("".join(f"{x:.3f} {y:.3f}\n" for x, y in pts))


class FaceSyntheticsFolder:
    """Index of a FaceSynthetics-layout folder; ``sample(i)`` reads one sample."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a directory")
        self.ids = sorted(m.group(1) for p in self.root.iterdir() if (m := _NAME.match(p.name)))
        if not self.ids:
            raise DatasetError(f"{self.root}: no NNNNNN.png images (FaceSynthetics layout)")

    def __len__(self) -> int:
        return len(self.ids)

    def paths(self, i: int) -> dict[str, Path]:
        s = self.ids[i]
        return {"image": self.root / f"{s}.png", "seg": self.root / f"{s}_seg.png",
                "ldmks": self.root / f"{s}_ldmks.txt", "meta": self.root / f"{s}_meta.json"}

    def sample(self, i: int) -> dict:
        p = self.paths(i)
        if not p["seg"].is_file():
            raise DatasetError(f"{p['seg']}: segmentation file missing for {p['image'].name}")
        img, seg = read_rgb(p["image"]), read_gray_exact(p["seg"])
        if seg.shape != img.shape[:2]:
            raise DatasetError(f"{p['seg']}: size {seg.shape} differs from image {img.shape[:2]}")
        bad = (seg >= NUM_SEG_CLASSES) & (seg != SEG_IGNORE)
        if bad.any():
            raise DatasetError(f"{p['seg']}: class ids {sorted(set(np.unique(seg[bad]).tolist()))} out of range "
                               f"(0-{NUM_SEG_CLASSES - 1}, {SEG_IGNORE} ignore)")
        out = {"image": img, "seg": seg, "ldmks": read_landmarks(p["ldmks"])}
        if p["meta"].is_file():
            try:
                out["meta"] = json.loads(p["meta"].read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise DatasetError(f"{p['meta']}: not valid JSON ({e})") from None
        return out


def detect(path: Path) -> bool:
    return path.is_dir() and any(_NAME.match(p.name) for p in path.iterdir())


def validate(path: Path, report) -> None:
    ds = FaceSyntheticsFolder(path)
    counts = np.zeros(256, np.int64)
    for i in report.progress(range(len(ds)), "FaceSynthetics"):
        try:
            s = ds.sample(i)
        except DatasetError as e:
            report.problem(str(e))
            continue
        seg = s["seg"]
        counts += np.bincount(seg.ravel(), minlength=256)
        h, w = seg.shape
        l = s["ldmks"]
        if (l[:, 0] < -w).any() or (l[:, 0] > 2 * w).any() or (l[:, 1] < -h).any() or (l[:, 1] > 2 * h).any():
            report.problem(f"{ds.paths(i)['ldmks']}: landmarks far outside the {w}x{h} image")
    report.count("samples", len(ds))
    report.count("segmentation classes present", int((counts[:NUM_SEG_CLASSES] > 0).sum()))
