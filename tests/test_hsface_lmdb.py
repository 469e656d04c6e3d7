import cv2
import lmdb
import msgpack
import numpy as np
import pytest

from datamodules.readers.hsface_lmdb import HSFaceLMDB
from datamodules.readers.images import DatasetError
from facebench.check import check


def write_hsface(path, labels, classnum=None, subdir=True):
    """Vec2Face's writer schema: str(index) -> msgpack([jpeg, label]); __keys__, __len__, __classnum__."""
    env = lmdb.open(str(path), subdir=subdir, map_size=1 << 26)
    imgs = []
    with env.begin(write=True) as txn:
        for i, lab in enumerate(labels):
            img = np.full((112, 112, 3), 20 * i, np.uint8)
            imgs.append(img)
            txn.put(str(i).encode("ascii"), msgpack.packb([cv2.imencode(".jpg", img)[1].tobytes(), lab]))
        keys = [str(i).encode("ascii") for i in range(len(labels))]
        txn.put(b"__keys__", msgpack.packb(keys))
        txn.put(b"__len__", msgpack.packb(len(keys)))
        txn.put(b"__classnum__", msgpack.packb(classnum if classnum is not None else max(labels) + 1))
    env.close()
    return imgs


@pytest.mark.parametrize("subdir", [True, False])
def test_reads_hsface_schema(tmp_path, subdir):
    path = tmp_path / ("db" if subdir else "db.lmdb")
    imgs = write_hsface(path, [0, 0, 1, 2, 2], subdir=subdir)
    ds = HSFaceLMDB(path)
    assert len(ds) == 5 and ds.num_classes == 3
    img, lab = ds.sample(3)
    assert lab == 2 and np.abs(img.astype(int) - imgs[3]).max() <= 2  # JPEG
    name, report = check(path, progress=False)
    assert name == "hsface_lmdb" and not report.problems and report.counts["images"] == 5


def test_bad_label_and_missing_meta(tmp_path):
    write_hsface(tmp_path / "db", [0, 5], classnum=2)
    name, report = check(tmp_path / "db", progress=False)
    assert report.problems == [f"{tmp_path / 'db'} record b'1': label 5 outside [0, 2)"]
    env = lmdb.open(str(tmp_path / "plain"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0", b"x")
    env.close()
    with pytest.raises(DatasetError, match="not an HSFace LMDB"):
        HSFaceLMDB(tmp_path / "plain")


def test_generate_writes_an_hsface_lmdb_sharded_and_resumable(tmp_path, capsys):
    from datamodules.readers.hsface_lmdb import HSFaceLMDB
    from facebench.check import check
    from facebench.generate import GenerateConfig, generate

    out = tmp_path / "lmdb"
    common = dict(layout="hsface_lmdb", n=10, depth=3, out=str(out), head="procedural", chunk=4, batch=4,
                  supersample=1)
    generate(GenerateConfig(shard="0/2", **common))  # chunks 0 and 2 of 3: no index yet
    assert "other shards' chunks missing" in capsys.readouterr().out
    generate(GenerateConfig(shard="1/2", **common))
    assert "LMDB index written" in capsys.readouterr().out
    ds = HSFaceLMDB(out)
    assert len(ds) == 10 and ds.num_classes == 4  # 10 images of 3 per identity: identities 0..3
    assert [ds.sample(i)[1] for i in range(10)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert ds.sample(0)[0].shape == (112, 112, 3)
    name, report = check(out, progress=False)
    assert name == "hsface_lmdb" and not report.problems
    generate(GenerateConfig(shard="0/1", **common))  # resume: everything is there
    assert "3 chunks already done, 0 written" in capsys.readouterr().out
