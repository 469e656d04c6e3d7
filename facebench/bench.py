"""Throughput benchmarks (not tests): ``python -m facebench.bench render [batch=64 repeats=3 head=auto]``.

Prints one line per setting, e.g. ``render cpu 112x112 aligned: 640 img/s``, on the CPU and on CUDA
when available. Rendering includes every label (segmentation, landmarks with visibility, 3D landmarks).
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
    repeats: int = 3
    head: str = "auto"
    ict_path: str = ""
    devices: str = "auto"  # auto | cpu | cuda


def bench_render(cfg: BenchConfig) -> list[str]:
    from facebench.render.source import RenderSource
    from facebench.render.spec import DatasetSpec

    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if cfg.devices == "auto" else [cfg.devices]
    lines = []
    for dev in devs:
        for size, framing in ((112, "aligned"), (256, "wild")):
            src = RenderSource(DatasetSpec(width=10_000, depth=10), size=size, framing=framing, head=cfg.head,
                               ict_path=cfg.ict_path or None, device=dev)
            src.render(np.arange(cfg.batch), chunk=cfg.batch)  # warm-up
            if dev == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for rep in range(cfg.repeats):
                src.render(np.arange(cfg.batch) + (rep + 1) * cfg.batch, chunk=cfg.batch)
            if dev == "cuda":
                torch.cuda.synchronize()
            rate = cfg.batch * cfg.repeats / (time.perf_counter() - t0)
            line = f"render {dev} {size}x{size} {framing}: {rate:.1f} img/s (batch {cfg.batch}, head {src.head.name})"
            print(line, flush=True)
            lines.append(line)
    return lines


def main(argv=None):
    import sys

    from facebench.cli_args import parse

    argv = sys.argv[1:] if argv is None else argv
    if argv and "=" not in argv[0]:
        argv = [f"what={argv[0]}"] + argv[1:]
    cfg = parse(BenchConfig(), argv)
    print(f"# machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    if cfg.what != "render":
        raise SystemExit(f"unknown benchmark {cfg.what!r}; available: render")
    bench_render(cfg)


if __name__ == "__main__":
    main()
