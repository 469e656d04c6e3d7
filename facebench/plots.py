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


def plot_confusion(confusion: torch.Tensor, names, path, title: str = "") -> None:
    """A row-normalised confusion matrix (ground truth rows, predictions columns; % of each true class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = confusion.double()
    rows = c / c.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=150)
    ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{100 * rows[i, j]:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
