"""Face-parsing class sets and the explicit tables between them.

A parser predicts the classes of the set it was trained on; it is evaluated on another set only through a
named table below (never by matching ids). Each set records which side "left" means:

- FaceSynthetics names sides from the *viewer* (its RIGHT_EYE is on the image's right, the subject's left eye;
  checked on Microsoft's released samples, see :mod:`facebench.labels`).
- CelebAMask-HQ names sides from the *subject*: on the official combined maps and the palette export in
  ../shared/fixtures, ``l_eye`` / ``l_brow`` / ``l_ear`` lie on the image's right in every sample.
- Helen (Smith et al.) and LaPa: no sample files were available to check; their tables assume the subject's
  side, as CelebAMask-HQ, and the set says ``sides_checked=False`` so that ``facebench.eval parsing`` prints a
  warning. Side-free numbers (the pooled "overall" F1, mean F1 over merged sides) do not depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from facebench.errors import ConfigError
from facebench.labels import SEG_CLASSES

IGNORE = 255  # label id of unlabelled pixels in every set (FaceSynthetics' convention)


@dataclass(frozen=True)
class ClassSet:
    """A labelling scheme: class names by id, left/right pairs that swap under a horizontal flip, the
    component classes pooled by the "overall" F1 of the literature, and the side convention."""

    name: str
    classes: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    overall: tuple[str, ...] = ()
    sides: str = "subject"  # whose left: "subject" or "viewer"
    sides_checked: bool = True
    background: str = "background"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, name: str) -> int:
        return self.classes.index(name)

    def flip_lut(self) -> np.ndarray:
        """(256,) uint8 table relabelling a mirrored label map (left/right classes swapped; 255 kept)."""
        lut = np.arange(256, dtype=np.uint8)
        for a, b in self.flip_pairs:
            lut[a], lut[b] = b, a
        return lut

    def flip_permutation(self) -> list[int]:
        """p with mirrored_logits[:, i] = logits[:, p[i]] (the same swap for a network's output channels)."""
        p = list(range(self.num_classes))
        for a, b in self.flip_pairs:
            p[a], p[b] = b, a
        return p


FACESYNTHETICS19 = ClassSet(
    "facesynthetics19", tuple(c.lower() for c in SEG_CLASSES), ((3, 4), (5, 6), (7, 8)),
    overall=("nose", "right_eye", "left_eye", "right_brow", "left_brow", "mouth_interior", "top_lip", "bottom_lip"),
    sides="viewer")
# Helen as relabelled by Smith et al. (CVPR 2013): 11 maps labels/<id>/<id>_lbl00..10.png in this order.
HELEN11 = ClassSet(
    "helen11", ("background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose", "upper_lip",
                "inner_mouth", "lower_lip", "hair"), ((2, 3), (4, 5)),
    overall=("left_brow", "right_brow", "left_eye", "right_eye", "nose", "upper_lip", "inner_mouth", "lower_lip"),
    sides_checked=False)
# LaPa (Liu et al., AAAI 2020): the order of its labelmap.txt (same classes as Helen).
LAPA11 = ClassSet("lapa11", HELEN11.classes, HELEN11.flip_pairs, HELEN11.overall, sides_checked=False)
# CelebAMask-HQ (Lee et al., CVPR 2020): the order of its own preprocessing script (combined maps).
CELEBAMASK19 = ClassSet(
    "celebamask19", ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                     "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"),
    ((4, 5), (6, 7), (8, 9)),
    overall=("nose", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip"))
# CelebAMask-HQ's per-part mask file names (CelebAMask-HQ-mask-anno/<k>/<id:05d>_<part>.png), in the order its
# g_mask.py paints them: a later part overwrites an earlier one where masks overlap.
CELEBAMASK_PARTS = CELEBAMASK19.classes[1:]

CLASS_SETS = {s.name: s for s in (FACESYNTHETICS19, HELEN11, LAPA11, CELEBAMASK19)}


def class_set(name: str) -> ClassSet:
    if name not in CLASS_SETS:
        raise ConfigError(f"unknown parsing class set {name!r}; known: {', '.join(CLASS_SETS)}")
    return CLASS_SETS[name]


# --- tables (source class name -> target class name). Every source class appears exactly once. ---------------
# FaceSynthetics -> Helen / LaPa. Sides: the synthetic RIGHT_* (viewer's right) is the subject's left.
# Ears, neck, clothing and headwear are background: Helen's skin region was drawn from the face contour
# (jaw line to hairline), which leaves the ears and neck outside. Beard, glasses and face masks lie on the face:
# skin.
_FS_TO_HELEN = {
    "background": "background", "skin": "skin", "nose": "nose", "right_eye": "left_eye", "left_eye": "right_eye",
    "right_brow": "left_brow", "left_brow": "right_brow", "right_ear": "background", "left_ear": "background",
    "mouth_interior": "inner_mouth", "top_lip": "upper_lip", "bottom_lip": "lower_lip", "neck": "background",
    "hair": "hair", "beard": "skin", "clothing": "background", "glasses": "skin", "headwear": "background",
    "facewear": "skin",
}
# FaceSynthetics -> CelebAMask-HQ (both have ears, neck, cloth, hat, glasses). CelebAMask-HQ has no beard or
# face-mask class: both are skin there. Its earring and necklace classes have no synthetic counterpart.
_FS_TO_CELEBAMASK = {
    "background": "background", "skin": "skin", "nose": "nose", "right_eye": "l_eye", "left_eye": "r_eye",
    "right_brow": "l_brow", "left_brow": "r_brow", "right_ear": "l_ear", "left_ear": "r_ear",
    "mouth_interior": "mouth", "top_lip": "u_lip", "bottom_lip": "l_lip", "neck": "neck", "hair": "hair",
    "beard": "skin", "clothing": "cloth", "glasses": "eye_g", "headwear": "hat", "facewear": "skin",
}
# CelebAMask-HQ -> Helen / LaPa (both subject-sided).
_CELEBAMASK_TO_HELEN = {
    "background": "background", "skin": "skin", "nose": "nose", "eye_g": "skin", "l_eye": "left_eye",
    "r_eye": "right_eye", "l_brow": "left_brow", "r_brow": "right_brow", "l_ear": "background",
    "r_ear": "background", "mouth": "inner_mouth", "u_lip": "upper_lip", "l_lip": "lower_lip", "hair": "hair",
    "hat": "background", "ear_r": "background", "neck_l": "background", "neck": "background", "cloth": "background",
}
TABLES: dict[tuple[str, str], dict[str, str]] = {
    ("facesynthetics19", "helen11"): _FS_TO_HELEN,
    ("facesynthetics19", "lapa11"): _FS_TO_HELEN,
    ("facesynthetics19", "celebamask19"): _FS_TO_CELEBAMASK,
    ("celebamask19", "helen11"): _CELEBAMASK_TO_HELEN,
    ("celebamask19", "lapa11"): _CELEBAMASK_TO_HELEN,
    ("helen11", "lapa11"): {c: c for c in HELEN11.classes},
    ("lapa11", "helen11"): {c: c for c in HELEN11.classes},
}


@dataclass(frozen=True)
class ClassMapping:
    """The table from ``source`` to ``target`` as an index array: ``lut[s]`` is the target id of source class s."""

    source: ClassSet
    target: ClassSet
    lut: tuple[int, ...] = field(repr=False)

    @property
    def shared(self) -> tuple[int, ...]:
        """Target classes some source class maps to, except background: the classes a mean F1 across the two
        sets can fairly average over (a class the source cannot predict would score 0 by construction)."""
        bg = self.target.index(self.target.background)
        return tuple(sorted({t for t in self.lut if t != bg}))

    def labels(self, label: np.ndarray) -> np.ndarray:
        """A source label map relabelled in the target set (255 kept)."""
        full = np.full(256, IGNORE, np.uint8)
        full[:len(self.lut)] = self.lut
        return full[label]

    def matrix(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """(S, T) 0/1 matrix: target probabilities = source probabilities @ matrix (merged classes add up)."""
        m = torch.zeros(self.source.num_classes, self.target.num_classes, dtype=dtype, device=device)
        m[torch.arange(self.source.num_classes), torch.tensor(self.lut)] = 1
        return m


def mapping(source: str | ClassSet, target: str | ClassSet) -> ClassMapping:
    """The explicit table from one class set to another (identity for the same set); ConfigError if none."""
    src = source if isinstance(source, ClassSet) else class_set(source)
    dst = target if isinstance(target, ClassSet) else class_set(target)
    if src.name == dst.name:
        return ClassMapping(src, dst, tuple(range(src.num_classes)))
    table = TABLES.get((src.name, dst.name))
    if table is None:
        raise ConfigError(f"no class table from {src.name} to {dst.name}: a parser trained on one set is evaluated "
                          f"on another only through an explicit table (facebench/parsing_classes.py); known: "
                          + ", ".join(f"{a}->{b}" for a, b in TABLES))
    return ClassMapping(src, dst, tuple(dst.index(table[c]) for c in src.classes))


def _check_tables() -> None:
    for (a, b), table in TABLES.items():
        assert set(table) == set(CLASS_SETS[a].classes), (a, b)
        assert set(table.values()) <= set(CLASS_SETS[b].classes), (a, b)


_check_tables()
