"""Typed batches: every dataset yields one of these NamedTuples and every task reads their fields by name.

NamedTuples collate field by field with PyTorch's default collate and move to the device with Lightning's
batch transfer, so a batch keeps its type from the DataLoader to the LightningModule. Images are
(B, 3, S, S) float in [-1, 1] (the insightface / FAN input convention) unless a field says otherwise.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class IdentityBatch(NamedTuple):
    """Recognition training. ``label`` (B,) class ids; ``partner`` (B,) the second class of a mixed identity
    (Identity Mixup; equal to ``label`` when unmixed); ``weight`` (B,) the weight r of ``label`` in the loss
    (1 when unmixed; ``partner`` gets 1 - r)."""

    image: torch.Tensor
    label: torch.Tensor
    partner: torch.Tensor
    weight: torch.Tensor


class DomainMixupBatch(NamedTuple):
    """SynFace's Domain Mixup: one synthetic and one real :class:`IdentityBatch` per step."""

    syn: IdentityBatch
    real: IdentityBatch


class PairBatch(NamedTuple):
    """Verification pairs: two images, ``issame`` (B,) bool, ``index`` (B,) the pair's position in its set
    (the protocol's 10 contiguous folds are cut by this index)."""

    image1: torch.Tensor
    image2: torch.Tensor
    issame: torch.Tensor
    index: torch.Tensor


class IndexBatch(NamedTuple):
    """Sample indices (B,) of a virtual render dataset, rendered into a full batch on the accelerator by
    the DataModule's ``on_after_batch_transfer`` (``render_on=device``)."""

    index: torch.Tensor


class LandmarkBatch(NamedTuple):
    """FAN crops (B, 3, 256, 256). ``points_hm`` (B, N, 2) landmarks in heatmap pixels (64 x 64, pixel
    centres at integers); ``points_img`` (B, N, 2) the same landmarks in the original image's pixels;
    ``hm_to_img`` (B, 2, 3) the affine from heatmap to image pixels; ``depth`` (B, N) each landmark's depth
    in heatmap pixels (2D-to-3D-FAN), or (B, 0) when the dataset does not serve depths; ``index`` (B,) the
    sample's position in its dataset (-1 when unknown), which lets metrics drop the repeats a
    DistributedSampler pads with."""

    image: torch.Tensor
    points_hm: torch.Tensor
    points_img: torch.Tensor
    hm_to_img: torch.Tensor
    depth: torch.Tensor
    index: torch.Tensor | int = -1

    @property
    def has_depth(self) -> bool:
        return self.depth.shape[-1] > 0


class ParsingBatch(NamedTuple):
    """Face-parsing crops (B, 3, S, S) in [-1, 1]; ``label`` (B, S, S) int64 class ids of the dataset's class
    set (255 = unlabelled, also outside the image); ``crop_to_img`` (B, 2, 3) the affine from crop pixels to
    the original image's pixels (pixel centres at integers), which maps predictions back for evaluation;
    ``index`` (B,) the sample's position in its dataset."""

    image: torch.Tensor
    label: torch.Tensor
    crop_to_img: torch.Tensor
    index: torch.Tensor | int = -1


class ExpressionBatch(NamedTuple):
    """Expression classification: faces (B, C, S, S) in [-1, 1] (C = 1 for grey input, 3 for colour);
    ``label`` (B,) suite class ids (facebench.expression_classes); ``index`` (B,) position in the dataset."""

    image: torch.Tensor
    label: torch.Tensor
    index: torch.Tensor | int = -1


class ExpressionPairBatch(NamedTuple):
    """DeRL pairs: an expressive face and the *same person's* neutral face (B, C, S, S) in [-1, 1]; for
    renders the neutral twin shares identity, pose, light and camera; ``label`` (B,) the expression of
    ``image``."""

    image: torch.Tensor
    neutral: torch.Tensor
    label: torch.Tensor
    index: torch.Tensor | int = -1
