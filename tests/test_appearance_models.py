"""Appearance models of the render source: the skin tone axis, skin texture, hair strands, beard outline."""
import numpy as np
import pytest
import torch

from facebench.render.scene.albedo import DARK_SKIN, LIGHT_SKIN, NUM_ALBEDO, build_albedo_model, beard_weight, skin_tone
from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
from facebench.render.scene.heads.base import P
from facebench.render.backends.torch.shade import HAIR_SHEEN, SKIN_TEXTURE, hair_sheen, hair_strands, skin_texture
from facebench.render.backends.cpu.shade import _hair_sheen, _hair_strands, _skin_texture


def test_tone_axis_is_brown_in_the_middle_and_ends_at_its_anchors():
    t = np.linspace(0, 1, 101)
    c = skin_tone(t)
    assert np.allclose(c[0], LIGHT_SKIN, atol=1e-6) and np.allclose(c[-1], DARK_SKIN, atol=1e-6)
    luma = c @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(luma) < 0).all()  # darker all the way
    # Melanin absorbs blue more than red: medium skin is brown (R/B near 3), not the grey-mauve (R/B ~2) of a
    # straight line between the ends.
    mid = skin_tone(0.5)
    assert mid[0] / mid[2] > 2.8
    straight = LIGHT_SKIN + 0.5 * (DARK_SKIN - LIGHT_SKIN)
    assert straight[0] / straight[2] < 2.0
    # The anchors named in albedo.py: about (0.40, 0.25, 0.15) at tone 1/3 and (0.17, 0.09, 0.05) at 2/3.
    assert np.allclose(skin_tone(1 / 3), [0.40, 0.25, 0.15], atol=0.005)
    assert np.allclose(skin_tone(2 / 3), [0.17, 0.09, 0.05], atol=0.005)


def test_sampled_skin_albedo_follows_the_tone_axis(procedural_head):
    """A skin vertex away from every painted region, with only the tone coefficients set as the sampler sets
    them: the linear albedo model gives skin_tone(tone)."""
    mean, basis = build_albedo_model(procedural_head)
    f = sample_factors(0, np.arange(64), np.arange(64), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    coef = torch.zeros(64, NUM_ALBEDO, dtype=torch.float64)
    coef[:, 0] = f.id_albedo[:, 0].double()
    coef[:, 18] = f.id_albedo[:, 18].double()
    # Coefficient 17 is jittered per identity (+-25%); undo the jitter with the exact weight.
    tone = coef[:, 0].numpy()
    coef[:, 17] = torch.from_numpy(3 * tone * (1 - tone) ** 2)
    # A forehead vertex: skin, on the face, far from lips, brows, cheeks and beard.
    lm = procedural_head.template[procedural_head.landmarks[:68]]
    vpart = np.full(len(procedural_head.template), P["SKIN"])
    vpart[procedural_head.faces.reshape(-1)] = np.repeat(procedural_head.face_part, 3)
    target = (lm[19] + lm[24]) / 2 + [0, 0.03, 0]
    d = np.linalg.norm(procedural_head.template - target, axis=1)
    d[vpart != P["SKIN"]] = np.inf
    v = int(np.argmin(d))
    got = mean[v][None] + np.einsum("bk,kc->bc", coef.numpy(), basis[:, v])
    assert np.allclose(got, skin_tone(tone), atol=2e-3)


def test_hair_streaks_run_along_the_strands_and_do_not_repeat():
    """Brightness varies far more across strands (around the head) than along them (down the head), and
    has no dominant period: the sinusoid this replaced (period 2 pi / 130 rad, warped by noise) read as zebra
    stripes, with 34-81% of its variance within +-20% of one frequency and only a 4.4x anisotropy."""
    r = 0.1
    az = np.linspace(-1.2, 1.2, 8001)
    y = np.linspace(0.02, 0.08, 2401)
    along = np.stack([np.full_like(y, r * np.sin(0.2)), y, np.full_like(y, r * np.cos(0.2) - 0.02)], 1)
    for seed, height in ((777, 0.03), (5, 0.05), (99, 0.07)):
        across = np.stack([r * np.sin(az), np.full_like(az, height), r * np.cos(az) - 0.02], 1)
        b_across = hair_strands(torch.from_numpy(across).float(), torch.full((len(az),), seed)).numpy()
        b_along = hair_strands(torch.from_numpy(along).float(), torch.full((len(y),), seed)).numpy()
        # Mean absolute change per millimetre, across vs along.
        across_mm = np.abs(np.diff(b_across)).mean() / (r * (az[1] - az[0]) * 1000)
        along_mm = np.abs(np.diff(b_along)).mean() / ((y[1] - y[0]) * 1000)
        assert across_mm > 6 * along_mm
        # No dominant period: little of the variance near the spectrum's peak frequency.
        p = np.abs(np.fft.rfft(b_across - b_across.mean())) ** 2
        k = p[1:].argmax() + 1
        fr = np.arange(len(p))
        assert p[(fr >= k / 1.2) & (fr <= k * 1.2)].sum() / p.sum() < 0.3
    # The numba shader evaluates the same function.
    nb = np.array([_hair_strands(*q, 99) for q in across[::20]])
    assert np.allclose(nb, b_across[::20], atol=1e-5)


def test_hair_sheen_is_a_band_across_the_strands():
    """Kajiya-Kay: brightest where the half vector is across the strand (sine 1 against the tangent tilted
    toward the normal), nothing where it runs along the strand; the numba shader's copy agrees."""
    strength, power, tilt = HAIR_SHEEN
    n, down = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, -1.0, 0.0])  # a strand falling down a face-on surface
    t = torch.tensor([0.0, -1.0, tilt]) / (1 + tilt ** 2) ** 0.5  # the tilted tangent, by hand
    cases = {"across": torch.tensor([1.0, 0.0, 0.0]), "normal": n, "along": -t,
             "halfway": torch.nn.functional.normalize(n + torch.tensor([0.0, -0.5, 0.0]), dim=0)}
    got = {k: float(hair_sheen(n, down, h)) for k, h in cases.items()}
    want = {k: strength * (1 - float(t @ h) ** 2) ** (power / 2) for k, h in cases.items()}
    assert got["across"] == pytest.approx(strength, rel=1e-6) and got["along"] < 1e-9
    assert got["normal"] == pytest.approx(strength * (1 - tilt ** 2 / (1 + tilt ** 2)) ** (power / 2), rel=1e-5)
    for k in cases:
        assert got[k] == pytest.approx(want[k], rel=1e-4, abs=1e-9)
        h = cases[k].numpy().astype(np.float64)
        assert _hair_sheen(0.0, 0.0, 1.0, *down.tolist(), *h) == pytest.approx(got[k], rel=1e-4, abs=1e-9)


def test_beard_edge_dips_beside_the_mouth_and_rises_to_the_sideburns(any_head):
    h = any_head
    v, lm = h.template, h.template[h.landmarks[:68]]
    w = beard_weight(v, lm)
    front = v[:, 2] > lm[0, 2]

    def top_edge(x0, x1):
        """Highest y with beard weight above 0.5 among front vertices with |x| in [x0, x1]."""
        sel = front & (np.abs(v[:, 0]) >= x0) & (np.abs(v[:, 0]) <= x1) & (w > 0.5)
        return v[sel, 1].max()

    mc = abs(lm[48, 0])
    beside_mouth = top_edge(1.3 * mc, 1.5 * mc)
    at_jaw = top_edge(abs(lm[2, 0]) - 0.006, abs(lm[2, 0]))
    assert beside_mouth < lm[33, 1]  # below the nose base beside the mouth (not a mask up to the nose)
    assert beside_mouth > lm[48, 1]  # but above the mouth corners
    assert at_jaw > beside_mouth + 0.01  # rises toward the ears
    # Nothing on the cheeks between the nose and the jaw at eye height.
    cheek = front & (np.abs(v[:, 0]) > 0.4 * mc) & (np.abs(v[:, 0]) < 1.6 * mc) & (v[:, 1] > lm[30, 1])
    assert cheek.any() and (w[cheek] < 0.05).all()


def test_hair_shell_thins_to_nothing_at_its_border(any_head):
    """Every hair style's shell thickness grows from 0 at the shell's border (the nearest head vertex
    outside its mask) over 3 cm: near the border a vertex holds at most the ramp's share of the style's
    thickest offset. Ramping by the height above the hairline instead left 5-15 mm walls at the temples,
    where the hairline falls steeply, and their border stepped along mesh edges."""
    from facebench.render.scene.accessories import _HAIR_TABLE, HAIR_STYLES, hair_shell

    sh = hair_shell(any_head)
    v = any_head.template[sh.vids]
    for s in range(sh.masks.shape[0]):
        inside = sh.masks[s] > 0.5
        if not inside.any() or inside.all():
            continue
        out_pts = any_head.template[np.setdiff1d(np.arange(any_head.num_vertices), sh.vids[inside])]
        # Brute-force distance from each inside vertex to the nearest vertex outside the style.
        d = np.full(inside.sum(), np.inf)
        for chunk in np.array_split(out_pts, max(1, len(out_pts) // 512)):
            d = np.minimum(d, np.linalg.norm(v[inside][:, None] - chunk[None], axis=-1).min(1))
        t = sh.thickness[s][inside]
        near = d < 0.004
        assert near.any()
        # The style's largest offset (base + extra, +30% tufts) times the ramp at that distance.
        _, _, _, base, extra = _HAIR_TABLE[HAIR_STYLES[s]]
        ramp = np.clip(d[near] / 0.03, 0, 1)
        assert (t[near] <= (base + extra) * 1.3 * ramp * ramp * (3 - 2 * ramp) + 1e-6).all(), s


def test_hats_ride_on_the_hair_under_them(procedural_head):
    """Where a hat's crown and a hair style cover the same head vertex, the posed crown lies at least 1 mm
    further out than the hair (its taper to the skin at the rim put it inside long hair, which poked out)."""
    from facebench.render.scene.accessories import HAIR_STYLES, HEADWEAR_STYLES
    from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
    from facebench.render.renderer import FaceRenderer

    r = FaceRenderer(procedural_head, backend="torch")
    combos = [(h, w) for h in range(len(HAIR_STYLES)) for w in range(1, len(HEADWEAR_STYLES))]
    fac = sample_factors(2, range(len(combos)), range(len(combos)), frozenset(FACTOR_GROUPS),
                         procedural_head.num_identity)
    fac.hair[:] = torch.tensor([h for h, _ in combos])
    fac.headwear[:] = torch.tensor([w for _, w in combos])
    v, _, _ = r.geometry(fac)
    hair_ids, hair_m, _, _ = r.shell["hair"]
    hat_ids, hat_m, _, _ = r.shell["headwear"]
    a_hair, a_hat = r.offset["hair"][0], r.offset["headwear"][0]
    for b, (h, w) in enumerate(combos):
        both = [(i, j) for j, k in enumerate(hat_ids.tolist()) if hat_m[w, j] > 0.5
                for i in [(hair_ids == k).nonzero()] if len(i) and hair_m[h, i[0, 0]] > 0.5]
        if not both:
            continue
        i_hair = torch.tensor([int(i[0, 0]) for i, _ in both])
        j_hat = torch.tensor([j for _, j in both])
        head = v[b, hat_ids[j_hat]]
        out_hat = (v[b, a_hat + j_hat] - head).norm(dim=-1)
        out_hair = (v[b, a_hair + i_hair] - head).norm(dim=-1)
        assert (out_hat >= out_hair + 0.001 - 1e-5).all(), (HAIR_STYLES[h], HEADWEAR_STYLES[w])


def test_skin_texture_fades_out_below_two_pixels_per_wavelength_and_matches_numba():
    """Canonical points over a cheek-sized patch: the multipliers average ~1, vary by a few per cent where the
    pixels are fine (0.5 mm), keep only the coarsest octave at ~2 mm pixels (112 px aligned: blotches darker
    toward red), and are exactly 1 at pixels over twice the coarsest wavelength. The numba shader's function
    gives the same values."""
    g = torch.Generator().manual_seed(2)
    canon = torch.stack([torch.rand(4000, generator=g) * 0.06 - 0.03, torch.rand(4000, generator=g) * 0.06,
                         0.08 + torch.rand(4000, generator=g) * 0.01], -1)
    seeds = torch.full((4000,), 12345, dtype=torch.int64)
    lam0 = SKIN_TEXTURE[0][0]
    for foot in (0.0005, 0.002, 2.0 * lam0):
        t = skin_texture(canon, seeds, torch.tensor(foot))
        ref = torch.tensor([_skin_texture(float(c[0]), float(c[1]), float(c[2]), 12345, foot) for c in canon.double()])
        assert (t - ref).abs().max() < 1e-5
        if foot >= 2.0 * lam0:
            assert (t == 1).all()
    fine = skin_texture(canon, seeds, torch.tensor(0.0005))
    assert abs(float(fine.mean()) - 1) < 0.01 and 0.02 < float(fine[:, 1].std()) < 0.08
    coarse = skin_texture(canon, seeds, torch.tensor(0.002))  # only the 8 mm octave (fine ones faded out)
    dev = coarse - 1
    assert float(dev[:, 1].abs().max()) > 0.03
    assert torch.allclose(dev[:, 0], 0.6 * dev[:, 1], atol=1e-6)  # red moves least: darker is redder
    assert torch.allclose(dev[:, 2], 1.2 * dev[:, 1], atol=1e-6)


def test_hair_hat_and_mask_paint_cover_their_shells_stepped_borders(any_head):
    """The colour hair, a hat or a face mask paints past its shell: at 0.5 or more on every vertex of every face the
    shell draws (so the shell's border, which steps along mesh edges, lies inside the painted area and its
    steps do not show), and reaching past it (the visible edge is the paint's smooth level line). The paint
    is carried by the shells' own vertices too, so the hair shell under a hat's rim takes the hat's colour."""
    from facebench.render.renderer import FaceRenderer

    r = FaceRenderer(any_head, backend="torch")
    for name, table in (("hair", r.paint_tables[0]), ("facewear", r.paint_tables[2]), ("headwear", r.paint_tables[3])):
        vids, masks, _, faces = r.shell[name]
        for style in range(1, masks.shape[0]):
            drawn = (masks[style][faces] > 0.5).all(-1)
            assert drawn.any()
            on_border = vids[faces[drawn].unique()]
            # Hair: dense under its shell (partly painted skin showed the shell's steps as notches).
            assert (table[style, on_border] >= (0.99 if name == "hair" else 0.5)).all(), (name, style)
            past = (table[style] >= 0.5) & ~torch.isin(torch.arange(any_head.num_vertices), on_border)
            assert past.sum() >= 50, (name, style)  # a band of vertices past the drawn faces
    hair_start = r.offset["hair"][0]
    hair_vids = r.shell["hair"][0]
    assert torch.equal(r._paint_src[hair_start:hair_start + len(hair_vids)], hair_vids)
    assert (r._paint_src[r.offset["glasses"][0]:] == any_head.num_vertices).all()  # rigid meshes: no paint


def test_ears_stick_out_of_the_hair(any_head):
    """No hair style covers an ear (an offset copy of its folds stood off the head as dark flaps under long
    hair): the hair shell's coverage is under 0.5 on every ear vertex, while the long style covers the
    side of the head just behind and above the ears."""
    from facebench.render.scene.accessories import HAIR_STYLES, hair_shell, vertex_parts
    from facebench.render.scene.heads.base import P

    shell = hair_shell(any_head)
    vpart = vertex_parts(any_head)
    cover = np.zeros((len(HAIR_STYLES), any_head.num_vertices))
    cover[:, shell.vids] = shell.masks
    ear = np.isin(vpart, [P["EAR_R"], P["EAR_L"]])
    assert ear.sum() > 20
    assert cover[:, ear].max() < 0.5
    v = any_head.template
    e = v[ear]
    above = (np.abs(v[:, 0]) > np.abs(e[:, 0]).min()) & (v[:, 1] > e[:, 1].max() + 0.02) & (v[:, 1] < e[:, 1].max() + 0.04) \
        & (v[:, 2] < e[:, 2].max()) & (v[:, 2] > e[:, 2].min())
    assert above.sum() > 5 and cover[HAIR_STYLES.index("long"), above].min() > 0.5


def test_glasses_temples_reach_the_ears(any_head):
    """On the template, each temple runs back past the front of its ear (they stopped in mid-air in front
    of it), and starts from the frame's upper outer corner, at least 5 mm above the lens' centre (from the
    rim's outer end they rose diagonally to the hinge: a spike on the frame seen from the front)."""
    from facebench.render.scene.accessories import glasses_mesh, vertex_parts
    from facebench.render.scene.heads.base import P

    g = glasses_mesh(any_head)
    v = any_head.template
    vpart = vertex_parts(any_head)
    lm = v[any_head.landmarks[:68]]
    for name, sign, eye in (("EAR_R", -1, range(36, 42)), ("EAR_L", 1, range(42, 48))):
        ear = v[vpart == P[name]]
        c = lm[list(eye)].mean(0)
        temple = g.verts[(sign * g.verts[:, 0] > abs(c[0]) + 0.02) & (g.verts[:, 2] < lm[36:48, 2].min())]
        assert len(temple) > 20
        assert temple[:, 2].min() < ear[:, 2].max() - 0.005, f"{name}: the temple stops in front of the ear"
        start = temple[temple[:, 2] > temple[:, 2].max() - 0.003]  # its front end, at the frame
        assert start[:, 1].mean() > c[1] + 0.005, f"{name}: the temple starts at the rim's outer end"


def test_glasses_temples_fit_each_head(ict_head):
    """Across identities (neutral pose and expression) each temple passes the front of its ear on the side
    of the head, not in it and not far off it: the temple's centre 0-10 mm out from the head's outermost
    nearby vertices. The temples scale with each head's width and depth (RigidMesh.follow_head); scaled by
    the eyes' spacing alone, 10 of 64 identities had the temple inside the head there, and others 15 mm off."""
    import dataclasses

    from facebench.render.scene.accessories import vertex_parts
    from facebench.render.renderer import FaceRenderer

    r = FaceRenderer(ict_head, backend="torch")
    n = 32
    fac = sample_factors(5, range(n), range(n), frozenset(FACTOR_GROUPS), ict_head.num_identity)
    fac = dataclasses.replace(fac, pose=fac.pose * 0, expr_weights=fac.expr_weights * 0,
                              glasses=torch.ones(n, dtype=torch.long))
    v, _, _ = r.geometry(fac)
    a, b = r.offset["glasses"]
    gl = r.rig.glasses.verts
    vpart = vertex_parts(ict_head)
    lm = ict_head.template[ict_head.landmarks[:68]]
    for name, sign in (("EAR_R", -1), ("EAR_L", 1)):
        ear = torch.from_numpy(np.nonzero(vpart == P[name])[0])
        temple = torch.from_numpy(np.nonzero((sign * gl[:, 0] > abs(lm[36, 0]) + 0.02) & (gl[:, 2] < lm[36:48, 2].min()))[0])
        skin = torch.from_numpy(np.nonzero(~np.isin(vpart, [P["EAR_R"], P["EAR_L"], -1]) & (sign * ict_head.template[:, 0] > 0))[0])
        for k in range(n):
            zf = v[k, ear, 2].max()
            t = v[k, a:b][temple]
            near = t[(t[:, 2] - zf).abs() < 0.008]
            q = torch.stack([near[:, 1].mean(), zf])
            side = v[k, skin][torch.cdist(v[k, skin, 1:], q[None])[:, 0].topk(8, largest=False).indices]
            gap = (sign * near[:, 0].mean() - (sign * side[:, 0]).max()).item()
            assert 0 < gap < 0.010, f"{name}, identity {k}: the temple's centre is {gap * 1000:.1f} mm off the head"
