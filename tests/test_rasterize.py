import pytest
import torch

from facebench.render.backends.torch.rasterize import rasterize as rasterize_torch
from facebench.render.backends.cpu.rasterize import rasterize_numba


@pytest.fixture(params=["torch", "numba"])
def rasterize(request):
    """Every analytic case runs against both kernels."""
    return rasterize_torch if request.param == "torch" else rasterize_numba


def _tri(pts, w=1.0):
    return torch.tensor([[[x, y, w] for x, y in pts]], dtype=torch.float32)


def test_axis_aligned_triangle_covers_exactly_its_pixels(rasterize):
    # Right triangle (0,0)-(8,0)-(0,8): pixel centre (j+.5, i+.5) is inside iff j + i + 1 < 8, and on the
    # hypotenuse (j + i + 1 == 8) it is excluded (not a top-left edge).
    v = _tri([(0, 0), (0, 8), (8, 0)])
    fr = rasterize(v, torch.tensor([[0, 1, 2]]), 10, 10, cull_backfaces=False)
    got = fr.mask[0]
    i, j = torch.meshgrid(torch.arange(10), torch.arange(10), indexing="ij")
    expect = (i + j + 1 < 8)
    assert torch.equal(got, expect)


def test_shared_edge_no_gaps_no_overlap(rasterize):
    v = torch.tensor([[[1.3, 0.7, 1], [9.1, 1.9, 1], [7.7, 9.2, 1], [0.4, 8.8, 1]]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    both = rasterize(v, faces, 12, 12, cull_backfaces=False).tri[0]
    a = rasterize(v, faces[:1], 12, 12, cull_backfaces=False).mask[0]
    b = rasterize(v, faces[1:], 12, 12, cull_backfaces=False).mask[0]
    assert not (a & b).any(), "a pixel centre on the shared edge was drawn twice"
    assert torch.equal(a | b, both >= 0)
    # Pixel (row 5, col 5) is well inside the quad.
    assert both[5, 5] >= 0


def test_nearer_surface_wins_regardless_of_order(rasterize):
    # Two overlapping squares; inverse depth w: larger = nearer.
    quad = [[0, 2, 1], [0, 3, 2]]
    near = [(2, 2, 1 / 1.0), (8, 2, 1 / 1.0), (8, 8, 1 / 1.0), (2, 8, 1 / 1.0)]
    far = [(0, 0, 1 / 2.0), (10, 0, 1 / 2.0), (10, 10, 1 / 2.0), (0, 10, 1 / 2.0)]
    for order in ((near, far), (far, near)):
        v = torch.tensor([order[0] + order[1]], dtype=torch.float32)
        f = torch.tensor(quad + [[a + 4, b + 4, c + 4] for a, b, c in quad])
        tri = rasterize(v, f, 10, 10, cull_backfaces=False).tri[0]
        near_ids = {0, 1} if order[0] is near else {2, 3}
        assert int(tri[5, 5]) in near_ids
        assert int(tri[0, 0]) not in near_ids


def test_backface_culling_and_barycentrics(rasterize):
    # Counter-clockwise in y-up (front-facing) means negative area in y-down screen space.
    v = _tri([(0, 0), (0, 8), (8, 0)])
    front = rasterize(v, torch.tensor([[0, 1, 2]]), 10, 10)
    back = rasterize(v, torch.tensor([[0, 2, 1]]), 10, 10)
    assert front.mask.any() and not back.mask.any()
    b = front.bary[0, 0, 0]  # pixel centre (0.5, 0.5): weights of (0,0), (0,8), (8,0)
    assert torch.allclose(b, torch.tensor([0.875, 0.0625, 0.0625]), atol=1e-6)


def test_perspective_correct_barycentrics(rasterize):
    # Edge from a near vertex (w=1) to a far one (w=0.25): at the screen midpoint the true surface point
    # is at parameter t with (1-t)*1/1... i.e. weight of the far vertex = 0.5*0.25/(0.5*1+0.5*0.25) = 0.2.
    v = torch.tensor([[[0, 0, 1.0], [16, 0, 0.25], [0, 16, 1.0]]])
    fr = rasterize(v, torch.tensor([[0, 2, 1]]), 16, 16, cull_backfaces=False)
    # pixel centre (7.5, 0.5) -> screen barycentrics l1 = 7.5/16, l2 = 0.5/16, l0 = 1 - l1 - l2
    l1, l2 = 7.5 / 16, 0.5 / 16
    l0 = 1 - l1 - l2
    num = torch.tensor([l0 * 1.0, l1 * 0.25, l2 * 1.0])
    # bary follows the face's vertex order (0, 2, 1)
    assert torch.allclose(fr.bary[0, 0, 7], (num / num.sum())[[0, 2, 1]], atol=1e-5)


def test_batch_items_are_independent(rasterize):
    v1 = _tri([(0, 0), (0, 8), (8, 0)])
    v2 = _tri([(2, 2), (2, 9), (9, 2)])
    f = torch.tensor([[0, 1, 2]])
    both = rasterize(torch.cat([v1, v2]), f, 10, 10)
    assert torch.equal(both.tri[0], rasterize(v1, f, 10, 10).tri[0])
    assert torch.equal(both.tri[1], rasterize(v2, f, 10, 10).tri[0])


@pytest.mark.parametrize("winding", [[0, 1, 2], [0, 2, 1]])
def test_alpha_test_cuts_along_the_interpolated_half_level(rasterize, winding):
    # Triangle (0,0)-(0,16)-(16,0), alpha 1 at the corner (0,0) and 0 at the others: the interpolated alpha is
    # that corner's barycentric weight. With equal w it is 1 - (x + y) / 16 (screen-linear), so samples with
    # x + y < 8 pass, i.e. pixel (i, j) with i + j + 1 < 8 (alpha exactly 0.5 on the line fails). With w = 1
    # at the corner and 3 at the others the perspective-correct weight is l0 / (l0 + 3 (1 - l0)), l0 the
    # screen weight, which passes 0.5 where l0 > 0.75: i + j + 1 < 4. Either winding (culling off).
    i, j = torch.meshgrid(torch.arange(20), torch.arange(20), indexing="ij")
    f = torch.tensor([winding])
    alpha = torch.tensor([[1.0, 0.0, 0.0]])
    flat = rasterize(_tri([(0, 0), (0, 16), (16, 0)]), f, 20, 20, cull_backfaces=False, alpha=alpha)
    assert torch.equal(flat.mask[0], i + j + 1 < 8)
    v = torch.tensor([[[0, 0, 1.0], [0, 16, 3.0], [16, 0, 3.0]]])
    persp = rasterize(v, f, 20, 20, cull_backfaces=False, alpha=alpha)
    assert torch.equal(persp.mask[0], i + j + 1 < 4)
    # Alphas all above 0.5 clip nothing: the same fragments as without the test.
    full = rasterize(v, f, 20, 20, cull_backfaces=False)
    high = rasterize(v, f, 20, 20, cull_backfaces=False, alpha=torch.full((1, 3), 0.51))
    assert torch.equal(high.tri, full.tri) and torch.equal(high.bary, full.bary)
    assert int(full.mask.sum()) == int((i + j + 1 < 16).sum())


def test_alpha_clipped_samples_leave_the_surface_behind_visible(rasterize):
    # A near triangle clipped to its corner third over a far square: where the near one is cut away the far
    # one must show (a clipped sample writes no depth), and the per-image alpha is used (image 1 unclipped).
    near = [(0, 0, 1.0), (0, 12, 1.0), (12, 0, 1.0)]
    far = [(0, 0, 0.5), (12, 0, 0.5), (12, 12, 0.5), (0, 12, 0.5)]
    v = torch.tensor([near + far] * 2, dtype=torch.float32)
    f = torch.tensor([[0, 1, 2], [3, 4, 5], [3, 5, 6]])
    alpha = torch.tensor([[1.0, 0.0, 0.0, 1, 1, 1, 1], [1.0] * 7])
    tri = rasterize(v, f, 12, 12, cull_backfaces=False, alpha=alpha).tri
    i, j = torch.meshgrid(torch.arange(12), torch.arange(12), indexing="ij")
    assert torch.equal(tri[0] == 0, i + j + 1 < 6)
    assert torch.equal(tri[1] == 0, i + j + 1 < 12)
    assert (tri >= 0).all()
