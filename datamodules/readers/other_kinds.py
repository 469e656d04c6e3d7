"""Datasets facebench recognises but has no task reader for yet (expression sets), so that
``facebench.check`` names what a folder is instead of mistaking it for another kind (an expression set's
class folders look like identity folders)."""
from __future__ import annotations

from pathlib import Path

from datamodules.readers.images import IMAGE_EXTS

# Folder names of the image-folder expression layouts (FER2013's train|test/<class>/, CK+48/<class>/, and
# the RAF-DB / AffectNet folder exports): lower-cased, some sets abbreviate.
EXPRESSION_CLASSES = {"angry", "anger", "disgust", "disgusted", "fear", "fearful", "happy", "happiness", "sad",
                      "sadness", "surprise", "surprised", "neutral", "contempt"}


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def _is_class_layout(path: Path) -> bool:
    names = {p.name.lower() for p in _subdirs(path)}
    return len(names) >= 2 and names <= EXPRESSION_CLASSES


def detect_expression_folders(path: Path) -> bool:
    """``<class>/<image>`` (CK+48, one FER2013 split) or ``train|test/<class>/<image>`` (FER2013)."""
    if _is_class_layout(path):
        return True
    subs = _subdirs(path)
    return bool(subs) and all(_is_class_layout(s) for s in subs)


def _count_images(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTS)


def validate_expression_folders(path: Path, report) -> None:
    report.count("images", _count_images(path))
    report.count("class folders", ", ".join(sorted({p.name for p in path.rglob("*") if p.is_dir()
                                                    and p.name.lower() in EXPRESSION_CLASSES})))
    report.problem(f"{path}: an expression set (class folders), not an identity set; facebench has no expression "
                   "reader yet, so it cannot be used for training or evaluation")
