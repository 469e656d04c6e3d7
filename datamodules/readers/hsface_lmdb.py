"""HSFace / Vec2Face LMDB training sets.

Schema (Vec2Face's LMDB writer): each sample key (ASCII of its index) -> ``msgpack([jpeg_bytes, label])``;
``__keys__`` -> msgpack list of the sample keys (bytes), ``__len__`` -> msgpack int,
``__classnum__`` -> msgpack int. The database is a directory (data.mdb) or a single file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.readers.images import DatasetError, check_labelled, decode_rgb


_ENVS: dict[tuple[str, int], object] = {}


def _open_env(path: Path):
    """One read-only environment per database and process: LMDB allows a single open per process, and a
    handle must not cross a fork (DataLoader workers open their own)."""
    import os

    import lmdb

    key = (str(path.resolve()), os.getpid())
    if key not in _ENVS:
        if not path.exists():
            raise DatasetError(f"{path}: does not exist")
        try:
            env = lmdb.open(str(path), subdir=path.is_dir(), readonly=True, lock=False, readahead=False,
                            meminit=False)
            # A torn file (copy cut short) is memory-mapped beyond its end: touching those pages kills the
            # process with SIGBUS. The meta page says how far the data reaches; compare with the file.
            data = path / "data.mdb" if path.is_dir() else path
            need = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
            have = data.stat().st_size
        except lmdb.Error as e:
            raise DatasetError(f"{path}: not an LMDB database ({e})") from e
        if have < need:
            env.close()
            raise DatasetError(f"{data}: torn LMDB file ({have} bytes, its pages reach {need}): copy it again")
        _ENVS[key] = env
    return _ENVS[key]


def close_env(path: Path) -> None:
    """Close this process's read-only handle of a database (before opening it for writing: LMDB allows one
    open per process)."""
    import os

    env = _ENVS.pop((str(Path(path).resolve()), os.getpid()), None)
    if env is not None:
        env.close()


class HSFaceLMDB:
    """``sample(i)`` -> (RGB image, class id); opened lazily so DataLoader workers each get their own handle."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._env = None
        with self._txn() as txn:
            meta = {k: txn.get(k) for k in (b"__keys__", b"__len__", b"__classnum__")}
        missing = [k.decode() for k, v in meta.items() if v is None]
        if missing:
            raise DatasetError(f"{self.path}: not an HSFace LMDB (missing {', '.join(missing)})")
        import msgpack

        try:
            self.keys = list(msgpack.unpackb(meta[b"__keys__"]))
            length, self.num_classes = int(msgpack.unpackb(meta[b"__len__"])), int(msgpack.unpackb(meta[b"__classnum__"]))
        except Exception as e:  # noqa: BLE001
            raise DatasetError(f"{self.path}: unreadable metadata ({e})") from e
        if length != len(self.keys):
            raise DatasetError(f"{self.path}: __len__ is {length} but __keys__ lists {len(self.keys)} keys")

    def _txn(self):
        if self._env is None:
            self._env = _open_env(self.path)
        return self._env.begin(write=False)

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_env"] = None
        return d

    def __len__(self) -> int:
        return len(self.keys)

    def _record(self, i: int):
        import msgpack

        key = self.keys[i]
        with self._txn() as txn:
            raw = txn.get(key)
        if raw is None:
            raise DatasetError(f"{self.path}: key {key!r} listed in __keys__ is missing")
        try:
            rec = msgpack.unpackb(raw)
        except Exception as e:  # noqa: BLE001
            raise DatasetError(f"{self.path} record {key!r}: not msgpack ({type(e).__name__})") from e
        if not isinstance(rec, (list, tuple)) or len(rec) != 2:
            raise DatasetError(f"{self.path} record {key!r}: expected msgpack [image bytes, label], got "
                               f"{type(rec).__name__}{' of ' + str(len(rec)) if isinstance(rec, (list, tuple, dict)) else ''}")
        img, label = rec
        if not isinstance(img, (bytes, bytearray)):
            raise DatasetError(f"{self.path} record {key!r}: image is {type(img).__name__}, not encoded bytes")
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise DatasetError(f"{self.path} record {key!r}: label {label!r} is not a class id (an integer >= 0)")
        return key, bytes(img), label

    def label(self, i: int) -> int:
        return self._record(i)[2]

    def sample(self, i: int) -> tuple[np.ndarray, int]:
        key, img, label = self._record(i)
        return decode_rgb(img, f"{self.path} record {key!r}"), label


def detect(path: Path) -> bool:
    if path.is_dir():
        return (path / "data.mdb").is_file()
    return path.is_file() and path.suffix in (".lmdb", ".mdb")


def validate(path: Path, report) -> None:
    ds = HSFaceLMDB(path)
    labels = check_labelled(ds, report, "HSFace LMDB", lambda i: f"{path} record {ds.keys[i]!r}")
    report.count("images", len(ds))
    report.count("classes (__classnum__)", ds.num_classes)
    labels = [lab for lab in labels if lab is not None]
    if labels:
        depth = np.bincount(labels)
        report.count("images per identity (min/median/max)", f"{depth[depth > 0].min()}/{int(np.median(depth[depth > 0]))}/{depth.max()}")
