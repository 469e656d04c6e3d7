"""Registry of on-disk dataset formats for ``python -m facebench.check``; readers add themselves here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from datamodules.readers import (expression_sets, facesynthetics, hsface_lmdb, identity_folders, landmark_sets,
                                 parsing_sets, recordio, verification)


@dataclass(frozen=True)
class Format:
    name: str
    detect: Callable[[Path], bool]
    validate: Callable[[Path, object], None]


# Order matters: the first format whose detect() accepts the path wins.
FORMATS: list[Format] = [
    Format("insightface_recordio", recordio.detect, recordio.validate),
    Format("hsface_lmdb", hsface_lmdb.detect, hsface_lmdb.validate),
    Format("verification_bin", verification.detect_bin, verification.validate_bin),
    Format("verification_pairs", verification.detect_pairs, verification.validate_pairs),
    Format("facesynthetics", facesynthetics.detect, facesynthetics.validate),
    Format("aflw2000_3d", landmark_sets.detect_aflw2000, landmark_sets.validate_aflw2000),
    Format("wflw_list", landmark_sets.detect_wflw, landmark_sets.validate_wflw),
    Format("pts_landmarks", landmark_sets.detect_pts, landmark_sets.validate_pts),
    # Kinds with folder layouts that also look like identity folders: recognised first, by their own evidence.
    Format("expression_set", expression_sets.detect, expression_sets.validate),
    Format("parsing_set", parsing_sets.detect, parsing_sets.validate),
    Format("identity_folders", identity_folders.detect, identity_folders.validate),
]


def detect_format(path: Path) -> Format | None:
    for f in FORMATS:
        try:
            if f.detect(path):
                return f
        except OSError:
            continue
    return None
