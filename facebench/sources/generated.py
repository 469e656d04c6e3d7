"""What the generated sources (Vec2Face, the GAN) share: their output type, feature files, and opening the
right source for a generator file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facebench.errors import DatasetError
from facebench.render.spec import DatasetSpec

GENERATOR_KINDS = ("auto", "vec2face", "gan")


class GeneratedFaces:
    """Faces (B, 3, 112, 112) in [-1, 1]; ``kept`` the positions in the request they stand for (AttrOP with
    on_fail=drop leaves some out)."""

    def __init__(self, image: torch.Tensor, kept: torch.Tensor | None = None):
        self.image = image
        self.kept = torch.arange(len(image)) if kept is None else kept

    def images_u8(self) -> np.ndarray:
        return ((self.image.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def read_feature_file(path: str | Path) -> torch.Tensor:
    """An (N, dim) float tensor of features from a ``.npy`` or a ``torch.save`` file (read weights-only)."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: feature file not found")
    try:
        x = (torch.from_numpy(np.load(p, allow_pickle=False)) if p.suffix == ".npy"
             else torch.load(p, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001 - torn or foreign files
        raise DatasetError(f"{p}: not a readable feature file ({type(e).__name__})") from e
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise DatasetError(f"{p}: expected an (N, dim) array of identity features")
    return x.float()


def generator_kind(path: str | Path) -> tuple[str, object]:
    """("vec2face", the file's contents) for the released Vec2Face file or a vec2face/* run, ("gan", ...) for a
    gan/* run or a TorchScript export (contents None); a DatasetError naming the file otherwise."""
    from facebench.checkpoints import read_checkpoint
    from facebench.eval import run_config
    from facebench.sources.external_generator import is_torchscript

    path = Path(path)
    if is_torchscript(path):
        return "gan", None
    head = read_checkpoint(path)
    if isinstance(head, dict) and "model_vec2face" in head:
        return "vec2face", head
    if isinstance(head, dict) and "state_dict" in head:
        target = str(run_config(path).model.get("_target_", ""))
        if target.endswith("Vec2FaceModule"):
            return "vec2face", head
        if target.endswith("IdentityGanModule"):
            return "gan", head
        raise DatasetError(f"{path}: a checkpoint of a {target.rsplit('.', 1)[-1] or 'non-generator'} run, not a "
                           "generator (vec2face/* or gan/* runs, the released vec2face_generator.pth, a "
                           "TorchScript export)")
    raise DatasetError(f"{path}: not a generator checkpoint")


def open_generator_source(checkpoint: str | Path, spec: DatasetSpec, device: str = "cpu", kind: str = "auto",
                          threshold: float = 0.4, reference_features: str | Path | None = None,
                          sigmas=(0.3, 0.5, 0.7), shares=(0.4, 0.4, 0.2), attribute_scale: float = 1.0,
                          attribute_pool: str | Path | None = None):
    """The source for a generator file: :class:`facebench.sources.vec2face.Vec2FaceSource` (``sigmas``,
    ``shares``) or :class:`facebench.sources.gan.GanSource` (``attribute_scale``, ``attribute_pool``); ``kind`` other than auto
    refuses the other kind."""
    if kind not in GENERATOR_KINDS:
        raise DatasetError(f"generator kind {kind!r}: one of {GENERATOR_KINDS}")
    found, head = generator_kind(checkpoint)
    if kind != "auto" and found != kind:
        raise DatasetError(f"{checkpoint}: a {found} generator, not a {kind} one")
    if found == "vec2face":
        from facebench.sources.vec2face import Vec2FaceSource, load_generator

        return Vec2FaceSource(checkpoint, spec, threshold, reference_features, device, sigmas=tuple(sigmas),
                              shares=tuple(shares), generator=load_generator(checkpoint, head))
    from facebench.sources.gan import GanSource

    return GanSource(checkpoint, spec, threshold, reference_features, attribute_scale, device,
                     attribute_pool=attribute_pool)
