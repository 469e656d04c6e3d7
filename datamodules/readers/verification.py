"""Face-verification pair sets: insightface ``.bin`` files, LFW ``pairs.txt`` and generic pair lists.

Every reader yields the same thing: an ordered list of pairs (image 1, image 2, is-same) whose order
defines the protocol's 10 contiguous folds.

- ``.bin`` (lfw, cfp_fp, agedb_30, calfw, cplfw from insightface): ``pickle.dump((bins, issame_list))``,
  2N encoded images with the two images of pair i at 2i and 2i+1. A pickle can run code, so it is read
  with :class:`SafeBinUnpickler`, which accepts only containers, bytes, strings, numbers, booleans and the
  single global ``_codecs.encode`` that Python 3 uses to pickle bytes at protocol <= 2; anything else is
  refused with an error naming the file and the global.
- LFW ``pairs.txt``: a header ``folds n`` (View 2: ``10 300``; the dev lists have a single count), then
  per fold n lines ``name i j`` (same person) and n lines ``name1 i name2 j``; images are
  ``<root>/<name>/<name>_<%04d>.jpg``.
- generic lists (Hadrian, Eclipse, SSLFW, DoppelVer, ...): one ``path1 path2 label`` per line, label 1 for
  the same identity, paths relative to the list's folder unless absolute.
"""
from __future__ import annotations

import codecs
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.readers.images import DatasetError, decode_rgb, read_rgb


class SafeBinUnpickler(pickle.Unpickler):
    """Unpickler for insightface ``.bin`` files that refuses every global but ``_codecs.encode``."""

    _ALLOWED = {("_codecs", "encode"): codecs.encode}

    def __init__(self, fh, where: str):
        super().__init__(fh, encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str):
        fn = self._ALLOWED.get((module, name))
        if fn is None:
            raise DatasetError(f"{self.where}: refusing to unpickle global {module}.{name}; a verification .bin "
                               "holds only encoded images and booleans (the file may be corrupt or malicious)")
        return fn

    def persistent_load(self, pid):
        raise DatasetError(f"{self.where}: refusing a pickle persistent id")


@dataclass
class PairSet:
    """An ordered list of verification pairs; images are loaded lazily by index."""

    name: str
    issame: np.ndarray  # (N,) bool
    _load: object  # callable(k) -> RGB uint8 image k (pair i uses images 2i and 2i+1)

    def __len__(self) -> int:
        return len(self.issame)

    def image(self, k: int) -> np.ndarray:
        return self._load(k)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, bool]:
        return self.image(2 * i), self.image(2 * i + 1), bool(self.issame[i])


def read_bin(path: str | Path) -> PairSet:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            obj = SafeBinUnpickler(fh, str(path)).load()
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - a truncated or non-pickle file
        raise DatasetError(f"{path}: not a readable verification .bin ({type(e).__name__}: {e})") from e
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
        raise DatasetError(f"{path}: expected a pickled (bins, issame_list) pair, got {type(obj).__name__}")
    bins, issame = obj
    bins = [bytes(b) if isinstance(b, (bytes, bytearray)) else b for b in bins]
    if not all(isinstance(b, bytes) for b in bins):
        raise DatasetError(f"{path}: image entries must be encoded bytes")
    issame = np.asarray([bool(x) for x in issame])
    if len(bins) != 2 * len(issame):
        raise DatasetError(f"{path}: {len(bins)} images for {len(issame)} pairs (expected {2 * len(issame)})")
    return PairSet(path.stem, issame, lambda k: decode_rgb(bins[k], f"{path} image {k}"))


def parse_lfw_pairs(path: str | Path) -> tuple[list[tuple[str, str, bool]], int]:
    """LFW pairs list -> ([(relative path 1, relative path 2, same)], number of folds)."""
    path = Path(path)
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(f"{path}: empty pairs file")
    try:
        head = [int(x) for x in lines[0]]
    except ValueError:
        raise DatasetError(f"{path}:1: header must be 'folds pairs' or a pair count, got {' '.join(lines[0])!r}") from None
    folds, n = (head[0], head[1]) if len(head) == 2 else (1, head[0])
    body = lines[1:]
    if len(body) != folds * 2 * n:
        raise DatasetError(f"{path}: header promises {folds} x 2 x {n} pairs, found {len(body)} lines")
    img = lambda name, i: f"{name}/{name}_{int(i):04d}.jpg"  # noqa: E731
    pairs = []
    for ln, parts in enumerate(body, 2):
        same_expected = ((ln - 2) // n) % 2 == 0
        try:
            if len(parts) == 3:
                pairs.append((img(parts[0], parts[1]), img(parts[0], parts[2]), True))
            elif len(parts) == 4:
                pairs.append((img(parts[0], parts[1]), img(parts[2], parts[3]), False))
            else:
                raise ValueError
        except ValueError:
            raise DatasetError(f"{path}:{ln}: expected 'name i j' or 'name1 i name2 j', got {' '.join(parts)!r}") from None
        if pairs[-1][2] != same_expected:
            raise DatasetError(f"{path}:{ln}: a {'match' if same_expected else 'mismatch'} line was expected here "
                               "(each fold lists its matches, then its mismatches)")
    return pairs, folds


def parse_pair_list(path: str | Path) -> list[tuple[str, str, bool]]:
    """Generic ``path1 path2 label`` list (label 1 = same identity, 0 = different)."""
    path = Path(path)
    pairs = []
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3 or parts[2] not in ("0", "1"):
            raise DatasetError(f"{path}:{ln}: expected 'path1 path2 label' with label 0 or 1, got {line!r}")
        pairs.append((parts[0], parts[1], parts[2] == "1"))
    if not pairs:
        raise DatasetError(f"{path}: no pairs")
    return pairs


def _image_pairs(name, pairs, root: Path) -> PairSet:
    files = [p for a, b, _ in pairs for p in (a, b)]

    def load(k):
        f = Path(files[k])
        return read_rgb(f if f.is_absolute() else root / f)

    return PairSet(name, np.array([s for _, _, s in pairs], bool), load)


def read_pairs(path: str | Path, image_root: str | Path | None = None) -> PairSet:
    """A verification set from a ``.bin``, an LFW pairs file or a generic list (images under image_root,
    default: the list's folder)."""
    path = Path(path)
    if path.suffix == ".bin":
        return read_bin(path)
    first = path.read_text().split("\n", 1)[0].split()
    root = Path(image_root) if image_root else path.parent
    if first and all(t.isdigit() for t in first):
        pairs, _ = parse_lfw_pairs(path)
        return _image_pairs(path.stem, pairs, root)
    return _image_pairs(path.stem, parse_pair_list(path), root)


def detect_bin(path: Path) -> bool:
    return path.is_file() and path.suffix == ".bin"


def detect_pairs(path: Path) -> bool:
    if path.is_dir():
        path = path / "pairs.txt"
    if not path.is_file() or path.suffix != ".txt":
        return False
    first = path.read_text().split("\n", 1)[0].split()
    return bool(first) and (all(t.isdigit() for t in first) or len(first) == 3)


def _validate_pairset(ps: PairSet, report, what: str) -> None:
    sizes = {}
    for k in report.progress(range(2 * len(ps)), what):
        try:
            im = ps.image(k)
            sizes[im.shape[:2]] = sizes.get(im.shape[:2], 0) + 1
        except DatasetError as e:
            report.problem(str(e))
    report.count("pairs", len(ps))
    report.count("same / different", f"{int(ps.issame.sum())} / {int((~ps.issame).sum())}")
    report.count("image sizes", ", ".join(f"{w}x{h}: {n}" for (h, w), n in sizes.items()))


def validate_bin(path: Path, report) -> None:
    _validate_pairset(read_bin(path), report, "verification .bin")


def validate_pairs(path: Path, report) -> None:
    """A pairs file alone is checked for syntax; a folder holding pairs.txt and the images also for images."""
    folder = path if path.is_dir() else None
    lst = path / "pairs.txt" if folder else path
    first = lst.read_text().split("\n", 1)[0].split()
    if all(t.isdigit() for t in first):
        pairs, folds = parse_lfw_pairs(lst)
        report.count("folds", folds)
    else:
        pairs = parse_pair_list(lst)
    root = folder or lst.parent
    referenced = {p for a, b, _ in pairs for p in (a, b)}
    present = [p for p in referenced if (Path(p) if Path(p).is_absolute() else root / p).is_file()]
    if folder is None and not present:
        report.count("pairs", len(pairs))
        report.count("images", f"not checked: none found beside {lst.name} (put it in the image root and check the folder)")
        return
    missing = sorted(referenced - set(present))
    for p in missing[:50]:
        report.problem(f"{root / p}: listed in {lst.name} but missing")
    if len(missing) > 50:
        report.problem(f"... and {len(missing) - 50} more missing images")
    complete = [pp for pp in pairs if pp[0] in present and pp[1] in present]
    if not complete:
        report.count("pairs", len(pairs))
        report.problem(f"{lst}: none of its {len(pairs)} pairs has both images under {root}")
        return
    _validate_pairset(_image_pairs(lst.stem, complete, root), report, lst.name)
