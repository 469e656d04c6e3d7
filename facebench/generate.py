"""Write a rendered dataset to disk, sharded and resumable.

    python -m facebench.generate source=render layout=facesynthetics n=1000 out=DIR [seed=0 framing=wild
        size=256 width=... depth=... vary=all shard=0/4 chunk=500 head=auto]
    python -m facebench.generate layout=verification_bin n=6000 out=render_heldout.bin [width=1000]
    python -m facebench.generate source=vec2face checkpoint=vec2face_generator.pth layout=identity_folders n=50000
        depth=50 out=DIR [threshold=0.4 reference_features=centres.npy device=cuda]
    python -m facebench.generate source=vec2face checkpoint=... layout=hsface_lmdb n=50000 depth=50 out=DIR
    python -m facebench.generate source=gan checkpoint=CKPT layout=identity_folders|hsface_lmdb n=10000 depth=20
        out=DIR [threshold=0.4 attribute_scale=1.0 vary=all|none reference_features=features.npy attribute_pool=DIR]

``hsface_lmdb`` writes HSFace's LMDB (``DIR/data.mdb``: records ``msgpack([jpeg, label])`` keyed by the sample
index, then ``__keys__``, ``__len__``, ``__classnum__`` once every chunk is stored), which
``data.train_path=DIR`` and ``facebench.check`` read; chunks are transactions recorded in ``DIR/manifest/``.

``verification_bin`` writes n verification pairs of held-out rendered identities (identity ids from 10^6,
disjoint from any training spec) in insightface's ``.bin`` format, so a render-based test set is made once
and evaluated like lfw.bin (pair p is genuine when p is even; images 112x112 aligned).

``source=vec2face`` writes faces of the Vec2Face generator (facebench.sources.vec2face): identity vectors at
most ``threshold`` apart in cosine, each identity's images with the 0.3 / 0.5 / 0.7 sigma mix; every face
keyed by (seed, identity, image), so shards and resumed runs write the same faces.

``source=gan`` writes faces of a GAN (facebench.sources.gan): a ``gan/*`` run's checkpoint or a TorchScript export
(DiscoFaceGAN's factors or an identity feature; facebench.sources.external_generator); identities at most
``threshold`` apart in cosine, attributes drawn per image (``vary=none``: once per identity), keyed the same way.

Samples are written in chunks of ``chunk`` consecutive indices. A chunk is the unit of work and of
resume: its files are written under temporary names, renamed, then recorded in
``DIR/manifest/chunk_NNNNNN.json`` with each file's SHA-1. A rerun skips chunks whose manifest entry
exists and whose files still match, so a killed run resumes with no duplicates and no holes. Shard i of
k (``shard=i/k``, or the launcher's rank/world size) takes the chunks c with c % k == i.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from datamodules.readers.facesynthetics import write_landmarks
from datamodules.readers.images import write_rgb
from facebench.labels import EXPRESSIONS
from facebench.render.spec import DatasetSpec

LAYOUTS = ("facesynthetics", "identity_folders", "hsface_lmdb", "verification_bin")


@dataclass
class GenerateConfig:
    source: str = "render"
    layout: str = "facesynthetics"
    n: int = 100
    out: str = "data/render"
    seed: int = 0
    framing: str = ""  # default: wild for facesynthetics, aligned for identity_folders
    size: int = 0  # default: 256 wild, 112 aligned
    width: int = 0  # identities; default n // depth
    depth: int = 10
    long_tail_alpha: float = 0.0
    vary: str = "all"
    identity_offset: int = 0
    head: str = "auto"
    ict_path: str = ""
    supersample: int = 2
    shard: str = "0/1"
    chunk: int = 256
    device: str = "cpu"
    batch: int = 32
    checkpoint: str = ""  # source=vec2face|gan: the generator (vec2face_generator.pth, a vec2face/gan run, an export)
    threshold: float = 0.4  # source=vec2face|gan: identities' maximum pairwise cosine
    reference_features: str = ""  # source=vec2face|gan: (N, dim) identity centres to fit the PCA sampler to
    attribute_scale: float = 1.0  # source=gan: scale of the attribute / factor draws
    attribute_pool: str = ""  # source=gan (a suite GAN): an image set whose encoded attribute codes are drawn
    attr_op: str = ""  # source=vec2face: a recognition checkpoint: apply AttrOP (identity kept, quality raised)
    attr_steps: int = 50  # AttrOP's step cap per sample
    attr_on_fail: str = "keep"  # keep | drop | retry the samples that miss AttrOP's target
    attr_yaw: float = -1.0  # AttrOP's pose term: the |yaw| target in degrees (-1: no pose term) ...
    attr_fan: str = ""  # ... measured by this FAN run's 68 points ...
    attr_depth: str = ""  # ... and this 2D-to-3D-FAN run's depths


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


SOURCES = ("render", "vec2face", "gan")


def _resolve(cfg: GenerateConfig) -> GenerateConfig:
    if cfg.source not in SOURCES:
        raise SystemExit(f"source={cfg.source!r}: one of {SOURCES}")
    if cfg.layout not in LAYOUTS:
        raise SystemExit(f"layout must be one of {LAYOUTS}, got {cfg.layout!r}")
    if cfg.source != "render":
        if cfg.layout not in ("identity_folders", "hsface_lmdb"):
            raise SystemExit(f"source={cfg.source} writes layout=identity_folders or hsface_lmdb (112x112 aligned faces)")
        if not cfg.checkpoint:
            raise SystemExit(f"source={cfg.source} needs checkpoint=<the generator: "
                             + ("vec2face_generator.pth or a vec2face run's .ckpt>" if cfg.source == "vec2face" else
                                "a gan run's .ckpt or a TorchScript export>"))
        if cfg.attr_op and cfg.source != "vec2face":
            raise SystemExit("attr_op applies to source=vec2face")
        cfg.framing, cfg.size = "aligned", 112
    if cfg.layout == "hsface_lmdb" and cfg.framing == "wild":
        raise SystemExit("layout=hsface_lmdb holds aligned recognition faces: framing=aligned")
    cfg.framing = cfg.framing or ("wild" if cfg.layout == "facesynthetics" else "aligned")
    cfg.size = cfg.size or (256 if cfg.framing == "wild" else 112)
    cfg.width = cfg.width or max(1, -(-cfg.n // cfg.depth))
    return cfg


def _shard(spec: str) -> tuple[int, int]:
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if spec == "0/1" and rank is not None and world is not None:
        return int(rank), int(world)
    try:
        i, k = (int(x) for x in spec.split("/"))
    except ValueError:
        raise SystemExit(f"shard must look like i/k, got {spec!r}") from None
    if not 0 <= i < k:
        raise SystemExit(f"shard {spec}: need 0 <= i < k")
    return i, k


def chunk_done(out: Path, c: int) -> bool:
    m = out / "manifest" / f"chunk_{c:06d}.json"
    if not m.is_file():
        return False
    try:
        entry = json.loads(m.read_text())
        return all((out / f).is_file() and _sha1(out / f) == h for f, h in entry["files"].items())
    except (json.JSONDecodeError, KeyError, OSError):
        return False


def _sample_files(layout: str, index: int, identity: int, pos: int) -> dict[str, str]:
    if layout == "facesynthetics":
        s = f"{index:06d}"
        return {"image": f"{s}.png", "seg": f"{s}_seg.png", "ldmks": f"{s}_ldmks.txt", "meta": f"{s}_meta.json"}
    return {"image": f"{identity:06d}/{pos:04d}.jpg"}


def _chunk_samples(cfg: GenerateConfig, source, c: int):
    """The samples of chunk c, rendered ``cfg.batch`` at a time: (index, identity, position j in the render r,
    r, its uint8 image). Samples AttrOP dropped (attr_on_fail=drop) are left out."""
    lo, hi = c * cfg.chunk, min((c + 1) * cfg.chunk, cfg.n)
    idx = np.arange(lo, hi)
    ids = source.spec.identity_of(idx)
    for b in range(0, len(idx), cfg.batch):
        bi = idx[b:b + cfg.batch]
        r = source.render(bi, chunk=cfg.batch)
        imgs = r.images_u8()
        positions = r.kept.numpy() if hasattr(r, "kept") else np.arange(len(bi))
        for j, p in enumerate(positions):
            yield int(bi[p]), int(ids[b + p]), j, r, imgs[j]


def _write_manifest(out: Path, c: int, cfg: GenerateConfig, entries: dict) -> None:
    """Record chunk c as done (written last, atomically, so a killed run leaves no false entry)."""
    man = out / "manifest"
    man.mkdir(exist_ok=True)
    t = man / f"chunk_{c:06d}.json.tmp"
    t.write_text(json.dumps({"chunk": c, "start": c * cfg.chunk, "stop": min((c + 1) * cfg.chunk, cfg.n), **entries}))
    os.replace(t, man / f"chunk_{c:06d}.json")


def write_chunk(out: Path, cfg: GenerateConfig, source, c: int) -> None:
    import cv2

    spec = source.spec
    starts = np.r_[0, np.cumsum(spec.depths())]
    written: dict[str, str] = {}
    for i, k, j, r, img in _chunk_samples(cfg, source, c):
        files = _sample_files(cfg.layout, i, k, int(i - starts[k - spec.identity_offset]))
        tmp = {key: out / (f + ".tmp" + Path(f).suffix) for key, f in files.items()}
        for t in tmp.values():
            t.parent.mkdir(parents=True, exist_ok=True)
        write_rgb(tmp["image"], img)
        if cfg.layout == "facesynthetics":
            if not cv2.imwrite(str(tmp["seg"]), r.seg[j].cpu().numpy()):
                raise OSError(f"{tmp['seg']}: could not write")
            write_landmarks(tmp["ldmks"], r.ldmk2d[j].cpu().numpy())
            meta = {"identity": k, "expression": EXPRESSIONS[int(r.expression[j])],
                    "pose_yaw_pitch_roll_deg": [round(float(a), 3) for a in r.pose[j]],
                    "landmarks_visible": r.ldmk_visible[j].cpu().int().tolist(),
                    "landmarks_3d_m": np.round(r.ldmk3d[j].cpu().numpy(), 5).tolist(),
                    "seed": cfg.seed, "index": i, "head": source.head.name}
            tmp["meta"].write_text(json.dumps(meta))
        for key, f in files.items():
            os.replace(tmp[key], out / f)
            written[f] = _sha1(out / f)
    _write_manifest(out, c, cfg, {"files": written})


def _lmdb_env(out: Path):
    import lmdb

    from datamodules.readers.hsface_lmdb import close_env

    close_env(out)
    # A large virtual map (the file grows only with the data); one environment per process.
    return lmdb.open(str(out), map_size=2 ** 40, subdir=True, lock=True)


def lmdb_chunk_done(env, out: Path, c: int) -> bool:
    """A chunk is done when its manifest exists and every record it lists is stored with the same SHA-1."""
    m = out / "manifest" / f"chunk_{c:06d}.json"
    if not m.is_file():
        return False
    try:
        entry = json.loads(m.read_text())
        with env.begin() as txn:
            return all((v := txn.get(k.encode())) is not None and hashlib.sha1(v).hexdigest() == h
                       for k, h in entry["records"].items())
    except (json.JSONDecodeError, KeyError):
        return False


def write_chunk_lmdb(env, out: Path, cfg: GenerateConfig, source, c: int) -> None:
    """Chunk c as HSFace / Vec2Face LMDB records (key: the sample index in ASCII, value:
    msgpack([jpeg_bytes, label]), label = identity - identity_offset), in one write transaction."""
    import cv2
    import msgpack

    records: dict[str, str] = {}
    with env.begin(write=True) as txn:
        for i, k, _, _, img in _chunk_samples(cfg, source, c):
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise OSError(f"sample {i}: JPEG encoding failed")
            value = msgpack.packb([buf.tobytes(), k - source.spec.identity_offset])
            txn.put(str(i).encode(), value)
            records[str(i)] = hashlib.sha1(value).hexdigest()
    _write_manifest(out, c, cfg, {"records": records})


def finish_lmdb(env, out: Path, n_chunks: int) -> bool:
    """Once every chunk of every shard is stored, write the index records HSFace's readers need (``__keys__``
    in index order, ``__len__``, ``__classnum__``); False while chunks are missing."""
    import msgpack

    if not all(lmdb_chunk_done(env, out, c) for c in range(n_chunks)):
        return False
    keys = []
    for c in range(n_chunks):
        keys += json.loads((out / "manifest" / f"chunk_{c:06d}.json").read_text())["records"]
    keys.sort(key=int)
    with env.begin(write=True) as txn:
        labels = {msgpack.unpackb(txn.get(k.encode()))[1] for k in keys}
        txn.put(b"__keys__", msgpack.packb([k.encode() for k in keys]))
        txn.put(b"__len__", msgpack.packb(len(keys)))
        txn.put(b"__classnum__", msgpack.packb(max(labels) + 1 if labels else 0))
    return True


def generate_verification_bin(cfg: GenerateConfig) -> Path:
    import pickle

    import cv2

    from datamodules.datasets.render_identity import RenderPairsDataset
    from facebench.render.settings import HELD_OUT_IDENTITY_OFFSET as HELD_OUT_OFFSET
    from facebench.render.settings import RenderSettings

    out = Path(cfg.out)
    width = cfg.width or max(2, cfg.n // 6)
    spec = DatasetSpec(width=width, depth=10, vary=cfg.vary, seed=cfg.seed, identity_offset=HELD_OUT_OFFSET)
    ds = RenderPairsDataset(spec, cfg.n, 112, "aligned", RenderSettings(cfg.head, cfg.ict_path or None, cfg.supersample))
    bins = []
    with Progress(TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("pairs", total=cfg.n)
        for lo in range(0, cfg.n, cfg.batch):
            ps = np.arange(lo, min(lo + cfg.batch, cfg.n))
            r = ds.source.render(np.r_[ds.a[ps], ds.b[ps]], chunk=2 * cfg.batch)
            u8 = r.images_u8()
            n = len(ps)
            for j in range(n):
                for img in (u8[j], u8[n + j]):
                    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                    bins.append(buf.tobytes())
            bar.advance(task, n)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".bin.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((bins, [p % 2 == 0 for p in range(cfg.n)]), fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)
    print(f"{out}: {cfg.n} pairs of {width} held-out rendered identities (seed {cfg.seed}, head {ds.source.head.name})")
    return out


def render_code_version() -> str:
    """SHA-1 (16 hex digits) of the renderer's source files: two runs render the same faces for the same
    settings only when it matches."""
    root = Path(__file__).resolve().parent / "render"
    h = hashlib.sha1()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def resolved_settings(cfg: GenerateConfig, source) -> dict:
    """What ``auto`` and defaults resolved to: the head actually used, its file's SHA-1, the renderer."""
    from facebench.render.settings import RenderSettings

    ict = RenderSettings(cfg.head, cfg.ict_path or None, cfg.supersample).resolved_ict_path()
    used_ict = source.head.name.startswith("ict")
    return {"head_used": source.head.name, "head_file_sha1": _sha1(ict) if used_ict and ict else None,
            "renderer_version": render_code_version()}


def check_resume(sfile: Path, settings: dict) -> None:
    """Record the settings of a new folder; refuse to add to a folder generated with other settings."""
    from facebench.errors import ConfigError, DatasetError

    if not sfile.is_file():
        tmp = sfile.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(settings, indent=1))
        os.replace(tmp, sfile)
        return
    try:
        prev = json.loads(sfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DatasetError(f"{sfile}: not valid JSON; it records how the folder was generated") from None
    if prev != settings:
        diff = {k: (prev.get(k), v) for k, v in settings.items() if prev.get(k) != v}
        raise ConfigError(f"{sfile.parent} was generated with other settings (recorded, now): {diff}; use another "
                          "out= or the same settings")


def generate(cfg: GenerateConfig) -> Path:
    from facebench.render.source import RenderSource

    if cfg.layout == "verification_bin":
        _resolve(cfg)
        return generate_verification_bin(cfg)
    cfg = _resolve(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = DatasetSpec(width=cfg.width, depth=cfg.depth, long_tail_alpha=cfg.long_tail_alpha, vary=cfg.vary,
                       seed=cfg.seed, identity_offset=cfg.identity_offset)
    if cfg.n > len(spec):
        raise SystemExit(f"n={cfg.n} exceeds the spec's {len(spec)} samples (width x depth); raise width or depth")
    settings = {k: v for k, v in vars(cfg).items() if k not in ("shard", "device", "batch", "out")}
    if cfg.source != "render":
        from facebench.sources.generated import open_generator_source

        source = open_generator_source(cfg.checkpoint, spec, cfg.device, cfg.source, cfg.threshold,
                                       cfg.reference_features or None, attribute_scale=cfg.attribute_scale,
                                       attribute_pool=cfg.attribute_pool or None)
        if cfg.attr_op:
            source.with_attr_op(cfg.attr_op, cfg.attr_steps, cfg.attr_on_fail, fan_checkpoint=cfg.attr_fan,
                                depth_checkpoint=cfg.attr_depth, target_yaw=cfg.attr_yaw if cfg.attr_yaw >= 0 else None)
        print(f"{cfg.source}: {source.describe()}")
        settings.update(generator_file_sha1=_sha1(Path(cfg.checkpoint)))
    else:
        source = RenderSource(spec, size=cfg.size, framing=cfg.framing, head=cfg.head, ict_path=cfg.ict_path or None,
                              supersample=cfg.supersample, device=cfg.device)
        settings.update(resolved_settings(cfg, source))
    check_resume(out / "generate_config.json", settings)
    rank, world = _shard(cfg.shard)
    n_chunks = -(-cfg.n // cfg.chunk)
    mine = [c for c in range(n_chunks) if c % world == rank]
    env = _lmdb_env(out) if cfg.layout == "hsface_lmdb" else None
    done = (lambda c: lmdb_chunk_done(env, out, c)) if env is not None else (lambda c: chunk_done(out, c))
    todo = [c for c in mine if not done(c)]
    with Progress(TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("chunks", total=len(mine), completed=len(mine) - len(todo))
        for c in todo:
            if env is not None:
                write_chunk_lmdb(env, out, cfg, source, c)
            else:
                write_chunk(out, cfg, source, c)
            bar.advance(task)
    print(f"{out}: shard {rank}/{world}: {len(mine) - len(todo)} chunks already done, {len(todo)} written "
          f"({cfg.layout}, {cfg.framing} {cfg.size}px, head={source.head.name})")
    if env is not None:
        complete = finish_lmdb(env, out, n_chunks)
        env.close()
        print(f"{out}: " + ("LMDB index written (__keys__, __len__, __classnum__)" if complete else
                            "other shards' chunks missing: the LMDB index is written by the shard that completes it"))
    if cfg.source == "vec2face" and cfg.attr_op:
        print(f"vec2face: {source.describe()}")
    return out


def main(argv: list[str] | None = None) -> None:
    from facebench.cli_args import parse

    generate(parse(GenerateConfig(), argv))


if __name__ == "__main__":
    from facebench.errors import run_command

    run_command(main)
