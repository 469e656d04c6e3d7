"""Evaluate a trained model: verification accuracy, or the quality of an identity dataset.

    python -m facebench.eval verify checkpoint=runs/.../checkpoints/last.ckpt data=lfw.bin
    python -m facebench.eval verify checkpoint=... data=pairs.txt image_root=/data/lfw_aligned
    python -m facebench.eval verify checkpoint=... data=render          # held-out rendered identities

    python -m facebench.eval quality checkpoint=... data=data/render_200x20 [reference=/data/casia]

``quality`` embeds every image of an identity dataset (folders, RecordIO or HSFace LMDB) and prints
Vec2Face's measures: identity separability (no other identity centre above cosine 0.4), mean
inter-identity similarity, intra-class spread and, with ``reference``, identity leakage.

The model is rebuilt from the run's resolved ``config.yaml`` (next to ``checkpoints/``) and its weights
are loaded with ``torch.load(weights_only=True)``. Prints the insightface 10-fold accuracy (mean +- std),
TAR@FAR 1e-3 / 1e-4, AUC and EER.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class VerifyConfig:
    task: str = "verify"
    checkpoint: str = ""
    data: str = ""
    image_root: str = ""
    config: str = ""  # default: <run dir>/config.yaml
    batch: int = 64
    workers: int = 2
    device: str = "auto"
    render_pairs: int = 6000
    render_identities: int = 1000
    render_seed: int = 7919
    reference: str = ""
    threshold: float = 0.4
    leak_threshold: float = 0.4
    max_images: int = 0  # 0 = all


def load_model(checkpoint: str | Path, config: str | Path | None = None):
    """The run's LightningModule with the checkpoint's weights (no pickled objects are executed)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    ckpt = Path(checkpoint)
    cfg_path = Path(config) if config else ckpt.parent.parent / "config.yaml"
    if not cfg_path.is_file():
        raise SystemExit(f"{cfg_path}: run config not found; pass config=<run dir>/config.yaml")
    cfg = OmegaConf.load(cfg_path)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    n_classes = state["head.weight"].shape[0]
    model = instantiate(cfg.model, num_classes=n_classes)
    model.load_state_dict(state)
    return model.eval()


def verify(cfg: VerifyConfig) -> dict[str, float]:
    from torch.utils.data import DataLoader

    from datamodules.render import HELD_OUT_OFFSET, RenderPairsDataset
    from datamodules.verification import PairDataset, read_pairs
    from facebench.metrics.verification import VerificationAccuracy
    from facebench.render.spec import DatasetSpec

    model = load_model(cfg.checkpoint, cfg.config or None)
    dev = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if cfg.device == "auto" else cfg.device))
    model.to(dev)
    if cfg.data == "render":
        spec = DatasetSpec(width=cfg.render_identities, depth=10, seed=cfg.render_seed, identity_offset=HELD_OUT_OFFSET)
        ds, name = RenderPairsDataset(spec, cfg.render_pairs, 112, "aligned", {"head": "auto"}), "render_heldout"
    else:
        pairs = read_pairs(cfg.data, cfg.image_root or None)
        ds, name = PairDataset(pairs), pairs.name
    metric = VerificationAccuracy()
    loader = DataLoader(ds, batch_size=cfg.batch, num_workers=cfg.workers)
    from rich.progress import track

    with torch.no_grad():
        for x1, x2, same, idx in track(loader, description=f"verify {name}"):
            x1, x2 = x1.to(dev), x2.to(dev)
            metric.update(model._embed(x1).cpu(), model._embed(x2).cpu(), same, idx)
    r = {k: float(v) for k, v in metric.compute().items()}
    print(f"{name}: accuracy {100 * r['acc']:.2f} +- {100 * r['acc_std']:.2f} (10-fold, insightface protocol, "
          f"{len(ds)} pairs)")
    print(f"  TAR@FAR=1e-3 {100 * r['tar@far=1e-3']:.2f}  TAR@FAR=1e-4 {100 * r['tar@far=1e-4']:.2f}  "
          f"AUC {100 * r['auc']:.2f}  EER {100 * r['eer']:.2f}")
    return r


def _embed_set(model, path: str, cfg: VerifyConfig, dev):
    from torch.utils.data import DataLoader, Subset

    from datamodules.render import LabelledImageDataset

    ds = LabelledImageDataset(path, 112)
    if cfg.max_images and len(ds) > cfg.max_images:
        ds = Subset(ds, range(cfg.max_images))
    embs, labels = [], []
    from rich.progress import track

    with torch.no_grad():
        for x, y, _, _ in track(DataLoader(ds, batch_size=cfg.batch, num_workers=cfg.workers), description=f"embed {path}"):
            embs.append(model._embed(x.to(dev)).cpu())
            labels.append(y)
    return torch.cat(embs), torch.cat(labels)


def quality(cfg: VerifyConfig) -> dict[str, float]:
    from facebench.metrics.dataset_quality import dataset_quality, identity_centres

    model = load_model(cfg.checkpoint, cfg.config or None)
    dev = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if cfg.device == "auto" else cfg.device))
    model.to(dev)
    emb, labels = _embed_set(model, cfg.data, cfg, dev)
    ref = None
    if cfg.reference:
        remb, rlab = _embed_set(model, cfg.reference, cfg, dev)
        ref, _ = identity_centres(torch.nn.functional.normalize(remb.double(), dim=1), rlab)
    q = dataset_quality(emb, labels, cfg.threshold, ref, cfg.leak_threshold)
    print(f"{cfg.data}: {int(q['identities'])} identities, {int(q['images'])} images")
    print(f"  separability (no other centre above cos {cfg.threshold}): {100 * q['separability']:.2f}%")
    print(f"  mean inter-identity similarity: {q['mean_inter_identity_similarity']:.4f}")
    print(f"  intra-class spread (1 - cos to centre): {q['intra_class_spread']:.4f}")
    if "leakage" in q:
        print(f"  leakage vs {cfg.reference} (centre cos > {cfg.leak_threshold}): {100 * q['leakage']:.2f}%")
    return q


def main(argv=None):
    from facebench.cli_args import parse

    argv = sys.argv[1:] if argv is None else argv
    if argv and "=" not in argv[0]:
        argv = [f"task={argv[0]}"] + argv[1:]
    cfg = parse(VerifyConfig(), argv)
    if cfg.task not in ("verify", "quality"):
        raise SystemExit(f"unknown eval task {cfg.task!r}; available: verify, quality")
    if not cfg.checkpoint or not cfg.data:
        raise SystemExit("usage: python -m facebench.eval verify|quality checkpoint=CKPT data=PATH [...]")
    (verify if cfg.task == "verify" else quality)(cfg)


if __name__ == "__main__":
    main()
