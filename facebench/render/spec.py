"""Dataset specs for the render source: width (identities) x depth (images per identity).

A spec maps a global sample index to its identity. Depth is either constant (balanced) or long-tailed
(SynFace's unbalanced settings): identity k gets ``max(min_depth, round(depth_max * (k + 1) ** -alpha))``
images, so a few identities are deep and most are shallow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facebench.errors import ConfigError
from facebench.render.scene.factors import FACTOR_GROUPS


@dataclass(frozen=True)
class DatasetSpec:
    """What to render. ``vary`` lists the factor groups that change within an identity
    (expression, pose, illumination, accessories, camera) or is "all" / "none"."""

    width: int = 100
    depth: int = 10
    long_tail_alpha: float = 0.0
    min_depth: int = 2
    vary: tuple[str, ...] = FACTOR_GROUPS
    seed: int = 0
    identity_offset: int = 0  # held-out identities: use a disjoint range, e.g. 10**6
    _cum: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        vary = self.vary
        if isinstance(vary, str):
            vary = FACTOR_GROUPS if vary == "all" else () if vary == "none" else tuple(vary.split("+"))
        bad = set(vary) - set(FACTOR_GROUPS)
        if bad:
            raise ConfigError(f"unknown factor groups {sorted(bad)}; choose from {FACTOR_GROUPS}, 'all' or 'none'")
        object.__setattr__(self, "vary", tuple(vary))
        if self.width < 1 or self.depth < 1:
            raise ConfigError(f"width and depth must be >= 1, got {self.width} x {self.depth}")
        object.__setattr__(self, "_cum", np.cumsum(self.depths()))

    def depths(self) -> np.ndarray:
        k = np.arange(self.width)
        if self.long_tail_alpha <= 0:
            return np.full(self.width, self.depth, np.int64)
        d = np.round(self.depth * (k + 1.0) ** (-self.long_tail_alpha)).astype(np.int64)
        return np.maximum(d, self.min_depth)

    def __len__(self) -> int:
        return int(self._cum[-1])

    def identity_of(self, index) -> np.ndarray:
        idx = np.asarray(index)
        if (idx < 0).any() or (idx >= len(self)).any():
            raise IndexError(f"sample index out of range [0, {len(self)})")
        return np.searchsorted(self._cum, idx, side="right") + self.identity_offset
