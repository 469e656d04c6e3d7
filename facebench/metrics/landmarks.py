"""Landmark accuracy: NME under a named normaliser, failure rate, AUC of the CED curve, breakdowns by pose
bin or attribute (plots are in :mod:`facebench.plots`).

Normalisers (always reported by name; papers mix them up):
- ``inter_ocular``: distance between the outer eye corners (iBUG 36 and 45; WFLW 60 and 72);
- ``inter_pupil``: distance between the eye centres (means of 36-41 and 42-47; WFLW 60-67 and 68-75);
- ``box``: sqrt(w * h) of the ground-truth landmark bounding box (FAN, AFLW2000-3D).
NME of an image = mean point-to-point error / normaliser. AUC@T = (1/T) * integral_0^T CED(x) dx with
CED(x) the fraction of images with NME <= x, computed exactly as mean(max(0, T - NME_i)) / T.
Failure rate@T = fraction of images with NME > T.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

NORMALISERS = ("inter_ocular", "inter_pupil", "box")
_EYES = {68: ((36, 45), (range(36, 42), range(42, 48))), 98: ((60, 72), (range(60, 68), range(68, 76)))}


def normaliser(gt: torch.Tensor, kind: str) -> torch.Tensor:
    """(B,) normalising distances of ground-truth points (B, N, 2)."""
    n = gt.shape[1]
    if kind == "box":
        wh = gt.amax(1) - gt.amin(1)
        return (wh[:, 0] * wh[:, 1]).clamp(min=1e-12).sqrt()
    if n not in _EYES:
        raise ValueError(f"{kind} normaliser needs 68 or 98 points, got {n}")
    corners, eyes = _EYES[n]
    if kind == "inter_ocular":
        return (gt[:, corners[0]] - gt[:, corners[1]]).norm(dim=-1)
    if kind == "inter_pupil":
        return (gt[:, list(eyes[0])].mean(1) - gt[:, list(eyes[1])].mean(1)).norm(dim=-1)
    raise ValueError(f"normaliser must be one of {NORMALISERS}, got {kind!r}")


def nme(pred: torch.Tensor, gt: torch.Tensor, kind: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) NME of predictions (B, N, 2) against ground truth; mask (B, N) selects the points that count."""
    err = (pred.double() - gt.double()).norm(dim=-1)
    if mask is None:
        mean = err.mean(1)
    else:
        m = mask.double()
        mean = (err * m).sum(1) / m.sum(1).clamp(min=1)
    return mean / normaliser(gt.double(), kind)


def auc(nmes: torch.Tensor, threshold: float) -> float:
    return ((threshold - nmes.double()).clamp(min=0).mean() / threshold).item()


def failure_rate(nmes: torch.Tensor, threshold: float) -> float:
    return (nmes.double() > threshold).double().mean().item()


def ced(nmes: torch.Tensor, threshold: float, steps: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(0, threshold, steps, dtype=torch.float64)
    return x, (nmes.double()[None] <= x[:, None]).double().mean(1)


class LandmarkNME(Metric):
    """Per-image NMEs gathered across ranks; compute() gives NME, failure rate and AUC at thresholds."""

    full_state_update = False

    def __init__(self, normaliser: str = "inter_ocular", thresholds=(0.07, 0.08, 0.1), **kw):
        super().__init__(**kw)
        if normaliser not in NORMALISERS:
            raise ValueError(f"normaliser must be one of {NORMALISERS}, got {normaliser!r}")
        self.kind, self.thresholds = normaliser, tuple(thresholds)
        self.add_state("nmes", default=[], dist_reduce_fx="cat")
        self.add_state("index", default=[], dist_reduce_fx="cat")

    def update(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None,
               index: torch.Tensor | None = None) -> None:
        """``index`` (B,): the samples' positions in their dataset. Where given (>= 0), a sample seen twice
        counts once: a DistributedSampler pads the last batches of the ranks with repeated samples."""
        e = nme(pred, gt, self.kind, mask).float()
        self.nmes.append(e)
        self.index.append(torch.full_like(e, -1, dtype=torch.long) if index is None
                          else torch.as_tensor(index, device=e.device).long().reshape(-1))

    def values(self) -> torch.Tensor:
        """Per-image NMEs (one per distinct sample index; every unindexed image counts)."""
        e = torch.cat(self.nmes) if isinstance(self.nmes, list) else self.nmes
        idx = torch.cat(self.index) if isinstance(self.index, list) else self.index
        if (idx < 0).all():
            return e
        order = torch.argsort(idx, stable=True)
        e, idx = e[order], idx[order]
        keep = torch.ones_like(idx, dtype=torch.bool)
        keep[1:] = (idx[1:] != idx[:-1]) | (idx[1:] < 0)
        return e[keep]

    def compute(self) -> dict[str, torch.Tensor]:
        e = self.values()
        out = {"nme": e.mean()}
        for t in self.thresholds:
            out[f"auc@{100 * t:g}"] = torch.tensor(auc(e, t))
            out[f"fr@{100 * t:g}"] = torch.tensor(failure_rate(e, t))
        return out


class LandmarkDepthError(Metric):
    """2D-to-3D-FAN: per-image mean absolute depth error over the points divided by the box normaliser
    sqrt(w * h) of the ground-truth 2D points (depths and points in the same pixel units); compute() gives
    the mean over images. Depths are compared after removing each image's mean depth, since a depth is
    only defined up to an offset."""

    full_state_update = False

    def __init__(self, **kw):
        super().__init__(**kw)
        self.add_state("errors", default=[], dist_reduce_fx="cat")

    def update(self, pred: torch.Tensor, gt: torch.Tensor, pts2d: torch.Tensor) -> None:
        d = (pred - pred.mean(1, keepdim=True)) - (gt - gt.mean(1, keepdim=True))
        self.errors.append((d.abs().mean(1) / normaliser(pts2d, "box")).float())

    def values(self) -> torch.Tensor:
        return torch.cat(self.errors) if isinstance(self.errors, list) else self.errors

    def compute(self) -> torch.Tensor:
        return self.values().mean()


YAW_BINS = ("[0,30)", "[30,60)", "[60,90]")


def yaw_bin(yaw_deg: float) -> str:
    """The AFLW2000-3D / LS3D-W pose bins: [0, 30), [30, 60), [60, 90] in |yaw| (degrees)."""
    a = abs(yaw_deg)
    return "[0,30)" if a < 30 else "[30,60)" if a < 60 else "[60,90]"


class NMEBreakdown(Metric):
    """Mean of per-image NMEs within named groups (an image may be in several, as WFLW's attribute subsets,
    or in one, as yaw bins), gathered across ranks. compute() -> {group: (mean NME, count)} for the groups
    that hold at least one image, in the order of ``groups``.

    >>> m = NMEBreakdown(("a", "b"))
    >>> m.update(torch.tensor([0.1, 0.3]), torch.tensor([[True, False], [True, True]]))
    >>> {k: (round(v[0], 3), v[1]) for k, v in m.compute().items()}
    {'a': (0.2, 2), 'b': (0.3, 1)}
    """

    full_state_update = False

    def __init__(self, groups: tuple[str, ...], **kw):
        super().__init__(**kw)
        self.groups = tuple(groups)
        self.add_state("nmes", default=[], dist_reduce_fx="cat")
        self.add_state("member", default=[], dist_reduce_fx="cat")

    def update(self, nmes: torch.Tensor, member: torch.Tensor) -> None:
        """nmes (B,) per-image NMEs; member (B, G) bool, image b is in group g."""
        if member.shape != (len(nmes), len(self.groups)):
            raise ValueError(f"member must be (B, {len(self.groups)}), got {tuple(member.shape)}")
        self.nmes.append(nmes.double())
        self.member.append(member.bool())

    def compute(self) -> dict[str, tuple[float, int]]:
        e = torch.cat(self.nmes) if isinstance(self.nmes, list) else self.nmes
        m = torch.cat(self.member) if isinstance(self.member, list) else self.member
        out = {}
        for g, name in enumerate(self.groups):
            n = int(m[:, g].sum())
            if n:
                out[name] = (e[m[:, g]].mean().item(), n)
        return out


def yaw_membership(yaws) -> torch.Tensor:
    """(B, 3) one-hot membership of yaws (degrees) in :data:`YAW_BINS`."""
    bins = [YAW_BINS.index(yaw_bin(y)) for y in yaws]
    return torch.nn.functional.one_hot(torch.tensor(bins, dtype=torch.long), len(YAW_BINS)).bool()
