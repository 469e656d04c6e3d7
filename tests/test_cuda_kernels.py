"""The numba.cuda kernels of the GPU path, run by CUDA's simulator on the CPU (no GPU needed) and held
to the PyTorch path: exact triangle ids, barycentrics, and the shaded + finished image and classes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sim_results():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "cuda_sim_check.py"), "--shade"], env=env,
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", ["raster_cull", "raster_nocull", "raster_edges", "raster_alpha"])
def test_raster_kernel_matches_torch(sim_results, case):
    r = sim_results[case]
    assert r["covered"] > 50  # the random triangles do cover pixels
    assert r["tri_equal"]
    assert r["bary_max_diff"] < 1e-5


def test_raster_drawing_phases_change_nothing_but_the_work(sim_results):
    r = sim_results["raster_phases"]
    assert r["covered"] == 2 * 24 * 24 and r["late_visible"]  # the near late triangles show over the quad
    assert r["tri_equal"] and r["bary_equal"]


def test_geometry_kernels_match_torch(sim_results):
    r = sim_results["geometry"]
    assert r["normals_max_diff"] < 1e-5
    assert r["unused_vertex_normal"] == 0.0


def test_vertex_pass_kernels_match_numba(sim_results):
    """Posed mesh and normals, screen and light space, and the shadow depth map: the CUDA kernels against the
    numba passes they mirror (held to the PyTorch path in test_backends)."""
    r = sim_results["assemble"]
    assert r["v_max_diff"] < 1e-6 and r["n_max_diff"] < 1e-6 and r["screen_max_diff"] < 1e-4
    assert r["head_vs_torch_max_diff"] < 1e-6  # the twisting neck's blended rotations: numba as the PyTorch path
    assert r["light_max_diff"] < 1e-4  # texel units
    assert r["depth_covered"] > 50 and r["depth_cover_equal"] and r["depth_max_diff"] < 1e-5


def test_shade_and_finish_kernels_match_torch(sim_results):
    r = sim_results["shade"]
    assert r["classes"] >= 4  # background, skin and more: the comparison covers several materials
    assert {13, 5, 6, 17, 18} <= set(r["class_ids"])  # hair, both brows, hat and mask (shells and painted borders)
    assert r["image_max_diff"] < 2e-3
    assert r["seg_agree"] == 1.0
    assert r["vis_equal"]


def test_cuda_backend_needs_a_device_or_the_simulator(procedural_head, monkeypatch):
    import torch

    from facebench.render.backends import cuda_kernels_ok as _cuda_kernels_ok
    from facebench.render.renderer import FaceRenderer

    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    assert not _cuda_kernels_ok(torch.device("cpu"))
    with pytest.raises(ValueError, match="backend='cuda' needs numba.cuda"):
        FaceRenderer(procedural_head, "cpu", backend="cuda")
    assert FaceRenderer(procedural_head, "cpu").backend == "numba"  # auto on the CPU


def test_kernels_compile_for_a_gpu():
    """Every kernel types and compiles to sm_90 PTX (no GPU needed, but numba-cuda with NVVM: the
    `[cu12]` / `[cu13]` extras). Skipped where numba-cuda is not installed, as on CI."""
    pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install -e '.[cu12]')")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "cuda_compile_check.py")], cwd=ROOT, timeout=900,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("compiles") >= 12


def test_raster_alpha_case_clips_samples(sim_results):
    # Same triangles and masks as raster_nocull (same seed, alphas drawn last): the alpha test must have cut
    # some samples, or raster_alpha would not exercise it.
    assert sim_results["raster_alpha"]["covered"] < sim_results["raster_nocull"]["covered"]
