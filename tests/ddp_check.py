"""Run by tests/test_distributed.py: a short fit with 2 CPU processes (DDP over gloo), then the same model
validated in one process. Writes out/<kind>.json with what each rank rendered and both sets of metrics.

    python tests/ddp_check.py OUT_DIR
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from datamodules.datasets.render_identity import RenderIdentityDataset
from datamodules.landmarks import LandmarkDataModule
from datamodules.recognition import RecognitionDataModule
from facebench.models.fan import FAN
from facebench.models.tiny_facenet import TinyFaceNet
from facebench.tasks.landmarks import LandmarkModule
from facebench.tasks.recognition import RecognitionModule

SEEN: list[int] = []
_render = RenderIdentityDataset.__getitems__


def _recording(self, indices):  # what this process rendered for training (num_workers=0: in-process)
    SEEN.extend(int(i) for i in indices)
    return _render(self, indices)


RenderIdentityDataset.__getitems__ = _recording


class Report(pl.Callback):
    """Rank 0 writes the synced validation metrics and the weights; every rank writes what it rendered."""

    def __init__(self, out: Path, kind: str):
        self.out, self.kind = out, kind

    def on_fit_end(self, trainer, module):
        rank = trainer.global_rank
        (self.out / f"{self.kind}_seen_rank{rank}.json").write_text(json.dumps(SEEN))
        if rank == 0:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            (self.out / f"{self.kind}_ddp.json").write_text(json.dumps(metrics))
            torch.save(module.state_dict(), self.out / f"{self.kind}.pt")


def build(kind: str):
    pl.seed_everything(0)
    if kind == "recognition":
        # 12 training samples: 6 per rank, 2 batches of 3; 21 verification pairs (an odd count: the
        # DistributedSampler pads one rank with a repeat, which the metric must drop).
        dm = RecognitionDataModule(width=6, depth=2, size=32, batch_size=3, num_workers=0, val_identities=4,
                                   val_pairs=21, head="procedural", render_on="worker")
        model = RecognitionModule(TinyFaceNet(embedding_dim=16, width=8, input_size=32), num_classes=6,
                                  margin_s=8.0, margin_m=0.1, lr=0.01)
    else:
        # 5 held-out faces: padded to 6 across the two ranks.
        dm = LandmarkDataModule(n_train=4, render_size=64, batch_size=2, num_workers=0, val_render=5,
                                head="procedural", render_on="worker")
        model = LandmarkModule(FAN(stacks=1, width=16))
    return dm, model


def trainer(devices: int, callbacks=()):
    return pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                      max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, callbacks=list(callbacks))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("recognition", "landmarks"):
        dm, model = build(kind)
        trainer(2, [Report(out, kind)]).fit(model, datamodule=dm)
        dm, model = build(kind)
        model.load_state_dict(torch.load(out / f"{kind}.pt", weights_only=True))
        single = trainer(1)
        res = single.validate(model, datamodule=dm, verbose=False)[0]
        (out / f"{kind}_single.json").write_text(json.dumps({k: float(v) for k, v in res.items()}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
