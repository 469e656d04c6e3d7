import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from hydra import compose, initialize_config_dir

from facebench.run import train

ROOT = Path(__file__).resolve().parents[1]


def _bin(path, n_pairs=20):
    rng = np.random.default_rng(0)
    bins = [cv2.imencode(".jpg", rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))[1].tobytes()
            for _ in range(2 * n_pairs)]
    with open(path, "wb") as fh:
        pickle.dump((bins, [i % 2 == 0 for i in range(n_pairs)]), fh, protocol=pickle.HIGHEST_PROTOCOL)


def test_train_with_bin_val_set_then_eval_verify(tmp_path, capsys):
    """A model trained at 128 px is evaluated at 128 px (renders and .bin images) without an override: eval
    builds its data from the run's saved config."""
    _bin(tmp_path / "toy_lfw.bin")
    with initialize_config_dir(config_dir=str(ROOT / "facebench" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=synface/render_baseline", "trainer=smoke", "trainer.max_epochs=1", "logger=csv",
            "data.num_workers=0", "data.batch_size=8", "data.width=8", "data.val_pairs=20",
            "data.val_identities=10", "data.head=procedural", "data.size=128", "seed=3",
            f"data.val_sets=[{tmp_path / 'toy_lfw.bin'}]"])
    run = tmp_path / "run"
    cfg.output_dir = str(run)
    metrics = train(cfg)
    assert {"val/render_heldout/acc", "val/toy_lfw/acc", "val/toy_lfw/tar@far=1e-3", "val/toy_lfw/auc"} <= set(metrics)
    r = subprocess.run([sys.executable, "-m", "facebench.eval", "verify", f"checkpoint={run / 'checkpoints' / 'last.ckpt'}",
                        f"data={tmp_path / 'toy_lfw.bin'}", "workers=0"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "toy_lfw: accuracy" in r.stdout and "(10-fold, insightface protocol, 20 pairs, 128x128)" in r.stdout
    assert "TAR@FAR=1e-3" in r.stdout and "AUC" in r.stdout
    from facebench.eval import VerifyConfig, verify

    out = verify(VerifyConfig(checkpoint=str(run / "checkpoints" / "last.ckpt"), data="render", workers=0,
                              render_pairs=20, render_identities=4, batch=20))
    assert 0 <= out["acc"] <= 1
    said = capsys.readouterr().out
    assert "render_heldout: accuracy" in said and "128x128 aligned renders, seed 7922" in said  # 3 + 7919


def test_eval_quality_on_generated_set(tmp_path):
    from facebench.generate import GenerateConfig, generate

    ids = generate(GenerateConfig(layout="identity_folders", n=16, depth=4, out=str(tmp_path / "ids"), head="procedural",
                                  size=112, chunk=8, batch=8))
    with initialize_config_dir(config_dir=str(ROOT / "facebench" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=synface/render_baseline", "trainer=smoke", "trainer.max_epochs=1", "logger=csv",
            "data.num_workers=0", "data.batch_size=8", f"data.train_path={ids}", "data.val_pairs=20",
            "data.val_identities=10", "data.head=procedural"])
    cfg.output_dir = str(tmp_path / "run")
    train(cfg)
    r = subprocess.run([sys.executable, "-m", "facebench.eval", "quality",
                        f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", f"data={ids}",
                        f"reference={ids}", "workers=0"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "4 identities, 16 images" in r.stdout and "separability" in r.stdout
    assert "leakage" in r.stdout and "100.00%" in r.stdout.split("leakage")[1]  # a set fully leaks into itself
