"""Train and evaluate one experiment, composed with Hydra.

    python -m facebench.run experiment=synface/render_baseline [key=value ...]
    python -m facebench.run -m experiment=synface/render_baseline seed=1,2,3

The run directory (runs/<name>/<timestamp>) holds the resolved config (config.yaml and .hydra/), CSV
metrics (csv/metrics.csv), W&B offline files (wandb/) and checkpoints (checkpoints/); every run ends by
printing its folder and what is in it. Bad data or settings stop the run with one line naming the file or
key (``--traceback`` or ``FACEBENCH_DEBUG=1`` shows the stack).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from facebench.errors import ConfigError, DatasetError, debug_requested, report

log = logging.getLogger("facebench.run")
# Hydra's job logging sets the root logger to INFO; numba's CUDA driver logs every module load and
# deallocation there.
logging.getLogger("numba").setLevel(logging.WARNING)

# Trainer settings that must be numbers (a typo such as max_epochs=abc otherwise fails after data setup).
_TRAINER_INTS = ("max_epochs", "min_epochs", "max_steps", "log_every_n_steps", "num_sanity_val_steps",
                 "accumulate_grad_batches", "num_nodes", "check_val_every_n_epoch")
_TRAINER_NUMBERS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "val_check_interval",
                    "gradient_clip_val")


def validate_config(cfg: DictConfig) -> None:
    """Type checks of the settings a run needs, before any data is read (ConfigError names the key)."""
    tr = cfg.get("trainer") or {}
    for key in _TRAINER_INTS + _TRAINER_NUMBERS:
        v = tr.get(key)
        if v is None:
            continue
        ok = isinstance(v, int) and not isinstance(v, bool) if key in _TRAINER_INTS \
            else isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            raise ConfigError(f"trainer.{key}={v!r}: expected {'an integer' if key in _TRAINER_INTS else 'a number'}")
    for group in ("data", "model"):
        _check_types(cfg.get(group) or {}, group)
    if not isinstance(cfg.get("seed", 0), int) or isinstance(cfg.get("seed", 0), bool):
        raise ConfigError(f"seed={cfg.seed!r}: expected an integer")


def _check_types(node, prefix: str) -> None:
    """Values of a ``_target_`` node against its constructor's annotations (int, float, bool, str, their
    optional forms), recursively; a wrong type names the key (``data.batch_size='x'``)."""
    import inspect

    from hydra.utils import get_object

    target = node.get("_target_") if isinstance(node, (dict, DictConfig)) else None
    if target is None:
        return
    try:
        params = inspect.signature(get_object(target)).parameters
    except Exception:  # noqa: BLE001 - an unimportable target fails with Hydra's own message later
        return
    for key in node:
        if key == "_target_" or key not in params:
            continue
        value = node.get(key)
        if isinstance(value, (dict, DictConfig)) and value.get("_target_") is not None:
            _check_types(value, f"{prefix}.{key}")
            continue
        ann = str(params[key].annotation).replace(" ", "")
        base = ann.removesuffix("|None")
        if value is None:  # null, or ??? filled in later (num_classes from the DataModule)
            continue
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "bool": isinstance(value, bool), "str": isinstance(value, str)}.get(base, True)
        if not ok:
            raise ConfigError(f"{prefix}.{key}={value!r}: expected {'a number' if base == 'float' else base}")


def _job() -> tuple[str | None, str | None]:
    """(job number, sweep folder name) inside a Hydra multirun, else (None, None)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            return str(hc.job.num), Path(hc.sweep.dir).name
    except (ValueError, ImportError):  # not inside a Hydra job (tests compose configs themselves)
        pass
    return None, None


def build_loggers(cfg: DictConfig) -> list:
    """The configured loggers. W&B gets one run per job: a multirun's jobs are named ``<name>-<job>`` and
    grouped by ``<family>/<sweep>``, so two seeds never share a run."""
    loggers = []
    job, sweep = _job()
    for name, lcfg in (cfg.get("logger") or {}).items():
        if name == "wandb":
            mode = os.environ.get("WANDB_MODE", "offline")
            if mode == "disabled":
                continue
            extra = {"offline": mode != "online"}
            if job is not None:
                extra.update(name=f"{cfg.name}-{job}", group=f"{cfg.family}/{sweep}")
            loggers.append(instantiate(lcfg, **extra))
        else:
            loggers.append(instantiate(lcfg))
    return loggers


def _finish_loggers(loggers) -> None:
    """Close W&B runs, so the next job of a multirun (same process) starts its own."""
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            import wandb

            if wandb.run is not None:
                wandb.finish()


def describe_run_folder(out: Path) -> str:
    """Where a run's results went: the folder and each thing in it (one line per entry)."""
    what = {"config.yaml": "resolved config", ".hydra": "Hydra's config and overrides", "csv": "CSV metrics",
            "checkpoints": "checkpoints (last.ckpt)", "final_metrics.json": "final metrics", "wandb": "W&B offline runs "
            "(upload with `wandb sync`)"}
    lines = [f"run folder: {out}"]
    for p in sorted(out.iterdir()) if out.is_dir() else []:
        lines.append(f"  {p.name}{'/' if p.is_dir() else ''}  {what.get(p.name, '')}".rstrip())
    return "\n".join(lines)


def train(cfg: DictConfig) -> dict:
    """Fit the configured model on the configured data; returns the final logged metrics."""
    from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

    validate_config(cfg)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    pl.seed_everything(cfg.seed, workers=True)
    # Plain containers (not OmegaConf nodes) so checkpoints hold only primitives and load with weights_only.
    dm = instantiate(cfg.data, _convert_="all")
    from facebench.eval import frozen_models

    extra = frozen_models(cfg)  # trained models a run builds on, frozen (label adaptation's parser, DeRL's GAN)
    model = instantiate(cfg.model, **dm.model_kwargs(), **extra, _convert_="all")
    if cfg.get("init_from"):
        from facebench.checkpoints import init_backbone_from

        init_backbone_from(model, cfg.init_from)
    # With checkpoint_monitor, best.ckpt is the epoch selected on that validation metric (label adaptation
    # selects on the real validation split); last.ckpt is always the final state.
    monitor = cfg.get("checkpoint_monitor")
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", save_last=True, monitor=monitor,
                           mode=cfg.get("checkpoint_mode", "max"), filename="best" if monitor else None)
    callbacks = [ckpt, RichProgressBar()]
    loggers = build_loggers(cfg)
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers, callbacks=callbacks)
    try:
        trainer.fit(model, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
    finally:
        _finish_loggers(loggers)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    (out / "final_metrics.json").write_text(json.dumps(metrics, indent=1))
    log.info("final metrics: %s", metrics)
    print(describe_run_folder(out))
    return metrics


def _unwrap(err: BaseException) -> BaseException:
    """The data or config error behind an exception Hydra's instantiate wraps (InstantiationException)."""
    seen = err
    while seen is not None:
        if isinstance(seen, (DatasetError, ConfigError)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return err


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    out = Path(cfg.output_dir)
    try:
        metrics = train(cfg)
    except Exception as e:  # noqa: BLE001 - only data / config errors are reported; the rest re-raises
        cause = _unwrap(e)
        if not isinstance(cause, (DatasetError, ConfigError)) or debug_requested():
            raise
        report(cause, "run again with FACEBENCH_DEBUG=1 to see where it was raised")
        if isinstance(cause, ConfigError) and not (out / "config.yaml").exists():
            shutil.rmtree(out, ignore_errors=True)  # nothing ran: leave no run folder behind
        sys.exit(1)
    return next((v for k, v in metrics.items() if k.endswith("/acc")), None)


if __name__ == "__main__":
    main()
