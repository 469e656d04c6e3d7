"""Train and evaluate one experiment, composed with Hydra.

    python -m facebench.run experiment=synface/render_baseline [key=value ...]
    python -m facebench.run -m experiment=synface/render_baseline seed=1,2,3

The run directory (runs/<name>/<timestamp>) holds the resolved config (config.yaml and .hydra/), CSV
metrics (csv/metrics.csv), W&B offline files (wandb/) and checkpoints (checkpoints/).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("facebench.run")
# Hydra's job logging sets the root logger to INFO; numba's CUDA driver logs every module load and
# deallocation there.
logging.getLogger("numba").setLevel(logging.WARNING)


def build_loggers(cfg: DictConfig) -> list:
    loggers = []
    for name, lcfg in (cfg.get("logger") or {}).items():
        if name == "wandb":
            online = os.environ.get("WANDB_MODE", "offline") == "online"
            if os.environ.get("WANDB_MODE") == "disabled":
                continue
            loggers.append(instantiate(lcfg, offline=not online))
        else:
            loggers.append(instantiate(lcfg))
    return loggers


def train(cfg: DictConfig) -> dict:
    """Fit the configured model on the configured data; returns the final logged metrics."""
    from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    pl.seed_everything(cfg.seed, workers=True)
    # Plain containers (not OmegaConf nodes) so checkpoints hold only primitives and load with weights_only.
    dm = instantiate(cfg.data, _convert_="all")
    model = instantiate(cfg.model, **dm.model_kwargs(), _convert_="all")
    if cfg.get("init_from"):
        from facebench.checkpoints import init_backbone_from

        init_backbone_from(model, cfg.init_from)
    callbacks = [ModelCheckpoint(dirpath=out / "checkpoints", save_last=True), RichProgressBar()]
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=build_loggers(cfg), callbacks=callbacks)
    trainer.fit(model, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    (out / "final_metrics.json").write_text(json.dumps(metrics, indent=1))
    log.info("final metrics: %s", metrics)
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return next((v for k, v in metrics.items() if k.endswith("/acc")), None)


if __name__ == "__main__":
    main()
