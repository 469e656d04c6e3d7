"""The face mask's fabric: taut over hollows and resting on convex shapes."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import torch

from facebench.render.scene.accessories import taut_offset
from facebench.render.scene.factors import EXPRESSIONS, FACTOR_GROUPS, sample_factors
from facebench.render.renderer import FaceRenderer


def _grid_patch(height):
    """A 10 x 10 cm patch in the head frame's x-y plane (normals +z, toward the viewer), 2 mm grid, with
    depth height(x, y) in metres."""
    xs = np.arange(-0.05, 0.0501, 0.002)
    gx, gy = np.meshgrid(xs, xs)
    verts = np.stack([gx.ravel(), gy.ravel(), height(gx, gy).ravel()], 1)
    n = len(xs)
    i = np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None]
    i = i.ravel()
    faces = np.concatenate([np.stack([i, i + 1, i + n + 1], 1), np.stack([i, i + n + 1, i + n], 1)])
    return SimpleNamespace(template=verts, faces=faces, num_vertices=len(verts))


def test_taut_fabric_fills_a_dent_and_rests_on_a_bump():
    """A 4 mm deep dent 5 mm wide (sigma) fills to within ~1 mm of the plane (the paraboloid of 8 cm radius
    sags into its wide flanks); a bump of the same size stays where it is, the fabric standing off the plane
    around its foot like a tent; the plane beyond the dent barely moves."""
    dent = lambda x, y: -0.004 * np.exp(-((x + 0.02) ** 2 + y ** 2) / (2 * 0.005 ** 2))  # noqa: E731
    bump = lambda x, y: 0.004 * np.exp(-((x - 0.02) ** 2 + y ** 2) / (2 * 0.005 ** 2))  # noqa: E731
    head = _grid_patch(lambda x, y: dent(x, y) + bump(x, y))
    V = head.num_vertices
    lift = np.full(V, 0.003)
    off, faces, follow = taut_offset(head, np.arange(V), head.faces, lift)
    assert len(faces) == len(head.faces) and (follow == np.arange(V)).all()  # every vertex is seen
    from facebench.render.scene.heads.geometry import vertex_normals

    q = head.template + vertex_normals(head.template, head.faces) * lift[:, None] + off
    x, y = head.template[:, 0], head.template[:, 1]
    # Along the view (25 degrees below the front), lift above the closed surface is lift * cos(25) along z.
    plane = 0.003 * np.cos(np.deg2rad(25))
    in_dent = np.hypot(x + 0.02, y) < 0.005
    assert np.abs(q[in_dent, 2] - plane).max() < 0.0012, "the dent is not spanned (following it: 4 mm deep)"
    top = np.hypot(x - 0.02, y) < 0.002
    assert np.linalg.norm(off[top], axis=1).max() < 0.0005, "the fabric moved off the bump it rests on"
    ring = (np.abs(np.hypot(x - 0.02, y) - 0.014) < 0.001)
    assert np.linalg.norm(off[ring], axis=1).min() > 0.0002, "no tent around the bump's foot"
    far = (x < -0.035) & (x > -0.045) & (np.abs(y) < 0.035)  # beyond the dent (the patch's own border aside)
    assert np.linalg.norm(off[far], axis=1).max() < 0.0002


def _masked(head):
    """One sample of each expression class, wearing a mask, near-frontal."""
    fac = sample_factors(3, range(300), range(300), frozenset(FACTOR_GROUPS), head.num_identity)
    idx = torch.tensor([int(torch.nonzero(fac.expression == e)[0]) for e in range(len(EXPRESSIONS))])
    fac = fac.index(idx)
    n = len(idx)
    return dataclasses.replace(fac, facewear=torch.ones(n, dtype=torch.long), glasses=torch.zeros(n, dtype=torch.long),
                               headwear=torch.zeros(n, dtype=torch.long), beard=torch.zeros(n, dtype=torch.long),
                               pose=fac.pose * 0.2)


def test_mask_spans_from_nose_to_chin(ict_head):
    """On the neutral template, the mask's front profile along the midline dips at most 4 mm below the
    straight line from the nose to the chin (taut fabric over the lips: 1.9 mm when written; the
    shell that followed the skin dipped 9.1 mm, into the hollows around the lips)."""
    r = FaceRenderer(ict_head, backend="torch")
    fac = _masked(ict_head).index(torch.tensor([0]))
    fac = dataclasses.replace(fac, id_shape=fac.id_shape * 0, expr_weights=fac.expr_weights * 0, pose=fac.pose * 0)
    v, _, lm3 = r.geometry(fac)
    a, b = r.offset["facewear"]
    q, lm = v[0, a:b].numpy(), lm3[0].numpy()
    drawn = np.zeros(len(q), bool)
    drawn[r.rig.facewear.faces.reshape(-1)] = True
    mid = drawn & (np.abs(q[:, 0] - lm[30, 0]) < 0.004) & (q[:, 1] < lm[33, 1]) & (q[:, 1] > lm[8, 1])
    p = q[mid][:, 1:]
    bins = np.floor(p[:, 0] / 0.002)
    front = np.array([p[bins == k][p[bins == k][:, 1].argmax()] for k in np.unique(bins)])  # per 2 mm of height
    above, below = front[front[:, 0] > lm[62, 1]], front[front[:, 0] < lm[62, 1]]
    A, B = above[above[:, 1].argmax()], below[below[:, 1].argmax()]
    t = (front[:, 0] - A[0]) / (B[0] - A[0])
    inside = (t > 0) & (t < 1)
    assert inside.sum() >= 5
    dip = (A[1] + t * (B[1] - A[1]) - front[:, 1])[inside].max()
    assert dip < 0.004, f"the mask dips {dip * 1000:.1f} mm between the nose and the chin"


def test_mask_stays_on_the_face(ict_head):
    """The mask's shell and its painted border stop in front of the ears: no head vertex 1 cm or more
    behind the jaw's start (landmark 0, just in front of the ear) carries mask coverage or paint at or above
    0.5 (the paint once reached round the cheeks to the ears and the nape, a neck gaiter), while the
    cheeks beside the nose and the chin do."""
    from facebench.render.scene.accessories import facewear_shell

    shell = facewear_shell(ict_head)
    v, lm = ict_head.template, ict_head.template[ict_head.landmarks[:68]]
    behind = v[:, 2] < lm[0, 2] - 0.01
    assert shell.paint[1][behind].max() < 0.5
    cover = np.zeros(len(v))
    cover[shell.vids] = shell.masks[1]
    assert cover[behind].max() < 0.5
    for k in (8, 31, 35):  # chin, nostrils' outer ends (the cheeks beside them are under the mask too)
        near = np.linalg.norm(v - lm[k], axis=1) < 0.01
        assert shell.paint[1][near].min() > 0.5 and cover[near].max() > 0.5, f"landmark {k}"


def test_gathered_normals_match_the_scatter_normals(procedural_head):
    """The fabric's normals off the CPU (gathers over each vertex's faces) equal the CPU kernel's."""
    from facebench.render.renderer import _vertex_normals, gathered_vertex_normals

    r = FaceRenderer(procedural_head)
    q = torch.randn(2, len(r.rig.facewear.vids), 3, generator=torch.Generator().manual_seed(0))
    a = _vertex_normals(q, r._fabric_faces)
    b = gathered_vertex_normals(q, r._fabric_faces, r._fabric_vf)
    assert torch.allclose(a, b, atol=1e-5)


def _loops_by_side(r: FaceRenderer, v: torch.Tensor) -> list[np.ndarray]:
    """The ear loops' vertices (n, 3) of posed vertices v (N, 3), right (x < 0) then left."""
    a, b = r.offset["loops"]
    q = v[a:b].numpy()
    return [q[q[:, 0] < 0], q[q[:, 0] > 0]]


def test_ear_loops_go_round_the_ears(any_head):
    """On the template (no identity, expression or pose), each side's loop lies outside the head everywhere
    (above the tangent plane of its nearest head vertex), passes between the ear and the skull behind the
    ear, and reaches from above the ear's top to below its lobe."""
    from facebench.render.scene.accessories import vertex_parts
    from facebench.render.scene.heads.base import P
    from facebench.render.scene.heads.geometry import vertex_normals

    r = FaceRenderer(any_head, backend="torch")
    fac = _masked(any_head).index(torch.tensor([0]))
    fac = dataclasses.replace(fac, id_shape=fac.id_shape * 0, expr_weights=fac.expr_weights * 0, pose=fac.pose * 0,
                              gaze=fac.gaze * 0)
    v = r.geometry(fac)[0][0]
    head = v[: any_head.num_vertices].numpy()
    assert np.allclose(head, any_head.template, atol=1e-5)  # the template, unposed
    normals = vertex_normals(any_head.template, any_head.faces)
    vpart = vertex_parts(any_head)
    from scipy.spatial import cKDTree

    tree = cKDTree(head)
    for loop, ear in zip(_loops_by_side(r, v), ("EAR_R", "EAR_L")):
        assert len(loop) > 100
        k = tree.query(loop)[1]
        height = ((loop - head[k]) * normals[k]).sum(-1)
        assert height.min() > 0, f"{ear}: a loop vertex {-height.min() * 1000:.1f} mm inside the head"
        e = head[vpart == P[ear]]
        assert loop[:, 1].max() > e[:, 1].max() - 0.004 and loop[:, 1].min() < e[:, 1].min() + 0.003
        # Behind the ear: within its height, behind its middle, and nearer the midline than its outer rim.
        behind = ((loop[:, 1] < e[:, 1].max() - 0.01) & (loop[:, 1] > e[:, 1].min() + 0.01)
                  & (loop[:, 2] < e[:, 2].mean()) & (np.abs(loop[:, 0]) < np.abs(e[:, 0]).max() - 0.005))
        assert behind.sum() > 10, f"{ear}: the loop does not pass behind the ear"


def test_ear_loops_join_the_mask_to_the_ear_in_profile(any_head):
    """In profile (bald, no hat or glasses) the face-mask class reaches the near ear: one connected region
    of FACEWEAR pixels holds the mask and pixels next to the ear (the loop), on either side and for two
    identities with their expressions; without a mask no pixel is FACEWEAR."""
    import cv2

    from facebench.labels import SEG

    r = FaceRenderer(any_head)
    fac = _masked(any_head).index(torch.tensor([0, 0, 3, 3]))  # two identities and expressions
    n = len(fac)
    fac = dataclasses.replace(fac, pose=torch.tensor([[90.0, 0.0, 0.0], [-90.0, 0.0, 0.0]]).repeat(2, 1),
                              hair=torch.zeros(n, dtype=torch.long),
                              framing=torch.tensor([[0.75, 0.0, 0.0, 0.0]]).repeat(n, 1))
    seg = r.render(fac, size=256, framing="wild").seg.numpy()
    for s in seg:
        ear = np.isin(s, [SEG["RIGHT_EAR"], SEG["LEFT_EAR"]]).astype(np.uint8)
        assert ear.sum() > 200
        near_ear = cv2.dilate(ear, np.ones((5, 5), np.uint8)) > 0
        k, comp = cv2.connectedComponents((s == SEG["FACEWEAR"]).astype(np.uint8), connectivity=8)
        sizes = np.bincount(comp.ravel())[1:]
        mask = 1 + int(np.argmax(sizes))
        assert sizes.max() > 1500
        assert ((comp == mask) & near_ear).sum() >= 5, "the mask's region does not reach the ear"
    fac = dataclasses.replace(fac, facewear=torch.zeros(n, dtype=torch.long))
    assert not (r.render(fac, size=256, framing="wild").seg.numpy() == SEG["FACEWEAR"]).any()


def test_mask_fabric_shows_no_dark_hairlines(ict_head):
    """A light grey mask on one sample of each expression at 384 px: inside the mask (7 px in from its
    border) few pixels are hairlines darker by 0.12 than their surroundings (Gaussian blur, sigma 3 px). Where
    the taut fabric bends round the nose's wings and the mouth's corners its faces turn within a row of
    triangles; shaded with their own normals those rows were such lines (544 pixels over these 7 images;
    with the normals smoothed over the fabric, 165; 209 since the nose's and lips' borders cut the head's
    triangles, heads.ict._cut_polygon_parts)."""
    import cv2

    from facebench.labels import SEG

    r = FaceRenderer(ict_head)
    fac = _masked(ict_head)
    rgb = fac.accessory_rgb.clone()
    rgb[:, 1] = 0.6
    o = r.render(dataclasses.replace(fac, accessory_rgb=rgb), 384, "aligned")
    lines = 0
    for k in range(len(fac)):
        lum = o.image[k].mean(0).numpy()
        inner = cv2.erode((o.seg[k] == SEG["FACEWEAR"]).numpy().astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        assert inner.sum() > 10000
        lines += int(((lum < cv2.GaussianBlur(lum, (0, 0), 3) - 0.12) & inner).sum())
    assert lines < 250, f"{lines} hairline pixels in the masks"
