import shutil

from facebench.errors import ConfigError
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from datamodules.readers.facesynthetics import FaceSyntheticsFolder, read_landmarks
from datamodules.readers.identity_folders import IdentityFolder
from datamodules.readers.images import DatasetError
from facebench.check import check
from facebench.generate import GenerateConfig, generate

ROOT = Path(__file__).resolve().parents[1]


def _gen(tmp_path, **kw):
    cfg = GenerateConfig(out=str(tmp_path), head="procedural", size=64, chunk=4, batch=4, **kw)
    return generate(cfg)


def test_facesynthetics_round_trip(tmp_path):
    out = _gen(tmp_path / "fs", n=6, framing="wild")
    ds = FaceSyntheticsFolder(out)
    assert len(ds) == 6
    s = ds.sample(4)
    assert s["image"].shape == (64, 64, 3) and s["seg"].shape == (64, 64) and s["ldmks"].shape == (70, 2)
    from facebench.render.source import RenderSource
    from facebench.render.spec import DatasetSpec

    src = RenderSource(DatasetSpec(width=1, depth=10, seed=0), size=64, framing="wild", head="procedural")
    r = src.render([4])
    assert np.array_equal(s["seg"], r.seg[0].numpy())
    assert np.allclose(s["ldmks"], r.ldmk2d[0].numpy(), atol=1e-3)
    img = (r.image[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(s["image"], img)  # PNG is lossless
    assert s["meta"]["identity"] == 0 and len(s["meta"]["landmarks_visible"]) == 70


def test_identity_folder_round_trip(tmp_path):
    out = _gen(tmp_path / "id", n=9, depth=3, layout="identity_folders")
    ds = IdentityFolder(out)
    assert ds.num_classes == 3 and len(ds) == 9
    assert [lab for _, lab in ds.items] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.items[4][0].relative_to(out).as_posix() == "000001/0001.jpg"


def test_resume_after_killed_generation(tmp_path):
    import signal
    import time

    args = ["n=24", "chunk=4", "batch=4", "size=48", "head=procedural"]
    ref, out = tmp_path / "ref", tmp_path / "killed"
    subprocess.run([sys.executable, "-m", "facebench.generate", f"out={ref}", *args], check=True, cwd=ROOT,
                   capture_output=True)
    # Kill a second run (SIGKILL, no cleanup) once it has finished some chunks but not all.
    proc = subprocess.Popen([sys.executable, "-m", "facebench.generate", f"out={out}", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "manifest" / "chunk_000001.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "manifest").glob("chunk_*.json")))
    assert 0 < done < 6, f"kill came too late or too early ({done} chunks done)"
    r = subprocess.run([sys.executable, "-m", "facebench.generate", f"out={out}", *args], check=True, cwd=ROOT,
                       capture_output=True, text=True)
    assert f"{done} chunks already done, {6 - done} written" in r.stdout
    files = lambda d: {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*")  # noqa: E731
                       if p.is_file() and p.parent.name != "manifest" and ".tmp" not in p.name}
    got, want = files(out), files(ref)
    assert got.keys() == want.keys()  # no holes, no duplicates (leftover temporaries aside)
    assert all(got[k] == want[k] for k in want)  # byte-identical to an uninterrupted run


def test_shards_partition_the_chunks(tmp_path):
    out = tmp_path / "sh"
    for i in range(3):
        generate(GenerateConfig(out=str(out), n=10, chunk=2, batch=2, size=32, head="procedural", shard=f"{i}/3"))
    names = sorted(p.name for p in out.glob("*.png") if "_seg" not in p.name)
    assert names == [f"{i:06d}.png" for i in range(10)]


def test_changed_settings_refuse_to_mix(tmp_path):
    _gen(tmp_path / "mix", n=4)
    with pytest.raises(ConfigError, match="other settings"):
        _gen(tmp_path / "mix", n=4, seed=1)
    # The resolved head and the renderer's code are recorded: a resume under another renderer is refused.
    import json

    sfile = tmp_path / "mix" / "generate_config.json"
    rec = json.loads(sfile.read_text())
    assert rec["head_used"] == "procedural" and rec["head_file_sha1"] is None and len(rec["renderer_version"]) == 16
    rec["renderer_version"] = "0" * 16
    sfile.write_text(json.dumps(rec))
    with pytest.raises(ConfigError, match="renderer_version"):
        _gen(tmp_path / "mix", n=4)


def test_fixture_facesynthetics_reader(fixtures_dir):
    ds = FaceSyntheticsFolder(fixtures_dir / "facesynthetics")
    assert len(ds) == 6
    s = ds.sample(0)
    assert s["image"].shape == (512, 512, 3) and s["seg"].shape == (512, 512)
    assert s["ldmks"].shape == (70, 2)
    assert set(np.unique(s["seg"])) <= set(range(19)) | {255}
    # The viewer-side naming: class 4 (LEFT_EYE) is where the subject's right eye (36-41) is.
    ys, xs = np.nonzero(s["seg"] == 4)
    assert abs(xs.mean() - s["ldmks"][36:42, 0].mean()) < 20


def test_bad_inputs_name_the_file(tmp_path, fixtures_dir):
    d = tmp_path / "bad"
    shutil.copytree(fixtures_dir / "facesynthetics", d)
    (d / "000001_seg.png").unlink()
    lines = (d / "000002_ldmks.txt").read_text().splitlines()
    (d / "000002_ldmks.txt").write_text("\n".join(lines[:68]) + "\n")
    (d / "000003.png").write_bytes(b"not a png")
    (d / "000004_ldmks.txt").write_text("1.0 2.0\n" * 69 + "x y\n")
    ds = FaceSyntheticsFolder(d)
    with pytest.raises(DatasetError, match="000001_seg.png"):
        ds.sample(1)
    with pytest.raises(DatasetError, match="000002_ldmks.txt: expected 70 landmarks, found 68"):
        ds.sample(2)
    with pytest.raises(DatasetError, match="000003.png: not a readable image"):
        ds.sample(3)
    with pytest.raises(DatasetError, match="000004_ldmks.txt:70: non-numeric"):
        read_landmarks(d / "000004_ldmks.txt")
    name, report = check(d, progress=False)
    assert name == "facesynthetics" and len(report.problems) == 4
    r = subprocess.run([sys.executable, "-m", "facebench.check", str(d)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "000003.png" in r.stdout


def test_check_identity_folders_and_unknown(tmp_path):
    root = tmp_path / "ids"
    (root / "alice").mkdir(parents=True)
    (root / "bob").mkdir()
    img = np.zeros((8, 8, 3), np.uint8)
    cv2.imwrite(str(root / "alice" / "0.jpg"), img)
    cv2.imwrite(str(root / "bob" / "0.jpg"), img)
    (root / "bob" / "1.jpg").write_bytes(b"\xff\xd8 broken")
    name, report = check(root, progress=False)
    assert name == "identity_folders"
    assert report.counts["identities"] == 2 and report.counts["images"] == 3
    assert len(report.problems) == 1 and "bob/1.jpg" in report.problems[0]
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-m", "facebench.check", str(tmp_path / "empty")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not recognised" in r.stdout


def test_recognition_datamodule_serves_a_generated_folder(tmp_path):
    from datamodules.recognition import RecognitionDataModule

    out = _gen(tmp_path / "ids", n=6, depth=2, layout="identity_folders", framing="aligned")
    dm = RecognitionDataModule(train_path=str(out), size=64, head="procedural", num_workers=0, batch_size=3,
                                     val_pairs=10, val_identities=4)
    dm.setup("fit")
    assert dm.num_classes == 3 and len(dm.train_set) == 6
    x, y, _, _ = dm.train_set[3]
    assert x.shape == (3, 64, 64) and y == 1
    from facebench.render.source import RenderSource
    from facebench.render.spec import DatasetSpec

    ref = RenderSource(DatasetSpec(width=3, depth=2, seed=0), size=64, head="procedural").render([3]).image[0]
    assert (x / 2 + 0.5 - ref).abs().mean() < 0.03  # same sample, through JPEG


def test_generate_verification_bin_reads_back(tmp_path):
    from datamodules.readers.verification import read_bin

    out = generate(GenerateConfig(layout="verification_bin", n=12, out=str(tmp_path / "held.bin"), head="procedural",
                                  batch=4))
    ps = read_bin(out)
    assert len(ps) == 12 and ps.issame.tolist() == [p % 2 == 0 for p in range(12)]
    a, b, same = ps.pair(0)
    assert a.shape == (112, 112, 3) and same
    name, report = check(out, progress=False)
    assert name == "verification_bin" and not report.problems
