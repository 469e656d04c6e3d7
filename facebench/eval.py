"""Evaluate a trained model: verification accuracy, or the quality of an identity dataset.

    python -m facebench.eval verify checkpoint=runs/.../checkpoints/last.ckpt data=lfw.bin
    python -m facebench.eval verify checkpoint=... data=pairs.txt image_root=/data/lfw_aligned
    python -m facebench.eval verify checkpoint=... data=render          # held-out rendered identities

    python -m facebench.eval quality checkpoint=... data=data/render_200x20 [reference=/data/casia]

    python -m facebench.eval landmarks checkpoint=... data=/data/300W/ibug [ced=results/ced.png]
    python -m facebench.eval landmarks checkpoint=... data=render face_px=0,60,30,20 table=res.md   # ablation

``landmarks`` prints NME under each normaliser (inter-ocular, inter-pupil, box), failure rate and AUC at
7% and writes the CED plot; ``data`` is a .pts folder, an AFLW2000-3D folder, a WFLW list (98 points,
evaluated through the WFLW->iBUG 68 table; per-attribute NME), a FaceSynthetics folder or ``render``
(held-out rendered faces).

    python -m facebench.eval adapt checkpoint=... train=/data/300W/train val=... data=/data/300W/ibug

``adapt`` is Fake It's label adaptation: the model stays frozen; an MLP from its predictions on ``train`` to
that set's labels is selected on ``val`` and evaluated on ``data``, with and without it.

``quality`` embeds every image of an identity dataset (folders, RecordIO or HSFace LMDB) and prints
Vec2Face's measures: identity separability (no other identity centre above cosine 0.4), mean
inter-identity similarity, intra-class spread and, with ``reference``, identity leakage.

The model is rebuilt from the run's resolved ``config.yaml`` (next to ``checkpoints/``) and its weights
are loaded with ``torch.load(weights_only=True)``. Prints the insightface 10-fold accuracy (mean +- std),
TAR@FAR 1e-3 / 1e-4, AUC and EER.
"""
from __future__ import annotations

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
    render_faces: int = 500  # landmarks on data=render: held-out rendered faces
    reference: str = ""
    threshold: float = 0.4
    leak_threshold: float = 0.4
    max_images: int = 0  # 0 = all
    ced: str = ""  # landmarks: CED plot path (default: <data name>_ced.png in the working directory)
    box_noise: str = "0"  # landmarks: initial-box noise (fraction of the box), seeded per image; a comma list sweeps
    face_px: str = "0"  # landmarks: downscale faces to this many pixels first (resolution ablation); comma list
    table: str = ""  # landmarks: also write the markdown table of the settings here
    flip_test: bool = False
    convention: str = ""  # landmarks on rendered data: 2d | 3d (default: the run's data.convention, else 3d)
    train: str = ""  # adapt: the real training split
    val: str = ""  # adapt: the real validation split
    epochs: int = 600
    normaliser: str = "inter_ocular"  # adapt: the NME that selects the adapter's epoch on val (box for profiles)


def _device(cfg: VerifyConfig) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_config(checkpoint: str | Path, config: str | Path | None = None):
    """The resolved config of the run that wrote checkpoint (default: <run dir>/config.yaml)."""
    from omegaconf import OmegaConf

    cfg_path = Path(config) if config else Path(checkpoint).parent.parent / "config.yaml"
    if not cfg_path.is_file():
        raise SystemExit(f"{cfg_path}: run config not found; pass config=<run dir>/config.yaml")
    return OmegaConf.load(cfg_path)


def load_model(checkpoint: str | Path, config: str | Path | None = None):
    """The run's LightningModule with the checkpoint's weights (no pickled objects are executed)."""
    from hydra.utils import instantiate

    ckpt = Path(checkpoint)
    cfg = run_config(ckpt, config)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    kwargs = {"num_classes": state["head.weight"].shape[0]} if "head.weight" in state else {}
    model = instantiate(cfg.model, **kwargs)
    model.load_state_dict(state)
    return model.eval()


def verify(cfg: VerifyConfig) -> dict[str, float]:
    from torch.utils.data import DataLoader

    from datamodules.render import HELD_OUT_OFFSET, RenderPairsDataset
    from datamodules.verification import PairDataset, read_pairs
    from facebench.metrics.verification import VerificationAccuracy
    from facebench.render.spec import DatasetSpec

    model = load_model(cfg.checkpoint, cfg.config or None)
    dev = _device(cfg)
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
    dev = _device(cfg)
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


def _number_list(text: str, kind, key: str) -> list:
    try:
        return [kind(v) for v in str(text).split(",") if v.strip()] or [kind(0)]
    except ValueError:
        raise SystemExit(f"{key}={text!r}: expected a number or a comma-separated list of numbers") from None


def landmarks(cfg: VerifyConfig) -> list[dict]:
    """Evaluate a landmark model on one set, once per (face_px, box_noise) setting (comma lists: the
    resolution and box-noise ablations in one command); print each, and a table when there are several."""
    from datamodules.landmarks import HELD_OUT_OFFSET, LandmarkSetDataset, RenderLandmarkDataset
    from facebench.metrics.landmarks import NORMALISERS, LandmarkNME, auc, failure_rate, plot_ced
    from facebench.render.spec import DatasetSpec

    model = load_model(cfg.checkpoint, cfg.config or None)
    model.hparams.flip_test = cfg.flip_test
    dev = _device(cfg)
    model.to(dev)
    convention = cfg.convention or str(run_config(cfg.checkpoint, cfg.config or None).data.get("convention", "3d"))
    settings = [(f, b) for f in _number_list(cfg.face_px, int, "face_px")
                for b in _number_list(cfg.box_noise, float, "box_noise")]
    rows, curves = [], {}
    for face_px, box_noise in settings:
        if cfg.data == "render":
            spec = DatasetSpec(width=cfg.render_faces, depth=1, seed=cfg.render_seed, identity_offset=HELD_OUT_OFFSET)
            ds = RenderLandmarkDataset(spec, 256, {"head": "auto"}, None, convention, box_noise=box_noise,
                                       face_px=face_px or None)
            name = "render_heldout"
        else:
            ds = LandmarkSetDataset(cfg.data, box_noise=box_noise, face_px=face_px or None, convention=convention)
            name = ds.name
        setting = f"face_px={face_px or 'native'} box_noise={box_noise:g}"
        metrics = {n: LandmarkNME(n) for n in NORMALISERS}
        pred, pts = _predict_landmarks(model, ds, cfg, dev, name)
        for metric in metrics.values():
            metric.update(pred, pts)
        out = {"data": name, "face_px": face_px, "box_noise": box_noise, "flip_test": cfg.flip_test}
        print(f"{name}: {len(ds)} images, 68 points, {ds.convention} labels"
              + (f"  [{setting}]" if len(settings) > 1 else ""))
        for n, m in metrics.items():
            e = m.values()
            out[n] = {"nme": e.mean().item(), "fr@7": failure_rate(e, 0.07), "auc@7": auc(e, 0.07)}
            print(f"  NME ({n}) {100 * out[n]['nme']:.2f}%  failure rate@7% {100 * out[n]['fr@7']:.2f}%  "
                  f"AUC@7 {100 * out[n]['auc@7']:.2f}")
        if hasattr(ds, "yaw"):  # AFLW2000-3D and renders: the pose breakdown (box normaliser) and its balanced mean
            from datamodules.landmark_sets import yaw_bin

            yaws = ds.yaws(range(len(ds))) if hasattr(ds, "yaws") else [ds.yaw(i) for i in range(len(ds))]
            bins = [yaw_bin(y) for y in yaws]
            e = metrics["box"].values()
            per = {b: e[[k for k, bb in enumerate(bins) if bb == b]].mean().item()
                   for b in ("[0,30)", "[30,60)", "[60,90]") if b in bins}
            counts = {b: bins.count(b) for b in per}
            print("  NME (box) by |yaw|: " + "  ".join(f"{b} {100 * v:.2f}% (n={counts[b]})" for b, v in per.items())
                  + (f"  balanced {100 * sum(per.values()) / len(per):.2f}%" if len(per) == 3 else ""))
            out["yaw_bins"], out["yaw_counts"] = per, counts
        if hasattr(ds, "attributes"):  # WFLW: NME (inter-ocular, WFLW's normaliser) on each attribute subset
            from datamodules.landmark_sets import WFLW_ATTRIBUTES

            attrs = [ds.attributes(i) for i in range(len(ds))]
            e = metrics["inter_ocular"].values()
            per = {a: e[[k for k, at in enumerate(attrs) if at[a]]].mean().item()
                   for a in WFLW_ATTRIBUTES if any(at[a] for at in attrs)}
            print("  NME (inter_ocular) by WFLW attribute: " + "  ".join(f"{a} {100 * v:.2f}%" for a, v in per.items()))
            out["attributes"] = per
        rows.append(out)
        if len(settings) == 1:
            curves = {f"{name} (box)": metrics["box"].values(),
                      f"{name} (inter-ocular)": metrics["inter_ocular"].values()}
        else:
            curves[setting] = metrics["box"].values()
    path = cfg.ced or f"{name}_ced.png"
    plot_ced(curves, path, 0.07, f"CED on {name}" + (" (box normaliser)" if len(settings) > 1 else ""))
    print(f"  CED plot: {path}")
    if len(settings) > 1 or cfg.table:
        table = landmark_table(rows)
        print(table)
        if cfg.table:
            Path(cfg.table).write_text(_provenance() + table)
    return rows


def _provenance() -> str:
    """Markdown lines naming the command, commit, machine and date that produced a results file."""
    import datetime
    import shlex
    import sys

    from facebench.provenance import git_commit, machine

    return ("Produced by:\n\n    python -m facebench.eval " + shlex.join(sys.argv[1:]) + "\n\n"
            f"commit {git_commit()}, machine {machine()}, {datetime.date.today().isoformat()}.\n\n")


def landmark_table(rows: list[dict]) -> str:
    """Markdown table of landmark evaluations: one row per setting, NME in %, AUC@7 in %."""
    yaw = [b for b in ("[0,30)", "[30,60)", "[60,90]") if any(b in r.get("yaw_bins", {}) for r in rows)]
    head = ["face px", "box noise", "NME box", "NME inter-ocular", "failure@7 (box)", "AUC@7 (box)"]
    head += [f"NME box, yaw {b}" for b in yaw] + (["NME box, balanced"] if len(yaw) == 3 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["face_px"] or "native"), f"{100 * r['box_noise']:g}%", f"{100 * r['box']['nme']:.2f}",
                 f"{100 * r['inter_ocular']['nme']:.2f}", f"{100 * r['box']['fr@7']:.1f}", f"{100 * r['box']['auc@7']:.2f}"]
        per = r.get("yaw_bins", {})
        cells += [f"{100 * per[b]:.2f}" if b in per else "-" for b in yaw]
        if len(yaw) == 3:
            cells.append(f"{100 * sum(per.values()) / 3:.2f}" if len(per) == 3 else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _predict_landmarks(model, ds, cfg: VerifyConfig, dev, name: str):
    """(predictions, ground truth), both (N, 68, 2) image pixels, of a landmark dataset."""
    from rich.progress import track
    from torch.utils.data import DataLoader

    preds, gts = [], []
    with torch.no_grad():
        for x, _, pts, m in track(DataLoader(ds, batch_size=cfg.batch, num_workers=cfg.workers), description=f"landmarks {name}"):
            preds.append(model.predict_points(x.to(dev), m.to(dev)).cpu())
            gts.append(pts)
    return torch.cat(preds), torch.cat(gts)


def adapt(cfg: VerifyConfig) -> dict[str, float]:
    from datamodules.landmarks import LandmarkSetDataset
    from facebench.methods.label_adaptation import fit_label_adapter
    from facebench.metrics.landmarks import nme

    if not (cfg.train and cfg.val):
        raise SystemExit("adapt needs train=<real training split> and val=<real validation split>")
    model = load_model(cfg.checkpoint, cfg.config or None)
    dev = _device(cfg)
    model.to(dev)
    # convention: the labels of rendered / generated splits (e.g. 2d, to adapt a 3D-FAN to the 2D convention).
    splits = {k: _predict_landmarks(model, LandmarkSetDataset(p, convention=cfg.convention or "3d"), cfg, dev, k)
              for k, p in (("train", cfg.train), ("val", cfg.val), ("test", cfg.data))}
    adapter, info = fit_label_adapter(*splits["train"], *splits["val"], normaliser=cfg.normaliser, epochs=cfg.epochs)
    pred, gt = splits["test"]
    out = dict(info)
    with torch.no_grad():
        adapted = adapter(pred)
        for norm in ("inter_ocular", "box"):
            out[norm] = {"without": nme(pred, gt, norm).mean().item(), "with": nme(adapted, gt, norm).mean().item()}
            print(f"label adaptation (MLP, best epoch {info['best_epoch']} on val {cfg.normaliser}): test NME ({norm}) "
                  f"{100 * out[norm]['without']:.2f}% without -> {100 * out[norm]['with']:.2f}% with")
    return out


def main(argv=None):
    from facebench.cli_args import parse

    cfg = parse(VerifyConfig(), argv, positional="task")
    tasks = {"verify": verify, "quality": quality, "landmarks": landmarks, "adapt": adapt}
    if cfg.task not in tasks:
        raise SystemExit(f"unknown eval task {cfg.task!r}; available: {', '.join(tasks)}")
    if not cfg.checkpoint or not cfg.data:
        raise SystemExit(f"usage: python -m facebench.eval {'|'.join(tasks)} checkpoint=CKPT data=PATH [...]")
    tasks[cfg.task](cfg)


if __name__ == "__main__":
    main()
