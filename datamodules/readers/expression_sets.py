"""Facial-expression sets in their native layouts. Every reader lists its samples with a label in the suite's
classes (:mod:`facebench.expression_classes`), the subject where the set names one (for subject-disjoint
folds), and counts what it excluded by name (contempt, AffectNet's non-expression labels).

- FER2013: ``fer2013.csv`` (``emotion,pixels,Usage``; 48x48 grey as 2304 numbers; Usage Training ->
  train, PublicTest -> val, PrivateTest -> test) and the image-folder export ``train|test/<class>/*.jpg``.
- RAF-DB basic: ``EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``) with the aligned images
  ``Image/aligned/train_00001_aligned.jpg``; train / test by the name's prefix.
- AffectNet: an annotation csv (``subDirectory_filePath,face_x,face_y,face_width,face_height,...,expression,
  valence,arousal``) with images below the csv's folder (or ``image_root``); faces cropped by the csv's box;
  7-class (contempt excluded) or 8-class setting; labels 8-10 always excluded.
- CK+: ``cohn-kanade-images/S005/001/S005_001_00000011.png`` with ``Emotion/S005/001/..._emotion.txt`` (the
  labelled sequence's last frame, its peak; the first frame of each labelled sequence as neutral; contempt
  excluded; faces cropped by ``Landmarks/`` when present), and CK+48 (``<class>/S005_001_00000011.png``).
- JAFFE: ``KA.AN1.39.tiff`` (subject KA, expression code AN).

Images are returned as RGB uint8 (grey sets repeated over the channels).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datamodules.readers.images import IMAGE_EXTS, DatasetError, read_rgb
from facebench.expression_classes import (AFFECTNET_IDS, AFFECTNET_NON_EXPRESSION, CKPLUS_IDS, FER2013_IDS,
                                          FOLDER_NAMES, JAFFE_CODES, RAFDB_IDS, class_names, suite_id)

SPLITS = ("train", "val", "test", "all")
FER_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
FER_HEADER = ["emotion", "pixels", "Usage"]
AFFECTNET_HEADER = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
                    "expression", "valence", "arousal"]
_CK_NAME = re.compile(r"^S(\d+)_(\d+)_(\d+)$")
_JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d*)\.(\d+)$")


@dataclass
class ExpressionSample:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    label: int  # suite class id
    subject: str | None
    where: str


@dataclass
class Item:
    where: str  # file (and line) the sample comes from
    label: int
    subject: str | None = None
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 face box in pixels
    pixels: str | None = None  # FER2013 csv: the pixel string


@dataclass
class ExpressionSet:
    """A list of :class:`Item` with the set's name and the count of excluded samples by class name."""

    name: str
    kind: str
    num_classes: int
    items: list[Item]
    excluded: dict[str, int] = field(default_factory=dict)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (expressive item, the same subject's neutral item)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def classes(self) -> tuple[str, ...]:
        return class_names(self.num_classes)

    @property
    def labels(self) -> list[int]:
        return [it.label for it in self.items]

    @property
    def subjects(self) -> list[str | None]:
        return [it.subject for it in self.items]

    def sample(self, i: int) -> ExpressionSample:
        it = self.items[i]
        if it.pixels is not None:
            img = _fer_pixels(it.pixels, it.where)
        else:
            img = read_rgb(it.where)
            if it.box is not None:
                img = _crop_box(img, it.box)
        return ExpressionSample(img, it.label, it.subject, it.where)


def _exclude(excluded: dict, name: str) -> None:
    excluded[name] = excluded.get(name, 0) + 1


def _fer_pixels(text: str, where: str) -> np.ndarray:
    try:
        v = np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{where}: pixels are not integers") from None
    if v.size != 48 * 48:
        raise DatasetError(f"{where}: {v.size} pixel values, expected 2304 (48x48)")
    if v.min() < 0 or v.max() > 255:
        raise DatasetError(f"{where}: pixel values outside 0-255")
    return np.repeat(v.astype(np.uint8).reshape(48, 48, 1), 3, 2)


def _crop_box(img: np.ndarray, box) -> np.ndarray:
    """Square crop around a face box (side = its larger side), zero-padded where it leaves the image."""
    import cv2

    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    M = np.array([[1, 0, side / 2 - cx], [0, 1, side / 2 - cy]], np.float64)
    n = int(round(side))
    return cv2.warpAffine(img, M, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"split must be one of {SPLITS}, got {split!r}")


# --- FER2013 -------------------------------------------------------------------------------------------------------
def read_fer2013_csv(path: Path, split: str = "all") -> ExpressionSet:
    _check_split(split)
    if path.is_dir():
        path = path / "fer2013.csv"
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    items, excluded = [], {}
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header != FER_HEADER:
            raise DatasetError(f"{path}:1: header must be {','.join(FER_HEADER)}, got {header}")
        for ln, row in enumerate(rows, 2):
            if not row:
                continue
            where = f"{path}:{ln}"
            if len(row) != 3:
                raise DatasetError(f"{where}: expected 3 fields (emotion,pixels,Usage), got {len(row)}")
            try:
                emo = int(row[0])
            except ValueError:
                raise DatasetError(f"{where}: emotion {row[0]!r} is not an integer") from None
            if emo not in FER2013_IDS:
                raise DatasetError(f"{where}: emotion {emo} outside 0-6")
            if row[2] not in FER_USAGE:
                raise DatasetError(f"{where}: Usage {row[2]!r} is not one of {', '.join(FER_USAGE)}")
            n = len(row[1].split())
            if n != 48 * 48:
                raise DatasetError(f"{where}: {n} pixel values, expected 2304 (48x48)")
            if split in ("all", FER_USAGE[row[2]]):
                items.append(Item(where, suite_id(FER2013_IDS[emo]), pixels=row[1]))
    return ExpressionSet(f"fer2013_{split}" if split != "all" else "fer2013", "fer2013_csv", 7, items, excluded)


# --- image folders (FER2013 export, CK+48, RAF-DB / AffectNet folder exports) ----------------------------------------
def _class_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_class_layout(path: Path) -> bool:
    """Class folders: at least two expression names, and they are the majority (an unknown folder among
    them is then an error of the reader, not a reason to read the set as something else)."""
    names = [p.name.lower() for p in _class_dirs(path)] if path.is_dir() else []
    known = sum(n in FOLDER_NAMES for n in names)
    return known >= 2 and 2 * known > len(names)


def detect_folders(path: Path) -> bool:
    """``<class>/<image>`` (CK+48, one FER2013 split) or ``<split>/<class>/<image>`` (FER2013)."""
    if not path.is_dir():
        return False
    if is_class_layout(path):
        return True
    subs = _class_dirs(path)
    return bool(subs) and all(is_class_layout(s) for s in subs)


def read_expression_folders(path: Path, split: str = "all") -> ExpressionSet:
    _check_split(split)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a directory")
    root, name = path, path.name
    if not is_class_layout(path):
        subs = {p.name: p for p in _class_dirs(path)}
        if split == "all":
            raise DatasetError(f"{path}: split folders {sorted(subs)}: choose a split (train, val or test)")
        if split not in subs:
            raise DatasetError(f"{path}: no {split}/ folder (found {', '.join(sorted(subs))})")
        root, name = subs[split], f"{path.name}_{split}"
    unknown = [p.name for p in _class_dirs(root) if p.name.lower() not in FOLDER_NAMES]
    if unknown:
        raise DatasetError(f"{root}: unknown class folder(s) {unknown} (known: {', '.join(sorted(FOLDER_NAMES))})")
    items, excluded = [], {}
    for d in _class_dirs(root):
        cls = FOLDER_NAMES[d.name.lower()]
        for p in sorted(d.iterdir()):
            if p.suffix.lower() not in IMAGE_EXTS or p.name.startswith("."):
                continue
            if suite_id(cls) is None:
                _exclude(excluded, d.name.lower())
                continue
            m = _CK_NAME.match(p.stem)
            items.append(Item(str(p), suite_id(cls), subject=f"S{m.group(1)}" if m else None))
    if not items:
        raise DatasetError(f"{root}: no images in the class folders")
    return ExpressionSet(name, "expression_folders", 7, items, excluded)


# --- RAF-DB ----------------------------------------------------------------------------------------------------------
def read_rafdb(path: Path, split: str = "all") -> ExpressionSet:
    _check_split(split)
    if split == "val":
        raise DatasetError(f"{path}: RAF-DB basic has train and test lists only (no validation split)")
    lst = path / "EmoLabel" / "list_patition_label.txt"
    if not lst.is_file():
        raise DatasetError(f"{lst}: label list missing (RAF-DB basic layout)")
    items = []
    for ln, line in enumerate(lst.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in RAFDB_IDS:
            raise DatasetError(f"{lst}:{ln}: expected '<image> <label 1-7>', got {line!r}")
        stem = Path(parts[0]).stem
        if split != "all" and not stem.startswith(split + "_"):
            continue
        items.append(Item(str(path / "Image" / "aligned" / f"{stem}_aligned.jpg"),
                          suite_id(RAFDB_IDS[int(parts[1])])))
    return ExpressionSet(f"rafdb_{split}" if split != "all" else "rafdb", "rafdb", 7, items)


# --- AffectNet -------------------------------------------------------------------------------------------------------
def read_affectnet(path: Path, split: str = "all", num_classes: int = 7, image_root: Path | None = None) -> ExpressionSet:
    """``split`` is not used: AffectNet ships one csv per split (training.csv, validation.csv; the latter is
    the benchmark's test set)."""
    if num_classes not in (7, 8):
        raise DatasetError(f"AffectNet: num_classes must be 7 or 8, got {num_classes}")
    root = image_root or path.parent
    items, excluded = [], {}
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or header[:len(AFFECTNET_HEADER)] != AFFECTNET_HEADER:
            raise DatasetError(f"{path}:1: header must start {','.join(AFFECTNET_HEADER)}")
        for ln, row in enumerate(rows, 2):
            if not row:
                continue
            where = f"{path}:{ln}"
            if len(row) < len(AFFECTNET_HEADER):
                raise DatasetError(f"{where}: expected {len(AFFECTNET_HEADER)} fields, got {len(row)}")
            try:
                x, y, w, h = (float(v) for v in row[1:5])
                expr = int(float(row[6]))
            except ValueError:
                raise DatasetError(f"{where}: face box or expression is not a number") from None
            if expr in AFFECTNET_NON_EXPRESSION:
                _exclude(excluded, AFFECTNET_NON_EXPRESSION[expr])
                continue
            if expr not in AFFECTNET_IDS:
                raise DatasetError(f"{where}: expression {expr} outside 0-10")
            sid = suite_id(AFFECTNET_IDS[expr], num_classes)
            if sid is None:
                _exclude(excluded, AFFECTNET_IDS[expr])
                continue
            items.append(Item(str(root / row[0]), sid, box=(x, y, x + w, y + h)))
    return ExpressionSet(f"affectnet_{path.stem}", "affectnet_csv", num_classes, items, excluded)


# --- CK+ -------------------------------------------------------------------------------------------------------------
def _ck_landmark_box(root: Path, subj: str, seq: str, stem: str):
    p = root / "Landmarks" / subj / seq / f"{stem}_landmarks.txt"
    if not p.is_file():
        return None
    try:
        pts = np.loadtxt(p).reshape(-1, 2)
    except ValueError:
        raise DatasetError(f"{p}: not a list of 'x y' landmarks") from None
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    pad = 0.15 * max(x1 - x0, y1 - y0)
    return (x0 - pad, y0 - 1.5 * pad, x1 + pad, y1 + 0.5 * pad)


def read_ckplus(path: Path, split: str = "all", neutral: bool = True) -> ExpressionSet:
    """Labelled sequences of the original CK+ layout: the last frame with its emotion, and (``neutral``) the
    first frame as neutral; ``pairs`` holds (peak, first frame) of every labelled sequence."""
    _check_split(split)
    emo_root, img_root = path / "Emotion", path / "cohn-kanade-images"
    if not emo_root.is_dir() or not img_root.is_dir():
        raise DatasetError(f"{path}: CK+ needs cohn-kanade-images/ and Emotion/")
    items, excluded, pairs = [], {}, []
    for f in sorted(emo_root.glob("S*/*/*_emotion.txt")):
        subj, seq = f.parent.parent.name, f.parent.name
        try:
            code = int(float(f.read_text().split()[0]))
        except (ValueError, IndexError):
            raise DatasetError(f"{f}: expected one emotion code 0-7") from None
        if code not in CKPLUS_IDS:
            raise DatasetError(f"{f}: emotion code {code} outside 0-7")
        frames = sorted(p for p in (img_root / subj / seq).glob("*.png"))
        stem = f.name[:-len("_emotion.txt")]
        peak = img_root / subj / seq / f"{stem}.png"
        if not peak.is_file():
            raise DatasetError(f"{peak}: image of {f.name} missing")
        sid = suite_id(CKPLUS_IDS[code])
        if sid is None:
            _exclude(excluded, CKPLUS_IDS[code])
            continue
        items.append(Item(str(peak), sid, subj, _ck_landmark_box(path, subj, seq, stem)))
        if neutral and frames and frames[0] != peak:
            items.append(Item(str(frames[0]), suite_id("neutral"), subj,
                              _ck_landmark_box(path, subj, seq, frames[0].stem)))
            pairs.append((len(items) - 2, len(items) - 1))
    if not items:
        raise DatasetError(f"{emo_root}: no labelled sequences (*_emotion.txt)")
    return ExpressionSet("ckplus", "ckplus", 7, items, excluded, pairs)


# --- JAFFE -----------------------------------------------------------------------------------------------------------
def read_jaffe(path: Path, split: str = "all") -> ExpressionSet:
    _check_split(split)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".tiff", ".tif"))
    items, neutral_of = [], {}
    for p in files:
        m = _JAFFE_NAME.match(p.stem)
        if not m:
            raise DatasetError(f"{p}: name is not <subject>.<code><n>.<id>.tiff (e.g. KA.AN1.39.tiff)")
        if m.group(2) not in JAFFE_CODES:
            raise DatasetError(f"{p}: unknown expression code {m.group(2)} (known: {', '.join(JAFFE_CODES)})")
        items.append(Item(str(p), suite_id(JAFFE_CODES[m.group(2)]), m.group(1)))
        if m.group(2) == "NE":
            neutral_of.setdefault(m.group(1), len(items) - 1)
    pairs = [(i, neutral_of[it.subject]) for i, it in enumerate(items)
             if it.label != suite_id("neutral") and it.subject in neutral_of]
    if not items:
        raise DatasetError(f"{path}: no JAFFE .tiff images")
    return ExpressionSet("jaffe", "jaffe", 7, items, {}, pairs)


# --- detection and dispatch ------------------------------------------------------------------------------------------
def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return []


def expression_kind(path: Path) -> str | None:
    """Which expression layout ``path`` holds, None if none."""
    if path.is_file() and path.suffix.lower() == ".csv":
        head = _csv_header(path)
        return "fer2013_csv" if head == FER_HEADER else "affectnet_csv" if head[:1] == AFFECTNET_HEADER[:1] else None
    if not path.is_dir():
        return None
    if (path / "fer2013.csv").is_file():
        return "fer2013_csv"
    if (path / "EmoLabel" / "list_patition_label.txt").is_file():
        return "rafdb"
    if (path / "Emotion").is_dir() and (path / "cohn-kanade-images").is_dir():
        return "ckplus"
    if detect_folders(path):
        return "expression_folders"
    tiffs = [p for p in path.iterdir() if p.suffix.lower() in (".tiff", ".tif")]
    if tiffs and all(_JAFFE_NAME.match(p.stem) for p in tiffs):
        return "jaffe"
    return None


READERS = {"fer2013_csv": read_fer2013_csv, "expression_folders": read_expression_folders, "rafdb": read_rafdb,
           "affectnet_csv": read_affectnet, "ckplus": read_ckplus, "jaffe": read_jaffe}


def open_expression_set(path: str | Path, split: str = "all", **kwargs) -> ExpressionSet:
    """The expression set at ``path`` (FER2013 csv or folders, RAF-DB, AffectNet csv, CK+, CK+48, JAFFE)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: does not exist")
    kind = expression_kind(path)
    if kind is None:
        raise DatasetError(f"{path}: not an expression set (FER2013 csv or train|test/<class>/ folders, RAF-DB "
                           "EmoLabel/, an AffectNet csv, CK+ cohn-kanade-images/ + Emotion/, CK+48 <class>/, JAFFE)")
    return READERS[kind](path, split, **kwargs)


def subject_folds(subjects: list[str | None], folds: int) -> list[int]:
    """Fold of each sample for a subject-disjoint k-fold protocol: subjects sorted by name, fold = rank mod k
    (every sample of a subject in one fold)."""
    if any(s is None for s in subjects):
        raise DatasetError("subject-disjoint folds need a subject for every sample (CK+, CK+48, JAFFE)")
    order = {s: k for k, s in enumerate(sorted(set(subjects)))}
    if len(order) < folds:
        raise DatasetError(f"{len(order)} subjects cannot fill {folds} subject-disjoint folds")
    return [order[s] % folds for s in subjects]


def detect(path: Path) -> bool:
    return expression_kind(path) is not None


def validate(path: Path, report) -> None:
    kind = expression_kind(path)
    report.count("layout", kind)
    splits = ["all"]
    if kind == "expression_folders" and not is_class_layout(path):
        splits = [p.name for p in _class_dirs(path)]
    for split in splits:
        ds = open_expression_set(path, split)
        counts = np.zeros(ds.num_classes, np.int64)
        for i in report.progress(range(len(ds)), f"{kind} {split}"):
            try:
                ds.sample(i)
            except DatasetError as e:
                report.problem(str(e))
                continue
            counts[ds.items[i].label] += 1
        label = "samples" if split == "all" else f"{split} samples"
        report.count(label, len(ds))
        report.count(f"{label} per class (readable)", ", ".join(f"{c} {n}" for c, n in zip(ds.classes, counts)))
        if ds.excluded:
            report.count(f"{label} excluded", ", ".join(f"{k} {v}" for k, v in sorted(ds.excluded.items())))
