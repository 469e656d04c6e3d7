"""The numba kernels' on-disk cache is keyed by every source they compile constants from."""
from __future__ import annotations

from pathlib import Path

import numba
import torch

from facebench.render.backends.cpu import _numba


def test_the_cache_key_changes_with_any_source(tmp_path):
    consts, kernel = tmp_path / "shade.py", tmp_path / "shade_numba.py"
    consts.write_text("HAIR_SHEEN = (0.08, 30.0, -0.12)\n")
    kernel.write_text("from shade import HAIR_SHEEN\n")
    before = _numba.source_hash([consts, kernel])
    consts.write_text("HAIR_SHEEN = (0.16, 60.0, -0.12)\n")  # the kernel's own file is unchanged
    assert _numba.source_hash([consts, kernel]) != before


def test_kernels_cache_under_the_hash_of_their_sources():
    root = Path(__file__).resolve().parents[1] / "facebench"
    sources = _numba.kernel_sources()
    assert {root / "render" / "materials.py", root / "render" / "backends" / "cpu" / "shade.py",
            root / "labels.py"} <= set(sources)
    cache = Path(numba.config.CACHE_DIR)
    assert cache.name == _numba.source_hash(sources)
    from facebench.render.backends.cpu.mesh import vertex_normals_numba

    n = vertex_normals_numba(torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]]), torch.tensor([[0, 1, 2]]))
    assert torch.allclose(n, torch.tensor([0.0, 0, 1]).expand(1, 3, 3))
    assert any(cache.rglob("*mesh*.nbi"))  # compiled (or loaded) from there, not from __pycache__
