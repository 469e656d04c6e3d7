import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from facebench.run import train

ROOT = Path(__file__).resolve().parents[1]


def test_fan_smoke_then_eval_landmarks_on_300w_fixture(tmp_path, fixtures_dir, wflw_release):
    with initialize_config_dir(config_dir=str(ROOT / "facebench" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=fan/fan3d_render", "trainer=smoke", "trainer.max_epochs=1", "logger=csv", "data.num_workers=0",
            "data.head=procedural", "data.batch_size=2", "data.n_train=4", "data.val_render=0", "data.render_size=96",
            "model.net.width=32", "model.net.stacks=1", f"data.val_sets=[{fixtures_dir / '300w'}]"])
    cfg.output_dir = str(tmp_path / "run")
    metrics = train(cfg)
    assert "val/300w/nme_inter_ocular" in metrics and "val/300w/auc@7_box" in metrics
    r = subprocess.run([sys.executable, "-m", "facebench.eval", "landmarks",
                        f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", f"data={fixtures_dir / '300w'}",
                        f"ced={tmp_path / 'ced.png'}", "workers=0", "flip_test=true"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "300w: 2 images, 68 points" in r.stdout and "NME (inter_ocular)" in r.stdout and "AUC@7" in r.stdout
    assert (tmp_path / "ced.png").stat().st_size > 1000
    # The resolution x box-noise ablation in one command: one table row per setting.
    r = subprocess.run([sys.executable, "-m", "facebench.eval", "landmarks",
                        f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", f"data={fixtures_dir / '300w'}",
                        f"ced={tmp_path / 'abl.png'}", "workers=0", "face_px=0,30", "box_noise=0,0.3",
                        f"table={tmp_path / 'abl.md'}"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "abl.md").read_text()
    assert text.startswith("Produced by:\n\n    python -m facebench.eval landmarks checkpoint=") and "face_px=0,30" in text
    rows = text[text.index("| face px"):].splitlines()
    assert rows[0].startswith("| face px | box noise | NME box") and len(rows) == 2 + 4
    assert [row.split("|")[1:3] for row in rows[2:]] == [[" native ", " 0% "], [" native ", " 30% "], [" 30 ", " 0% "],
                                                          [" 30 ", " 30% "]]
    # WFLW (98 points) through the table, with its attribute breakdown.
    wflw, _ = wflw_release
    r = subprocess.run([sys.executable, "-m", "facebench.eval", "landmarks",
                        f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", f"data={wflw}",
                        f"ced={tmp_path / 'wflw.png'}", "workers=0"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "NME (inter_ocular) by WFLW attribute: expression" in r.stdout and "occlusion" in r.stdout
    assert "pose" not in r.stdout.split("by WFLW attribute:")[1]


def test_eval_adapt_runs_on_fixture_splits(tmp_path, fixtures_dir):
    with initialize_config_dir(config_dir=str(ROOT / "facebench" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=fan/fan3d_render", "trainer=smoke", "trainer.max_epochs=1", "logger=csv", "data.num_workers=0",
            "data.head=procedural", "data.batch_size=2", "data.n_train=4", "data.val_render=2", "data.render_size=96",
            "model.net.width=32", "model.net.stacks=1"])
    cfg.output_dir = str(tmp_path / "run")
    train(cfg)
    d = str(fixtures_dir / "300w")
    r = subprocess.run([sys.executable, "-m", "facebench.eval", "adapt", f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
                        f"train={d}", f"val={d}", f"data={d}", "workers=0", "epochs=20"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "label adaptation (MLP, best epoch" in r.stdout and "% with" in r.stdout
