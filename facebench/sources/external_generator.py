"""External generators by adapter: a user's face generator exported with TorchScript runs SynFace's pipeline
through the suite (identity sampling, Identity Mixup, Domain Mixup, ``facebench.generate``).

The exported module must have a method ``generate`` in one of two forms, and an int attribute ``<name>_dim`` for
each of its inputs:

- DiscoFaceGAN's factors: ``generate(identity, expression, pose, light, noise) -> images`` with
  ``identity_dim``, ``expression_dim``, ``pose_dim``, ``light_dim``, ``noise_dim``; each factor is drawn from
  N(0, I) as DiscoFaceGAN samples its factor VAEs' priors; identity mixing is linear in the identity factor
  (SynFace's Identity Mixup);
- an identity feature: ``generate(identity_feature, noise) -> images`` with ``identity_feature_dim`` and
  ``noise_dim``; identities are unit vectors and mixing renormalises to unit length.

Images: (B, 3, H, W) RGB in [-1, 1], already aligned as recognition crops (the adapter does not detect or align
faces); other sizes are resized to 112x112 by area averaging. The sizes must be instance attributes (set in
``__init__``: TorchScript drops class-level ones). Example export::

    class Export(torch.nn.Module):
        def __init__(self, g):
            super().__init__()
            self.g = g
            self.identity_dim, self.expression_dim, self.pose_dim, self.light_dim, self.noise_dim = 160, 64, 3, 27, 32
        @torch.jit.export
        def generate(self, identity, expression, pose, light, noise): return self.g(...)
    torch.jit.script(Export(g)).save("discofacegan.pt")
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F

from facebench.errors import DatasetError

FACTOR_FORMS = {("identity", "expression", "pose", "light", "noise"): "coefficients",
                ("identity_feature", "noise"): "feature"}


def is_torchscript(path: str | Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding compiled code, unlike a torch.save file)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class TorchScriptGenerator:
    """A TorchScript generator behind the suite's factor interface: ``factor_sizes`` (input name -> size, the
    identity first), ``identity_space`` ("coefficients" or "feature"), ``__call__(factors) -> (B, 3, 112, 112)``
    in [-1, 1]."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        path = Path(path)
        try:
            self.module = torch.jit.load(str(path), map_location=device).eval()
        except Exception as e:  # noqa: BLE001 - not TorchScript, torn file
            raise DatasetError(f"{path}: not a loadable TorchScript module ({type(e).__name__})") from e
        if not hasattr(self.module, "generate"):
            raise DatasetError(f"{path}: the TorchScript module has no method 'generate' (see "
                               "facebench.sources.external_generator for the two call forms)")
        names = tuple(a.name for a in self.module.generate.schema.arguments[1:])  # [0] is self
        if names not in FACTOR_FORMS:
            raise DatasetError(f"{path}: generate{names} is neither generate(identity, expression, pose, light, "
                               "noise) nor generate(identity_feature, noise)")
        self.identity_space = FACTOR_FORMS[names]
        sizes = {}
        for n in names:
            size = getattr(self.module, f"{n}_dim", None)
            if not isinstance(size, int) or size < 1:
                raise DatasetError(f"{path}: the module needs a positive int attribute '{n}_dim' (the size of "
                                   f"generate's '{n}' input)")
            sizes[n] = size
        self.factor_sizes = sizes
        self.device = torch.device(device)
        self.name = path.name

    def __call__(self, factors: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            img = self.module.generate(*(factors[n].to(self.device) for n in self.factor_sizes))
        if img.ndim != 4 or img.shape[1] != 3:
            raise DatasetError(f"{self.name}: generate returned shape {tuple(img.shape)}, expected (B, 3, H, W)")
        if img.shape[-2:] != (112, 112):
            img = F.interpolate(img.float(), size=(112, 112), mode="area")
        return img.float().clamp(-1, 1)
