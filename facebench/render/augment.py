"""DigiFace-1M's post-render augmentations (BRIEF.md section 3), with albumentations 2.0.8.

Probabilities from DigiFace-1M: blur 0.05, noise 0.035, motion blur 0.05, colour jitter always
(brightness 0.15, contrast 0.3, saturation 0.1, hue 0.1), grey 0.01, down-up sampling 0.01, JPEG 0.05,
small warps (probability 0.2 and warp ranges are ours: the paper gives none). Each sample is augmented
with its own seed (albumentations' RNG is not touched by seed_everything, and in 2.0.8 workers would
otherwise repeat the same augmentations).
"""
from __future__ import annotations

import albumentations as A
import numpy as np


AUGMENTATIONS = ("none", "digiface", "digiface+erasing")


def digiface_augment(erasing: bool = False) -> A.Compose:
    """DigiFace-1M's list; ``erasing`` adds RandomErasing (torchvision's defaults: p 0.5, area 2-33%, aspect
    0.3-3.3, zero fill) as Vec2Face trains with."""
    extra = [A.Erasing(scale=(0.02, 0.33), ratio=(0.3, 3.3), fill=0, p=0.5)] if erasing else []
    return A.Compose([
        A.GaussianBlur(blur_limit=(3, 5), p=0.05),
        A.GaussNoise(std_range=(0.02, 0.08), p=0.035),
        A.MotionBlur(blur_limit=(3, 7), p=0.05),
        A.ColorJitter(brightness=0.15, contrast=0.3, saturation=0.1, hue=0.1, p=1.0),
        A.ToGray(p=0.01),
        A.Downscale(scale_range=(0.25, 0.5), p=0.01),
        A.ImageCompression(quality_range=(30, 90), p=0.05),
        A.Affine(scale=(0.95, 1.05), translate_percent=(-0.03, 0.03), rotate=(-5, 5), p=0.2),
    ] + extra)


def augment_batch(images: np.ndarray, seeds, pipeline: A.Compose | None = None) -> np.ndarray:
    """Augment (B, H, W, 3) uint8 images, sample b with seed ``seeds[b]``."""
    pipeline = pipeline or digiface_augment()
    out = np.empty_like(images)
    for b, s in enumerate(seeds):
        pipeline.set_random_seed(int(s))
        out[b] = pipeline(image=images[b])["image"]
    return out
