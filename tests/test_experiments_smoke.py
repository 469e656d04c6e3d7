"""Every experiment config composes and trains in smoke mode (a few CPU batches, CSV logger)."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from facebench.run import train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "facebench" / "conf"
EXPERIMENTS = sorted(p.relative_to(ROOT / "experiments").with_suffix("").as_posix()
                     for p in (ROOT / "experiments").rglob("*.yaml"))


def test_there_are_experiments():
    assert "synface/render_baseline" in EXPERIMENTS


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke(name, tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[
            f"experiment={name}", "trainer=smoke", "trainer.max_epochs=1", "logger=csv",
            "data.num_workers=0", "data.batch_size=8", "data.width=8",
            "data.val_pairs=20", "data.val_identities=10", "data.head=procedural"])
    cfg.output_dir = str(tmp_path)
    metrics = train(cfg)
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert any(k.endswith("/acc") for k in metrics)


def test_typo_in_override_fails_clearly():
    from hydra.errors import ConfigCompositionException as CCE

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        with pytest.raises(CCE, match="datta"):
            compose("config", overrides=["datta.width=3"])
