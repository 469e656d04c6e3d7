"""Expression classes: the suite's 7 basic expressions and one explicit table per dataset from its own label
ids (or folder names, or codes) to them. A class a set has and the suite lacks (contempt; AffectNet's
non-expression labels) is named and excluded, never mapped to something else.

The suite's ids are :data:`facebench.labels.EXPRESSIONS` (neutral, happy, sad, surprise, fear, disgust,
anger), the render source's expression ids. AffectNet's 8-class setting appends contempt as class 7.
"""
from __future__ import annotations

from facebench.labels import EXPRESSIONS

SUITE = {name: i for i, name in enumerate(EXPRESSIONS)}
CONTEMPT = "contempt"
EXPRESSIONS8 = EXPRESSIONS + (CONTEMPT,)

# FER2013 csv: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral.
FER2013_IDS = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
# Folder names of the image-folder exports (FER2013 train|test/<class>/, CK+48 <class>/, RAF-DB / AffectNet
# folder exports), lower-cased; None = named and excluded.
FOLDER_NAMES = {
    "angry": "anger", "anger": "anger", "disgust": "disgust", "disgusted": "disgust", "fear": "fear",
    "fearful": "fear", "happy": "happy", "happiness": "happy", "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise", "neutral": "neutral", "contempt": None,
}
# RAF-DB basic (EmoLabel/list_patition_label.txt): 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness,
# 6 Anger, 7 Neutral.
RAFDB_IDS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "anger", 7: "neutral"}
# AffectNet annotation csv: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt;
# 8 None, 9 Uncertain, 10 No-Face are not expressions (always excluded).
AFFECTNET_IDS = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust", 6: "anger",
                 7: CONTEMPT}
AFFECTNET_NON_EXPRESSION = {8: "none", 9: "uncertain", 10: "no-face"}
# CK+ Emotion files: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.
CKPLUS_IDS = {0: "neutral", 1: "anger", 2: CONTEMPT, 3: "disgust", 4: "fear", 5: "happy", 6: "sad", 7: "surprise"}
# JAFFE file codes (KA.AN1.39.tiff: subject KA, anger, take 1, image 39).
JAFFE_CODES = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad",
               "SU": "surprise"}


def class_names(num_classes: int) -> tuple[str, ...]:
    """The class names of a 7-class (basic) or 8-class (+ contempt, AffectNet's setting) model."""
    if num_classes not in (7, 8):
        raise ValueError(f"expression models have 7 or 8 classes, got {num_classes}")
    return EXPRESSIONS if num_classes == 7 else EXPRESSIONS8


def suite_id(name: str | None, num_classes: int = 7) -> int | None:
    """The suite's id of a class name (None for excluded classes and for contempt in the 7-class setting)."""
    if name is None:
        return None
    names = class_names(num_classes)
    return names.index(name) if name in names else None
