"""insightface training sets in MXNet RecordIO (``train.rec``, ``train.idx``, ``property``), without mxnet.

Layout (dmlc-core ``recordio.cc`` and MXNet ``recordio.py``):
- ``train.idx``: lines ``key<TAB>byte offset`` of each record in ``train.rec``.
- a record: little-endian u32 magic ``0xced7230a``, u32 ``lrecord`` (top 3 bits: continuation flag, low 29
  bits: length), the payload padded with zeros to 4 bytes. A payload that contains the magic at a 4-byte
  aligned position is written in parts (flag 1 first, 2 middle, 3 last) and read back with the magic
  re-inserted between parts.
- payload: IRHeader ``struct '<IfQQ'`` (flag, label, id, id2; 24 bytes); if flag > 0, ``flag`` float32
  labels follow (and the header's label is unused); then the encoded image.
- record 0's labels are (A, B): records 1..A-1 are images, A..B-1 hold each identity's (start, end) range.
  ``property`` holds ``num_classes,height,width``.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from datamodules.readers.images import DatasetError, check_labelled, decode_rgb

MAGIC = 0xCED7230A
_HEADER = struct.Struct("<IfQQ")


def read_index(path: str | Path) -> dict[int, int]:
    path = Path(path)
    index = {}
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            key, off = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            raise DatasetError(f"{path}:{ln}: expected 'key<TAB>offset', got {line!r}") from None
        index[key] = off
    return index


def unpack(payload: bytes, where: str) -> tuple[int, float | np.ndarray, int, int, bytes]:
    """(flag, label or labels, id, id2, remaining bytes) of an MXNet image record payload."""
    if len(payload) < _HEADER.size:
        raise DatasetError(f"{where}: record shorter than its 24-byte IRHeader")
    flag, label, id1, id2 = _HEADER.unpack_from(payload)
    rest = payload[_HEADER.size:]
    if flag > 0:
        if len(rest) < 4 * flag:
            raise DatasetError(f"{where}: header announces {flag} labels but the record is too short")
        label = np.frombuffer(rest[:4 * flag], "<f4").copy()
        rest = rest[4 * flag:]
    return flag, label, id1, id2, rest


class RecordFile:
    """Random access to the records of a ``.rec`` file through its ``.idx``."""

    def __init__(self, rec: str | Path, idx: str | Path):
        self.rec, self.idx = Path(rec), Path(idx)
        for p in (self.rec, self.idx):
            if not p.is_file():
                raise DatasetError(f"{p}: missing")
        self.index = read_index(self.idx)
        self._fh = None

    def __getstate__(self):  # DataLoader workers reopen the file
        d = dict(self.__dict__)
        d["_fh"] = None
        return d

    def read(self, key: int) -> bytes:
        if self._fh is None:
            self._fh = open(self.rec, "rb")
        if key not in self.index:
            raise DatasetError(f"{self.idx}: no record with key {key}")
        self._fh.seek(self.index[key])
        out = b""
        while True:
            head = self._fh.read(8)
            if len(head) != 8:
                raise DatasetError(f"{self.rec}: truncated record {key}")
            magic, lrec = struct.unpack("<II", head)
            if magic != MAGIC:
                raise DatasetError(f"{self.rec}: bad magic {magic:#x} in record {key} (offset from {self.idx})")
            cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
            data = self._fh.read((length + 3) // 4 * 4)
            if len(data) < length:
                raise DatasetError(f"{self.rec}: truncated record {key}")
            out += data[:length]
            if cflag in (0, 3):
                return out
            out += struct.pack("<I", MAGIC)


class InsightfaceRec:
    """An insightface RecordIO training set: ``sample(i)`` -> (RGB image, class id)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.file = RecordFile(self.root / "train.rec", self.root / "train.idx")
        _, head, *_ = unpack(self.file.read(0), f"{self.file.rec} record 0")
        if isinstance(head, np.ndarray) and len(head) >= 2:
            self.keys = list(range(1, int(head[0])))
            self.id_range = (int(head[0]), int(head[1]))
        else:  # a plain list without the identity header: every indexed record but 0 is an image
            self.keys = sorted(k for k in self.file.index if k != 0)
            self.id_range = None
        prop = self.root / "property"
        self.num_classes = None
        if prop.is_file():
            try:
                self.num_classes = int(prop.read_text().split(",")[0])
            except ValueError:
                raise DatasetError(f"{prop}: expected 'num_classes,height,width'") from None
        if self.num_classes is None and self.id_range is not None:
            self.num_classes = self.id_range[1] - self.id_range[0]

    def __len__(self) -> int:
        return len(self.keys)

    def _record(self, i: int):
        key = self.keys[i]
        return key, unpack(self.file.read(key), f"{self.file.rec} record {key}")

    def _class_id(self, key: int, label) -> int:
        v = float(label[0] if isinstance(label, np.ndarray) and label.size else label)
        if not np.isfinite(v) or v != int(v) or v < 0:
            raise DatasetError(f"{self.file.rec} record {key}: label {v} is not a class id (a whole number >= 0)")
        return int(v)

    def label(self, i: int) -> int:
        key, (_, label, *_rest) = self._record(i)
        return self._class_id(key, label)

    def sample(self, i: int) -> tuple[np.ndarray, int]:
        key, (_, label, _, _, img) = self._record(i)
        lab = self._class_id(key, label)
        return decode_rgb(img, f"{self.file.rec} record {key}"), lab


def detect(path: Path) -> bool:
    return path.is_dir() and (path / "train.rec").is_file() and (path / "train.idx").is_file()


def validate(path: Path, report) -> None:
    ds = InsightfaceRec(path)
    labels = check_labelled(ds, report, "RecordIO", lambda i: f"{ds.file.rec} record {ds.keys[i]}")
    if ds.id_range is not None:
        a, b = ds.id_range
        for key in range(a, b):
            try:
                _, rng, *_ = unpack(ds.file.read(key), f"{ds.file.rec} record {key}")
            except DatasetError as e:
                report.problem(str(e))
                continue
            s, e = (int(x) for x in np.atleast_1d(rng)[:2])
            # Unreadable images (None) were reported already: not counted again against their identity.
            bad = [lab for lab in labels[s - 1:e - 1] if lab is not None and lab != key - a]
            if not (1 <= s <= e <= a) or bad:
                report.problem(f"{ds.file.rec} identity record {key}: range ({s}, {e}) does not hold exactly "
                               f"the images of class {key - a}")
    report.count("images", len(ds))
    report.count("classes", ds.num_classes)
    if any(lab is not None for lab in labels):
        report.count("classes seen in records", len({lab for lab in labels if lab is not None}))
