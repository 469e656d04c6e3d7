"""Evaluate a trained model. Each subcommand rebuilds the model and its data settings (image size,
framing, head, landmark convention, held-out seed) from the training run's saved ``config.yaml``, so a model
is tested the way it was trained unless a setting is overridden on the command line.

    python -m facebench.eval verify checkpoint=runs/.../checkpoints/last.ckpt data=lfw.bin
    python -m facebench.eval verify checkpoint=... data=pairs.txt image_root=/data/lfw_aligned
    python -m facebench.eval verify checkpoint=... data=render          # held-out rendered identities

    python -m facebench.eval quality checkpoint=... data=data/render_200x20 [reference=/data/casia]

    python -m facebench.eval landmarks checkpoint=... data=/data/300W/ibug [ced=results/ced.png]
    python -m facebench.eval landmarks checkpoint=... data=render face_px=0,60,30,20 table=res.md   # ablation

``verify`` prints the insightface 10-fold accuracy (mean +- std), TAR@FAR 1e-3 / 1e-4, AUC and EER.

``landmarks`` prints NME under each normaliser (inter-ocular, inter-pupil, box), failure rate and AUC at
7% and writes the CED plot; ``data`` is a .pts folder, an AFLW2000-3D folder, a WFLW list (98 points,
evaluated through the WFLW->iBUG 68 table; per-attribute NME), a FaceSynthetics folder or ``render``
(held-out rendered faces).

    python -m facebench.eval adapt checkpoint=... train=/data/300W/train val=... data=/data/300W/ibug

``adapt`` is Fake It's label adaptation: the model stays frozen; an MLP from its predictions on ``train`` to
that set's labels is selected on ``val`` and evaluated on ``data``, with and without it.

    python -m facebench.eval parsing checkpoint=... data=/data/helen [split=test adapter=CKPT flip_test=true]

``parsing`` scores a parser at each image's original resolution (predictions warped back through the crop)
on a Helen / LaPa / CelebAMask-HQ / FaceSynthetics folder, ``render`` (held-out renders) or ``standin`` (its evaluation
faces: neither its training nor its validation faces), in
that set's classes through the explicit class table; prints per-class F1, mean F1 (its classes named), the
pooled overall F1 and mIoU, and writes a sheet of images with true and predicted labels. With ``adapter``
(a label-adaptation run on this parser) both columns, without and with adaptation.

    python -m facebench.eval expression checkpoint=... data=/data/fer2013/fer2013.csv [split=test folds=10]

``expression`` prints accuracy, mean per-class accuracy and the confusion matrix (a table and a PNG) of a
classifier or DeRL residue classifier on an expression set (FER2013 csv or folders, RAF-DB, AffectNet csv,
CK+, CK+48, JAFFE), ``render`` or ``standin``; ``folds=10`` adds per-fold accuracy with mean and std over
subject-disjoint folds.

    python -m facebench.eval derl checkpoint=<derl_gan run> data=render [sheet=derl.png]

``derl`` scores DeRL's de-expression generator on held-out (expressive, neutral) pairs: the L1 to the true
neutral face beside the L1 of copying the input, and a sheet of input | generated | true neutral.

    python -m facebench.eval vec2face checkpoint=<vec2face run> data=generated [identities=50 depth=10]

``vec2face`` samples faces from a generator trained in the suite and prints the identity cosine to the input
vectors and the generated set's separability under the run's recognizer, with a contact sheet.

    python -m facebench.eval gan checkpoint=<gan run> data=generated [identities=50 depth=10 sheet=gan.png]

``gan`` samples faces from an identity-preserving GAN trained in the suite and prints the identity cosine to the
target identity features, the set's separability and its leakage against the GAN's training identities, with a
contact sheet (rows: identities, columns: attribute draws).

    python -m facebench.eval centres checkpoint=<recognizer> data=/data/casia out=casia_centres.npy

``centres`` writes the identity centres of an identity set (mean raw backbone feature per identity), the file the
Vec2Face and GAN sources fit their PCA identity samplers to (``reference_features=``).

``quality`` embeds every image of an identity dataset (folders, RecordIO or HSFace LMDB) and prints
Vec2Face's measures: identity separability (no other identity centre above cosine 0.4), mean
inter-identity similarity, intra-class spread and, with ``reference``, identity leakage.

The model's weights are loaded with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from datamodules.readers.images import DatasetError


@dataclass
class EvalConfig:
    """Arguments every subcommand takes. Empty / negative values mean "as the run was trained"."""

    checkpoint: str = ""
    data: str = ""
    config: str = ""  # default: <run dir>/config.yaml
    batch: int = 64
    workers: int = 2
    device: str = "auto"
    head: str = ""  # render head for data=render (default: the run's data.head)
    ict_path: str = ""  # default: the run's data.ict_path, else $FACEBENCH_ICT_PATH
    render_seed: int = -1  # data=render: the held-out seed (default: the run's seed + HELD_OUT_SEED_OFFSET)


@dataclass
class VerifyConfig(EvalConfig):
    image_root: str = ""
    size: int = 0  # input size (default: the run's data.size)
    render_pairs: int = 6000
    render_identities: int = 1000


@dataclass
class QualityConfig(EvalConfig):
    size: int = 0  # input size (default: the run's data.size)
    reference: str = ""
    threshold: float = 0.4
    leak_threshold: float = 0.4
    max_images: int = 0  # 0 = all


@dataclass
class CentresConfig(EvalConfig):
    size: int = 0  # input size (default: the run's data.size)
    out: str = "identity_centres.npy"
    max_images: int = 0  # 0 = all


@dataclass
class LandmarksConfig(EvalConfig):
    render_faces: int = 500  # data=render: held-out rendered faces
    render_size: int = 0  # data=render: rendered image size (default: the run's data.render_size)
    ced: str = ""  # CED plot path (default: <data name>_ced.png in the working directory)
    box_noise: str = "0"  # initial-box noise (fraction of the box), seeded per image; a comma list sweeps
    face_px: str = "0"  # downscale faces to this many pixels first (resolution ablation); comma list
    table: str = ""  # also write the markdown table of the settings here
    flip_test: bool = False
    convention: str = ""  # 2d | 3d for rendered / generated data (default: the run's data.convention, else 3d)


@dataclass
class AdaptConfig(EvalConfig):
    train: str = ""  # the real training split
    val: str = ""  # the real validation split
    epochs: int = 600
    normaliser: str = "inter_ocular"  # the NME that selects the adapter's epoch on val (box for profiles)
    convention: str = ""  # labels of rendered / generated splits (default 3d)


@dataclass
class ParsingEvalConfig(EvalConfig):
    adapter: str = ""  # a label-adaptation checkpoint trained on `checkpoint`'s parser: scored with and without it
    split: str = "test"  # the split of a parsing set on disk (train | val | test | all)
    render_faces: int = 200  # data=render / data=standin: held-out faces
    size: int = 0  # crop side (default: the run's data.size)
    render_size: int = 0  # rendered image side (default: the run's data.render_size)
    crop_scale: float = 0.0  # default: the run's data.crop_scale
    standin_classes: str = "helen11"  # data=standin: its class set
    flip_test: bool = False
    sheet: str = ""  # image sheet (default: <data name>_parsing.png in the working directory)
    sheet_images: int = 8
    table: str = ""  # also write the markdown table here


@dataclass
class ExpressionEvalConfig(EvalConfig):
    split: str = "test"  # the split of a set on disk (train | val | test | all)
    folds: int = 0  # > 0: subject-disjoint folds (CK+, CK+48, JAFFE): accuracy per fold, mean and std
    render_faces: int = 500  # data=render / data=standin: held-out faces
    size: int = 0  # input side (default: the run's data.size)
    confusion: str = ""  # confusion-matrix plot (default: <data name>_confusion.png in the working directory)
    table: str = ""  # also write the markdown table here


@dataclass
class DerlEvalConfig(EvalConfig):
    split: str = "test"  # the split of a set on disk with pairs (CK+, JAFFE)
    render_faces: int = 300  # data=render / data=standin: held-out pairs
    size: int = 0  # input side (default: the run's data.size)
    sheet: str = ""  # image sheet (default: <data name>_derl.png in the working directory)
    sheet_images: int = 8


@dataclass
class Vec2FaceEvalConfig(EvalConfig):
    identities: int = 50  # identity vectors sampled (rejection at ``threshold``)
    depth: int = 10  # images per identity (the 0.3 / 0.5 / 0.7 sigma mix)
    threshold: float = 0.4
    seed: int = 0
    reference_features: str = ""  # identity centres (eval centres) to fit the PCA identity sampler to
    sheet: str = ""  # contact sheet (default: vec2face_sheet.png in the working directory)
    sheet_identities: int = 8


@dataclass
class GanEvalConfig(Vec2FaceEvalConfig):
    attribute_scale: float = 1.0  # scale of the attribute draws
    vary: str = "all"  # none: one attribute draw per identity
    attribute_pool: str = ""  # an image set whose encoded attribute codes are drawn instead of the prior
    leak_threshold: float = 0.4  # a generated identity leaks when its centre is above this cosine to a training one


def _device(cfg: EvalConfig) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_config(checkpoint: str | Path, config: str | Path | None = None):
    """The resolved config of the run that wrote checkpoint (default: <run dir>/config.yaml)."""
    from omegaconf import OmegaConf

    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise DatasetError(f"{ckpt}: checkpoint not found")
    cfg_path = Path(config) if config else ckpt.parent.parent / "config.yaml"
    if not cfg_path.is_file():
        raise DatasetError(f"{cfg_path}: run config not found (expected beside checkpoints/); pass "
                           "config=<run dir>/config.yaml")
    try:
        return OmegaConf.load(cfg_path)
    except Exception as e:  # noqa: BLE001 - a torn or hand-edited YAML file
        raise DatasetError(f"{cfg_path}: not a readable run config ({type(e).__name__})") from e


# Module arguments a run takes from its DataModule (not in its config): restored from the checkpoint.
_DATA_KWARGS = ("class_set", "in_channels")


# Top-level run keys naming a trained model that a module takes, frozen, as a constructor argument.
FROZEN_FROM = {"parser_from": "parser", "generator_from": "generator", "recognizer_from": "recognizer"}


def frozen_models(cfg, skip=frozenset()) -> dict:
    """{argument: trained model} for every ``*_from`` key of a run config that is set (each rebuilt from its
    own run folder's config and checkpoint)."""
    return {arg: load_model(cfg[key]) for key, arg in FROZEN_FROM.items() if cfg.get(key) and arg not in skip}


def load_model(checkpoint: str | Path, config: str | Path | None = None, **extra):
    """The run's LightningModule with the checkpoint's weights (no pickled objects are executed). ``extra``:
    constructor arguments that are modules (the frozen parser of a label-adaptation run)."""
    from hydra.utils import instantiate

    from facebench.checkpoints import load_checkpoint

    cfg = run_config(checkpoint, config)
    state, hparams = load_checkpoint(checkpoint)
    kwargs = {"num_classes": state["head.weight"].shape[0]} if "head.weight" in state else {}
    kwargs.update({k: hparams[k] for k in _DATA_KWARGS if k in hparams})
    model_cfg = cfg.model.copy()
    if "init_from" in model_cfg:  # runs before the key moved to the top level (its weights are in the state)
        del model_cfg["init_from"]
    extra = {**frozen_models(cfg, skip=set(extra)), **extra}
    model = instantiate(model_cfg, **kwargs, **extra, _convert_="all")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DatasetError(f"{checkpoint}: weights do not fit the model of its run config "
                           f"({str(e).splitlines()[0]})") from e
    return model.eval()


class TrainedRun:
    """A trained model with the data settings of its run; command-line values override the run's."""

    def __init__(self, cfg: EvalConfig):
        from facebench.render.settings import HELD_OUT_SEED_OFFSET, RenderSettings

        self.cfg = run_config(cfg.checkpoint, cfg.config or None)
        self.model = load_model(cfg.checkpoint, cfg.config or None)
        self.device = _device(cfg)
        self.model.to(self.device)
        data = self.cfg.get("data") or {}
        self.data = data
        self.render = RenderSettings(head=cfg.head or str(data.get("head", "auto")),
                                     ict_path=cfg.ict_path or data.get("ict_path") or None,
                                     supersample=int(data.get("supersample", 2)))
        self.held_out_seed = cfg.render_seed if cfg.render_seed >= 0 else int(self.cfg.get("seed", 0)) + HELD_OUT_SEED_OFFSET

    def setting(self, key: str, override, default):
        """``override`` when given (non-empty, non-zero), else the run's data.<key>, else ``default``."""
        if override:
            return override
        return type(default)(self.data.get(key, default)) if self.data.get(key) is not None else default


def _batches(ds, cfg: EvalConfig, what: str):
    from rich.progress import track
    from torch.utils.data import DataLoader

    return track(DataLoader(ds, batch_size=cfg.batch, num_workers=cfg.workers), description=what)


def verify(cfg: VerifyConfig) -> dict[str, float]:
    from datamodules.datasets.disk import PairDataset
    from datamodules.datasets.render_identity import RenderPairsDataset
    from datamodules.readers.verification import read_pairs
    from facebench.metrics.verification import VerificationAccuracy
    from facebench.render.settings import HELD_OUT_IDENTITY_OFFSET
    from facebench.render.spec import DatasetSpec

    run = TrainedRun(cfg)
    size = run.setting("size", cfg.size, 112)
    if cfg.data == "render":
        spec = DatasetSpec(width=cfg.render_identities, depth=10, seed=run.held_out_seed,
                           identity_offset=HELD_OUT_IDENTITY_OFFSET)
        framing = run.setting("framing", "", "aligned")
        ds, name = RenderPairsDataset(spec, cfg.render_pairs, size, framing, run.render), "render_heldout"
        where = f"{size}x{size} {framing} renders, seed {run.held_out_seed}"
    else:
        pairs = read_pairs(cfg.data, cfg.image_root or None)
        ds, name, where = PairDataset(pairs, size), pairs.name, f"{size}x{size}"
    metric = VerificationAccuracy()
    with torch.no_grad():
        for b in _batches(ds, cfg, f"verify {name}"):
            dev = run.device
            metric.update(run.model.embed(b.image1.to(dev)).cpu(), run.model.embed(b.image2.to(dev)).cpu(),
                          b.issame, b.index)
    r = {k: float(v) for k, v in metric.compute().items()}
    print(f"{name}: accuracy {100 * r['acc']:.2f} +- {100 * r['acc_std']:.2f} (10-fold, insightface protocol, "
          f"{len(ds)} pairs, {where})")
    print(f"  TAR@FAR=1e-3 {100 * r['tar@far=1e-3']:.2f}  TAR@FAR=1e-4 {100 * r['tar@far=1e-4']:.2f}  "
          f"AUC {100 * r['auc']:.2f}  EER {100 * r['eer']:.2f}")
    return r


def _embed_set(run: TrainedRun, path: str, cfg: QualityConfig, size: int):
    from torch.utils.data import Subset

    from datamodules.datasets.disk import LabelledImageDataset

    ds = LabelledImageDataset(path, size)
    if cfg.max_images and len(ds) > cfg.max_images:
        ds = Subset(ds, range(cfg.max_images))
    embs, labels = [], []
    with torch.no_grad():
        for b in _batches(ds, cfg, f"embed {path}"):
            embs.append(run.model.embed(b.image.to(run.device)).cpu())
            labels.append(b.label)
    return torch.cat(embs), torch.cat(labels)


def quality(cfg: QualityConfig) -> dict[str, float]:
    from facebench.metrics.dataset_quality import dataset_quality, identity_centres

    run = TrainedRun(cfg)
    size = run.setting("size", cfg.size, 112)
    emb, labels = _embed_set(run, cfg.data, cfg, size)
    ref = None
    if cfg.reference:
        remb, rlab = _embed_set(run, cfg.reference, cfg, size)
        ref, _ = identity_centres(torch.nn.functional.normalize(remb.double(), dim=1), rlab)
    q = dataset_quality(emb, labels, cfg.threshold, ref, cfg.leak_threshold)
    print(f"{cfg.data}: {int(q['identities'])} identities, {int(q['images'])} images")
    print(f"  separability (no other centre above cos {cfg.threshold}): {100 * q['separability']:.2f}%")
    print(f"  mean inter-identity similarity: {q['mean_inter_identity_similarity']:.4f}")
    print(f"  intra-class spread (1 - cos to centre): {q['intra_class_spread']:.4f}")
    if "leakage" in q:
        print(f"  leakage vs {cfg.reference} (centre cos > {cfg.leak_threshold}): {100 * q['leakage']:.2f}%")
    return q


def centres(cfg: CentresConfig) -> Path:
    """Write the identity centres of an identity set under a recognizer: per identity the mean of its images'
    raw (unnormalised, single-view) backbone features, an (identities, dim) float32 ``.npy`` - the input space
    of Vec2Face and of the GAN source, for their PCA identity samplers (``reference_features=``)."""
    import numpy as np
    from torch.utils.data import Subset

    from datamodules.datasets.disk import LabelledImageDataset

    run = TrainedRun(cfg)
    if not hasattr(run.model, "backbone"):
        raise DatasetError(f"{cfg.checkpoint}: not a recognition checkpoint")
    ds = LabelledImageDataset(cfg.data, run.setting("size", cfg.size, 112))
    if cfg.max_images and len(ds) > cfg.max_images:
        ds = Subset(ds, range(cfg.max_images))
    feats, labels = [], []
    with torch.no_grad():
        for b in _batches(ds, cfg, f"features of {cfg.data}"):
            feats.append(run.model.backbone(b.image.to(run.device)).double().cpu())
            labels.append(b.label)
    f, y = torch.cat(feats), torch.cat(labels)
    ids, inv = torch.unique(y, return_inverse=True)
    sums = torch.zeros(len(ids), f.shape[1], dtype=torch.float64).index_add_(0, inv, f)
    c = (sums / torch.bincount(inv, minlength=len(ids))[:, None]).float().numpy()
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, c)
    print(f"{out}: {len(ids)} identity centres ({c.shape[1]}-d raw backbone features) from {len(y)} images of {cfg.data}")
    return out


def _number_list(text: str, kind, key: str) -> list:
    try:
        return [kind(v) for v in str(text).split(",") if v.strip()] or [kind(0)]
    except ValueError:
        raise DatasetError(f"{key}={text!r}: expected a number or a comma-separated list of numbers") from None


def landmarks(cfg: LandmarksConfig) -> list[dict]:
    """Evaluate a landmark model on one set, once per (face_px, box_noise) setting (comma lists: the
    resolution and box-noise ablations in one command); print each, and a table when there are several."""
    from datamodules.datasets.landmark_crops import LandmarkSetDataset, RenderLandmarkDataset
    from datamodules.readers.landmark_sets import WFLW_ATTRIBUTES
    from facebench.metrics.landmarks import (NORMALISERS, YAW_BINS, LandmarkNME, NMEBreakdown, auc, failure_rate,
                                             yaw_membership)
    from facebench.plots import plot_ced
    from facebench.render.settings import HELD_OUT_IDENTITY_OFFSET
    from facebench.render.spec import DatasetSpec

    run = TrainedRun(cfg)
    convention = cfg.convention or str(run.data.get("convention", "3d"))
    render_size = run.setting("render_size", cfg.render_size, 256)
    settings = [(f, b) for f in _number_list(cfg.face_px, int, "face_px")
                for b in _number_list(cfg.box_noise, float, "box_noise")]
    rows, curves = [], {}
    for face_px, box_noise in settings:
        if cfg.data == "render":
            spec = DatasetSpec(width=cfg.render_faces, depth=1, seed=run.held_out_seed,
                               identity_offset=HELD_OUT_IDENTITY_OFFSET)
            ds = RenderLandmarkDataset(spec, render_size, run.render, None, convention, box_noise=box_noise,
                                       face_px=face_px or None)
            name = "render_heldout"
        else:
            ds = LandmarkSetDataset(cfg.data, box_noise=box_noise, face_px=face_px or None, convention=convention)
            name = ds.name
        setting = f"face_px={face_px or 'native'} box_noise={box_noise:g}"
        metrics = {n: LandmarkNME(n) for n in NORMALISERS}
        pred, pts = _predict_landmarks(run, ds, cfg, name, cfg.flip_test)
        for metric in metrics.values():
            metric.update(pred, pts)
        out = {"data": name, "face_px": face_px, "box_noise": box_noise, "flip_test": cfg.flip_test}
        print(f"{name}: {len(ds)} images, 68 points, {ds.convention} labels"
              + (f"  [{setting}]" if len(settings) > 1 else "")
              + (f"  [{render_size} px renders, seed {run.held_out_seed}]" if cfg.data == "render" else ""))
        for n, m in metrics.items():
            e = m.values()
            out[n] = {"nme": e.mean().item(), "fr@7": failure_rate(e, 0.07), "auc@7": auc(e, 0.07)}
            print(f"  NME ({n}) {100 * out[n]['nme']:.2f}%  failure rate@7% {100 * out[n]['fr@7']:.2f}%  "
                  f"AUC@7 {100 * out[n]['auc@7']:.2f}")
        if hasattr(ds, "yaw"):  # AFLW2000-3D and renders: the pose breakdown (box normaliser) and its balanced mean
            yaws = ds.yaws(range(len(ds))) if hasattr(ds, "yaws") else [ds.yaw(i) for i in range(len(ds))]
            by_yaw = NMEBreakdown(YAW_BINS)
            by_yaw.update(metrics["box"].values(), yaw_membership(yaws))
            res = by_yaw.compute()
            per, counts = {b: v for b, (v, _) in res.items()}, {b: n for b, (_, n) in res.items()}
            print("  NME (box) by |yaw|: " + "  ".join(f"{b} {100 * v:.2f}% (n={counts[b]})" for b, v in per.items())
                  + (f"  balanced {100 * sum(per.values()) / len(per):.2f}%" if len(per) == 3 else ""))
            out["yaw_bins"], out["yaw_counts"] = per, counts
        if hasattr(ds, "attributes"):  # WFLW: NME (inter-ocular, WFLW's normaliser) on each attribute subset
            by_attr = NMEBreakdown(WFLW_ATTRIBUTES)
            member = torch.tensor([[bool(ds.attributes(i)[a]) for a in WFLW_ATTRIBUTES] for i in range(len(ds))])
            by_attr.update(metrics["inter_ocular"].values(), member)
            per = {a: v for a, (v, _) in by_attr.compute().items()}
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


def _predict_landmarks(run: TrainedRun, ds, cfg: EvalConfig, name: str, flip_test: bool = False):
    """(predictions, ground truth), both (N, 68, 2) image pixels, of a landmark dataset."""
    preds, gts = [], []
    with torch.no_grad():
        for b in _batches(ds, cfg, f"landmarks {name}"):
            preds.append(run.model.predict_landmarks(b.image.to(run.device), b.hm_to_img.to(run.device),
                                                     flip_test=flip_test).cpu())
            gts.append(b.points_img)
    return torch.cat(preds), torch.cat(gts)


def adapt(cfg: AdaptConfig) -> dict[str, float]:
    from datamodules.datasets.landmark_crops import LandmarkSetDataset
    from facebench.methods.label_adaptation import fit_label_adapter
    from facebench.metrics.landmarks import nme

    if not (cfg.train and cfg.val):
        raise DatasetError("adapt needs train=<real training split> and val=<real validation split>")
    run = TrainedRun(cfg)
    # convention: the labels of rendered / generated splits (e.g. 2d, to adapt a 3D-FAN to the 2D convention).
    splits = {k: _predict_landmarks(run, LandmarkSetDataset(p, convention=cfg.convention or "3d"), cfg, k)
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


def _parsing_dataset(run: TrainedRun, cfg: ParsingEvalConfig):
    from datamodules.datasets.parsing_crops import ParsingSetDataset, RenderParsingDataset
    from facebench.parsing_classes import mapping
    from facebench.render.settings import (HELD_OUT_IDENTITY_OFFSET, STANDIN_EVAL_IDENTITY_OFFSET,
                                           STANDIN_EVAL_SEED_OFFSET)
    from facebench.render.spec import DatasetSpec

    size = run.setting("size", cfg.size, 256)
    crop_scale = run.setting("crop_scale", cfg.crop_scale, 1.5)
    if cfg.data in ("render", "standin"):
        render_size = run.setting("render_size", cfg.render_size, 256)
        if cfg.data == "render":
            spec = DatasetSpec(width=cfg.render_faces, depth=1, seed=run.held_out_seed,
                               identity_offset=HELD_OUT_IDENTITY_OFFSET)
            return RenderParsingDataset(spec, render_size, size, run.render, None, crop_scale, name="render_heldout")
        spec = DatasetSpec(width=cfg.render_faces, depth=1, seed=int(run.cfg.get("seed", 0)) + STANDIN_EVAL_SEED_OFFSET,
                           vary="all", identity_offset=STANDIN_EVAL_IDENTITY_OFFSET)
        return RenderParsingDataset(spec, render_size, size, run.render, None, crop_scale,
                                    mapping("facesynthetics19", cfg.standin_classes),
                                    name=f"standin_{cfg.standin_classes}")
    return ParsingSetDataset(cfg.data, cfg.split, size, crop_scale)


def _overlay(img, label, palette):
    import numpy as np

    out = img.astype(np.float32)
    known = label != 255
    out[known] = 0.45 * out[known] + 0.55 * palette[label[known]]
    return out.astype(np.uint8)


def parsing(cfg: ParsingEvalConfig) -> dict:
    """Score a parser (and, with ``adapter``, its label adaptation) on one set at the original image
    resolution: each crop's class probabilities are warped back through the crop into the image (outside the
    crop: background), mapped into the set's classes through the explicit table, and counted in one
    confusion matrix over the set."""
    import cv2
    import numpy as np

    from datamodules.datasets.device_ops import warp_batch
    from facebench.landmarks_ops import invert_affine
    from facebench.metrics.parsing import ParsingConfusion, parsing_scores
    from facebench.parsing_classes import mapping
    from facebench.tasks.parsing import map_probs

    run = TrainedRun(cfg)
    parser = run.model
    if not hasattr(parser, "predict_probs") or not hasattr(parser, "classes"):
        raise DatasetError(f"{cfg.checkpoint}: not a parsing checkpoint")
    ds = _parsing_dataset(run, cfg)
    models = {"parser": parser}
    if cfg.adapter:
        models["adapted"] = load_model(cfg.adapter, parser=parser).to(run.device)
    tables = {k: mapping(m.classes, ds.classes) for k, m in models.items()}
    metrics = {k: ParsingConfusion(ds.classes.num_classes) for k in models}
    palette = (np.random.default_rng(7).integers(40, 255, (256, 3))).astype(np.float32)
    palette[0] = 0
    sheet_rows = []
    with torch.no_grad():
        for b in _batches(ds, cfg, f"parse {ds.name}"):
            x = b.image.to(run.device)
            probs = {"parser": parser.predict_probs(x, flip_test=cfg.flip_test)}
            if "adapted" in models:
                probs["adapted"] = models["adapted"].adapted_logits(probs["parser"]).softmax(1)
            for j, i in enumerate(b.index.tolist()):
                orig = ds.original(i)
                H, W = orig.label.shape
                img_to_crop = torch.from_numpy(invert_affine(b.crop_to_img[j].numpy())).float()[None].to(run.device)
                preds = {}
                for k, p in probs.items():
                    back = warp_batch(map_probs(p[j:j + 1], tables[k]), img_to_crop, (H, W))
                    preds[k] = back.argmax(1)[0].cpu()
                    metrics[k].update(preds[k][None], torch.from_numpy(orig.label.astype(np.int64))[None])
                if len(sheet_rows) < cfg.sheet_images:
                    shown = preds.get("adapted", preds["parser"]).numpy().astype(np.uint8)
                    row = [orig.image, _overlay(orig.image, orig.label, palette), _overlay(orig.image, shown, palette)]
                    sheet_rows.append(np.concatenate([cv2.resize(r, (160, round(160 * H / W))) for r in row], 1))
    out = {"data": ds.name, "images": len(ds), "classes": ds.classes.name}
    for k, m in metrics.items():
        tgt = ds.classes
        out[k] = parsing_scores(m.compute(), tgt.classes, tables[k].shared, [tgt.index(c) for c in tgt.overall])
    print(f"{ds.name}: {len(ds)} images, {ds.classes.name} labels, scored at the original resolution; model classes "
          f"{parser.classes.name}" + (f" through the table {parser.classes.name}->{ds.classes.name}"
                                      if parser.classes.name != ds.classes.name else ""))
    for s in {parser.classes, ds.classes}:
        if not s.sides_checked:
            print(f"  note: which side 'left' means in {s.name} was not checked on its files; left/right classes "
                  "rely on the assumption in facebench/parsing_classes.py")
    table = parsing_table(out, list(models))
    print(table)
    sheet = cfg.sheet or f"{ds.name}_parsing.png"
    if sheet_rows:
        w = max(r.shape[1] for r in sheet_rows)
        rows = [np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0))) for r in sheet_rows]
        cv2.imwrite(sheet, cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
        print(f"  sheet (image | labels | {'adapted ' if cfg.adapter else ''}prediction): {sheet}")
    if cfg.table:
        Path(cfg.table).write_text(_provenance() + table)
    return out


def parsing_table(out: dict, models: list[str]) -> str:
    """Markdown table: per-class F1 (%) and the summary scores, one column per model (parser, adapted)."""
    names = {"parser": "parser" if len(models) == 1 else "without adaptation (table)", "adapted": "with adaptation"}
    first = out[models[0]]
    lines = ["| " + " | ".join(["class"] + [names[m] for m in models]) + " |", "|" + "---|" * (len(models) + 1)]
    fmt = lambda v: "-" if v != v else f"{100 * v:.2f}"  # noqa: E731 - NaN: the class is in neither
    for c in first["f1"]:
        lines.append(f"| F1 {c} | " + " | ".join(fmt(out[m]["f1"][c]) for m in models) + " |")
    lines.append(f"| mean F1 ({len(first['mean_classes'])} classes) | "
                 + " | ".join(fmt(out[m]["mean_f1"]) for m in models) + " |")
    if "overall_f1" in first:
        lines.append("| overall F1 (components pooled) | " + " | ".join(fmt(out[m]["overall_f1"]) for m in models) + " |")
    lines.append("| mIoU | " + " | ".join(fmt(out[m]["miou"]) for m in models) + " |")
    lines.append("| pixel accuracy | " + " | ".join(fmt(out[m]["pixel_accuracy"]) for m in models) + " |")
    return "\n".join(lines) + "\n\nmean F1 over: " + ", ".join(first["mean_classes"]) + "\n"


def _expression_dataset(run: TrainedRun, cfg: ExpressionEvalConfig, in_channels: int):
    from datamodules.datasets.expression_faces import RenderExpressionDataset, ExpressionSetDataset
    from facebench.render.settings import (HELD_OUT_IDENTITY_OFFSET, STANDIN_EVAL_IDENTITY_OFFSET,
                                           STANDIN_EVAL_SEED_OFFSET)
    from facebench.render.spec import DatasetSpec

    size, grey = run.setting("size", cfg.size, 112), in_channels == 1
    if cfg.data in ("render", "standin"):
        render_size = run.setting("render_size", 0, 112)
        if cfg.data == "render":
            spec = DatasetSpec(width=cfg.render_faces, depth=1, seed=run.held_out_seed, vary="all",
                               identity_offset=HELD_OUT_IDENTITY_OFFSET)
            return RenderExpressionDataset(spec, size, run.render, grey, render_size=render_size, name="render_heldout")
        spec = DatasetSpec(width=cfg.render_faces, depth=1, seed=int(run.cfg.get("seed", 0)) + STANDIN_EVAL_SEED_OFFSET,
                           vary="all", identity_offset=STANDIN_EVAL_IDENTITY_OFFSET)
        return RenderExpressionDataset(spec, size, run.render, grey, render_size=render_size, appearance="digiface",
                                       name="standin")
    return ExpressionSetDataset(cfg.data, "all" if cfg.folds else cfg.split, size, grey)


def expression(cfg: ExpressionEvalConfig) -> dict:
    """Accuracy, mean per-class accuracy and the confusion matrix of an expression model (a classifier or a
    DeRL residue classifier) on one set; with ``folds``, also per subject-disjoint fold, mean and std."""
    from datamodules.readers.expression_sets import subject_folds
    from facebench.expression_classes import class_names
    from facebench.metrics.expression import ExpressionConfusion, accuracy, mean_class_accuracy, mean_std
    from facebench.plots import plot_confusion

    run = TrainedRun(cfg)
    model = run.model
    if not hasattr(model, "logits") or not hasattr(model, "num_classes"):
        raise DatasetError(f"{cfg.checkpoint}: not an expression checkpoint")
    in_channels = int(model.hparams.get("in_channels", 3))
    ds = _expression_dataset(run, cfg, in_channels)
    names = class_names(model.num_classes)
    preds, labels = [], []
    with torch.no_grad():
        for b in _batches(ds, cfg, f"expression {ds.name}"):
            preds.append(model.logits(b.image.to(run.device)).argmax(1).cpu())
            labels.append(b.label)
    pred, label = torch.cat(preds), torch.cat(labels)
    overall = ExpressionConfusion(len(names))
    overall.update(pred, label)
    conf = overall.compute()
    out = {"data": ds.name, "images": len(ds), "acc": accuracy(conf), "mean_class_acc": mean_class_accuracy(conf),
           "confusion": conf.tolist(), "classes": list(names)}
    excluded = getattr(getattr(ds, "set", None), "excluded", {})
    print(f"{ds.name}: {len(ds)} images, {len(names)} classes"
          + (f" (excluded: {', '.join(f'{k} {v}' for k, v in sorted(excluded.items()))})" if excluded else ""))
    print(f"  accuracy {100 * out['acc']:.2f}  mean per-class accuracy {100 * out['mean_class_acc']:.2f}")
    if cfg.folds:
        fold_of = torch.tensor(subject_folds(ds.subjects(), cfg.folds))
        accs = []
        for k in range(cfg.folds):
            m = ExpressionConfusion(len(names))
            m.update(pred[fold_of == k], label[fold_of == k])
            accs.append(accuracy(m.compute()))
        out["fold_acc"], (out["fold_mean"], out["fold_std"]) = accs, mean_std(accs)
        print(f"  {cfg.folds} subject-disjoint folds: accuracy {100 * out['fold_mean']:.2f} +- {100 * out['fold_std']:.2f} "
              f"(per fold: {', '.join(f'{100 * a:.1f}' for a in accs)})")
    table = expression_table(conf, names)
    print(table)
    path = cfg.confusion or f"{ds.name}_confusion.png"
    plot_confusion(conf, names, path, f"{ds.name}: accuracy {100 * out['acc']:.1f}%")
    print(f"  confusion plot: {path}")
    if cfg.table:
        Path(cfg.table).write_text(_provenance() + f"accuracy {100 * out['acc']:.2f}, mean per-class accuracy "
                                   f"{100 * out['mean_class_acc']:.2f}\n\n" + table)
    return out


def expression_table(conf: torch.Tensor, names) -> str:
    """Markdown confusion matrix: counts, true classes as rows, with each row's recall (%)."""
    from facebench.metrics.expression import per_class_accuracy

    rec = per_class_accuracy(conf)
    lines = ["| true (rows), predicted (columns) | " + " | ".join(names) + " | recall % |", "|" + "---|" * (len(names) + 2)]
    for i, n in enumerate(names):
        r = "-" if torch.isnan(rec[i]) else f"{100 * rec[i]:.1f}"
        lines.append(f"| {n} | " + " | ".join(str(int(v)) for v in conf[i]) + f" | {r} |")
    return "\n".join(lines) + "\n"


def derl(cfg: DerlEvalConfig) -> dict:
    """DeRL's de-expression generator on held-out (expressive, neutral) pairs: the mean L1 (in [-1, 1] image
    units) between generated and true neutral faces, beside the L1 of copying the input (what the generator
    must beat), overall and for the pairs whose expression is not neutral; a sheet of input | generated |
    true neutral."""
    import cv2
    import numpy as np

    from datamodules.datasets.expression_faces import ExpressionSetDataset, RenderExpressionDataset

    run = TrainedRun(cfg)
    gan = run.model
    if not hasattr(gan, "generator") or not hasattr(gan, "discriminator"):
        raise DatasetError(f"{cfg.checkpoint}: not a DeRL GAN checkpoint (model=derl_gan)")
    grey = int(gan.hparams.get("in_channels", 3)) == 1
    size = run.setting("size", cfg.size, 64)
    if cfg.data in ("render", "standin"):
        base = _expression_dataset(run, ExpressionEvalConfig(data=cfg.data, render_faces=cfg.render_faces, size=size),
                                   1 if grey else 3)
        ds = RenderExpressionDataset(base.spec, size, run.render, grey, pairs=True, render_size=base.render_size,
                                     appearance=base.appearance, name=base.name)
    else:
        ds = ExpressionSetDataset(cfg.data, cfg.split, size, grey, pairs=True)
    gen_l1, copy_l1, expressive, rows = [], [], [], []
    with torch.no_grad():
        for b in _batches(ds, cfg, f"derl {ds.name}"):
            x, y = b.image.to(run.device), b.neutral.to(run.device)
            fake = gan.generator(x)
            gen_l1.append((fake - y).abs().mean((1, 2, 3)).cpu())
            copy_l1.append((x - y).abs().mean((1, 2, 3)).cpu())
            expressive.append(b.label != 0)
            for j in range(min(len(x), cfg.sheet_images - len(rows))):
                trip = [((t[j].cpu().permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
                        for t in (x, fake, y)]
                rows.append(np.concatenate([np.repeat(t, 3, 2) if t.shape[2] == 1 else t for t in trip], 1))
    g, c, e = torch.cat(gen_l1), torch.cat(copy_l1), torch.cat(expressive)
    out = {"data": ds.name, "pairs": len(ds), "l1_generated": float(g.mean()), "l1_copy_input": float(c.mean()),
           "l1_generated_expressive": float(g[e].mean()) if e.any() else float("nan"),
           "l1_copy_input_expressive": float(c[e].mean()) if e.any() else float("nan")}
    print(f"{ds.name}: {len(ds)} (expressive, neutral) pairs, {size}px")
    print(f"  L1 generated vs true neutral {out['l1_generated']:.4f}  (copying the input: {out['l1_copy_input']:.4f})")
    print(f"  on the {int(e.sum())} pairs with an expression: {out['l1_generated_expressive']:.4f}  "
          f"(copying the input: {out['l1_copy_input_expressive']:.4f})")
    sheet = cfg.sheet or f"{ds.name}_derl.png"
    if rows:
        big = cv2.resize(np.concatenate(rows, 0), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(sheet, cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
        print(f"  sheet (input | generated neutral | true neutral): {sheet}")
    return out


def _generated_report(name: str, src, faces: torch.Tensor, cos: torch.Tensor, embs: torch.Tensor, ids, cfg,
                      reference_centres=None, leak_threshold: float = 0.4) -> dict:
    """Print and return a generated set's identity cosine to its targets and its quality measures (separability
    at ``cfg.threshold``, inter-identity similarity, intra-class spread, leakage against ``reference_centres``);
    write a contact sheet, one identity per row (``cfg.sheet``, default <name>_sheet.png)."""
    import cv2
    import numpy as np

    from facebench.metrics.dataset_quality import dataset_quality

    n = len(faces)
    q = dataset_quality(embs, torch.as_tensor(ids), cfg.threshold, reference_centres, leak_threshold)
    out = {"identity_cosine": float(cos.mean()), "identity_cosine_min": float(cos.min()), **q}
    print(f"{name}: {src.describe()}; {n} faces ({cfg.identities} x {cfg.depth})")
    print(f"  identity cosine to the target: mean {out['identity_cosine']:.4f}, min {out['identity_cosine_min']:.4f}")
    print(f"  separability (no other identity centre above cos {cfg.threshold}): {100 * q['separability']:.2f}%  "
          f"mean inter-identity similarity {q['mean_inter_identity_similarity']:.4f}  intra-class spread "
          f"{q['intra_class_spread']:.4f}")
    if "leakage" in q:
        print(f"  leakage (centre cos > {leak_threshold} to a training identity): {100 * q['leakage']:.2f}% of "
              f"{int(q['identities'])} identities against {len(reference_centres)} training identities")
    u8 = ((faces.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    rows = [np.concatenate(list(u8[k * cfg.depth:(k + 1) * cfg.depth]), 1)
            for k in range(min(cfg.sheet_identities, cfg.identities))]
    sheet = cfg.sheet or f"{name}_sheet.png"
    cv2.imwrite(sheet, cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    print(f"  contact sheet (one identity per row): {sheet}")
    return out


def _in_batches(fn, x: torch.Tensor, cfg, device) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + cfg.batch].to(device)).cpu() for i in range(0, len(x), cfg.batch)])


def vec2face(cfg: Vec2FaceEvalConfig) -> dict:
    """A Vec2Face generator trained in the suite (a ``vec2face/*`` run, with its frozen recognizer): sample
    ``identities`` x ``depth`` faces as the generation recipe does, then print the identity cosine between each
    face's recognizer feature and its input vector, and the generated set's quality measures under the same
    recognizer (verification embeddings); write a contact sheet. ``data`` is not used (pass data=generated)."""
    import numpy as np

    from facebench.render.spec import DatasetSpec
    from facebench.sources.vec2face import Vec2FaceSource

    run = TrainedRun(cfg)
    if not hasattr(run.model, "generator") or not hasattr(run.model, "recognizer"):
        raise DatasetError(f"{cfg.checkpoint}: not a Vec2Face training run (model=vec2face)")
    rec = run.model.recognizer
    src = Vec2FaceSource(cfg.checkpoint, DatasetSpec(width=cfg.identities, depth=cfg.depth, seed=cfg.seed),
                         cfg.threshold, cfg.reference_features or None, device=str(run.device),
                         generator=run.model.generator)
    n = cfg.identities * cfg.depth
    faces = torch.cat([src.render(np.arange(i, min(i + cfg.batch, n)), chunk=cfg.batch).image
                       for i in range(0, n, cfg.batch)])
    v, ids, _ = src.vectors(np.arange(n))
    cos = torch.nn.functional.cosine_similarity(_in_batches(rec.backbone, faces, cfg, run.device), v, dim=1)
    return _generated_report("vec2face", src, faces, cos, _in_batches(rec.embed, faces, cfg, run.device), ids, cfg)


def gan(cfg: GanEvalConfig) -> dict:
    """An identity-preserving GAN trained in the suite (a ``gan/*`` run, with its frozen recognizer): sample
    ``identities`` x ``depth`` faces as the GAN source does (identities from the PCA fit of the training
    identities, attributes drawn per image: the sheet's columns), then print the identity cosine between each
    face's recognizer feature and its target identity feature, the set's separability and its leakage against
    the training identities the checkpoint remembers (all single-view recognizer features); write a contact
    sheet. ``data`` is not used (pass data=generated)."""
    import numpy as np

    from facebench.metrics.dataset_quality import identity_centres
    from facebench.render.spec import DatasetSpec
    from facebench.sources.gan import GanSource, TrainedGan
    from facebench.tasks.identity_gan import IdentityGanModule

    run = TrainedRun(cfg)
    if not isinstance(run.model, IdentityGanModule):
        raise DatasetError(f"{cfg.checkpoint}: not a GAN training run (gan/*, model=identity_gan)")
    spec = DatasetSpec(width=cfg.identities, depth=cfg.depth, seed=cfg.seed, vary=cfg.vary)
    gen = TrainedGan(run.model, run.device)
    src = GanSource(cfg.checkpoint, spec, cfg.threshold, cfg.reference_features or None, cfg.attribute_scale,
                    str(run.device), generator=gen, attribute_pool=cfg.attribute_pool or None)
    n = cfg.identities * cfg.depth
    fac, ids, _ = src.factors(np.arange(n))  # drawn once: the faces' inputs and their identity targets
    faces = torch.cat([gen({k: f[i:i + cfg.batch] for k, f in fac.items()}).cpu() for i in range(0, n, cfg.batch)])
    feats = _in_batches(run.model.identity, faces, cfg, run.device)
    cos = torch.nn.functional.cosine_similarity(feats, fac["identity"], dim=1)
    bank_f, bank_y = gen.training_identities()
    ref = identity_centres(bank_f.double(), bank_y)[0] if len(bank_f) else None
    return _generated_report("gan", src, faces, cos, feats, ids, cfg, ref, cfg.leak_threshold)


TASKS = {"verify": (verify, VerifyConfig), "quality": (quality, QualityConfig), "centres": (centres, CentresConfig), "landmarks": (landmarks, LandmarksConfig),
         "adapt": (adapt, AdaptConfig), "parsing": (parsing, ParsingEvalConfig),
         "expression": (expression, ExpressionEvalConfig), "derl": (derl, DerlEvalConfig),
         "vec2face": (vec2face, Vec2FaceEvalConfig), "gan": (gan, GanEvalConfig)}


def main(argv=None) -> int:
    import sys

    from facebench.cli_args import parse

    argv = list(sys.argv[1:] if argv is None else argv)
    task = argv[0] if argv and "=" not in argv[0] else ""
    if task not in TASKS:
        raise SystemExit(f"usage: python -m facebench.eval {{{'|'.join(TASKS)}}} checkpoint=CKPT data=PATH [key=value ...]"
                         + (f"\nunknown eval task {task!r}" if task else ""))
    fn, defaults = TASKS[task]
    cfg = parse(defaults(), argv[1:])
    if not cfg.checkpoint or not cfg.data:
        raise SystemExit(f"usage: python -m facebench.eval {task} checkpoint=CKPT data=PATH [key=value ...]")
    fn(cfg)
    return 0


if __name__ == "__main__":
    from facebench.errors import run_command

    run_command(main)
