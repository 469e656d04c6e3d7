"""Face verification accuracy by the insightface protocol, as a torchmetrics Metric.

Protocol (insightface ``verification.py``): embeddings of an image and its horizontal flip are summed
and L2-normalised; the score of a pair is the squared L2 distance (0..4); thresholds 0, 0.01, ..., 3.99;
the pairs are split into 10 contiguous folds; for each fold the threshold with the best accuracy on the
other 9 is applied to it; report the mean and std of the 10 fold accuracies.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric


def kfold_accuracy(dist: torch.Tensor, issame: torch.Tensor, n_folds: int = 10,
                   thresholds: torch.Tensor | None = None) -> tuple[float, float, float]:
    """(mean accuracy, std accuracy, mean best threshold) over contiguous folds; distances (N,), labels (N,)."""
    thresholds = torch.arange(0, 4, 0.01, dtype=torch.float64) if thresholds is None else thresholds
    dist, issame = dist.double().cpu(), issame.bool().cpu()
    n = dist.numel()
    if n < n_folds:
        raise ValueError(f"need at least {n_folds} pairs, got {n}")
    # Contiguous folds as sklearn's KFold(shuffle=False): the first n % k folds get one extra pair.
    sizes = [n // n_folds + (1 if i < n % n_folds else 0) for i in range(n_folds)]
    bounds = torch.tensor([0] + sizes).cumsum(0)
    pred = dist[None, :] < thresholds[:, None]  # (T, N)
    correct = (pred == issame[None, :]).double()
    accs, ths = [], []
    for k in range(n_folds):
        test = torch.zeros(n, dtype=torch.bool)
        test[bounds[k]:bounds[k + 1]] = True
        train_acc = correct[:, ~test].mean(1)
        best = int(torch.argmax(train_acc))  # first maximum, as numpy argmax
        accs.append(correct[best, test].mean().item())
        ths.append(thresholds[best].item())
    a = torch.tensor(accs, dtype=torch.float64)
    return a.mean().item(), a.std(unbiased=False).item(), sum(ths) / len(ths)


def tar_at_far(dist: torch.Tensor, issame: torch.Tensor, far: float) -> float:
    """True-accept rate at the strictest threshold whose false-accept rate is <= ``far``.

    A pair is accepted when its distance is *below* the threshold. With n negatives, at most
    floor(far * n) of them may be accepted; the threshold is the distance of the next negative (ties
    accept fewer). With fewer than 1 / far negatives this is the rate at FAR = 0, as usual in the literature.
    """
    dist, same = dist.double().cpu(), issame.bool().cpu()
    neg = torch.sort(dist[~same]).values
    k = int(far * neg.numel() + 1e-9)
    thr = neg[k] if k < neg.numel() else torch.tensor(float("inf"), dtype=torch.float64)
    return (dist[same] < thr).double().mean().item()


def roc_metrics(dist: torch.Tensor, issame: torch.Tensor) -> dict[str, float]:
    """AUC, EER and TAR@FAR 1e-3 / 1e-4 of pair distances (squared L2 of unit embeddings, 0..4)."""
    from torchmetrics.functional.classification import binary_auroc, binary_roc

    score = ((4 - dist.double().cpu()) / 4).clamp(0, 1)  # in [0, 1] so torchmetrics applies no sigmoid
    target = issame.long().cpu()
    fpr, tpr, _ = binary_roc(score, target)
    fnr = 1 - tpr
    i = int(torch.argmin((fnr - fpr).abs()))
    return {"auc": binary_auroc(score, target).item(), "eer": ((fpr[i] + fnr[i]) / 2).item(),
            "tar@far=1e-3": tar_at_far(dist, issame, 1e-3), "tar@far=1e-4": tar_at_far(dist, issame, 1e-4)}


class VerificationAccuracy(Metric):
    """Accumulates pair distances and labels (gathered across ranks) and computes the 10-fold accuracy."""

    full_state_update = False

    def __init__(self, n_folds: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.n_folds = n_folds
        self.add_state("dist", default=[], dist_reduce_fx="cat")
        self.add_state("issame", default=[], dist_reduce_fx="cat")
        self.add_state("order", default=[], dist_reduce_fx="cat")

    def update(self, emb1: torch.Tensor, emb2: torch.Tensor, issame: torch.Tensor, pair_index: torch.Tensor) -> None:
        e1 = torch.nn.functional.normalize(emb1.float(), dim=1)
        e2 = torch.nn.functional.normalize(emb2.float(), dim=1)
        self.dist.append(((e1 - e2) ** 2).sum(1))
        self.issame.append(issame.bool())
        self.order.append(pair_index.long())

    def compute(self) -> dict[str, torch.Tensor]:
        cat = lambda x: torch.cat(x) if isinstance(x, list) else x  # noqa: E731
        dist, same, order = cat(self.dist), cat(self.issame), cat(self.order)
        # Folds are contiguous in the *pair list order*, whatever order ranks processed them in.
        srt = torch.argsort(order)
        dist, same, order = dist[srt], same[srt], order[srt]
        keep = torch.ones_like(order, dtype=torch.bool)
        keep[1:] = order[1:] != order[:-1]  # DistributedSampler pads with repeats
        if int(keep.sum()) < self.n_folds:
            from facebench.errors import ConfigError

            raise ConfigError(f"verification saw {int(keep.sum())} pairs, fewer than the protocol's {self.n_folds} "
                              "folds: raise trainer.limit_val_batches, data.batch_size or the set's pair count")
        mean, std, th = kfold_accuracy(dist[keep], same[keep], self.n_folds)
        out = {"acc": mean, "acc_std": std, "threshold": th, **roc_metrics(dist[keep], same[keep])}
        return {k: torch.tensor(v) for k, v in out.items()}
