"""Face-parsing metrics from one confusion matrix accumulated over the whole test set (pixel counts summed
over images, not a mean of per-image scores), as the parsing literature reports them.

- per-class F1 = 2 TP / (predicted + ground-truth pixels of the class); undefined (NaN) when the class is in
  neither, and then left out of every mean;
- mean F1 over a named list of classes (e.g. LaPa's and CelebAMask-HQ's tables: every class but background);
- the Helen "overall" F1 (Smith et al., "Exemplar-Based Face Parsing", CVPR 2013; used by Liu et al. 2015,
  Lin et al. "Face Parsing with RoI Tanh-Warping", CVPR 2019): the facial components (brows, eyes, nose,
  inner mouth, upper and lower lip; not skin, hair or background) treated as one pooled class, i.e.
  2 sum_c TP_c / (sum_c predicted_c + sum_c ground-truth_c) over those classes;
- mIoU = mean over classes present in prediction or ground truth of TP / (predicted + ground truth - TP).
"""
from __future__ import annotations

import torch
from torchmetrics import Metric


class ParsingConfusion(Metric):
    """Confusion matrix (ground truth x prediction, pixel counts) over every pixel whose label is not
    ``ignore_index``; reduces across ranks by summation."""

    full_state_update = False

    def __init__(self, num_classes: int, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred, target: (B, H, W) integer class ids (target may hold ``ignore_index``)."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and labels {tuple(target.shape)} differ in shape")
        keep = target != self.ignore_index
        t, p = target[keep].long(), pred[keep].long()
        if t.numel() and (int(t.max()) >= self.num_classes or int(t.min()) < 0):
            raise ValueError(f"label ids outside [0, {self.num_classes}) besides the ignore id {self.ignore_index}")
        self.confusion += torch.bincount(t * self.num_classes + p, minlength=self.num_classes ** 2).view(
            self.num_classes, self.num_classes)

    def compute(self) -> torch.Tensor:
        return self.confusion.clone()


def per_class_f1(confusion: torch.Tensor) -> torch.Tensor:
    """(C,) F1 of each class from a (C, C) confusion matrix; NaN where the class is in neither."""
    c = confusion.double()
    tp, gt, pred = c.diag(), c.sum(1), c.sum(0)
    denom = gt + pred
    return torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.full_like(tp, float("nan")))


def per_class_iou(confusion: torch.Tensor) -> torch.Tensor:
    c = confusion.double()
    tp, gt, pred = c.diag(), c.sum(1), c.sum(0)
    union = gt + pred - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))


def pooled_f1(confusion: torch.Tensor, classes) -> float:
    """F1 of the listed classes pooled into one (the "overall" F1): 2 sum TP / (sum pred + sum GT)."""
    idx = torch.as_tensor(list(classes), dtype=torch.long)
    c = confusion.double()
    tp, gt, pred = c.diag()[idx].sum(), c.sum(1)[idx].sum(), c.sum(0)[idx].sum()
    return float(2 * tp / (gt + pred)) if gt + pred > 0 else float("nan")


def nanmean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else float("nan")


def parsing_scores(confusion: torch.Tensor, class_names, mean_classes, overall_classes=()) -> dict:
    """Everything ``facebench.eval parsing`` prints: ``f1`` {class name: F1}, ``mean_f1`` over those of
    ``mean_classes`` (ids) present in prediction or ground truth (named in ``mean_classes``), ``overall_f1`` pooled over ``overall_classes`` (ids; absent when empty), ``miou`` over all classes."""
    f1 = per_class_f1(confusion)
    defined = [i for i in mean_classes if not torch.isnan(f1[i])]  # a class in neither has no F1
    out = {"f1": {n: float(v) for n, v in zip(class_names, f1)},
           "mean_f1": float(f1[defined].mean()) if defined else float("nan"),
           "mean_classes": [class_names[i] for i in defined],
           "miou": nanmean(per_class_iou(confusion)),
           "pixel_accuracy": float(confusion.diag().sum() / confusion.sum().clamp(min=1))}
    if len(overall_classes):
        out["overall_f1"] = pooled_f1(confusion, overall_classes)
    return out
