"""Throughput benchmarks (not tests).

    python -m facebench.bench render [batch=64 cuda_batch=1024 repeats=3 head=auto supersample=2]
    python -m facebench.bench train [backbone=iresnet50 precision=bf16-mixed batch=256 source=render steps=20]
    python -m facebench.bench landmarks [batches=1,64 stacks=1,4 precision=bf16-mixed]
    python -m facebench.bench landmark_data [render_on=auto|worker|device batch=64 workers=2 steps=10]
    python -m facebench.bench parsing [batches=1,64 parsing_sizes=256,512 precision=bf16-mixed]
    python -m facebench.bench expression [batches=1,256 precision=bf16-mixed]
    python -m facebench.bench vec2face [batches=1,64 precision=bf16-mixed]
    python -m facebench.bench gan [batches=1,64 precision=bf16-mixed]

``render`` prints one line per setting, e.g. ``render cpu 112x112 aligned: 640 img/s``, on the CPU and on
CUDA when available; rendering includes every label. ``train`` prints training images/s (forward,
backward, SGD step with a CosFace head) fed from ``source``: ``memory`` (one random batch: the model's
ceiling), ``render`` (on-the-fly rendering: in DataLoader workers on the CPU, on the device on a GPU) or a
dataset path (identity folders, RecordIO, HSFace LMDB). ``landmarks`` prints FAN inference images/s at
256x256 for each number of stacks and batch size (width 256; bf16/fp16 autocast on CUDA when asked).
``parsing`` prints inference images/s of each parser (UNet-ResNet and BiSeNet, full and tiny) per input side
and batch; ``expression`` the same for the expression classifiers and DeRL's generator. ``landmark_data`` prints the landmark DataModule's training images/s (render, crop, augment; no model).
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class BenchConfig:
    what: str = "render"
    batch: int = 64
    cuda_batch: int = 1024  # render on CUDA: smaller batches are bound by kernel launches, not the GPU
    repeats: int = 3
    head: str = "auto"
    ict_path: str = ""
    devices: str = "auto"  # auto | cpu | cuda
    supersample: int = 2  # render: samples per pixel side (2, the default everywhere; 1 is jagged but cheaper)
    backbone: str = "tiny"  # tiny | iresnet18 | iresnet34 | iresnet50 | iresnet100
    precision: str = "32"  # 32 | bf16-mixed | 16-mixed
    source: str = "memory"  # memory | render | <dataset path>
    steps: int = 10
    workers: int = 2
    classes: int = 1000
    batches: str = "1,64"
    stacks: str = "1,4"
    widths: str = "256"  # landmarks: FAN channel widths (the network-size ablation spans stacks x width)
    render_on: str = "auto"  # landmark_data: worker | device (auto: device on CUDA)
    parsing_sizes: str = "256,512"  # parsing: input sides


def bench_render(cfg: BenchConfig) -> list[str]:
    from facebench.render.source import RenderSource
    from facebench.render.spec import DatasetSpec

    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if cfg.devices == "auto" else [cfg.devices]
    lines = []
    for dev in devs:
        n = cfg.cuda_batch if dev == "cuda" else cfg.batch
        for size, framing in ((112, "aligned"), (256, "wild")):
            src = RenderSource(DatasetSpec(width=10_000, depth=10), size=size, framing=framing, head=cfg.head,
                               ict_path=cfg.ict_path or None, device=dev, supersample=cfg.supersample)
            src.render(np.arange(n), chunk=n)  # warm-up
            if dev == "cuda":
                torch.cuda.synchronize()
            # On the CPU per-batch times too: on a shared machine the best batch shows the code's speed, the
            # spread the machine's noise (the overall rate stays the first figure). On a GPU one
            # synchronisation at the end, so that batches overlap as they do in training.
            times, t0 = [], time.perf_counter()
            for rep in range(cfg.repeats):
                t = time.perf_counter()
                src.render(np.arange(n) + (rep + 1) * n, chunk=n)
                times.append(time.perf_counter() - t)
            if dev == "cuda":
                torch.cuda.synchronize()
            rate = n * cfg.repeats / (time.perf_counter() - t0)
            ss = "" if cfg.supersample == 2 else f", supersample {cfg.supersample}"
            line = f"render {dev} {size}x{size} {framing}: {rate:.1f} img/s (batch {n}, head {src.head.name}{ss}"
            line += ")" if dev == "cuda" else (f"; per batch best {n / min(times):.1f}, median "
                                               f"{n / float(np.median(times)):.1f} img/s)")
            print(line, flush=True)
            lines.append(line)
    return lines


def bench_train(cfg: BenchConfig) -> str:
    import itertools

    from torch.utils.data import DataLoader

    from facebench.models.iresnet import IResNet
    from facebench.models.margin_heads import CosFaceHead
    from facebench.models.tiny_facenet import TinyFaceNet

    dev = torch.device("cuda" if torch.cuda.is_available() and cfg.devices in ("auto", "cuda") else "cpu")
    net = TinyFaceNet() if cfg.backbone == "tiny" else IResNet(int(cfg.backbone.removeprefix("iresnet")))
    net = net.to(dev).train()
    head = CosFaceHead(net.embedding_dim, cfg.classes).to(dev)
    opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=0.01, momentum=0.9)
    amp = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}[cfg.precision]
    render_on_device = False
    if cfg.source == "memory":
        batch = (torch.randn(cfg.batch, 3, 112, 112), torch.randint(0, cfg.classes, (cfg.batch,)))
        batches = itertools.repeat(batch)
    else:
        from datamodules.datasets.disk import LabelledImageDataset
        from datamodules.datasets.render_identity import RenderIdentityDataset
        from facebench.render.settings import RenderSettings
        from facebench.render.spec import DatasetSpec

        if cfg.source == "render":
            render_on_device = dev.type == "cuda"
            ds = RenderIdentityDataset(DatasetSpec(width=cfg.classes, depth=100), 112, "aligned",
                                       RenderSettings(cfg.head, cfg.ict_path or None), render_on_device)
        else:
            ds = LabelledImageDataset(cfg.source, 112)
        loader = DataLoader(ds, batch_size=cfg.batch, shuffle=True, num_workers=cfg.workers, drop_last=True,
                            persistent_workers=cfg.workers > 0)
        batches = itertools.cycle(loader)
    device_source = None
    if render_on_device:
        from facebench.render.source import RenderSource

        device_source = RenderSource.from_settings(ds.spec, 112, "aligned", ds.render, device=dev)
    scaler = torch.amp.GradScaler(enabled=amp is torch.float16)

    def step():
        b = next(batches)
        if device_source is not None:  # an IndexBatch: render it here
            idx = b.index.numpy()
            x = (device_source.render(idx, chunk=cfg.batch).image - 0.5) / 0.5
            y = torch.as_tensor(ds.spec.identity_of(idx), device=dev) % cfg.classes
        else:
            x = b[0].to(dev, non_blocking=True)
            y = b[1].to(dev) % cfg.classes
        with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = torch.nn.functional.cross_entropy(head(net(x), y), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(2):  # warm-up (workers start, kernels compile)
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    rate = cfg.steps * cfg.batch / (time.perf_counter() - t0)
    src = "render" if cfg.source == "render" else ("memory" if cfg.source == "memory" else "disk")
    line = f"train {dev.type} {cfg.backbone} {cfg.precision} batch {cfg.batch} from {src}: {rate:.1f} img/s"
    print(line, flush=True)
    return line


def _timed_inference(net, x, dev: str, repeats: int, amp) -> float:
    """Images/s of ``net`` on batch ``x`` (one warm-up call; CUDA synchronised around the timed calls)."""
    use_amp = amp is not None and dev == "cuda"
    with torch.no_grad(), torch.autocast(dev, dtype=amp or torch.float32, enabled=use_amp):
        net(x)
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            net(x)
        if dev == "cuda":
            torch.cuda.synchronize()
    return repeats * x.shape[0] / (time.perf_counter() - t0)


def _inference_lines(cfg: BenchConfig, task: str, nets: dict) -> list[str]:
    """One line per device, network and batch size: ``nets`` maps a name to (constructor, input shape without
    the batch: (channels, side) for images, (dim,) for vectors)."""
    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if cfg.devices == "auto" else [cfg.devices]
    amp = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}[cfg.precision]
    lines = []
    for dev in devs:
        for name, (build, shape) in nets.items():
            net = build().to(dev).eval()
            params = sum(p.numel() for p in net.parameters()) / 1e6
            dims = (shape[0], shape[1], shape[1]) if len(shape) == 2 else tuple(shape)
            for b in (int(x) for x in cfg.batches.split(",")):
                rate = _timed_inference(net, torch.randn(b, *dims, device=dev), dev, cfg.repeats, amp)
                prec = cfg.precision if amp is not None and dev == "cuda" else "32"
                line = f"{task} {dev} {name} ({params:.2f}M params) {prec} batch {b}: {rate:.1f} img/s"
                print(line, flush=True)
                lines.append(line)
    return lines


def bench_parsing(cfg: BenchConfig) -> list[str]:
    """Inference images/s of each parser (UNet-ResNet, BiSeNet; full and tiny) at ``parsing_sizes``."""
    from facebench.models.bisenet import BiSeNet
    from facebench.models.unet_resnet import UNetResNet

    builds = {"unet_resnet w64": lambda: UNetResNet(19), "unet_resnet tiny": lambda: UNetResNet(19, width=8, depths=(1,) * 4),
              "bisenet w64": lambda: BiSeNet(19), "bisenet tiny": lambda: BiSeNet(19, width=8, depths=(1,) * 4)}
    sizes = [int(v) for v in cfg.parsing_sizes.split(",")]
    return _inference_lines(cfg, "parsing", {f"{n} {s}px": (b, (3, s)) for n, b in builds.items() for s in sizes})


def bench_expression(cfg: BenchConfig) -> list[str]:
    """Inference images/s of the expression classifiers (48 px grey as FER2013, 112 px colour) and of DeRL's
    residue path (the generator's encoder-decoder at 64 px)."""
    from facebench.models.derl_generator import NeutralGenerator
    from facebench.models.expression_resnet import ExpressionResNet

    return _inference_lines(cfg, "expression", {
        "resnet w32 48px grey": (lambda: ExpressionResNet(7, 1, input_size=48), (1, 48)),
        "resnet w32 112px colour": (lambda: ExpressionResNet(7, 3, input_size=112), (3, 112)),
        "resnet tiny 48px grey": (lambda: ExpressionResNet(7, 1, 8, (1,) * 4, input_size=48), (1, 48)),
        "derl generator w32 64px": (lambda: NeutralGenerator(3, 32, 4), (3, 64))})


class _Generate(torch.nn.Module):
    """A Vec2Face generator called as generation calls it (one seeded mask draw per call)."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.generator.generate(v, torch.Generator().manual_seed(0))


def bench_vec2face(cfg: BenchConfig) -> list[str]:
    """Generated faces/s of the Vec2Face generator, released size (174M parameters) and tiny, from random
    512-d vectors (mask draws included, as generation)."""
    from facebench.models.vec2face import Vec2FaceGenerator

    return _inference_lines(cfg, "vec2face", {"released size": (lambda: _Generate(Vec2FaceGenerator()), (512,)),
                                              "tiny": (lambda: _Generate(Vec2FaceGenerator.tiny()), (512,))})


class _GanGenerate(torch.nn.Module):
    """The identity-preserving GAN's generator called as the GAN source calls it: a unit identity feature and a
    prior attribute draw per face."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        z = torch.randn(f.shape[0], self.generator.attribute_dim, device=f.device, dtype=f.dtype)
        return self.generator(torch.nn.functional.normalize(f, dim=1), z)


def bench_gan(cfg: BenchConfig) -> list[str]:
    """Generated faces/s of the identity-preserving GAN's generator, GPU size (512-d identity, width 64) and
    tiny (128-d, width 16), from random identity features."""
    from facebench.models.identity_generator import IdentityGenerator

    return _inference_lines(cfg, "gan", {
        "gpu size": (lambda: _GanGenerate(IdentityGenerator(512, 128, 64)), (512,)),
        "tiny": (lambda: _GanGenerate(IdentityGenerator(128, 64, 16)), (128,))})


def bench_landmarks(cfg: BenchConfig) -> list[str]:
    from facebench.models.fan import FAN

    pairs = [(int(st), int(w)) for st in cfg.stacks.split(",") for w in cfg.widths.split(",")]
    return _inference_lines(cfg, "landmarks", {f"FAN {st} stack(s) width {w}": (lambda st=st, w=w: FAN(st, w), (3, 256))
                                               for st, w in pairs})


def bench_landmark_data(cfg: BenchConfig) -> str:
    """Training batches/s of the landmark DataModule (render, FAN crop, augmentation; no model): in
    DataLoader workers (``render_on=worker``) or on the accelerator in the batch-transfer hook (``device``)."""
    import itertools

    from datamodules.landmarks import LandmarkDataModule

    dev = torch.device("cuda" if torch.cuda.is_available() and cfg.devices in ("auto", "cuda") else "cpu")
    render_on = cfg.render_on if cfg.render_on != "auto" else ("device" if dev.type == "cuda" else "worker")
    dm = LandmarkDataModule(n_train=100_000, batch_size=cfg.batch, num_workers=cfg.workers, val_render=0,
                            head=cfg.head, ict_path=cfg.ict_path or None, render_on=render_on)
    dm.setup("fit")
    batches = iter(dm.train_dataloader())

    def step():
        b = next(batches)
        if render_on == "device":  # an IndexBatch: render, crop and augment it here
            return dm.train_set.render_batch(b.index.to(dev))
        return type(b)(*(x.to(dev, non_blocking=True) for x in b))

    for _ in range(2):  # warm-up: workers start, kernels compile
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in itertools.repeat(None, cfg.steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    rate = cfg.steps * cfg.batch / (time.perf_counter() - t0)
    line = (f"landmark_data {dev.type} render_on={render_on} batch {cfg.batch} workers {cfg.workers}: "
            f"{rate:.1f} img/s (256 px wild renders, FAN crops, augmentation)")
    print(line, flush=True)
    return line


def main(argv=None):
    from facebench.cli_args import parse

    cfg = parse(BenchConfig(), argv, positional="what")
    print(f"# machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    benches = {"render": bench_render, "train": bench_train, "landmarks": bench_landmarks,
               "landmark_data": bench_landmark_data, "parsing": bench_parsing, "expression": bench_expression,
               "vec2face": bench_vec2face, "gan": bench_gan}
    if cfg.what not in benches:
        raise SystemExit(f"unknown benchmark {cfg.what!r}; available: {', '.join(benches)}")
    benches[cfg.what](cfg)


if __name__ == "__main__":
    from facebench.errors import run_command

    run_command(main)
