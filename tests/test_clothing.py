"""The neck's twist between head and torso, and the garment (accessories.clothing_shell) on the bust and below."""
from __future__ import annotations

import torch

from facebench.labels import SEG
from facebench.render.scene.accessories import CLOTHING_STYLES
from facebench.render.camera import euler_to_matrix
from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
from facebench.render.renderer import SHELLS, FaceRenderer


def test_the_neck_twists_between_head_and_torso(any_head):
    r = FaceRenderer(any_head)
    fac = sample_factors(3, range(4), range(4), frozenset(FACTOR_GROUPS), any_head.num_identity)
    fac.pose[:] = 0
    v0 = r.geometry(fac)[0]
    fac.pose[:] = torch.tensor([80.0, 20.0, 10.0])
    v1 = r.geometry(fac)[0]
    w, p = r._pose_w, r.pivot
    zero = torch.zeros(4)
    torso = euler_to_matrix(torch.full((4,), 20.0), zero, zero)  # a quarter of the yaw, no pitch or roll
    head = euler_to_matrix(fac.pose[:, 0], fac.pose[:, 1], fac.pose[:, 2])
    for sel, R in ((w == 0, torso), (w == 1, head)):
        assert torch.allclose(v1[:, sel], (v0[:, sel] - p) @ R.transpose(1, 2) + p, atol=2e-5)
    # The face and its landmarks turn with the head; the bust and the garment below the head mesh with the torso.
    assert (w[r.landmarks] == 1).all()
    a, b = r.offset["clothing"]
    s0 = r.offset[SHELLS[0]][0]
    below = r._shell_offset[a - s0:b - s0].abs().sum(-1) > 0  # the vertices hanging below the mesh's edge
    assert below.sum() > 100 and (w[a:b][below] == 0).all()
    band = (w > 0) & (w < 1)
    assert band[: any_head.num_vertices].sum() > 100  # the neck between them blends


def test_the_twist_does_not_shrink_the_neck(any_head):
    """Turning (yaw only) keeps every neck vertex's distance from the vertical axis through the pivot:
    blending the two end rotations instead (linear blend skinning) would pull the mid-neck in by cos(30
    degrees) at 80 degrees of yaw."""
    r = FaceRenderer(any_head)
    fac = sample_factors(4, range(2), range(2), frozenset(FACTOR_GROUPS), any_head.num_identity)
    fac.pose[:] = 0
    v0 = r.geometry(fac)[0]
    fac.pose[:, 0] = torch.tensor([80.0, -80.0])
    v1 = r.geometry(fac)[0]
    band = torch.nonzero((r._pose_w > 0.3) & (r._pose_w < 0.7)).flatten()
    radius = lambda v: (v[:, band][..., [0, 2]] - r.pivot[[0, 2]]).norm(dim=-1)  # noqa: E731
    ratio = radius(v1) / radius(v0)
    assert len(band) > 20 and ratio.min() > 0.999 and ratio.max() < 1.001
    # and they did turn: between the torso's 20 degrees and the head's 80
    ang = lambda v: torch.atan2(v[:, band, 0] - r.pivot[0], v[:, band, 2] - r.pivot[2])  # noqa: E731
    turned = torch.rad2deg(ang(v1) - ang(v0)).remainder(360)
    turned = torch.where(turned > 180, turned - 360, turned).abs()
    assert turned.min() > 25 and turned.max() < 75


def _frontal(r: FaceRenderer, n: int, style: int, seed: int = 5):
    fac = sample_factors(seed, range(n), range(n), frozenset(FACTOR_GROUPS), r.head.num_identity)
    fac.clothing[:] = style
    fac.pose[:, 1:] = 0
    fac.hair[:] = 2  # short: nothing hangs over the shoulders
    fac.facewear.zero_(); fac.headwear.zero_(); fac.beard.zero_()
    fac.framing[:] = torch.tensor([0.35, 0.0, -0.2, 0.0])  # zoomed out, face high: neck and shoulders in view
    return fac


def test_the_garment_covers_the_bust(ict_head):
    """Over 12 identities (their busts differ by centimetres) and yaws up to 60 degrees, in every style: the
    garment spans much of the bottom row (the shoulders), and the bottom eighth of the image (chest and
    shoulders, below any neckline) shows no neck or skin: the bust never shows through or past the garment."""
    r = FaceRenderer(ict_head)
    for style in range(len(CLOTHING_STYLES)):
        fac = _frontal(r, 12, style)
        fac.pose[:, 0] = torch.linspace(-60, 60, 12)
        seg = r.render(fac, 96, "wild").seg.long()
        assert (seg[:, -1] == SEG["CLOTHING"]).float().mean() > 0.4, style
        low = seg[:, -seg.shape[1] // 8:]
        assert not ((low == SEG["NECK"]) | (low == SEG["SKIN"])).any(), style


def test_necklines_sit_where_their_styles_say(ict_head):
    """At the front, the garment starts highest for the high collar and lowest for the V-neck (image rows of
    the first clothing pixel in the face's centre column, same identities and framing)."""
    r = FaceRenderer(ict_head)
    tops = []
    for style in range(len(CLOTHING_STYLES)):
        fac = _frontal(r, 4, style)
        fac.pose[:, 0] = 0
        out = r.render(fac, 128, "wild")
        cx = out.ldmk2d[:, 8, 0].round().long()  # below the chin
        col = out.seg[torch.arange(4), :, cx].long()
        tops.append(torch.tensor([int(torch.nonzero(c == SEG["CLOTHING"])[0]) for c in col]).float())
        # above the neckline at the front: the bare neck
        assert ((col == SEG["NECK"]).sum(1) > 0).all() or style == CLOTHING_STYLES.index("high")
    crew, vneck, high = (tops[CLOTHING_STYLES.index(n)] for n in ("crew", "vneck", "high"))
    assert (high < crew - 2).all() and (vneck > crew + 2).all(), tops
