"""Identity folders: ``root/<identity>/<image>.(jpg|png)`` (CASIA-WebFace, DigiFace-1M, SynFace, ours).

Identities are sorted by folder name and numbered from 0; this order is the class id.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.readers.images import IMAGE_EXTS, DatasetError, read_rgb


def _bookkeeping(root: Path, d: Path) -> bool:
    """Folders that are not identities: hidden ones, and the ``manifest/`` of a ``facebench.generate`` folder."""
    return d.name.startswith(".") or (d.name == "manifest" and (root / "generate_config.json").is_file())


class IdentityFolder:
    """Sorted (path, label) list of an identity-folder dataset."""

    def __init__(self, root: str | Path, strict: bool = True):
        """strict: an identity folder without images is an error (class ids are positions in the sorted
        folder list, so skipping one would shift every later label); else it is listed in ``self.empty``."""
        from datamodules.readers.expression_sets import detect as detect_expression_set
        from datamodules.readers.parsing_sets import detect as detect_parsing_set

        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a directory")
        if detect_expression_set(self.root) or detect_parsing_set(self.root):
            kind = "an expression set (class folders)" if detect_expression_set(self.root) else "a parsing set"
            raise DatasetError(f"{self.root}: {kind}, not identity folders")
        dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not _bookkeeping(self.root, p))
        if not dirs:
            raise DatasetError(f"{self.root}: no identity sub-folders (expected root/<identity>/<image>)")
        self.classes, self.items, self.empty = [], [], []
        for d in dirs:
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)
            if not files:
                if strict:
                    raise DatasetError(f"{d}: identity folder without images ({', '.join(IMAGE_EXTS)}); remove it "
                                       "or add its images (class ids follow the sorted folder names)")
                self.empty.append(d)
                continue
            label = len(self.classes)
            self.classes.append(d.name)
            self.items += [(p, label) for p in files]
        if not self.items:
            raise DatasetError(f"{self.root}: identity folders contain no images ({', '.join(IMAGE_EXTS)})")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def sample(self, i: int) -> tuple[np.ndarray, int]:
        p, label = self.items[i]
        return read_rgb(p), label


def detect(path: Path) -> bool:
    if not path.is_dir():
        return False
    for d in sorted(path.iterdir())[:20]:
        if d.is_dir() and any(p.suffix.lower() in IMAGE_EXTS for p in d.iterdir()):
            return True
    return False


def validate(path: Path, report) -> None:
    ds = IdentityFolder(path, strict=False)
    for d in ds.empty:
        report.problem(f"{d}: identity folder without images (training refuses it: later class ids would shift)")
    stray = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
    for p in stray[:20]:
        report.problem(f"{p}: image at the top level belongs to no identity")
    shapes = {}
    for i in report.progress(range(len(ds)), "identity folders"):
        try:
            img, _ = ds.sample(i)
            shapes[img.shape] = shapes.get(img.shape, 0) + 1
        except DatasetError as e:
            report.problem(str(e))
    depth = np.bincount([lab for _, lab in ds.items])
    report.count("images", len(ds))
    report.count("identities", ds.num_classes)
    report.count("images per identity (min/median/max)", f"{depth.min()}/{int(np.median(depth))}/{depth.max()}")
    report.count("image sizes", ", ".join(f"{s[1]}x{s[0]}: {n}" for s, n in sorted(shapes.items(), key=lambda t: -t[1])[:3]))
