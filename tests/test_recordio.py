"""RecordIO reader against files written byte for byte in MXNet's layout (dmlc-core WriteRecord)."""
import struct

import cv2
import numpy as np
import pytest

from datamodules.readers.images import DatasetError
from datamodules.readers.recordio import InsightfaceRec, RecordFile
from facebench.check import check

MAGIC = struct.pack("<I", 0xCED7230A)


def write_record(fh, payload: bytes) -> int:
    """dmlc RecordIOWriter::WriteRecord: split at 4-byte aligned magics (flags 1, 2, 3), pad to 4 bytes."""
    start = fh.tell()
    n, dptr = len(payload), 0
    for i in range(0, n // 4 * 4, 4):
        if payload[i:i + 4] == MAGIC:
            fh.write(MAGIC + struct.pack("<I", ((1 if dptr == 0 else 2) << 29) | (i - dptr)) + payload[dptr:i])
            dptr = i + 4
    fh.write(MAGIC + struct.pack("<I", ((3 if dptr else 0) << 29) | (n - dptr)) + payload[dptr:])
    fh.write(b"\0" * ((n + 3) // 4 * 4 - n))
    return start


def irheader(flag, label, id1=0, id2=0):
    return struct.pack("<IfQQ", flag, label, id1, id2)


def make_rec(root, labels, multi_label=False, magic_in=None):
    """insightface layout: record 0 = (A, B); 1..A-1 images; A..B-1 identity ranges."""
    root.mkdir(parents=True, exist_ok=True)
    imgs = []
    n, classes = len(labels), max(labels) + 1
    A, B = n + 1, n + 1 + classes
    offsets = {}
    with open(root / "train.rec", "wb") as fh:
        offsets[0] = write_record(fh, irheader(2, 0.0) + np.array([A, B], "<f4").tobytes())
        for k, lab in enumerate(labels, 1):
            img = np.full((16, 16, 3), 10 * k, np.uint8)
            ok, buf = cv2.imencode(".png", img)
            data = buf.tobytes()
            if magic_in == k:
                data = data + b"\0" * ((-len(data)) % 4) + MAGIC + b"tail"  # forces a 2-part record
            imgs.append(img)
            head = irheader(2, 0.0, k) + np.array([lab, 7.0], "<f4").tobytes() if multi_label else irheader(0, float(lab), k)
            # pad the header so the magic lands on a 4-byte boundary of the whole payload
            offsets[k] = write_record(fh, head + data)
        for c in range(classes):
            s = 1 + labels.index(c)
            e = s + labels.count(c)
            offsets[A + c] = write_record(fh, irheader(2, 0.0) + np.array([s, e], "<f4").tobytes())
    (root / "train.idx").write_text("".join(f"{k}\t{o}\n" for k, o in offsets.items()))
    (root / "property").write_text(f"{classes},16,16")
    return imgs


@pytest.mark.parametrize("multi_label", [False, True])
def test_reads_insightface_layout(tmp_path, multi_label):
    labels = [0, 0, 1, 1, 1, 2]
    imgs = make_rec(tmp_path / "rec", labels, multi_label=multi_label)
    ds = InsightfaceRec(tmp_path / "rec")
    assert len(ds) == 6 and ds.num_classes == 3 and ds.id_range == (7, 10)
    for i, lab in enumerate(labels):
        img, got = ds.sample(i)
        assert got == lab and np.array_equal(img, imgs[i])


def test_record_split_at_magic_is_reassembled(tmp_path):
    make_rec(tmp_path / "rec", [0, 1], magic_in=2)
    raw = (tmp_path / "rec" / "train.rec").read_bytes()
    assert raw.count(MAGIC) == 2 + 1 + 2 + 1  # record 2 is written in two parts
    f = RecordFile(tmp_path / "rec" / "train.rec", tmp_path / "rec" / "train.idx")
    assert f.read(2).endswith(MAGIC + b"tail")
    ds = InsightfaceRec(tmp_path / "rec")
    assert ds.sample(1)[1] == 1  # PNG decoders ignore the trailing bytes


def test_check_recordio_and_corruption(tmp_path):
    make_rec(tmp_path / "rec", [0, 1, 1])
    name, report = check(tmp_path / "rec", progress=False)
    assert name == "insightface_recordio" and not report.problems
    assert report.counts["images"] == 3 and report.counts["classes"] == 2
    data = bytearray((tmp_path / "rec" / "train.rec").read_bytes())
    off = int((tmp_path / "rec" / "train.idx").read_text().splitlines()[2].split("\t")[1])
    data[off:off + 4] = b"\0\0\0\0"
    (tmp_path / "rec" / "train.rec").write_bytes(bytes(data))
    name, report = check(tmp_path / "rec", progress=False)
    assert any("bad magic" in p and "record 2" in p for p in report.problems)
    with pytest.raises(DatasetError, match="bad magic"):
        InsightfaceRec(tmp_path / "rec").sample(1)


def test_recognition_datamodule_trains_from_recordio(tmp_path):
    from datamodules.recognition import RecognitionDataModule

    make_rec(tmp_path / "rec", [0, 1, 1, 2])
    dm = RecognitionDataModule(train_path=str(tmp_path / "rec"), size=16, head="procedural", num_workers=0,
                                     val_pairs=10, val_identities=4)
    dm.setup("fit")
    assert dm.num_classes == 3 and len(dm.train_set) == 4
    x, y, _, _ = dm.train_set[2]
    assert x.shape == (3, 16, 16) and y == 1
