from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
ICT_FILE = SHARED / "assets" / "ict_facekit" / "ict_facekit_light.npz"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"format fixtures not found at {FIXTURES} (../shared beside the checkout)")
    return FIXTURES


@pytest.fixture(scope="session")
def ict_head():
    if not ICT_FILE.is_file():
        pytest.skip(f"ICT-FaceKit file not found at {ICT_FILE}")
    from facebench.render.heads.ict import load_ict

    return load_ict(ICT_FILE)


@pytest.fixture(scope="session")
def procedural_head():
    from facebench.render.heads.procedural import build_procedural_head

    return build_procedural_head()


@pytest.fixture(scope="session", params=["procedural", "ict"])
def any_head(request):
    return request.getfixturevalue(f"{request.param}_head")


@pytest.fixture()
def wflw_release(tmp_path, fixtures_dir):
    """A WFLW release layout (WFLW_annotations/list_98pt_rect_attr_train_test/ beside WFLW_images/) holding
    one 300-W fixture photo whose 68 points are spread into the 98-point order; attributes expression and
    occlusion set. Returns (list path, the 68 points)."""
    import shutil

    import numpy as np

    from datamodules.readers.landmark_sets import PtsFolder
    from facebench.labels import WFLW98_TO_IBUG68

    folder = PtsFolder(fixtures_dir / "300w")
    pts68 = folder.sample(0).points
    pts98 = np.zeros((98, 2), np.float32)
    pts98[list(WFLW98_TO_IBUG68)] = pts68
    (tmp_path / "WFLW_images" / "sub").mkdir(parents=True)
    shutil.copy(folder.items[0][0], tmp_path / "WFLW_images" / "sub" / "a.jpg")
    lists = tmp_path / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    lists.mkdir(parents=True)
    line = " ".join(f"{v:.3f}" for v in pts98.ravel()) + " 10 20 300 310 0 1 0 0 1 0 sub/a.jpg"
    (lists / "list_98pt_rect_attr_test.txt").write_text(line + "\n")
    return lists / "list_98pt_rect_attr_test.txt", pts68
