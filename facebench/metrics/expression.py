"""Expression metrics from one confusion matrix (ground truth x prediction) over a test set: accuracy, mean
per-class accuracy (the mean of the per-class recalls over the classes present in the ground truth, RAF-DB's
and AffectNet's "average accuracy"), and the mean and standard deviation over the folds of a k-fold
protocol."""
from __future__ import annotations

import math

import torch
from torchmetrics import Metric


class ExpressionConfusion(Metric):
    """(C, C) confusion counts of class predictions; reduces across ranks by summation."""

    full_state_update = False

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred, target: (B,) class ids."""
        t, p = target.long().flatten(), pred.long().flatten()
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_classes):
            raise ValueError(f"labels outside [0, {self.num_classes})")
        self.confusion += torch.bincount(t * self.num_classes + p, minlength=self.num_classes ** 2).view(
            self.num_classes, self.num_classes)

    def compute(self) -> torch.Tensor:
        return self.confusion.clone()


def accuracy(confusion: torch.Tensor) -> float:
    n = confusion.sum()
    return float(confusion.diag().sum() / n) if n else float("nan")


def per_class_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """(C,) recall of each class; NaN for classes absent from the ground truth."""
    c = confusion.double()
    gt = c.sum(1)
    return torch.where(gt > 0, c.diag() / gt.clamp(min=1), torch.full_like(gt, float("nan")))


def mean_class_accuracy(confusion: torch.Tensor) -> float:
    r = per_class_accuracy(confusion)
    r = r[~torch.isnan(r)]
    return float(r.mean()) if r.numel() else float("nan")


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation of per-fold scores, as k-fold protocols report them."""
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))
