"""Figures for results/ and papers (matplotlib, Agg backend): every PNG the suite writes is drawn here."""
from __future__ import annotations

import torch

from facebench.metrics.landmarks import auc, ced


def plot_ced(curves: dict[str, torch.Tensor], path, threshold: float = 0.07, title: str = "") -> None:
    """CED curves of several methods/sets (name -> per-image NMEs) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.5), dpi=150)
    for name, e in curves.items():
        x, y = ced(e, threshold)
        ax.plot(100 * x, 100 * y, label=f"{name} (AUC@{100 * threshold:g} {100 * auc(e, threshold):.1f})")
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("images (%)")
    ax.set_xlim(0, 100 * threshold)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
