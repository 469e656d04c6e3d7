"""The numba CPU kernels agree with the PyTorch reference path (which also runs on CUDA)."""
import dataclasses

import numpy as np
import pytest
import torch

from facebench.labels import SEG
from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
from facebench.render.backends.cpu.mesh import majority_numba, vertex_normals_numba
from facebench.render.backends.torch.rasterize import rasterize
from facebench.render.backends.cpu.rasterize import depth_map_numba, rasterize_numba
from facebench.render.renderer import FaceRenderer
from facebench.render.shading import hash_u32


def test_full_render_numba_matches_torch(any_head):
    fac = sample_factors(5, range(6), [0, 0, 1, 2, 3, 4], frozenset(FACTOR_GROUPS), any_head.num_identity)
    a = FaceRenderer(any_head, backend="torch").render(fac, 112, "aligned")
    b = FaceRenderer(any_head, backend="numba").render(fac, 112, "aligned")
    d = (a.image - b.image).abs()
    assert d.mean() < 1e-3
    assert (d > 2 / 255).float().mean() < 5e-3  # rare pixels where near-equal depths resolve differently
    assert (a.seg == b.seg).float().mean() > 0.999
    assert torch.allclose(a.ldmk2d, b.ldmk2d, atol=1e-4)
    assert (a.ldmk_visible == b.ldmk_visible).float().mean() > 0.99


def test_painted_accessory_borders_match_torch(any_head):
    """Hats and face masks on every sample (their shells' alpha-tested borders and the colour painted past
    them, ramped per pixel in each shader): the numba render agrees with the PyTorch one on those pixels too."""
    fac = sample_factors(7, range(4), [0, 1, 2, 3], frozenset(FACTOR_GROUPS), any_head.num_identity)
    fac = dataclasses.replace(fac, headwear=torch.tensor([1, 2, 1, 2]), facewear=torch.tensor([1, 1, 0, 1]),
                              hair=torch.tensor([2, 3, 2, 1]), pose=fac.pose * 0.3)
    a = FaceRenderer(any_head, backend="torch").render(fac, 112, "aligned")
    b = FaceRenderer(any_head, backend="numba").render(fac, 112, "aligned")
    for cls in ("HEADWEAR", "FACEWEAR"):
        assert ((a.seg == SEG[cls]).flatten(1).sum(1) > 100).sum() >= 3, f"too few {cls} pixels to compare"
    d = (a.image - b.image).abs().amax(1)
    assert d.mean() < 1e-3
    assert (d > 2 / 255).float().mean() < 2e-3
    assert (a.seg == b.seg).float().mean() > 0.999


def test_raster_kernels_agree_on_a_head(procedural_head):
    r = FaceRenderer(procedural_head)
    fac = sample_factors(1, range(4), range(4), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    v, fmask, _ = r.geometry(fac)
    scr = torch.cat([v[..., :2] * 900 + 112, 1 / (1.0 - v[..., 2:])], -1)  # orthographic-ish screen space
    a = rasterize(scr, r.faces, 224, 224, face_mask=fmask)
    b = rasterize_numba(scr, r.faces, 224, 224, face_mask=fmask)
    assert (a.tri == b.tri).float().mean() > 0.9999
    same = (a.tri == b.tri) & a.mask
    assert torch.allclose(a.bary[same], b.bary[same], atol=1e-4)


def test_drawing_phases_change_nothing_but_the_work(any_head):
    """The renderer's drawing phases (mostly hidden faces last, behind a coarse depth test) give bitwise
    the raster of drawing every face in index order, on real views (wide yaw, open mouths, hair, hats)."""
    from facebench.render.camera import apply_similarity, project

    r = FaceRenderer(any_head)
    fac = sample_factors(4, range(24), range(24), frozenset(FACTOR_GROUPS), any_head.num_identity)
    v, _, fmask, _ = r.posed(fac)
    proj = project(v, torch.ones(24), fac.cam_dist)
    scr = apply_similarity(r.framing(fac, proj[:, r.landmarks][..., :2], 112, "aligned", 2), proj)
    a = rasterize_numba(scr, r.faces, 224, 224, face_mask=fmask)
    b = rasterize_numba(scr, r.faces, 224, 224, face_mask=fmask, phase=r._raster_phase)
    hidden = r._raster_phase[a.tri[a.mask]] == 1
    assert 0 < hidden.float().mean() < 0.1  # the late phase holds visible faces too (through open mouths)
    assert torch.equal(a.tri, b.tri) and torch.equal(a.bary, b.bary) and torch.equal(a.w, b.w)


def test_drawing_phases_keep_exact_depth_ties_with_the_lower_index():
    """Duplicated triangles (exact depth ties everywhere) drawn in reverse phase order: the lower face index
    still wins every sample, and a phase's hidden faces are skipped only where they cannot win."""
    g = torch.Generator().manual_seed(3)
    base = torch.rand(1, 30, 3, generator=g) * torch.tensor([40.0, 40.0, 1.0]) + torch.tensor([0.0, 0.0, 0.5])
    faces = torch.randint(0, 30, (60, 3), generator=g)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    faces = torch.cat([faces, faces])  # copy k + n ties with face k
    n = len(faces) // 2
    # Copies first; the originals in phase 2 (phase 1 empty: two checks at one position).
    phase = torch.cat([torch.full((n,), 2, dtype=torch.long), torch.zeros(n, dtype=torch.long)])
    a = rasterize_numba(base, faces, 40, 40, cull_backfaces=False)
    b = rasterize_numba(base, faces, 40, 40, cull_backfaces=False, phase=phase)
    assert a.mask.float().mean() > 0.3 and (a.tri[a.mask] < n).all()
    assert torch.equal(a.tri, b.tri) and torch.equal(a.bary, b.bary)


def test_depth_only_shadow_raster_equals_the_full_raster(procedural_head):
    """The shadow pass's depth-only kernel draws exactly the full raster's nearest depth, 0 where empty."""
    r = FaceRenderer(procedural_head)
    fac = sample_factors(2, range(3), range(3), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    v, fmask, _ = r.geometry(fac)
    scr = torch.cat([v[..., :2] * 400 + 80, v[..., 2:] + 1.0], -1)
    full = rasterize_numba(scr, r.faces, 160, 160, face_mask=fmask, cull_backfaces=False)
    depth = depth_map_numba(scr, r.faces, 160, 160, fmask)
    assert full.mask.float().mean() > 0.2
    assert torch.equal(depth, torch.where(full.mask, full.w, torch.zeros_like(full.w)))


def test_vertex_normals_and_majority_match_reference():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(2, 30, 3, generator=g)
    f = torch.tensor([[0, 1, 2], [2, 3, 4], [4, 5, 0], [1, 3, 5], [6, 7, 8], [0, 6, 9]])
    fv = v[:, f]
    fn = torch.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)
    n = torch.zeros_like(v)
    for k in range(3):
        n.index_add_(1, f[:, k], fn)
    ref = torch.nn.functional.normalize(n, dim=-1, eps=1e-12)
    assert torch.allclose(vertex_normals_numba(v, f), ref, atol=1e-6)
    x = torch.tensor([[[1, 2, 3, 3], [2, 2, 3, 4], [5, 6, 7, 7], [5, 6, 8, 8]]])
    # blocks: {1,2,2,2}->2, {3,3,3,4}->3, {5,6,5,6}->tie, first sample 5, {7,7,8,8}->tie, first 7
    assert majority_numba(x, 2).tolist() == [[[2, 3], [5, 7]]]


def test_integer_hash_is_the_same_function_in_numba_and_torch():
    from facebench.render.backends.cpu.shade import hash_u32 as hash_numba

    a = np.array([0, 1, 2**31 + 5, -7, 123456789], np.int64)
    t = hash_u32(torch.from_numpy(a), torch.from_numpy(a * 3), torch.full((5,), 42)).tolist()
    assert t == [int(hash_numba(int(x), int(x * 3), 42)) for x in a]
    assert all(0 <= h < 2**32 for h in t)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(procedural_head):
    fac = sample_factors(5, range(4), range(4), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    a = FaceRenderer(procedural_head, "cpu").render(fac, 112)
    b = FaceRenderer(procedural_head, "cuda").render(fac, 112)
    assert (a.image - b.image.cpu()).abs().mean() < 2e-3
    assert (a.seg == b.seg.cpu()).float().mean() > 0.999


def test_background_numba_matches_torch():
    from facebench.render.backends.cpu.shade import background_numba
    from facebench.render.shading import background

    g = torch.Generator().manual_seed(3)
    p, s = torch.rand(6, 24, generator=g), torch.randint(0, 2**31, (6,), generator=g)
    p[:3, 23] = 0.9  # make sure the hard-edged rectangle is exercised
    a, b = background(p, s, 40, 40), background_numba(p, s, 40, 40)
    assert (a - b).abs().max() < 1e-4


def test_shadow_pass_numba_matches_torch(procedural_head):
    """The numba shadow pass (fused light-space transform + depth-only raster) draws the torch path's map."""
    r = FaceRenderer(procedural_head, backend="numba")
    fac = sample_factors(6, range(4), range(4), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    v, fmask, _ = r.geometry(fac)
    smask = torch.cat([torch.ones(4, r._num_shadow_head, dtype=torch.bool), fmask[:, r._shadow_others]], 1)
    ls_n, map_n = r.shadow_map(v, smask, fac.key_dir)
    r.backend = "torch"
    ls_t, map_t = r.shadow_map(v, smask, fac.key_dir)
    assert (ls_n - ls_t).abs().max() < 1e-4  # texels and metres
    covered = (map_t > 0) & (map_n > 0)
    # The map spans head and torso; the casters (head, shells, glasses) cover about 14% of it.
    assert covered.float().mean() > 0.1 and ((map_t > 0) == (map_n > 0)).float().mean() > 0.999
    assert (map_n - map_t)[covered].abs().max() < 1e-3  # metres


def test_fused_numba_geometry_matches_torch(any_head):
    """FaceRenderer.posed on the CPU (geometry_numba: shells, rigid meshes, pose and normals in one pass)
    against the PyTorch ops of geometry() + vertex normals."""
    r = FaceRenderer(any_head, backend="numba")
    fac = sample_factors(8, range(6), range(6), frozenset(FACTOR_GROUPS), any_head.num_identity)
    fac.headwear[:2], fac.facewear[2:4], fac.glasses[4:] = 2, 1, 1  # every shell and rigid mesh in use
    v, vn, fmask, lm3 = r.posed(fac)
    r.backend = "torch"
    v_t, vn_t, fmask_t, lm3_t = r.posed(fac)
    assert torch.allclose(v, v_t, atol=1e-6) and torch.allclose(lm3, lm3_t, atol=1e-6)
    assert torch.equal(fmask, fmask_t)
    used = torch.zeros(v.shape[1], dtype=torch.bool)
    used[r.faces[: r.num_front_faces].flatten()] = True
    assert torch.allclose(vn.norm(dim=-1)[:, used], torch.ones(1), atol=1e-4)
    cos = (vn * vn_t).sum(-1)[:, used]
    assert cos.min() > 0.999  # same directions (head normals rotated vs recomputed: rounding only)


def test_numba_display_table_matches_the_display_curve():
    from facebench.render.backends.cpu.shade import _display_lut
    from facebench.render.shading import to_display

    x = torch.cat([torch.linspace(0, 0.01, 2001), torch.linspace(0, 40, 20001), torch.tensor([-1.0, 1e4])])
    ref = to_display(x.double())
    got = torch.tensor([_display_lut(float(v)) for v in x], dtype=torch.float64)
    assert (got - ref).abs().max() < 5e-5


def test_fused_screen_space_matches_project_then_similarity():
    from facebench.render.camera import apply_similarity, project
    from facebench.render.backends.cpu.mesh import screen_space_numba

    g = torch.Generator().manual_seed(2)
    v = (torch.rand(3, 500, 3, generator=g) - 0.5) * 0.3
    cam = torch.tensor([0.5, 0.7, 1.2])
    M = torch.randn(3, 2, 3, generator=g) * torch.tensor([300.0, 300.0, 100.0])
    ref = apply_similarity(M, project(v, torch.ones(3), cam))
    got = screen_space_numba(v, cam, M)
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-3)  # pixels (up to ~600) and 1/m
