"""Face-parsing sets in their native layouts. Every reader yields :class:`ParsingSample` (RGB uint8 image, uint8
label map in the set's class ids with 255 = unlabelled, optional landmarks) and names its class set
(:mod:`facebench.parsing_classes`).

- Helen (Smith et al. relabelling): ``images/<id>.jpg`` with ``labels/<id>/<id>_lbl00.png`` ... ``_lbl10.png``
  (11 grey maps, one per class, combined by a per-pixel argmax) or the common single-map variant
  ``labels/<id>.png``; splits from ``exemplars.txt`` (train, 2000), ``tuning.txt`` (val, 230) and
  ``testing.txt`` (test, 100) at the root (lines ``n , <id>``).
- LaPa: ``{train,val,test}/{images,labels,landmarks}`` (or one split folder); landmark files ``106`` then 106
  lines ``x y``.
- CelebAMask-HQ: the release (``CelebA-HQ-img/<n>.jpg`` + ``CelebAMask-HQ-mask-anno/<k>/<n:05d>_<part>.png``,
  k = n // 2000, parts painted in :data:`CELEBAMASK_PARTS` order so that a later part wins an overlap, as
  the release's own g_mask.py; split from ``CelebA-HQ-to-CelebA-mapping.txt`` by CelebA's official partition
  of the original file number: train <= 162770 < val <= 182637 < test); folders of combined maps
  ``<n>.jpg`` + ``<n>.png``; and the ``images/`` + ``masks/`` export with palette PNGs (indices are the classes).
  Images are 1024 px and labels 512 px: images are resized to their label's size.
- FaceSynthetics (Microsoft's release and our generated folders): :mod:`datamodules.readers.facesynthetics`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datamodules.readers.images import IMAGE_EXTS, DatasetError, first_non_finite, read_label_map, read_part_mask, read_rgb
from facebench.parsing_classes import (CELEBAMASK19, CELEBAMASK_PARTS, FACESYNTHETICS19, HELEN11, IGNORE, LAPA11,
                                       ClassSet)

SPLITS = ("train", "val", "test", "all")
HELEN_LISTS = {"train": "exemplars.txt", "val": "tuning.txt", "test": "testing.txt"}
CELEBA_PARTITION = (162770, 182637)  # last original CelebA file number of train, of val (list_eval_partition.txt)


@dataclass
class ParsingSample:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    label: np.ndarray  # (H, W) uint8 class ids, 255 = unlabelled
    points: np.ndarray | None  # (N, 2) pixels, when the set provides landmarks
    where: str  # the file(s) the sample came from, for messages


def _images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder missing")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")}


def _check_label(label: np.ndarray, image: np.ndarray, classes: ClassSet, where: str) -> None:
    if label.shape != image.shape[:2]:
        raise DatasetError(f"{where}: label map {label.shape[1]}x{label.shape[0]} differs from its image "
                           f"{image.shape[1]}x{image.shape[0]}")
    bad = (label >= classes.num_classes) & (label != IGNORE)
    if bad.any():
        raise DatasetError(f"{where}: class ids {sorted(np.unique(label[bad]).tolist())} out of range for "
                           f"{classes.name} (0-{classes.num_classes - 1}, {IGNORE} unlabelled)")


class ParsingSet:
    """Common part of the readers: ``ids`` (sorted sample names), ``sample(i)``; subclasses set ``classes``."""

    classes: ClassSet
    kind: str

    def __init__(self, root: Path, split: str):
        self.root, self.split = root, split
        self.ids: list[str] = []

    @property
    def name(self) -> str:
        base = self.root.name if self.root.name not in SPLITS else f"{self.root.parent.name}_{self.root.name}"
        return base if self.split in ("all", "") else f"{base}_{self.split}"

    def __len__(self) -> int:
        return len(self.ids)

    def sample(self, i: int) -> ParsingSample:
        raise NotImplementedError


class HelenSet(ParsingSet):
    classes, kind = HELEN11, "helen"

    def __init__(self, root: Path, split: str):
        super().__init__(root, split)
        self.images = _images(root / "images")
        self.labels = root / "labels"
        if split == "all" or not any((root / f).is_file() for f in HELEN_LISTS.values()):
            self.ids = sorted(self.images)
            self.split = "all"
        else:
            self.ids = self._read_list(root / HELEN_LISTS[split])
        missing = [i for i in self.ids if i not in self.images]
        if missing:
            raise DatasetError(f"{root / 'images'}: {len(missing)} image(s) of the {split} list missing, e.g. "
                               f"{missing[0]}")
        if not self.ids:
            raise DatasetError(f"{root}: no images (Helen layout images/ + labels/)")

    @staticmethod
    def _read_list(path: Path) -> list[str]:
        if not path.is_file():
            raise DatasetError(f"{path}: split list missing (Helen: exemplars.txt, tuning.txt, testing.txt)")
        ids = []
        for ln, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            name = re.split(r"[,\s]+", line.strip())[-1]
            if not name:
                raise DatasetError(f"{path}:{ln}: expected 'n , <image id>', got {line!r}")
            ids.append(Path(name).stem)
        return ids

    def sample(self, i: int) -> ParsingSample:
        sid = self.ids[i]
        img = read_rgb(self.images[sid])
        single = self.labels / f"{sid}.png"
        if single.is_file():
            label, where = read_label_map(single), str(single)
        else:
            folder = self.labels / sid
            maps = []
            for c in range(self.classes.num_classes):
                p = folder / f"{sid}_lbl{c:02d}.png"
                if not p.is_file():
                    raise DatasetError(f"{p}: label map missing (Helen: labels/<id>/<id>_lbl00..10.png or "
                                       f"labels/<id>.png)")
                m = read_label_map(p)
                if maps and m.shape != maps[0].shape:
                    raise DatasetError(f"{p}: size {m.shape} differs from {sid}_lbl00.png's {maps[0].shape}")
                maps.append(m)
            # Smith et al.'s maps are soft (0-255 per class): the label is the strongest map.
            label, where = np.argmax(np.stack(maps), 0).astype(np.uint8), str(folder)
        _check_label(label, img, self.classes, where)
        return ParsingSample(img, label, None, where)


def read_lapa_landmarks(path: Path) -> np.ndarray:
    """(106, 2) float32 from a LaPa landmark file (``106`` then 106 lines ``x y``)."""
    if not path.is_file():
        raise DatasetError(f"{path}: landmark file missing")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    try:
        n = int(lines[0])
    except (IndexError, ValueError):
        raise DatasetError(f"{path}:1: expected the point count (106)") from None
    if n != 106 or len(lines) - 1 != n:
        raise DatasetError(f"{path}: expected 106 points, header says {n} and {len(lines) - 1} are listed")
    try:
        pts = np.asarray([[float(v) for v in ln.split()] for ln in lines[1:]], np.float32)
    except ValueError:
        raise DatasetError(f"{path}: non-numeric landmark line") from None
    if pts.shape != (106, 2):
        raise DatasetError(f"{path}: expected 'x y' per line")
    if (k := first_non_finite(pts)) is not None:
        raise DatasetError(f"{path}: landmark {k} is not finite")
    return pts


class LapaSet(ParsingSet):
    classes, kind = LAPA11, "lapa"

    def __init__(self, root: Path, split: str):
        super().__init__(root, split)
        if (root / "images").is_dir():
            self.folder, self.split = root, ""
        else:
            if split == "all":
                raise DatasetError(f"{root}: LaPa root: choose a split (train, val or test)")
            self.folder = root / split
        self.images = _images(self.folder / "images")
        self.ids = sorted(self.images)
        if not self.ids:
            raise DatasetError(f"{self.folder / 'images'}: no images")

    def sample(self, i: int) -> ParsingSample:
        sid = self.ids[i]
        img = read_rgb(self.images[sid])
        lp = self.folder / "labels" / f"{sid}.png"
        if not lp.is_file():
            raise DatasetError(f"{lp}: label map missing for {self.images[sid].name}")
        label = read_label_map(lp)
        _check_label(label, img, self.classes, str(lp))
        return ParsingSample(img, label, read_lapa_landmarks(self.folder / "landmarks" / f"{sid}.txt"), str(lp))


def _to_label_size(img: np.ndarray, label: np.ndarray) -> np.ndarray:
    if img.shape[:2] != label.shape and img.shape[0] * label.shape[1] == img.shape[1] * label.shape[0]:
        return cv2.resize(img, label.shape[::-1], interpolation=cv2.INTER_AREA)
    return img


class CelebAMaskSet(ParsingSet):
    """The three CelebAMask-HQ layouts (release with part masks, combined maps, images/ + masks/ export)."""

    classes, kind = CELEBAMASK19, "celebamask_hq"

    def __init__(self, root: Path, split: str):
        super().__init__(root, split)
        if (root / "CelebAMask-HQ-mask-anno").is_dir():
            self.layout, self.images = "release", _images(root / "CelebA-HQ-img")
        elif (root / "masks").is_dir():
            self.layout, self.images = "export", _images(root / "images")
        else:
            self.layout = "combined"
            self.images = {p.stem: p for p in sorted(root.iterdir())
                           if p.suffix.lower() in IMAGE_EXTS and p.suffix.lower() != ".png" and not p.name.startswith(".")}
        ids = sorted(self.images, key=lambda s: (len(s), s))
        mapping = root / "CelebA-HQ-to-CelebA-mapping.txt"
        if split != "all" and mapping.is_file():
            part = self._partition(mapping)
            ids = [s for s in ids if part.get(s) == split]
        else:
            self.split = "all"
        self.ids = ids
        if not self.ids:
            raise DatasetError(f"{root}: no CelebAMask-HQ images" + (f" in the {split} split" if split != "all" else ""))

    @staticmethod
    def _partition(path: Path) -> dict[str, str]:
        out = {}
        for ln, line in enumerate(path.read_text().splitlines(), 1):
            parts = line.split()
            if ln == 1 and parts[:1] == ["idx"]:
                continue
            if len(parts) < 3:
                raise DatasetError(f"{path}:{ln}: expected 'idx orig_idx orig_file', got {line!r}")
            try:
                hq, orig = int(parts[0]), int(Path(parts[2]).stem)
            except ValueError:
                raise DatasetError(f"{path}:{ln}: expected 'idx orig_idx orig_file', got {line!r}") from None
            out[str(hq)] = "train" if orig <= CELEBA_PARTITION[0] else "val" if orig <= CELEBA_PARTITION[1] else "test"
        return out

    def _release_label(self, sid: str) -> tuple[np.ndarray, str]:
        folder = self.root / "CelebAMask-HQ-mask-anno" / str(int(sid) // 2000)
        label = None
        for c, part in enumerate(CELEBAMASK_PARTS, 1):
            p = folder / f"{int(sid):05d}_{part}.png"
            if not p.is_file():
                continue  # a part the face does not have (no hat, no earring): the release omits its file
            m = read_part_mask(p)
            if label is None:
                label = np.zeros(m.shape, np.uint8)
            elif m.shape != label.shape:
                raise DatasetError(f"{p}: mask size {m.shape} differs from the face's other parts {label.shape}")
            label[m] = c  # later parts overwrite earlier ones (the release's own painting order)
        if label is None:
            raise DatasetError(f"{folder}: no part masks {int(sid):05d}_<part>.png for image {sid}")
        return label, str(folder / f"{int(sid):05d}_*.png")

    def sample(self, i: int) -> ParsingSample:
        sid = self.ids[i]
        img = read_rgb(self.images[sid])
        if self.layout == "release":
            label, where = self._release_label(sid)
        else:
            lp = (self.root / "masks" if self.layout == "export" else self.root) / f"{sid}.png"
            if not lp.is_file():
                raise DatasetError(f"{lp}: label map missing for {self.images[sid].name}")
            label, where = read_label_map(lp), str(lp)
        img = _to_label_size(img, label)
        _check_label(label, img, self.classes, where)
        return ParsingSample(img, label, None, where)


class FaceSyntheticsParsingSet(ParsingSet):
    """Microsoft's FaceSynthetics release (or a generated folder): ``_seg.png`` and the 70 landmarks."""

    classes, kind = FACESYNTHETICS19, "facesynthetics"

    def __init__(self, root: Path, split: str):
        from datamodules.readers.facesynthetics import FaceSyntheticsFolder

        super().__init__(root, "all")
        self.folder = FaceSyntheticsFolder(root)
        self.ids = self.folder.ids

    def sample(self, i: int) -> ParsingSample:
        s = self.folder.sample(i)
        return ParsingSample(s["image"], s["seg"], s["ldmks"], str(self.folder.paths(i)["seg"]))


def parsing_kind(path: Path) -> str | None:
    """Which parsing layout ``path`` holds (helen, lapa, celebamask_hq, facesynthetics), None if none."""
    from datamodules.readers import facesynthetics

    if not path.is_dir():
        return None
    names = {p.name for p in path.iterdir() if p.is_dir()}
    if {"CelebA-HQ-img", "CelebAMask-HQ-mask-anno"} <= names or {"images", "masks"} <= names:
        return "celebamask_hq"
    splits = [path / s for s in ("train", "val", "test") if s in names]
    if {"images", "labels", "landmarks"} <= names or (splits and all(
            {"images", "labels"} <= {q.name for q in s.iterdir() if q.is_dir()} for s in splits)):
        return "lapa"
    if {"images", "labels"} <= names:
        return "helen"
    if facesynthetics.detect(path):
        return "facesynthetics"
    files = [p for p in path.iterdir() if p.is_file()]
    stems_png = {p.stem for p in files if p.suffix == ".png"}
    if any(p.suffix.lower() in (".jpg", ".jpeg") and p.stem in stems_png for p in files):
        return "celebamask_hq"  # combined maps: <n>.jpg beside <n>.png
    return None


READERS = {"helen": HelenSet, "lapa": LapaSet, "celebamask_hq": CelebAMaskSet, "facesynthetics": FaceSyntheticsParsingSet}


def open_parsing_set(path: str | Path, split: str = "all") -> ParsingSet:
    """The reader of the parsing set at ``path`` for ``split`` (train, val, test or all)."""
    path = Path(path)
    if split not in SPLITS:
        raise DatasetError(f"split must be one of {SPLITS}, got {split!r}")
    if not path.exists():
        raise DatasetError(f"{path}: does not exist")
    kind = parsing_kind(path)
    if kind is None:
        raise DatasetError(f"{path}: not a face-parsing set (Helen images/ + labels/, LaPa "
                           "{train,val,test}/{images,labels,landmarks}, CelebAMask-HQ, or FaceSynthetics NNNNNN.png + "
                           "NNNNNN_seg.png)")
    return READERS[kind](path, split)


def detect(path: Path) -> bool:
    return parsing_kind(path) in ("helen", "lapa", "celebamask_hq")


def validate(path: Path, report) -> None:
    kind = parsing_kind(path)
    splits = ["train", "val", "test"] if kind == "lapa" and not (path / "images").is_dir() else ["all"]
    report.count("layout", kind)
    for split in splits:
        if kind == "lapa" and split != "all" and not (path / split).is_dir():
            report.problem(f"{path / split}: split folder missing")
            continue
        ds = open_parsing_set(path, split)
        counts = np.zeros(256, np.int64)
        for i in report.progress(range(len(ds)), f"{kind} {split}"):
            try:
                s = ds.sample(i)
            except DatasetError as e:
                report.problem(str(e))
                continue
            counts += np.bincount(s.label.ravel(), minlength=256)
        report.count(f"{split} samples" if split != "all" else "samples", len(ds))
        present = [ds.classes.classes[c] for c in range(ds.classes.num_classes) if counts[c]]
        report.count(f"classes present ({ds.classes.name})", f"{len(present)}: {', '.join(present)}")
    if kind in ("helen", "lapa") and not report.counts.get("sides note"):
        report.count("sides note", "which side 'left' means was not checked on this set's files (see "
                                   "facebench/parsing_classes.py)")
