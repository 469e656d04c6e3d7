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
