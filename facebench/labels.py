"""Label schemes shared by the whole suite: segmentation classes, landmark layouts, expressions.

Every number the suite reports names the scheme it uses; these tables are the single source.
"""
from __future__ import annotations

# FaceSynthetics segmentation classes (ids as in the released `_seg.png` files).
# Note on sides: the release names LEFT/RIGHT from the *viewer*: in a frontal image RIGHT_EYE (3) is on
# the image's right, i.e. the subject's left eye (checked against Microsoft's released samples).
SEG_CLASSES = (
    "BACKGROUND", "SKIN", "NOSE", "RIGHT_EYE", "LEFT_EYE", "RIGHT_BROW", "LEFT_BROW", "RIGHT_EAR",
    "LEFT_EAR", "MOUTH_INTERIOR", "TOP_LIP", "BOTTOM_LIP", "NECK", "HAIR", "BEARD", "CLOTHING",
    "GLASSES", "HEADWEAR", "FACEWEAR",
)
SEG = {name: i for i, name in enumerate(SEG_CLASSES)}
SEG_IGNORE = 255
NUM_SEG_CLASSES = len(SEG_CLASSES)
# Class pairs that swap under a horizontal flip.
SEG_FLIP_PAIRS = ((3, 4), (5, 6), (7, 8))

# 68-point iBUG / Multi-PIE layout (0-based); "right" is the subject's right.
IBUG68_GROUPS = {
    "jaw": range(0, 17), "right_brow": range(17, 22), "left_brow": range(22, 27),
    "nose_bridge": range(27, 31), "nostrils": range(31, 36), "right_eye": range(36, 42),
    "left_eye": range(42, 48), "outer_lip": range(48, 60), "inner_lip": range(60, 68),
}
# FaceSynthetics 70 = iBUG 68 + pupil of the subject's right eye (68) + left eye (69).
NUM_LANDMARKS_FS = 70


def _ibug68_flip_permutation() -> list[int]:
    """Index map p such that flipped[i] = original[p[i]] after a horizontal image flip."""
    p = list(range(68))
    pairs = [(i, 16 - i) for i in range(8)]
    pairs += [(17 + i, 26 - i) for i in range(5)]
    pairs += [(31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56)]
    pairs += [(60, 64), (61, 63), (67, 65)]
    for a, b in pairs:
        p[a], p[b] = b, a
    return p


IBUG68_FLIP = _ibug68_flip_permutation()
FS70_FLIP = IBUG68_FLIP + [69, 68]

# Expression classes of the suite (the 7 basic ones; index = class id of the render source).
EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")

# ArcFace 112x112 5-point template: right-eye centre, left-eye centre (subject's), nose tip,
# right and left mouth corners; pixels.
ARCFACE_TEMPLATE_112 = (
    (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041),
)

# Landmark scheme conversions (index tables; a model trained on one scheme evaluates on another only through
# one of these, never by truncation alone).
# WFLW 98 -> iBUG 68: every second contour point; the upper brow arcs; nose; eyes without the mid-lid
# points; the mouth as is.
WFLW98_TO_IBUG68 = (
    list(range(0, 33, 2)) + list(range(33, 38)) + list(range(42, 47)) + list(range(51, 60))
    + [60, 61, 63, 64, 65, 67] + [68, 69, 71, 72, 73, 75] + list(range(76, 96))
)
FS70_TO_IBUG68 = list(range(68))  # FaceSynthetics: iBUG 68 then two pupils
# WFLW's left/right permutation under a horizontal flip (98 points).
WFLW98_INTER_OCULAR = (60, 72)
IBUG68_INTER_OCULAR = (36, 45)
assert len(WFLW98_TO_IBUG68) == 68
