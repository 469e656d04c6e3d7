"""Label adaptation (Wood et al., "Fake It Till You Make It"): a frozen synthetic-trained landmark network's
predictions are mapped to a real dataset's labelling convention by a small MLP trained on the real
*training* split and selected on its validation split. The image network never sees real images.

Points are expressed in the frame of the prediction's own bounding box (centre, size), so the adapter
learns a convention (where a dataset puts its jaw line, brows, ...) rather than image positions; it
predicts a residual on top of the network's points.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def _frame(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = pred.amin(1), pred.amax(1)
    return (lo + hi) / 2, (hi - lo).amax(-1).clamp(min=1e-6)


class LabelAdapter(nn.Module):
    """MLP from N predicted points to N corrected points (residual), in the prediction's box frame."""

    def __init__(self, num_points: int = 68, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * num_points, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * num_points))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)  # starts as the identity map

    def forward(self, pred: torch.Tensor) -> torch.Tensor:
        c, s = _frame(pred)
        z = (pred - c[:, None]) / s[:, None, None]
        z = z + self.net(z.flatten(1)).view_as(z)
        return z * s[:, None, None] + c[:, None]


def fit_label_adapter(pred_train, gt_train, pred_val, gt_val, normaliser: str = "inter_ocular", epochs: int = 600,
                      lr: float = 1e-3, seed: int = 0) -> tuple[LabelAdapter, dict]:
    """Adam on the point error; the epoch with the lowest validation NME is kept."""
    from facebench.metrics.landmarks import nme

    torch.manual_seed(seed)
    model = LabelAdapter(pred_train.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    norm_tr = _frame(pred_train)[1]
    best = (nme(pred_val, gt_val, normaliser).mean().item(), 0, copy.deepcopy(model.state_dict()))
    for ep in range(1, epochs + 1):
        model.train()
        loss = ((model(pred_train) - gt_train).norm(dim=-1) / norm_tr[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            v = nme(model(pred_val), gt_val, normaliser).mean().item()
        if v < best[0]:
            best = (v, ep, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    return model.eval(), {"val_nme": best[0], "best_epoch": best[1],
                          "val_nme_without": nme(pred_val, gt_val, normaliser).mean().item()}
