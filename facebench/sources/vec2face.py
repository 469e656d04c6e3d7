"""The Vec2Face source: a width x depth spec of faces generated from identity vectors.

Identity i's vector comes from :func:`facebench.methods.vec2face_sampling.sample_identities_rejection`
(default; cosine threshold 0.4) or, with ``reference_features`` (an (N, dim) ``.npy`` / ``.pt`` of identity
centres), from the PCA-fitted Gaussian; image j of identity i from its vector plus the sigma mix; the
generator's mask draws are keyed by (seed, identity, image). So sample (seed, identity, image) is the same face
in any batch, worker, shard or rank. The generator is the released checkpoint (``vec2face_generator.pth``)
or a generator trained in the suite (a ``vec2face/*`` run's checkpoint).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facebench.errors import DatasetError
from facebench.render.spec import DatasetSpec
from facebench.sources.generated import GeneratedFaces, read_feature_file


def load_generator(checkpoint: str | Path, head=None):
    """A Vec2Face generator from the released file (``model_vec2face`` key) or a suite training run; ``head``:
    the file's contents when already read."""
    from facebench.checkpoints import read_checkpoint
    from facebench.models.vec2face import load_released

    path = Path(checkpoint)
    head = read_checkpoint(path) if head is None else head  # read once: the released file is 700 MB
    if isinstance(head, dict) and "model_vec2face" in head:
        return load_released(path, ckpt=head)
    if isinstance(head, dict) and "state_dict" in head:
        from facebench.eval import load_model

        module = load_model(path)
        if not hasattr(module, "generator") or not hasattr(module.generator, "draw_masks_keyed"):
            raise DatasetError(f"{path}: a Lightning checkpoint, but not of a Vec2Face training run")
        return module.generator
    raise DatasetError(f"{path}: neither the released vec2face_generator.pth nor a facebench Vec2Face run")


class Vec2FaceSource:
    """Generates sample ``i`` of ``spec`` (identity ``spec.identity_of(i)``) with the :class:`RenderSource`
    interface that ``facebench.generate`` writes from (``render(indices)`` -> ``images_u8()``)."""

    def __init__(self, checkpoint: str | Path, spec: DatasetSpec, threshold: float = 0.4,
                 reference_features: str | Path | None = None, device: str = "cpu", max_draws: int = 1_000_000,
                 sigmas: tuple[float, ...] = (0.3, 0.5, 0.7), shares: tuple[float, ...] = (0.4, 0.4, 0.2),
                 generator=None):
        from facebench.methods.vec2face_sampling import (fit_pca_gaussian, sample_identities_pca,
                                                         sample_identities_rejection)

        self.spec, self.device = spec, torch.device(device)
        self.sigmas, self.shares = tuple(sigmas), tuple(shares)
        self.generator = (generator if generator is not None else load_generator(checkpoint)).to(self.device).eval()
        n, dim = spec.width, self.generator.rep_dim
        if reference_features:
            ref = read_feature_file(reference_features)
            if ref.shape[1] != dim:
                raise DatasetError(f"{reference_features}: {ref.shape[1]}-d features, the generator takes {dim}-d")
            sample = sample_identities_pca(n, fit_pca_gaussian(ref), spec.seed, threshold, max_draws)
            self.sampled_from = f"a PCA Gaussian of {Path(reference_features).name}'s {len(ref)} identity centres"
        else:
            sample = sample_identities_rejection(n, spec.seed, dim, threshold, max_draws=max_draws)
            self.sampled_from = "N(0, I)"
        self.identities, self.sampling = sample.vectors, sample
        self.attr_op, self.attr_counts, self.attr_on_fail = None, [0, 0], ""
        self.head = type("Head", (), {"name": f"vec2face({Path(checkpoint).name})"})()

    def describe(self) -> str:
        text = (f"{self.spec.width} identity vectors from {self.sampled_from} ({self.sampling.draws} drawn, "
                f"{self.sampling.rejected} rejected at cosine > threshold)")
        if self.attr_op is not None and self.attr_counts[1]:
            met, total = self.attr_counts
            text += f"; AttrOP: {met} of {total} faces met the target, {total - met} {self.attr_on_fail}"
        return text

    def vectors(self, indices) -> torch.Tensor:
        from facebench.methods.vec2face_sampling import image_vectors

        idx = np.asarray(indices, np.int64)
        ids = self.spec.identity_of(idx) - self.spec.identity_offset
        starts = np.r_[0, np.cumsum(self.spec.depths())]
        pos = idx - starts[ids]
        return image_vectors(self.identities, ids, pos, self.spec.depths(), self.spec.seed, self.sigmas,
                             self.shares), ids, pos

    def render(self, indices, chunk: int = 64):
        v, ids, pos = self.vectors(indices)
        imgs, kept = [], []
        for k in range(0, len(v), chunk):
            keys = [(self.spec.seed, int(i), int(j)) for i, j in zip(ids[k:k + chunk], pos[k:k + chunk])]
            draw = self.generator.draw_masks_keyed(keys, self.device)
            vk = v[k:k + chunk].to(self.device)
            if self.attr_op is not None:  # AttrOP per sample (Adam is elementwise: no sample depends on another)
                res = self.attr_op(vk, draw)
                vk, keep = res.vectors, res.kept
                self.attr_counts[0] += len(res.steps) - len(res.failed)
                self.attr_counts[1] += len(res.steps)
                if not len(keep):  # every sample of the chunk missed the target and was dropped
                    imgs.append(torch.zeros(0, 3, 112, 112))
                    kept.append(keep)
                    continue
                draw = self.generator.draw_masks_keyed([keys[int(i)] for i in keep], self.device)
            else:
                keep = torch.arange(len(vk))
            with torch.no_grad():
                imgs.append(self.generator(vk, draw).image.clamp(-1, 1).cpu())
            kept.append(keep + k)
        return GeneratedFaces(torch.cat(imgs), torch.cat(kept))

    def training_images(self, indices, partner: np.ndarray, r: np.ndarray, mixed: list[int]) -> torch.Tensor:
        """Faces of samples ``indices`` with Identity Mixup at positions ``mixed``: the input vector
        r v_a + (1 - r) v_b (its own and its partner's image vector at the same image position, its depth
        permitting) rescaled to r |v_a| + (1 - r) |v_b|; on the source's device."""
        v, ids, pos = self.vectors(indices)
        if mixed:
            depths = self.spec.depths()
            starts = np.r_[0, np.cumsum(depths)]
            other = [int(starts[partner[m]] + pos[m] % depths[partner[m]]) for m in mixed]
            vb = self.vectors(other)[0]
            w = torch.from_numpy(r[mixed]).float()[:, None]
            va = v[mixed]
            mix = w * va + (1 - w) * vb
            v[mixed] = mix / mix.norm(dim=1, keepdim=True) * (w * va.norm(dim=1, keepdim=True)
                                                              + (1 - w) * vb.norm(dim=1, keepdim=True))
        keys = [(self.spec.seed, int(i), int(j)) for i, j in zip(ids, pos)]
        with torch.no_grad():
            draw = self.generator.draw_masks_keyed(keys, self.device)
            return self.generator(v.to(self.device), draw).image.clamp(-1, 1)

    def with_attr_op(self, recognizer_checkpoint: str, steps: int = 50, on_fail: str = "keep",
                     q_target: float = 27.0, fan_checkpoint: str = "", depth_checkpoint: str = "",
                     target_yaw: float | None = None) -> "Vec2FaceSource":
        """Apply AttrOP (facebench.methods.attr_op) to every generated face: keep its identity (cosine to the
        input vector through the recognizer of ``recognizer_checkpoint``) while raising its quality (the same
        recognizer's feature norm toward ``q_target``) and, with ``target_yaw`` (degrees), turning the head to
        that |yaw| as the suite's FAN + 2D-to-3D-FAN measure it; at most ``steps`` steps per sample."""
        from facebench.eval import load_model
        from facebench.methods.attr_op import attr_op

        rec = load_model(recognizer_checkpoint).to(self.device).eval().requires_grad_(False)
        if not hasattr(rec, "backbone"):
            raise DatasetError(f"{recognizer_checkpoint}: not a recognition checkpoint (AttrOP needs a recognizer)")
        pose = None
        if target_yaw is not None:
            from facebench.methods.landmark_yaw import LandmarkYaw

            if not fan_checkpoint or not depth_checkpoint:
                raise DatasetError("a yaw target needs a FAN checkpoint and a 2D-to-3D-FAN checkpoint")
            pose = LandmarkYaw(load_model(fan_checkpoint), load_model(depth_checkpoint)).to(self.device)
        self.attr_counts, self.attr_on_fail = [0, 0], on_fail
        self.attr_op = lambda v, draw: attr_op(self.generator, v, rec.backbone, rec.backbone, pose_model=pose,
                                               target_yaw=target_yaw, q_target=q_target, max_steps=steps,
                                               on_fail=on_fail, draw=draw)
        return self
