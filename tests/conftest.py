from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# The slow tier (each ~2 s or more on the 2-core CI machine): full renders on both backends, trainings,
# subprocess commands. `pytest -m "not slow"` leaves them out while developing; CI runs everything.
SLOW = ("test_backends.py::test_full_render_numba_matches_torch", "test_cuda_kernels.py",
        "test_appearance_models.py::test_hair_hat_and_mask_paint_cover", "test_eval_landmarks.py",
        "test_eval_verify.py", "test_render_labels.py::test_cutting_the_nose_and_lip_borders",
        "test_appearance_models.py::test_hair_shell_thins_to_nothing", "test_experiments_smoke.py::test_experiment_smoke",
        "test_bench.py", "test_render_geometry_quality.py::test_ict_lod_surface_has_no_holes",
        "test_datasets_io.py::test_shards_partition_the_chunks", "test_render_labels.py::test_far_jaw_visibility",
        "test_backends.py::test_painted_accessory_borders", "test_appearance_models.py::test_hats_ride_on_the_hair",
        "test_augment.py::test_render_dataset_with_digiface_augment", "test_face_mask.py::test_mask_fabric_shows_no",
        "test_render_labels.py::test_nose_and_lip_classes_have_smooth", "test_determinism.py::test_standin_test_side",
        "test_datasets_io.py::test_resume_after_killed_generation", "test_bad_inputs.py::test_run_",
        "test_parsing.py::test_eval_parsing",
        "test_expression.py::test_eval_expression",
        "test_expression.py::test_eval_derl",
        "test_experiments_smoke.py::test_eval_vec2face", "test_experiments_smoke.py::test_eval_gan")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(s in item.nodeid for s in SLOW):
            item.add_marker(pytest.mark.slow)
def train_smoke(out: Path, overrides: list[str]) -> Path:
    """Train the run ``overrides`` describe in CPU smoke mode (smoke trainer, CSV logger, no workers, procedural
    head) into ``out``; returns its last checkpoint."""
    from hydra import compose, initialize_config_dir

    from facebench.run import train

    conf = Path(__file__).resolve().parents[1] / "facebench" / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("config", overrides=["trainer=smoke", "logger=csv", "data.num_workers=0",
                                           "data.head=procedural", *overrides])
    cfg.output_dir = str(out)
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


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
    from facebench.render.scene.heads.ict import load_ict

    return load_ict(ICT_FILE)


@pytest.fixture(scope="session")
def procedural_head():
    from facebench.render.scene.heads.procedural import build_procedural_head

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
