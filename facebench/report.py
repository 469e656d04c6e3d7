"""Collect finished runs into Markdown tables (mean +- std over seeds) and plots for results/.

    python -m facebench.report runs=runs/results/width_depth[,more/roots] out=results/recognition/width_depth \
        rows=data.train_max_identities cols=data.train_max_depth metric=val/render_heldout_1k/acc

A run is a directory holding ``config.yaml`` (written by facebench.run) and ``final_metrics.json`` (or
``csv/metrics.csv``, whose last logged value of the metric is used). Runs are grouped by the ``rows`` (and
optionally ``cols``) config keys; seeds are pooled. Writes ``<out>.md`` (with the command, commit, machine
and seeds) and ``<out>.png``.
"""
from __future__ import annotations

import csv
import json
import shlex
import textwrap
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from facebench.provenance import git_commit, machine


@dataclass
class ReportConfig:
    runs: str = "runs"
    out: str = "results/report"
    rows: str = ""
    cols: str = ""
    metric: str = "val/render_heldout/acc"
    title: str = ""
    scale: float = 100.0  # accuracies as percentages


def _metric(run: Path, name: str) -> float | None:
    fm = run / "final_metrics.json"
    if fm.is_file():
        v = json.loads(fm.read_text()).get(name)
        if v is not None:
            return float(v)
    mc = run / "csv" / "metrics.csv"
    if mc.is_file():
        vals = [r[name] for r in csv.DictReader(mc.open()) if r.get(name)]
        if vals:
            return float(vals[-1])
    return None


def collect(roots: str | Path, metric: str, keys: list[str]) -> dict[tuple, list[tuple[int, float]]]:
    """{key values: [(seed, metric value), ...]} over every finished run below the (comma-separated) roots."""
    groups: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    files = sorted(f for r in str(roots).split(",") for f in Path(r).rglob("config.yaml"))
    for cfg_file in files:
        if cfg_file.parent.name == ".hydra":
            continue
        run = cfg_file.parent
        v = _metric(run, metric)
        if v is None:
            continue
        cfg = OmegaConf.load(cfg_file)
        groups[tuple(OmegaConf.select(cfg, k) for k in keys)].append((int(cfg.get("seed", 0)), v))
    return groups


def _fmt(vals, scale):
    a = np.array(vals) * scale
    return f"{a.mean():.2f} ± {a.std(ddof=1) if len(a) > 1 else 0:.2f}"


def report(cfg: ReportConfig, argv: list[str]) -> str:
    keys = [k for k in (cfg.rows, cfg.cols) if k]
    if not keys:
        raise SystemExit("give rows=<config key> (and optionally cols=<config key>)")
    groups = collect(cfg.runs, cfg.metric, keys)
    if not groups:
        raise SystemExit(f"no finished runs with metric {cfg.metric!r} under {cfg.runs}")
    seeds = sorted({s for g in groups.values() for s, _ in g})
    lines = [f"# {cfg.title or cfg.metric}", "",
             f"Metric: `{cfg.metric}` (x{cfg.scale:g}), mean ± sample std over seeds {seeds}; n = runs per cell.", "",
             "Produced by:", "", "    python -m facebench.report " + shlex.join(argv), "",
             f"from the runs under `{cfg.runs}` (each run's exact command is in its `.hydra/overrides.yaml`); "
             f"report commit {git_commit()}, machine {machine()}.", ""]
    row_vals = sorted({k[0] for k in groups}, key=lambda x: (str(type(x)), x))
    if cfg.cols:
        col_vals = sorted({k[1] for k in groups}, key=lambda x: (str(type(x)), x))
        lines += [f"| {cfg.rows} \\ {cfg.cols} | " + " | ".join(str(c) for c in col_vals) + " |",
                  "|---" * (len(col_vals) + 1) + "|"]
        for r in row_vals:
            cells = [f"{_fmt([v for _, v in groups[(r, c)]], cfg.scale)} (n={len(groups[(r, c)])})" if (r, c) in groups
                     else "-" for c in col_vals]
            lines.append(f"| {r} | " + " | ".join(cells) + " |")
    else:
        lines += [f"| {cfg.rows} | {cfg.metric} | n |", "|---|---|---|"]
        for r in row_vals:
            vals = [v for _, v in groups[(r,)]]
            lines.append(f"| {r} | {_fmt(vals, cfg.scale)} | {len(vals)} |")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(cfg, groups, row_vals, out.with_suffix(".png"))
    print("\n".join(lines))
    return "\n".join(lines)


def _plot(cfg, groups, row_vals, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=150)
    series = sorted({k[1] for k in groups}, key=lambda x: (str(type(x)), x)) if cfg.cols else [None]
    numeric = all(isinstance(r, (int, float)) for r in row_vals)
    for s in series:
        xs, ms, sd = [], [], []
        for i, r in enumerate(row_vals):
            key = (r, s) if cfg.cols else (r,)
            if key in groups:
                a = np.array([v for _, v in groups[key]]) * cfg.scale
                xs.append(r if numeric else i)
                ms.append(a.mean())
                sd.append(a.std(ddof=1) if len(a) > 1 else 0)
        ax.errorbar(xs, ms, yerr=sd, marker="o", capsize=3, label=f"{cfg.cols}={s}" if cfg.cols else None)
    if not numeric:
        ax.set_xticks(range(len(row_vals)), [str(r) for r in row_vals])
    ax.set_xlabel(cfg.rows)
    ax.set_ylabel(cfg.metric)
    if cfg.cols:
        ax.legend(fontsize=7)
    ax.set_title(textwrap.fill(cfg.title or cfg.metric, 60), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    from facebench.cli_args import parse

    argv = sys.argv[1:] if argv is None else argv
    report(parse(ReportConfig(), argv), argv)


if __name__ == "__main__":
    from facebench.errors import run_command

    run_command(main)
