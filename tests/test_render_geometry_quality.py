"""Render-quality properties with analytic expectations: soft shadow edges, normals of two-sided sheets,
and a level-of-detail mesh that stays whole when the jaw opens."""
import numpy as np
import pytest
import torch

from facebench.render.backends.torch.shade import shadow_visibility


def _edge_case():
    """A shadow map whose texels x < 10 hold an occluder nearer the light than the receiver."""
    S = 32
    smap = torch.zeros(1, S, S)
    smap[0, :, :10] = 2.0  # depth toward the light: the occluder (2.0) is nearer than the receiver (1.0)
    xs = torch.linspace(7.0, 13.0, 61)
    p = torch.stack([xs, torch.full_like(xs, 16.0), torch.full_like(xs, 1.0)], -1).view(1, 1, -1, 3)
    # Expected: the lit fraction of a 3-texel box [x - 1.5, x + 1.5] over the lit half-plane x >= 10.
    expected = ((xs + 1.5 - 10.0) / 3.0).clamp(0, 1)
    return smap, p, expected


def test_pcf_is_a_linear_ramp_across_a_shadow_edge():
    smap, p, expected = _edge_case()
    ndl = torch.ones(p.shape[:-1])  # light straight on: the smallest depth bias (3 mm << 1 m gap)
    vis = shadow_visibility(p, smap, ndl).view(-1)
    assert torch.allclose(vis, expected, atol=1e-5)


def test_numba_pcf_matches_the_ramp():
    from facebench.render.backends.cpu.shade import _pcf

    smap, p, expected = _edge_case()
    sm = smap[0].numpy()
    vis = np.array([_pcf(sm, float(x), float(y), float(z)) for x, y, z in p.view(-1, 3).tolist()])
    np.testing.assert_allclose(vis, expected.numpy(), atol=1e-5)


def test_two_sided_sheets_have_outward_normals_on_both_sides(procedural_head):
    """Glasses lenses and the cap brim are two-sided: each side's vertex normals must point out of that
    side (shared vertices would sum both sides to a zero normal and shade as noise)."""
    from facebench.render.scene.accessories import brim_mesh, glasses_mesh
    from facebench.render.scene.heads.base import P
    from facebench.render.renderer import _vertex_normals

    lens = glasses_mesh(procedural_head)
    sel = lens.face_part == P["LENS"]
    brim = brim_mesh(procedural_head, 0.01)
    for mesh, faces in ((lens, lens.faces[sel]), (brim, brim.faces)):
        v = torch.from_numpy(mesh.verts).float()[None]
        f = torch.from_numpy(faces).long()
        n = _vertex_normals(v, f)[0]
        used = torch.unique(f)
        assert torch.allclose(n[used].norm(dim=-1), torch.ones(len(used)), atol=1e-4)
        # Face normals (from the winding) and the vertex normals of their corners agree in direction.
        fv = v[0][f]
        fn = torch.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0], dim=-1)
        fn = fn / fn.norm(dim=-1, keepdim=True)
        assert ((n[f] * fn[:, None]).sum(-1) > 0.3).all()


def test_ict_lod_keeps_lips_and_teeth_apart_when_the_jaw_opens(ict_head):
    """Vertex clustering at rest merged inner-lip vertices that part when the mouth opens, and neighbouring
    teeth: opening the jaw then stretched lip and tooth triangles into 4-5 cm spikes across the mouth.
    The full mesh's longest lip edge is about 4 mm in the jaw-open pose; allow the coarser cells."""
    from facebench.render.scene.heads.base import EXPRESSION_SHAPES, P

    h = ict_head
    opened = h.template + h.expr_basis[EXPRESSION_SHAPES.index("jawOpen")]
    for parts, limit in ((("LIP_TOP", "LIP_BOTTOM"), 0.012), (("TEETH",), 0.015)):
        f = h.faces[np.isin(h.face_part, [P[q] for q in parts])]
        edge = np.linalg.norm(opened[f] - opened[np.roll(f, 1, 1)], axis=-1).max()
        assert edge < limit, (parts, edge)


def test_ict_lod_surface_has_no_holes_the_full_mesh_lacks(ict_head):
    """Vertex clustering folded the eyelid creases over (flipped faces, back-face culled): holes above the
    eyes through which the inside of the hair showed as specks in about half of the views. Count the
    enclosed empty pixels of head-only renders over many poses: the LOD may not have more than the full
    mesh (which has a few, at nostrils)."""
    from scipy import ndimage

    from facebench.render.camera import apply_similarity, project
    from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
    from facebench.render.scene.heads.ict import load_ict
    from facebench.render.backends.cpu.rasterize import rasterize_numba
    from facebench.render.renderer import FaceRenderer

    def holes(head):
        r = FaceRenderer(head)
        fac = sample_factors(11, np.arange(40), np.arange(40), frozenset(FACTOR_GROUPS), head.num_identity)
        v, _, fmask, _ = r.posed(fac)
        fmask[:, head.faces.shape[0]:] = False  # the head alone
        proj = project(v, torch.ones(40), fac.cam_dist)
        scr = apply_similarity(r.framing(fac, proj[:, r.landmarks][..., :2], 256, "aligned", 1), proj)
        cov = (rasterize_numba(scr, r.faces, 256, 256, face_mask=fmask).tri >= 0).numpy()
        return sum(int((ndimage.binary_fill_holes(c) & ~c).sum()) for c in cov)

    from conftest import ICT_FILE

    full = load_ict(ICT_FILE, lod="full")
    assert holes(ict_head) <= holes(full) + 3


@pytest.mark.parametrize("n", [1, 3])
def test_shadow_visibility_is_batched_per_image(n):
    """Each image reads its own shadow map."""
    S = 8
    smap = torch.zeros(n, S, S)
    smap[-1] = 5.0  # the last image is fully shadowed
    p = torch.tensor([4.0, 4.0, 1.0]).expand(n, 1, 1, 3).contiguous()
    vis = shadow_visibility(p, smap, torch.ones(n, 1, 1)).view(-1)
    assert vis[-1] == 0 and (n == 1 or (vis[:-1] == 1).all())


def test_shell_inner_sides_share_masks_and_leave_normals_alone(procedural_head):
    """The shells' reversed inner copies are drawn with their originals' per-sample masks, are not shadow
    casters, and do not cancel the shell vertex normals (which come from the outer faces only)."""
    from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
    from facebench.render.renderer import FaceRenderer

    r = FaceRenderer(procedural_head)
    fac = sample_factors(4, range(3), range(3), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    fac.hair[:] = 3
    v, fmask, _ = r.geometry(fac)
    n0 = r.num_front_faces
    assert r.faces.shape[0] > n0 and fmask.shape[1] == r.faces.shape[0]
    assert torch.equal(fmask[:, n0:], fmask[:, r._back_src])
    assert torch.equal(r.faces[n0:], r.faces[r._back_src][:, [0, 2, 1]])
    assert not r.shadow_caster[n0:].any()
    vn = r._normals(v, "all")
    a, b = r.offset["hair"]
    assert torch.allclose(vn[:, a:b].norm(dim=-1), torch.ones(3, b - a), atol=1e-4)


def test_block_part_mean_groups_samples_by_part_within_each_block():
    """MSAA-style shading: each sample takes the mean attributes of the samples of its 2x2 block that show
    the same part; blocks never mix."""
    from facebench.render.backends.torch.shade import block_part_mean

    x = torch.arange(16, dtype=torch.float32).view(1, 4, 4, 1)  # one attribute = the sample's index
    part = torch.tensor([[[1, 1, 3, 3], [2, -1, 3, 3], [5, 5, 5, 6], [5, 5, 7, 6]]])
    out = block_part_mean(x, part, 2)[0, ..., 0]
    # Block (0,0): samples 0, 1 (part 1) -> 0.5; sample 4 (part 2) alone; sample 5 empty, alone.
    assert out[0, 0] == out[0, 1] == 0.5 and out[1, 0] == 4 and out[1, 1] == 5
    assert (out[:2, 2:] == (2 + 3 + 6 + 7) / 4).all()  # one part over the whole block
    assert out[2, 0] == out[2, 1] == out[3, 0] == out[3, 1] == (8 + 9 + 12 + 13) / 4
    assert out[2, 2] == 10 and out[3, 2] == 14 and out[2, 3] == out[3, 3] == (11 + 15) / 2


def test_cap_brim_grows_out_of_the_crown(any_head):
    """The brim's inner edge runs along the head at every angle (under the crown's surface), so it neither
    floats off the sides nor pokes through the crown; its peak reaches well past the forehead."""
    from scipy.spatial import cKDTree

    from facebench.render.scene.accessories import brim_mesh

    brim = brim_mesh(any_head, 0.01)
    n = len(brim.verts) // 4  # inner edge, outer edge, then the back side's copies
    inner, outer = brim.verts[:n], brim.verts[n:2 * n]
    d_inner = cKDTree(any_head.template).query(inner)[0]
    assert d_inner.max() < 0.005, f"brim inner edge {d_inner.max() * 1000:.1f} mm off the head"
    front = any_head.template[:, 2].max()
    assert outer[:, 2].max() > front + 0.05
