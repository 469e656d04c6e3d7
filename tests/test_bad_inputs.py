"""Bad inputs, each built in its dataset's real layout: the commands answer with one line that names the
file, a non-zero exit status, and no traceback (issue: reliability). ``check`` runs in-process through the
same wrapper as ``python -m facebench.check``; ``run`` (Hydra) and the torn-LMDB case run as subprocesses."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest

from facebench.errors import run_command
from test_hsface_lmdb import write_hsface
from test_recordio import make_rec

ROOT = Path(__file__).resolve().parents[1]


def _jpeg(path: Path, value: int = 120, size: int = 32) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    buf = cv2.imencode(".jpg", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))[1].tobytes()
    path.write_bytes(buf)
    return buf


def _identity_folders(root: Path, ids=3, depth=2) -> Path:
    for k in range(ids):
        for j in range(depth):
            _jpeg(root / f"id{k:03d}" / f"{j}.jpg", 10 * k + j)
    return root


def _pts(path: Path, pts: np.ndarray) -> None:
    path.write_text("version: 1\nn_points:  %d\n{\n%s\n}\n" % (len(pts), "\n".join(f"{x} {y}" for x, y in pts)))


def _check(capsys, path) -> tuple[int, str, str]:
    from facebench.check import main

    with pytest.raises(SystemExit) as e:
        run_command(main, [str(path)])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def _problems(stdout: str) -> list[str]:
    return [ln[4:] for ln in stdout.splitlines() if ln.startswith("  - ")]


def test_truncated_jpeg_is_refused_by_check_and_by_training(tmp_path, capsys):
    root = _identity_folders(tmp_path / "ids")
    bad = root / "id001" / "1.jpg"
    bad.write_bytes(bad.read_bytes()[:-200])
    code, out, err = _check(capsys, root)
    assert code == 1 and _problems(out) == [f"{bad}: truncated JPEG (no end-of-image marker after the last scan)"]
    from datamodules.datasets.disk import LabelledImageDataset
    from facebench.errors import DatasetError

    ds = LabelledImageDataset(str(root), 32)
    with pytest.raises(DatasetError, match="truncated JPEG"):
        [ds[i] for i in range(len(ds))]


def test_truncated_png_and_empty_image(tmp_path, capsys):
    root = _identity_folders(tmp_path / "ids")
    png = root / "id000" / "p.png"
    png.write_bytes(cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes()[:-20])
    empty = root / "id002" / "e.jpg"
    empty.write_bytes(b"")
    code, out, _ = _check(capsys, root)
    probs = _problems(out)
    assert code == 1 and len(probs) == 2
    assert f"{png}: truncated PNG" in probs[1] or f"{png}: truncated PNG" in probs[0]
    assert any(p == f"{empty}: empty image (0 bytes)" for p in probs)


def test_empty_identity_folder_is_named_not_skipped(tmp_path, capsys):
    root = _identity_folders(tmp_path / "ids")
    (root / "id001b").mkdir()
    code, out, _ = _check(capsys, root)
    assert code == 1 and any(p.startswith(f"{root / 'id001b'}: identity folder without images") for p in _problems(out))
    from datamodules.readers.identity_folders import IdentityFolder
    from facebench.errors import DatasetError

    with pytest.raises(DatasetError, match="id001b: identity folder without images"):
        IdentityFolder(root)


@pytest.mark.parametrize("layout", ["ckplus48", "fer2013_split", "fer2013_root", "lapa", "celebamask"])
def test_expression_and_parsing_sets_are_not_identity_sets(tmp_path, capsys, layout):
    root = tmp_path / layout
    if layout == "ckplus48":
        for c in ("anger", "happy", "surprise"):
            _jpeg(root / c / "S010_004_00000017.jpg")
    elif layout.startswith("fer2013"):
        for split in ("train", "test"):
            for c in ("angry", "happy", "neutral"):
                _jpeg(root / split / c / f"{split}_0.jpg")
        root = root / "train" if layout == "fer2013_split" else root
    elif layout == "lapa":
        for split in ("train", "val"):
            _jpeg(root / split / "images" / "a.jpg")
            _jpeg(root / split / "labels" / "a.jpg")
            (root / split / "landmarks").mkdir()
    else:
        _jpeg(root / "images" / "h.jpg")
        _jpeg(root / "masks" / "h.jpg")
    code, out, _ = _check(capsys, root)
    kind = "parsing_set" if layout in ("lapa", "celebamask") else "expression_set"
    assert f"format {kind}" in out
    if kind == "expression_set":  # read as what it is: an expression set with class folders
        assert code == 0 and "layout: expression_folders" in out
    else:  # read as a parsing set: its JPEG "labels" are not the PNG label maps it needs
        assert code == 1 and "label map missing" in out
    from datamodules.datasets.disk import LabelledImageDataset
    from facebench.errors import DatasetError

    with pytest.raises(DatasetError, match="not identity folders"):
        LabelledImageDataset(str(root), 32)


def test_landmark_files_nan_wrong_count_and_unpaired(tmp_path, capsys):
    root = tmp_path / "300w"
    pts = np.random.default_rng(0).uniform(5, 25, (68, 2))
    for name in ("a", "b", "c"):
        _jpeg(root / f"{name}.jpg")
    nan = pts.copy()
    nan[7, 1] = np.nan
    _pts(root / "a.pts", nan)
    _pts(root / "b.pts", np.r_[pts, [[3.0, 4.0]]])
    _pts(root / "c.pts", pts)
    _pts(root / "d.pts", pts)  # its image is a .gif: no image the readers know
    (root / "d.gif").write_bytes(b"GIF89a")
    code, out, _ = _check(capsys, root)
    probs = _problems(out)
    assert code == 1 and len(probs) == 3, probs
    assert any(p.startswith(f"{root / 'a.pts'}: point 7 is not finite") for p in probs)
    assert any(p.startswith(f"{root / 'b.pts'}: 69 points") for p in probs)
    assert any(p.startswith(f"{root / 'd.pts'}: no image with the same name") for p in probs)


def test_segmentation_classes_out_of_range_fail_everywhere(tmp_path, capsys):
    from datamodules.datasets.landmark_crops import LandmarkSetDataset
    from facebench.errors import DatasetError

    root = tmp_path / "fs"
    root.mkdir()
    cv2.imwrite(str(root / "000000.png"), np.zeros((32, 32, 3), np.uint8))
    seg = np.zeros((32, 32), np.uint8)
    seg[3, 3] = 40
    cv2.imwrite(str(root / "000000_seg.png"), seg)
    (root / "000000_ldmks.txt").write_text("".join(f"{x} {x}\n" for x in range(10, 80)))
    code, out, _ = _check(capsys, root)
    assert code == 1 and _problems(out)[0].startswith(f"{root / '000000_seg.png'}: class ids [40] out of range")
    with pytest.raises(DatasetError, match="000000_seg.png: class ids"):
        LandmarkSetDataset(str(root))[0]


def test_lmdb_records_of_the_wrong_shape_are_named(tmp_path, capsys):
    import lmdb

    path = tmp_path / "hs"
    write_hsface(path, [0, 0, 1, 1])
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"1", msgpack.packb({"img": b"x", "label": 0}))
        txn.put(b"2", msgpack.packb([cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes(), "1"]))
        txn.put(b"3", msgpack.packb([b"", 1]))
    env.close()
    code, out, _ = _check(capsys, path)
    probs = _problems(out)
    assert code == 1 and len(probs) == 3, probs
    assert probs[0].startswith(f"{path} record b'1': expected msgpack [image bytes, label], got dict")
    assert probs[1] == f"{path} record b'2': label '1' is not a class id (an integer >= 0)"
    assert probs[2] == f"{path} record b'3': empty image (0 bytes)"


def test_torn_lmdb_is_an_error_not_a_bus_error(tmp_path):
    path = tmp_path / "hs"
    write_hsface(path, list(range(12)))
    data = path / "data.mdb"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    r = subprocess.run([sys.executable, "-m", "facebench.check", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{data}: torn LMDB file" in r.stdout + r.stderr


def test_torn_recordio_offset_gives_one_error_not_its_follow_ons(tmp_path, capsys):
    root = tmp_path / "rec"
    make_rec(root, [0, 0, 1, 1, 2, 2])
    lines = (root / "train.idx").read_text().splitlines()
    key, off = lines[3].split("\t")
    lines[3] = f"{key}\t{int(off) + 3}"
    (root / "train.idx").write_text("\n".join(lines) + "\n")
    code, out, _ = _check(capsys, root)
    probs = _problems(out)
    assert code == 1 and len(probs) == 1 and probs[0].startswith(f"{root / 'train.rec'}: bad magic"), probs
    assert "in record 3 " in probs[0]


def test_missing_path_and_pairs_that_resolve_to_nothing(tmp_path, capsys):
    code, out, err = _check(capsys, tmp_path / "nowhere")
    assert code == 1 and "format None" not in out + err and err.strip() == f"error: {tmp_path / 'nowhere'}: does not exist"
    root = tmp_path / "lfw"
    _jpeg(root / "Someone" / "Someone_0001.jpg")
    (root / "pairs.txt").write_text("1 1\nNobody 1 2\nA 1 B 1\n")
    code, out, _ = _check(capsys, root)
    assert code == 1 and _problems(out)[-1] == f"{root / 'pairs.txt'}: none of its 2 pairs has both images under {root}"


def test_eval_missing_checkpoint_names_it(tmp_path, capsys):
    from facebench.eval import main

    with pytest.raises(SystemExit) as e:
        run_command(main, ["verify", f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "data=render"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.splitlines()[0] == \
        f"error: {tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}: checkpoint not found"


def _run(tmp_path, *overrides):
    return subprocess.run([sys.executable, "-m", "facebench.run", "logger=csv", "trainer=smoke", "data.num_workers=0",
                           "data.head=procedural", f"hydra.run.dir={tmp_path / 'run'}", *overrides], cwd=ROOT,
                          capture_output=True, text=True, env={**__import__("os").environ, "WANDB_MODE": "disabled"})


def test_run_config_typo_fails_before_anything_runs(tmp_path):
    r = _run(tmp_path, "trainer.max_epochs=abc")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "error: trainer.max_epochs='abc': expected an integer" in r.stderr
    assert not (tmp_path / "run").exists()


def test_run_with_a_truncated_training_image_names_it(tmp_path):
    root = _identity_folders(tmp_path / "ids", ids=4, depth=4)
    bad = root / "id002" / "3.jpg"
    bad.write_bytes(bad.read_bytes()[:-150])
    r = _run(tmp_path, f"data.train_path={root}", "data.batch_size=8", "data.size=32", "data.val_pairs=20",
             "data.val_identities=4")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"error: {bad}: truncated JPEG" in r.stderr


def test_run_with_fewer_samples_than_a_batch_says_why(tmp_path):
    r = _run(tmp_path, "data.width=2", "data.depth=2", "data.batch_size=8", "data.size=32", "data.val_pairs=20",
             "data.val_identities=4")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "4 samples, fewer than one batch of 8" in r.stderr


@pytest.mark.parametrize("override, message", [
    ("trainer.max_epochs=abc", "trainer.max_epochs='abc': expected an integer"),
    ("data.batch_size=abc", "data.batch_size='abc': expected int"),
    ("model.lr=fast", "model.lr='fast': expected a number"),
    ("model.backbone.width=1.5", "model.backbone.width=1.5: expected int"),
])
def test_config_values_are_checked_against_their_constructors(override, message):
    from hydra import compose, initialize_config_dir

    from facebench.errors import ConfigError
    from facebench.run import validate_config

    with initialize_config_dir(config_dir=str(ROOT / "facebench" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[override])
    with pytest.raises(ConfigError) as e:
        validate_config(cfg)
    assert str(e.value) == message


def test_every_experiment_passes_the_config_check():
    from hydra import compose, initialize_config_dir

    from facebench.run import validate_config

    for exp in sorted((ROOT / "experiments").rglob("*.yaml")):
        name = exp.relative_to(ROOT / "experiments").with_suffix("").as_posix()
        with initialize_config_dir(config_dir=str(ROOT / "facebench" / "conf"), version_base="1.3"):
            cfg = compose("config", overrides=[f"experiment={name}", "init_from=x"])
        validate_config(cfg)


def test_check_aflw2000_counts_yaw_bins(fixtures_dir):
    """facebench.check on the AFLW2000-3D fixture (image00050.mat, near-frontal) reports its yaw bin."""
    from facebench.check import check

    kind, report = check(fixtures_dir / "aflw2000_3d", progress=False)
    assert kind == "aflw2000_3d" and not report.problems
    assert report.counts["yaw bins"] == "[0,30): 1"


def test_bad_render_settings_are_config_errors():
    from facebench.errors import ConfigError
    from facebench.render.settings import RenderSettings

    with pytest.raises(ConfigError, match="head must be one of"):
        RenderSettings(head="ict2")
    with pytest.raises(ConfigError, match="supersample"):
        RenderSettings(supersample=0)
