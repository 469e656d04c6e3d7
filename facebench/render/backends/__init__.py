"""Render backends: the per-batch stages of :class:`facebench.render.renderer.FaceRenderer`'s pipeline, one class
per implementation behind :class:`facebench.render.backends.base.Backend` (``torch/``: PyTorch, any device;
``cpu/``: numba kernels; ``cuda/``: numba.cuda kernels). :func:`make_backend` picks one."""
from __future__ import annotations

import os

import torch

BACKENDS = ("auto", "torch", "numba", "cuda")


def cuda_kernels_ok(device: torch.device) -> bool:
    """numba.cuda kernels can run for tensors on ``device``: a CUDA device with numba.cuda working, or the
    CPU under CUDA's simulator (tests)."""
    if device.type != "cuda" and not os.environ.get("NUMBA_ENABLE_CUDASIM"):
        return False
    try:
        from facebench.render.backends.cuda import kernels as cuda_kernels
    except Exception:  # noqa: BLE001 - numba without its CUDA target: the PyTorch path still works
        return False
    return cuda_kernels.available(str(device) if device.type == "cuda" else "cpu")


def make_backend(name: str, device: torch.device):
    """The backend ``name`` for ``device``; ``auto``: numba on the CPU (about 15-20x faster there than the
    PyTorch ops), numba.cuda kernels on a GPU (fused passes), PyTorch elsewhere or when numba.cuda is missing."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be 'auto', 'torch', 'numba' or 'cuda', got {name!r}")
    if name == "numba" and device.type != "cpu":
        raise ValueError("backend='numba' runs on the CPU only")
    if name == "cuda" and not cuda_kernels_ok(device):
        raise ValueError("backend='cuda' needs numba.cuda and a CUDA device (or NUMBA_ENABLE_CUDASIM=1 on the CPU)")
    if name == "auto":
        name = "numba" if device.type == "cpu" else ("cuda" if cuda_kernels_ok(device) else "torch")
    if name == "numba":
        from facebench.render.backends.cpu.backend import NumbaBackend

        return NumbaBackend()
    if name == "cuda":
        from facebench.render.backends.cuda.backend import CudaBackend

        return CudaBackend()
    from facebench.render.backends.torch.backend import TorchBackend

    return TorchBackend()
