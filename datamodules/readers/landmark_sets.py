"""Real landmark sets in their native formats: 300-W family ``.pts``, AFLW2000-3D ``.mat``, WFLW lists.

Coordinates are returned in the suite's convention: pixels, 0-based, pixel centres at integers. The
300-W ``.pts`` files and AFLW2000-3D's MATLAB arrays are 1-based, so 1 is subtracted.

300-W splits (by the standard folder names under the root): ``common`` = lfpw/testset + helen/testset
(554 images), ``challenging`` = ibug (135), ``full`` = common + challenging (689), ``test`` = 300W/01_Indoor
+ 300W/02_Outdoor (600), ``train`` = afw + lfpw/trainset + helen/trainset (3148).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.readers.images import IMAGE_EXTS, DatasetError, first_non_finite, read_rgb

SPLITS_300W = {
    "common": ("lfpw/testset", "helen/testset"),
    "challenging": ("ibug",),
    "full": ("lfpw/testset", "helen/testset", "ibug"),
    "test": ("300W/01_Indoor", "300W/02_Outdoor"),
    "train": ("afw", "lfpw/trainset", "helen/trainset"),
}


def read_pts(path: str | Path) -> np.ndarray:
    """(n, 2) float32 points of an iBUG ``.pts`` file, 0-based; errors name the file and line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: unreadable ({e})") from e
    lines = [ln.strip() for ln in lines]
    n = None
    i = 0
    while i < len(lines) and lines[i] != "{":
        m = re.match(r"n_points\s*:\s*(\d+)$", lines[i])
        if m:
            n = int(m.group(1))
        elif lines[i] and not lines[i].startswith("version"):
            raise DatasetError(f"{path}:{i + 1}: unexpected header line {lines[i]!r}")
        i += 1
    if n is None:
        raise DatasetError(f"{path}: no 'n_points:' header")
    if i == len(lines):
        raise DatasetError(f"{path}: missing opening brace '{{'")
    pts = []
    for j in range(i + 1, len(lines)):
        if lines[j] == "}":
            break
        parts = lines[j].split()
        try:
            if len(parts) != 2:
                raise ValueError
            pts.append((float(parts[0]) - 1, float(parts[1]) - 1))
        except ValueError:
            raise DatasetError(f"{path}:{j + 1}: expected 'x y', got {lines[j]!r}") from None
    else:
        raise DatasetError(f"{path}: missing closing brace '}}'")
    if len(pts) != n:
        raise DatasetError(f"{path}: n_points is {n} but {len(pts)} points are listed")
    out = np.asarray(pts, np.float32)
    if (k := first_non_finite(out)) is not None:
        raise DatasetError(f"{path}: point {k} is not finite ({lines[i + 1 + k]!r})")
    return out


@dataclass
class LandmarkSample:
    image: np.ndarray
    points: np.ndarray  # (n, 2) 0-based pixels
    box: np.ndarray | None = None  # (4,) x0, y0, x1, y1 if the set provides one
    meta: dict | None = None


class PtsFolder:
    """Images with same-stem ``.pts`` files below a root (recursively), optionally restricted to a 300-W split."""

    def __init__(self, root: str | Path, split: str | None = None, strict: bool = True):
        """strict: a ``.pts`` file without its image is an error (else it is listed in ``self.unpaired``)."""
        self.root = Path(root)
        dirs = [self.root]
        if split:
            if split not in SPLITS_300W:
                raise ValueError(f"split must be one of {sorted(SPLITS_300W)}, got {split!r}")
            dirs = [self.root / d for d in SPLITS_300W[split]]
            missing = [str(d) for d in dirs if not d.is_dir()]
            if missing:
                raise DatasetError(f"{self.root}: split {split!r} needs the folders {missing}")
        self.items, self.unpaired = [], []
        for d in dirs:
            for pts in sorted(d.rglob("*.pts")):
                img = next((pts.with_suffix(e) for e in IMAGE_EXTS if pts.with_suffix(e).is_file()), None)
                if img is None:
                    if strict:
                        raise DatasetError(f"{pts}: no image with the same name beside it ({', '.join(IMAGE_EXTS)})")
                    self.unpaired.append(pts)
                    continue
                self.items.append((img, pts))
        if not self.items:
            raise DatasetError(f"{self.root}: no .pts files")

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, i: int) -> LandmarkSample:
        img, pts = self.items[i]
        return LandmarkSample(read_rgb(img), read_pts(pts), meta={"file": str(img)})


def read_aflw2000(mat_path: str | Path) -> LandmarkSample:
    """One AFLW2000-3D sample: the image beside the .mat, pt3d_68 (x, y 0-based; z as given) and pose."""
    from scipy.io import loadmat

    mat_path = Path(mat_path)
    try:
        m = loadmat(str(mat_path))
    except Exception as e:  # noqa: BLE001
        raise DatasetError(f"{mat_path}: not a readable .mat file ({e})") from e
    for key in ("pt3d_68", "Pose_Para"):
        if key not in m:
            raise DatasetError(f"{mat_path}: missing {key}")
    p3 = np.asarray(m["pt3d_68"], np.float32)
    if p3.shape != (3, 68):
        raise DatasetError(f"{mat_path}: pt3d_68 has shape {p3.shape}, expected (3, 68)")
    if not np.isfinite(p3).all():
        raise DatasetError(f"{mat_path}: pt3d_68 holds non-finite values")
    pose = np.asarray(m["Pose_Para"], np.float64).reshape(-1)
    if pose.size != 7:
        raise DatasetError(f"{mat_path}: Pose_Para has {pose.size} values, expected 7")
    img = mat_path.with_suffix(".jpg")
    pts = p3[:2].T - 1
    pitch, yaw, roll = np.degrees(pose[:3])
    return LandmarkSample(read_rgb(img), pts, meta={"pts3d": p3.T.copy(), "yaw_deg": float(yaw),
                                                    "pitch_deg": float(pitch), "roll_deg": float(roll),
                                                    "file": str(img)})


WFLW_ATTRIBUTES = ("pose", "expression", "illumination", "make-up", "occlusion", "blur")


def wflw_image_root(path: Path) -> Path:
    """Where a WFLW list's image paths start: beside the list, or the release's ``WFLW_images`` folder
    (``WFLW_annotations/list_98pt_rect_attr_train_test/<list>`` beside ``WFLW_images/``)."""
    first = next((ln.split()[-1] for ln in path.read_text().splitlines() if ln.strip()), None)
    for root in (path.parent, path.parent.parent / "WFLW_images", path.parent.parent.parent / "WFLW_images"):
        if first is not None and (root / first).is_file():
            return root
    return path.parent


def read_wflw_list(path: str | Path, image_root: str | Path | None = None):
    """WFLW ``list_98pt_rect_attr_*.txt``: per line 196 coordinates, box (x0 y0 x1 y1), 6 attribute flags,
    image path. Returns a list of (image path, points (98, 2), box (4,), attributes dict)."""
    path = Path(path)
    root = Path(image_root) if image_root else wflw_image_root(path)
    out = []
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 196 + 4 + 6 + 1:
            raise DatasetError(f"{path}:{ln}: expected 207 fields (196 coordinates, 4 box, 6 attributes, path), "
                               f"got {len(parts)}")
        try:
            nums = np.array(parts[:206], np.float32)
        except ValueError:
            raise DatasetError(f"{path}:{ln}: non-numeric coordinate, box or attribute field") from None
        if not np.isfinite(nums[:200]).all():
            raise DatasetError(f"{path}:{ln}: a coordinate or box value is not finite")
        attrs = nums[200:206]
        if not np.isin(attrs, (0, 1)).all():
            raise DatasetError(f"{path}:{ln}: attribute flags must be 0 or 1")
        out.append((root / parts[206], nums[:196].reshape(98, 2), nums[196:200],
                    dict(zip(WFLW_ATTRIBUTES, attrs.astype(bool).tolist()))))
    return out


def detect_pts(path: Path) -> bool:
    return path.is_dir() and next(path.rglob("*.pts"), None) is not None


def validate_pts(path: Path, report) -> None:
    ds = PtsFolder(path, strict=False)
    for p in ds.unpaired:
        report.problem(f"{p}: no image with the same name beside it ({', '.join(IMAGE_EXTS)})")
    counts = {}
    for i in report.progress(range(len(ds)), ".pts landmarks"):
        try:
            s = ds.sample(i)
            h, w = s.image.shape[:2]
            counts[len(s.points)] = counts.get(len(s.points), 0) + 1
            if len(s.points) != 68:
                report.problem(f"{ds.items[i][1]}: {len(s.points)} points, not the iBUG 68-point layout the "
                               "landmark tasks read")
            if ((s.points < -0.05 * w) | (s.points > 1.05 * max(h, w))).any():
                report.problem(f"{ds.items[i][1]}: points outside the {w}x{h} image")
        except DatasetError as e:
            report.problem(str(e))
    report.count("images with .pts", len(ds))
    report.count("points per file", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    present = [s for s, ds_ in SPLITS_300W.items() if all((path / d).is_dir() for d in ds_)]
    report.count("300-W splits found", ", ".join(present) or "none (not the standard 300-W layout)")


def detect_aflw2000(path: Path) -> bool:
    return path.is_dir() and next(path.glob("image*.mat"), None) is not None


def validate_aflw2000(path: Path, report) -> None:
    from facebench.metrics.landmarks import yaw_bin

    mats = sorted(path.glob("*.mat"))
    bins = {}
    for m in report.progress(mats, "AFLW2000-3D"):
        try:
            s = read_aflw2000(m)
            b = yaw_bin(s.meta["yaw_deg"])
            bins[b] = bins.get(b, 0) + 1
        except DatasetError as e:
            report.problem(str(e))
    report.count("samples", len(mats))
    report.count("yaw bins", ", ".join(f"{k}: {v}" for k, v in sorted(bins.items())))


def detect_wflw(path: Path) -> bool:
    return path.is_file() and path.name.startswith("list_98pt_rect_attr")


def validate_wflw(path: Path, report) -> None:
    rows = read_wflw_list(path)
    missing = [str(p) for p, *_ in rows if not p.is_file()]
    for p in missing[:20]:
        report.problem(f"{p}: listed in {path.name} but missing")
    report.count("faces", len(rows))
    report.count("attribute counts", ", ".join(f"{a}: {sum(r[3][a] for r in rows)}" for a in WFLW_ATTRIBUTES))
