"""Typed render settings and the seed conventions of the render source's held-out sets."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from facebench.errors import ConfigError

HEADS = ("auto", "ict", "procedural")

# Held-out sets are rendered from the training seed plus a fixed offset. Both offsets are primes far
# from the small seeds a sweep uses (0..100s), so a held-out set never equals another run's training set
# unless a seed is chosen that far away on purpose.
HELD_OUT_SEED_OFFSET = 7919  # held-out validation / evaluation renders: seed + 7919 (the 1000th prime)
STANDIN_SEED_OFFSET = 104729  # the labelled stand-in for real faces: seed + 104729 (the 10000th prime)
STANDIN_TEST_SEED_OFFSET = STANDIN_SEED_OFFSET + 1  # its held-out verification identities
# The stand-in's faces for facebench.eval parsing|expression: neither training nor validation faces, so a model
# selected on the validation stand-in (label adaptation's best epoch) is tested on other faces.
STANDIN_EVAL_SEED_OFFSET = STANDIN_SEED_OFFSET + 2
# Identity ids are offset as well, so held-out and stand-in identities never share a label with training.
HELD_OUT_IDENTITY_OFFSET = 1_000_000
STANDIN_IDENTITY_OFFSET = 2_000_000
STANDIN_EVAL_IDENTITY_OFFSET = STANDIN_IDENTITY_OFFSET + 2 * HELD_OUT_IDENTITY_OFFSET


@dataclass(frozen=True)
class RenderSettings:
    """How faces are rendered, independent of what is rendered: the head model (``auto``: ICT when its file
    is configured, else the built-in procedural head), the ICT file (None: ``$FACEBENCH_ICT_PATH``) and the
    supersampling factor per axis (2 = 4 samples per output pixel)."""

    head: str = "auto"
    ict_path: str | None = None
    supersample: int = 2

    def __post_init__(self):
        if self.head not in HEADS:
            raise ConfigError(f"head must be one of {HEADS}, got {self.head!r}")
        if not isinstance(self.supersample, int) or self.supersample < 1:
            raise ConfigError(f"supersample must be an integer >= 1, got {self.supersample!r}")
        if self.ict_path is not None:
            object.__setattr__(self, "ict_path", str(self.ict_path))

    def kwargs(self) -> dict:
        """The settings as keyword arguments of :class:`facebench.render.source.RenderSource`."""
        return asdict(self)

    def resolved_ict_path(self) -> Path | None:
        """The ICT file these settings render with (the one place ``$FACEBENCH_ICT_PATH`` is consulted:
        :func:`facebench.render.scene.heads.ict.find_ict_file`); None for the procedural head."""
        from facebench.render.scene.heads.ict import find_ict_file

        return None if self.head == "procedural" else find_ict_file(self.ict_path)
