"""Batched image operations on the accelerator shared by the crop datasets: an affine warp (as
``cv2.warpAffine`` with a constant border) and the photometric jitter of the CPU crops."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def warp_batch(img: torch.Tensor, crop_to_img: torch.Tensor, size: int | tuple[int, int],
               mode: str = "bilinear") -> torch.Tensor:
    """Crops (B, C, h, w) of images (B, C, H, W), ``size`` = h = w or (h, w): crop pixel (x, y) samples the
    image at ``crop_to_img`` (B, 2, 3) @ (x, y, 1) (pixel centres at integers); outside the image: 0."""
    B, _, H, W = img.shape
    h, w = (size, size) if isinstance(size, int) else size
    dev = img.device
    gy, gx = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float32),
                            torch.arange(w, device=dev, dtype=torch.float32), indexing="ij")
    grid = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(1, h * w, 3)
    src = (grid @ crop_to_img.float().transpose(1, 2)).view(B, h, w, 2)
    norm = torch.tensor([2.0 / W, 2.0 / H], device=dev)
    return F.grid_sample(img, (src + 0.5) * norm - 1, mode=mode, padding_mode="zeros", align_corners=False)


def _blur_kernel(k: int, device) -> torch.Tensor:
    """1D Gaussian of odd size k with OpenCV's default sigma for that size (as albumentations' GaussianBlur)."""
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    x = torch.arange(k, device=device, dtype=torch.float32) - (k - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def jitter_on_device(crop: torch.Tensor, rngs: list) -> torch.Tensor:
    """The photometric jitter of :func:`_photometric` in torch, on images (B, 3, H, W) in [0, 1] on their own
    device: brightness, contrast, saturation in [0.7, 1.3] and, with probability 0.2, a Gaussian blur of size
    3-7, drawn from one numpy generator per image."""
    B, dev = crop.shape[0], crop.device
    draws = np.array([[r.uniform(0.7, 1.3), r.uniform(0.7, 1.3), r.uniform(0.7, 1.3), r.uniform(), r.integers(3)]
                      for r in rngs])
    b, c, sat = (torch.from_numpy(draws[:, k]).float().to(dev).view(B, 1, 1, 1) for k in range(3))
    luma = torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)
    crop = (crop * b).clamp(0, 1)
    mean = (crop * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    crop = (mean + c * (crop - mean)).clamp(0, 1)
    grey = (crop * luma).sum(1, keepdim=True)
    crop = (grey + sat * (crop - grey)).clamp(0, 1)
    for j in np.nonzero(draws[:, 3] < 0.2)[0]:
        k = 3 + 2 * int(draws[j, 4])
        g = _blur_kernel(k, dev)
        x = F.pad(crop[j:j + 1], (k // 2, k // 2, k // 2, k // 2), mode="reflect")
        x = F.conv2d(x, g.view(1, 1, 1, k).expand(3, 1, 1, k), groups=3)
        crop[j] = F.conv2d(x, g.view(1, 1, k, 1).expand(3, 1, k, 1), groups=3)[0]
    return crop
