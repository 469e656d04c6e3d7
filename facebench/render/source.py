"""The render source: a head model + renderer + dataset spec -> labelled samples by index."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from facebench.render.scene.factors import sample_factors
from facebench.render.scene.heads.base import HeadModel
from facebench.render.renderer import FaceRenderer, RenderOutput
from facebench.render.spec import DatasetSpec

log = logging.getLogger(__name__)
_HEAD_CACHE: dict[tuple, HeadModel] = {}


def load_head(kind: str = "auto", ict_path: str | Path | None = None, lod: str = "auto") -> HeadModel:
    """'ict' (needs the ICT-FaceKit file), 'procedural' (no files) or 'auto' (ICT when found)."""
    from facebench.render.scene.heads.ict import find_ict_file, load_ict
    from facebench.render.scene.heads.procedural import build_procedural_head

    key = (kind, str(ict_path), lod)
    if key in _HEAD_CACHE:
        return _HEAD_CACHE[key]
    if kind not in ("auto", "ict", "procedural"):
        raise ValueError(f"head must be 'auto', 'ict' or 'procedural', got {kind!r}")
    path = find_ict_file(ict_path) if kind in ("auto", "ict") else None
    if kind == "ict" and path is None:
        raise FileNotFoundError("head=ict but no ICT-FaceKit file: set data.ict_path (ict_path= for generate, "
                                "bench and eval) or $FACEBENCH_ICT_PATH (see README: python -m "
                                "facebench.render.tools.import_ict)")
    if path is not None:
        head = load_ict(path, lod=lod)
    else:
        log.info("ICT-FaceKit file not configured: using the built-in procedural head")
        head = build_procedural_head()
    _HEAD_CACHE[key] = head
    return head


class RenderSource:
    """Renders sample ``i`` of a :class:`DatasetSpec` deterministically on ``device``."""

    def __init__(self, spec: DatasetSpec, size: int = 112, framing: str = "aligned", head: str = "auto",
                 ict_path: str | None = None, supersample: int = 2, device: str = "cpu", backend: str = "auto"):
        self.spec, self.size, self.framing, self.supersample = spec, size, framing, supersample
        self.head = load_head(head, ict_path)
        self.renderer = FaceRenderer(self.head, device, backend)

    @classmethod
    def from_settings(cls, spec: DatasetSpec, size: int, framing: str, settings, device="cpu") -> "RenderSource":
        """A source rendering ``spec`` with :class:`facebench.render.settings.RenderSettings`."""
        return cls(spec, size, framing, device=device, **settings.kwargs())

    def __len__(self) -> int:
        return len(self.spec)

    @property
    def num_classes(self) -> int:
        return self.spec.width

    def factors(self, indices, identity_override: dict | None = None):
        indices = np.asarray(indices, np.int64)
        ids = self.spec.identity_of(indices)
        return sample_factors(self.spec.seed, indices, ids, frozenset(self.spec.vary), self.head.num_identity,
                              identity_override, device=self.renderer.device)

    def render(self, indices, chunk: int = 64, identity_override: dict | None = None,
               factor_edit=None) -> RenderOutput:
        """Render samples ``indices``; identity_override maps a position in ``indices`` to replacement
        identity coefficients ({"shape", "albedo"}), as Identity Mixup uses; ``factor_edit`` (FaceFactors ->
        FaceFactors) changes the drawn factors before rendering (e.g. the neutral twin of an expressive face)."""
        indices = np.asarray(indices, np.int64)
        ov = identity_override or {}
        edit = factor_edit or (lambda f: f)
        outs = [self.renderer.render(edit(self.factors(indices[i:i + chunk],
                                                       {p - i: v for p, v in ov.items() if i <= p < i + chunk})),
                                     self.size, self.framing, self.supersample)
                for i in range(0, len(indices), chunk)]
        if len(outs) == 1:
            return outs[0]
        return RenderOutput(*[torch.cat([getattr(o, f) for o in outs]) for f in RenderOutput.__dataclass_fields__])
