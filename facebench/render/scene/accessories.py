"""Hair, beards, headwear, face masks, glasses and clothing as geometry around a head template.

Everything is built once per head (numpy) as a *rig*: shells (offset copies of head-surface patches,
switched per sample by a per-vertex mask table of styles) and rigid meshes (glasses, cap brim, long hair)
that follow a few anchor points of the identity. Per sample only masks and offsets change, so a batch
renders with one face list and a per-sample face mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from facebench.render.scene.albedo import beard_weight
from facebench.render.scene.heads.base import P, HeadModel
from facebench.render.scene.heads.geometry import vertex_normals

HAIR_STYLES = ("bald", "buzz", "short", "medium", "long", "afro")
# front height above the brows, side and back hairline heights relative to the ear landmark (m),
# thickness (m), and extra thickness growing toward the back/bottom (m).
_HAIR_TABLE = {
    "bald": None,
    "buzz": (0.050, 0.030, -0.030, 0.0012, 0.0),
    "short": (0.045, 0.028, -0.035, 0.007, 0.002),
    "medium": (0.040, -0.005, -0.060, 0.012, 0.008),
    "long": (0.038, -0.035, -0.105, 0.013, 0.020),
    "afro": (0.042, 0.015, -0.045, 0.024, 0.008),
}
BEARD_STYLES = ("none", "stubble", "goatee", "full")
HEADWEAR_STYLES = ("none", "beanie", "cap")
FACEWEAR_STYLES = ("none", "surgical")
GLASSES_STYLES = ("none", "clear", "sunglasses")
CLOTHING_STYLES = ("crew", "vneck", "high")
# Necklines (template frame, m): height at the back, the sides and the front, then a V's depth and its
# half-width where it starts; and the fabric's thickness over the skin.
_NECKLINES = {"crew": (-0.106, -0.114, -0.124, 0.0, 0.05, 0.0035),
              "vneck": (-0.106, -0.114, -0.122, 0.05, 0.05, 0.0035),
              "high": (-0.078, -0.086, -0.1, 0.0, 0.05, 0.005)}
# The garment below the head mesh's bottom edge, ring by ring: per ring (drop from the edge, m; how far out
# from the edge at the sides, at the front and at the back, m), then a floor: each ring at least this far
# below the edge's lowest point (the chest and below: level rings) and no narrower than this ellipse
# (half-width, half-depth, m). The sides carry the shoulders (the ICT bust ends on their slope, the
# procedural head at its neck's base).
_TORSO_RINGS = ((0.012, 0.035, 0.006, 0.006, 0.0, 0.08, 0.06), (0.03, 0.065, 0.014, 0.014, 0.0, 0.14, 0.08),
                (0.058, 0.083, 0.02, 0.02, 0.045, 0.185, 0.095), (0.1, 0.087, 0.022, 0.022, 0.08, 0.2, 0.1),
                (0.25, 0.087, 0.022, 0.022, 0.22, 0.2, 0.1))


def _smooth(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


@dataclass
class Shell:
    """An offset copy of a head-surface patch: vertex ids into the head, faces local to the patch,
    per-style soft masks (S, n) and per-style thickness (S, n) in metres."""

    vids: np.ndarray
    faces: np.ndarray
    masks: np.ndarray
    thickness: np.ndarray
    part: int
    # Per-style field (S, V) on every head vertex (the paint reaches past the shell's vertices) whose 0.5
    # level is the edge of the shell's colour painted past its border (ramped over 0.4-0.6: per vertex for
    # hair, per shaded pixel for masks and hats), or None: paint from ``masks``. Wider than the mask's own ramp
    # (several mesh edges) so that its level line, interpolated per pixel, is smooth instead of zigzagging
    # along the edges, and a few millimetres outside the mask's 0.5 level so that it covers the shell's border.
    paint: np.ndarray | None = None
    # Fixed head-frame displacement (n, 3) in metres added to each vertex after its offset along the normal
    # of the head vertex it follows (a surface that does not follow the skin's relief: the face mask's
    # fabric), or None.
    offset: np.ndarray | None = None
    # How far (n,) in [0, 1] each vertex rides on the smoothed face without expression (smooth_identity)
    # rather than on its head vertex (fabric does not follow the lips; at its border it meets the skin), or
    # None: it follows the skin.
    still: np.ndarray | None = None
    # Per vertex (n,) the vertex of this shell it follows (whose head vertex carries it, and whose normal it
    # takes), or None: each its own.
    follow: np.ndarray | None = None
    # The identity basis (K, n, 3) at the followed head vertices, smoothed over the shell (fabric does not
    # show the shape of each identity's lips), or None.
    smooth_identity: np.ndarray | None = None
    # Per face (F,): whether it casts the key light's shadow, or None: all do.
    casts: np.ndarray | None = None
    # Whether the renderer draws its inner side too (a sheet seen past its edge); a closed tube has none.
    inner_side: bool = True


@dataclass
class RigidMesh:
    """A mesh following the head rigidly: placed by the eyes' midpoint and scaled by the inter-ocular distance
    or, per vertex, the head's width and depth (follow_head)."""

    verts: np.ndarray
    faces: np.ndarray
    face_part: np.ndarray
    face_style: np.ndarray  # (S, F) bool: which faces exist in each style
    # Per vertex (n,) in [0, 1]: how far it scales with the head's width (jaw landmarks 0 to 16) and depth
    # (eye midpoint to their midpoint) rather than with the inter-ocular distance (the temples of glasses,
    # long hair: identities' heads are wider and deeper than their eyes' spacing says), or None: not at all.
    follow_head: np.ndarray | None = None


def vertex_parts(head: HeadModel) -> np.ndarray:
    """Part id (V,) of each head vertex: of a face it belongs to (the last one written), -1 for none."""
    vpart = np.full(head.num_vertices, -1)
    vpart[head.faces.reshape(-1)] = np.repeat(head.face_part, 3)
    return vpart


def _shell(head: HeadModel, weights: np.ndarray, thickness: np.ndarray, allowed_parts, part,
           paint: np.ndarray | None = None) -> Shell:
    vpart = vertex_parts(head)
    cand = (weights.max(0) > 0.01) & np.isin(vpart, allowed_parts)
    fsel = cand[head.faces].all(1) & np.isin(head.face_part, allowed_parts)
    vids = np.unique(head.faces[fsel])
    remap = -np.ones(head.num_vertices, np.int64)
    remap[vids] = np.arange(len(vids))
    return Shell(vids, remap[head.faces[fsel]], weights[:, vids].astype(np.float32),
                 thickness[:, vids].astype(np.float32), part,
                 None if paint is None else paint.astype(np.float32))


def hair_shell(head: HeadModel, tufts: bool = True) -> Shell:
    """Hair styles as one shell; ``tufts`` varies the thickness by +-30% over a few centimetres."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    zc = lm[0, 2] - 0.01
    az = np.degrees(np.abs(np.arctan2(v[:, 0], v[:, 2] - zc)))  # 0 = front, 180 = back
    brow = max(lm[19, 1], lm[24, 1])
    # A smooth, fixed noise field over the head in [-1, 1]: a few plane waves of 2-5 cm wavelength.
    rng = np.random.default_rng(7)
    k = rng.normal(size=(6, 3))
    k *= (2 * np.pi / rng.uniform(0.02, 0.05, 6))[:, None] / np.linalg.norm(k, axis=1, keepdims=True)
    field = np.clip(np.sin(v @ k.T + rng.uniform(0, 2 * np.pi, 6)).mean(1) * np.sqrt(2), -1, 1)
    field = field if tufts else np.zeros(len(v))
    parts = [P["SKIN"], P["SCALP"], P["NECK"], P["EAR_R"], P["EAR_L"]]
    vpart = vertex_parts(head)
    allowed = np.isin(vpart, parts)  # the head parts a shell covers (see _shell)
    # Ears stick out of the hair: an offset copy of an ear's folds stood off the head as dark flaps. The
    # coverage is cut along a line 4 mm around the ears (a linear ramp, like the hairline, so the raster
    # cuts a smooth border) and the hair thins to the skin toward it (the thickness' border distance).
    ear = np.isin(vpart, [P["EAR_R"], P["EAR_L"]])
    d_ear = cKDTree(v[ear]).query(v)[0] if ear.any() else np.full(len(v), np.inf)
    clear_ear = np.clip(0.5 + (d_ear - 0.004) / 0.016, 0, 1)
    masks, thick, paint = [], [], []
    for name in HAIR_STYLES:
        row = _HAIR_TABLE[name]
        if row is None:
            masks.append(np.zeros(len(v)))
            thick.append(np.zeros(len(v)))
            paint.append(np.zeros(len(v)))
            continue
        front, side, back, t, extra = row
        h = np.interp(az, [0, 35, 80, 110, 150, 180],
                      [brow + front, brow + front - 0.004, lm[0, 1] + side, lm[0, 1] + side,
                       lm[0, 1] + back, lm[0, 1] + back])
        # Coverage: a linear ramp 16 mm wide, level 0.5 2 mm above the hairline h (as the hat's mask: the
        # raster cuts the shell along the interpolated 0.5 line, smooth where the field is linear across
        # the border triangles).
        m = np.clip(0.5 + (v[:, 1] - h - 0.002) / 0.016, 0, 1) * clear_ear
        masks.append(m)
        # The painted hairline (see Shell.paint): level 0.5 6 mm below the mask's over a 24 mm ramp, so the
        # paint is dense (0.6) 4 mm before the shell's border and its edge does not zigzag.
        paint.append(_smooth(v[:, 1] - h, -0.016, 0.008) * np.isin(vpart, parts) * _smooth(d_ear, 0.0, 0.004))
        growth = _smooth(az, 60, 180) * _smooth(lm[0, 1] + 0.05 - v[:, 1], 0, 0.1)
        # Grow the thickness over 3 cm from the shell's border so the shell meets the skin without a step
        # (the distance to the nearest vertex outside it: the height above the hairline, used before, jumps
        # within a few millimetres sideways where the hairline falls steeply at the temples, and the shell
        # rose there as a wall whose border stepped along mesh edges); vary it by +-30% over a few
        # centimetres (tufts) so the outline is not a smooth helmet.
        outside = ~(allowed & (m > 0.5))
        border = cKDTree(v[outside]).query(v)[0] if outside.any() else np.full(len(v), np.inf)
        thick.append((t + extra * growth) * _smooth(border, 0.0, 0.03) * (m > 0.5) * (1 + 0.3 * field))
    return _shell(head, np.stack(masks), np.stack(thick), parts, P["HAIR"], paint=np.stack(paint))


def beard_shell(head: HeadModel) -> Shell:
    v, lm = head.template, head.template[head.landmarks[:68]]
    w = beard_weight(v, lm)
    chin_zone = _smooth(abs(lm[48, 0]) + 0.006 - np.abs(v[:, 0]), 0, 0.004)
    masks = np.stack([np.zeros(len(v)), np.zeros(len(v)), w * chin_zone, w])
    thick = np.stack([np.zeros(len(v))] * 2 + [0.004 * _smooth(masks[2], 0.5, 1)] + [0.005 * _smooth(w, 0.5, 1)])
    return _shell(head, masks, thick, [P["SKIN"], P["NECK"]], P["BEARD"])


def headwear_shell(head: HeadModel, hair_thickness: np.ndarray) -> Shell:
    """Beanie and cap crowns; ``hair_thickness`` (V,) is the thickest hair style's offset at each vertex."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    brow = max(lm[19, 1], lm[24, 1])
    zc = lm[0, 2] - 0.01
    az = np.degrees(np.abs(np.arctan2(v[:, 0], v[:, 2] - zc)))
    rim = np.interp(az, [0, 60, 110, 180], [brow + 0.022, brow + 0.02, lm[0, 1] + 0.035, lm[0, 1] + 0.01])
    # Coverage: a linear ramp 16 mm wide, level 0.5 at 1 mm above the rim line. The raster clips the shell
    # per sample at the interpolated 0.5 level (FaceRenderer._vertex_alpha); a field linear across the
    # border triangles puts that cut on a smooth line, where a ramp narrower than an edge (it was 4 mm) cut
    # them in a zigzag, and the 8 mm below the line keep a whole mesh edge of triangles outside it.
    m = np.clip(0.5 + (v[:, 1] - rim - 0.001) / 0.016, 0, 1)
    # The crown follows the hair's own (smooth) profile 6 mm out, and tapers to the skin over 12 mm above
    # the rim: a ramp several mesh edges wide. (A ramp narrower than an edge made a saw-toothed rim.)
    t = (hair_thickness + 0.006) * _smooth(v[:, 1] - rim, -0.001, 0.012) + 0.001
    masks = np.stack([np.zeros(len(v)), m, m])
    thick = np.stack([np.zeros(len(v)), t * 1.1, t])
    # The painted rim: level 0.5 at 3 mm below the mask's, over a 16 mm ramp (see Shell.paint).
    p = _smooth(v[:, 1] - rim, -0.011, 0.005)
    return _shell(head, masks, thick, [P["SKIN"], P["SCALP"], P["EAR_R"], P["EAR_L"], P["NECK"]], P["HEADWEAR"],
                  paint=np.stack([np.zeros(len(v)), p, p]))


def _facewear_borders(head: HeadModel, back: float = 0.012):
    """The face mask's four borders (top, bottom, side, rear) as coordinates (V,) on the head's vertices that
    are positive inside the mask (metres)."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    return (lm[28, 1] - v[:, 1], v[:, 1] - (lm[8, 1] - 0.02), abs(lm[2, 0]) - np.abs(v[:, 0]),
            v[:, 2] - (lm[2, 2] - back))


def _facewear_paint(head: HeadModel, back: float = 0.012) -> np.ndarray:
    """The face mask's painted field (V,) on the head's vertices (Shell.paint): each edge's level 0.5 3 mm
    outside the mask's, over 16 mm ramps. At the sides, where the cheek runs nearly parallel to the x axis,
    3 mm in x puts the painted edge 2-3 cm behind the shell's: the mask's visible side edge. The rear edge
    too: without it the paint reached round the cheeks to the ears and down the neck (a neck gaiter whose
    border zigzagged along the coarse mesh behind the face)."""
    top, bottom, side, rear = _facewear_borders(head, back)
    return (_smooth(top, -0.011, 0.005) * _smooth(bottom, -0.011, 0.005) * _smooth(side, -0.011, 0.005)
            * _smooth(rear, -0.008, 0.008))


def facewear_shell(head: HeadModel, back: float = 0.012) -> Shell:
    """The face mask: from the nose bridge to 2 cm below the chin, sideways to ``back`` metres behind the
    depth of jaw landmark 2 (the cheeks' front half) and no wider than the jaw there."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    top, bottom, side, rear = _facewear_borders(head, back)
    m = _smooth(top, 0, 0.004) * _smooth(bottom, 0, 0.004) * _smooth(side, 0, 0.004) * _smooth(rear, 0, 0.01)
    t = 0.003  # the fabric's clearance over the skin where it rests (it spans hollows: taut_offset)
    # Thickness ramps up over ~12 mm inside the border, several mesh edges wide: a ramp as narrow as the
    # mask's own 4 mm edge stood the shell's triangle-stepped border up off the skin (a saw-toothed rim).
    ramp = _smooth(top, 0, 0.014) * _smooth(bottom, 0, 0.012) * _smooth(side, 0, 0.012) * _smooth(rear, 0, 0.016)
    masks = np.stack([np.zeros(len(v)), m])
    thick = np.stack([np.zeros(len(v)), t * ramp * (m > 0.5)])
    parts = [P["SKIN"], P["NOSE"], P["LIP_TOP"], P["LIP_BOTTOM"], P["NECK"], P["MOUTH"]]
    p = _facewear_paint(head, back)
    shell = _shell(head, masks, thick, parts, P["FACEWEAR"], paint=np.stack([np.zeros(len(v)), p]))
    # Fabric stretched over the face rather than following it: spanning the hollows beside the nose and the
    # mouth from the nose to the chin, and the throat under the chin (see taut_offset).
    off, shell.faces, shell.follow = taut_offset(head, shell.vids, shell.faces, thick[1, shell.vids])
    # Three horizontal pleats below the nose: each a 1.5 mm rise over 80% of its 12 mm, then the fold.
    y0 = lm[33, 1] - 0.004
    k = np.clip((y0 - v[shell.vids, 1]) / 0.012, 0, 3)  # pleats below y0
    frac = k - np.floor(np.minimum(k, 2.999))
    pleat = 0.0015 * np.where(frac < 0.8, frac / 0.8, (1 - frac) / 0.2) * (k < 3) * (k > 0)
    pleat *= _smooth(0.8 * abs(lm[2, 0]) - np.abs(v[shell.vids, 0]), 0, 0.02)
    off[:, 2] += pleat
    # The fabric does not follow the lips and cheeks, nor each identity's lips; at its border it does.
    shell.smooth_identity = smooth_over(shell.faces, head.id_basis[:, shell.vids[shell.follow]], 40).astype(np.float32)
    # Fabric meets the skin at the top and the sides; its lower edge hangs free under the chin (brought down
    # to the skin there, the span from the chin to the throat folded into shards).
    meets = (_smooth(top, 0, 0.014) * _smooth(side, 0, 0.012) * _smooth(rear, 0, 0.016))[shell.vids]
    shell.offset = (off * meets[:, None]).astype(np.float32)
    shell.still = meets.astype(np.float32)
    return shell


def bottom_loop(head: HeadModel) -> np.ndarray:
    """The head mesh's lowest open edge (the ICT bust's cut, the procedural neck's base) as an ordered loop
    of vertex ids."""
    f = head.faces
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    u, c = np.unique(e, axis=0, return_counts=True)
    nxt: dict[int, list[int]] = {}
    for a, b in u[c == 1]:
        nxt.setdefault(int(a), []).append(int(b))
        nxt.setdefault(int(b), []).append(int(a))
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            step = [k for k in nxt[cur] if k != prev and (k not in seen or (k == start and len(loop) > 2))]
            if not step or step[0] == start:
                break
            prev, cur = cur, step[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.array(loop))
    lowest = min(loops, key=lambda lp: head.template[lp, 1].mean())
    if len(lowest) < 8:
        raise ValueError(f"head {head.name!r}: its lowest open edge has {len(lowest)} vertices, not a loop round the neck")
    return lowest


def clothing_shell(head: HeadModel) -> Shell:
    """A top: fabric over the head mesh below a neckline (CLOTHING_STYLES), continued below the mesh's bottom
    edge (bottom_loop) down over the shoulders and chest. The continuation's vertices ride on the edge's
    vertices plus fixed offsets (Shell.offset), so the garment meets each identity's bust and, on the
    torso's side of the neck's twist, turns with the torso."""
    v = head.template
    vpart = vertex_parts(head)
    neck = v[(vpart == P["NECK"]) & (np.abs(v[:, 1] + 0.11) < 0.01)]
    cz = neck[:, 2].mean() if len(neck) else 0.0
    az = np.abs(np.arctan2(v[:, 0], v[:, 2] - cz)) / np.pi  # 0 front, 0.5 sides, 1 back
    masks, thick = [], []
    for name in CLOTHING_STYLES:
        back, side, front, depth, half, t = _NECKLINES[name]
        a = np.clip(2 * az, 0, 1)
        b = np.clip(2 * az - 1, 0, 1)
        line = np.where(az < 0.5, front + (side - front) * _smooth(a, 0, 1), side + (back - side) * _smooth(b, 0, 1))
        line = line - depth * np.clip(1 - np.abs(v[:, 0]) / half, 0, 1) * (az < 0.5)
        # A linear ramp several mesh edges wide: its 0.5 level (the garment's edge, where the raster's alpha
        # test clips the shell) interpolates along the neckline itself; a narrow ramp zigzagged along the
        # neck's edges.
        masks.append(np.clip(0.5 + (line - v[:, 1]) / 0.03, 0, 1))
        thick.append(np.full(len(v), t))
    masks, thick = np.stack(masks), np.stack(thick)
    shell = _shell(head, masks, thick, [P["NECK"], P["SKIN"]], P["CLOTHING"])
    loop = bottom_loop(head)
    local = -np.ones(head.num_vertices, np.int64)
    local[shell.vids] = np.arange(len(shell.vids))
    if (local[loop] < 0).any():
        raise ValueError(f"head {head.name!r}: the garment does not reach the mesh's bottom edge")
    # Rings below the edge, one vertex per edge vertex, placed by azimuth around the edge's centre.
    p = v[loop]
    c = p.mean(0)
    th = np.arctan2(p[:, 0] - c[0], p[:, 2] - c[2])
    s2, cs = np.sin(th) ** 2, np.cos(th)
    front, back = cs.clip(min=0) ** 2, cs.clip(max=0) ** 2
    r_edge = np.hypot(p[:, 0] - c[0], p[:, 2] - c[2])
    t_edge = thick[:, loop].max(0)
    rings = []
    for drop, out_side, out_front, out_back, floor, ex, ez in _TORSO_RINGS:
        r = r_edge + t_edge + s2 * out_side + front * out_front + back * out_back
        r = np.maximum(r, ex * ez / np.sqrt((ez * np.sin(th)) ** 2 + (ex * cs) ** 2))
        y = np.minimum(p[:, 1] - drop, p[:, 1].min() - floor)
        rings.append(np.stack([c[0] + r * np.sin(th), y, c[2] + r * cs], 1))
    n, k = len(loop), len(_TORSO_RINGS)
    ids = np.concatenate([local[loop][None], len(shell.vids) + np.arange(n * k).reshape(k, n)])
    faces = []
    for i in range(k):
        a, b = ids[i], ids[i + 1]
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        faces += [np.stack([a, a1, b1], 1), np.stack([a, b1, b], 1)]
    tube = np.concatenate(faces)
    pos = np.concatenate([v[shell.vids] + vertex_normals(v, head.faces)[shell.vids] * thick[:, shell.vids].max(0)[:, None]]
                         + rings)
    fn = np.cross(pos[tube[:, 1]] - pos[tube[:, 0]], pos[tube[:, 2]] - pos[tube[:, 0]])
    out = pos[tube].mean(1) - c
    out[:, 1] = 0
    flip = (fn * out).sum(1) < 0
    tube[flip] = tube[flip][:, [0, 2, 1]]
    ring_pts = np.concatenate(rings)
    shell.offset = np.concatenate([np.zeros((len(shell.vids), 3)), ring_pts - np.tile(p, (k, 1))]).astype(np.float32)
    shell.casts = np.concatenate([np.ones(len(shell.faces), bool), np.zeros(len(tube), bool)])
    shell.faces = np.concatenate([shell.faces, tube])
    shell.vids = np.concatenate([shell.vids, np.tile(loop, k)])
    S = len(CLOTHING_STYLES)
    shell.masks = np.concatenate([shell.masks, np.ones((S, n * k), np.float32)], 1)
    shell.thickness = np.concatenate([shell.thickness, np.zeros((S, n * k), np.float32)], 1)
    return shell


# The face mask's ear loops: the cord's radius, its gap over the skin, the arc behind each ear (degrees around
# the ear's root in the side view, 0 toward the face, 90 up: from the root's front-top over the top, round
# the back to the lobe's bottom), and the heights of the mask corners they start from (m: the upper below the
# nose bridge, landmark 28; the lower above the jaw's landmark 5).
LOOP_RADIUS, LOOP_GAP = 0.0011, 0.0005
_LOOP_ARC = (60.0, 255.0)
_LOOP_CORNERS = ((-0.016, -0.006), (0.004, 0.014))


def _lift_off(p: np.ndarray, tree, surf: np.ndarray, normals: np.ndarray, lift: float) -> np.ndarray:
    """Points p (n, 3) moved out along the surface's normal to at least ``lift`` above it: above the tangent
    planes of their 4 nearest surface vertices surf (distance-weighted; ``tree`` a cKDTree over surf)."""
    d, k = tree.query(p, k=4)
    w = 1 / np.maximum(d, 1e-4)
    h = (((p[:, None] - surf[k]) * normals[k]).sum(-1) * w).sum(1) / w.sum(1)
    nrm = (normals[k] * w[..., None]).sum(1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    return p + np.maximum(lift - h, 0)[:, None] * nrm


def _taut_over(p0: np.ndarray, p1: np.ndarray, tree, surf: np.ndarray, normals: np.ndarray, lift: float,
               step: float = 0.0025) -> np.ndarray:
    """A cord pulled straight from p0 to p1 (3,) over a surface (its vertices surf, a cKDTree over them, their
    unit normals): the polyline (n, 3) from p0 to p1 every ``step`` metres, each point at least ``lift``
    above the surface (_lift_off): straight across hollows, on the skin over convex ground. Units: metres."""
    n = max(int(np.ceil(np.linalg.norm(p1 - p0) / step)), 2)
    p = np.linspace(p0, p1, n + 1)
    for it in range(40):
        p[1:-1] = _lift_off(p[1:-1], tree, surf, normals, lift)
        if it < 39:  # taut: each point pulled toward its neighbours' midpoint, then pushed out again
            p[1:-1] = 0.5 * p[1:-1] + 0.25 * (p[:-2] + p[2:])
    return p


def ear_loops_shell(head: HeadModel, back: float = 0.012) -> Shell:
    """The face mask's elastic ear loops: per side a cord from the mask's upper side corner across the
    cheek to the ear's root, over the root's top, down behind the ear, under the lobe and back to the
    mask's lower side corner (a 1.1 mm tube, 0.5 mm over the skin; it ends on the mask's painted side edge).

    A shell whose vertices ride on the head vertex nearest their ring's centre (vids, with Shell.offset the
    rest of the way and no thickness): the loops follow each identity's cheeks and ears and the expressions, as the mask's border
    does. Style 1 (the surgical mask) shows them; they cast no shadow and, closed tubes, have no inner side.
    Units: metres, head frame."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    normals = vertex_normals(v, head.faces)
    vpart = vertex_parts(head)
    surface = np.isin(vpart, [P[q] for q in ("SKIN", "SCALP", "NECK", "EAR_R", "EAR_L")])
    paint = _facewear_paint(head, back)
    lift = LOOP_RADIUS + LOOP_GAP
    surf, surf_n = v[surface], normals[surface]
    tree = cKDTree(surf)
    verts, faces, centres, off, sides = [], [], [], 0, 5
    for sign, ear in ((-1, P["EAR_R"]), (1, P["EAR_L"])):
        side = surface & (sign * v[:, 0] > 0)
        # The mask's side corners: in a band of height at each, the rearmost vertex well inside its painted
        # edge (the visible side edge, behind the fabric shell's: _facewear_paint). The outermost vertex under
        # the shell lay a few centimetres in front of it: the cord came out through the mask's side.
        corners = []
        for ref, (lo, hi) in ((lm[28, 1], _LOOP_CORNERS[0]), (lm[5, 1], _LOOP_CORNERS[1])):
            band = np.nonzero(side & (paint > 0.7) & (v[:, 1] > ref + lo) & (v[:, 1] < ref + hi))[0]
            if not len(band):
                raise ValueError(f"ear_loops_shell: no mask corner at height {ref + lo:.3f}-{ref + hi:.3f} m")
            i = band[np.argmin(v[band, 2])]
            corners.append(v[i] + normals[i] * lift)
        # The ear's root: the skin vertices of faces shared with the ear, by angle around their centre in
        # the side view; per 15-degree bin over the arc their median (a few stray ones lie out on the
        # helix), lifted along the skin's normal.
        isear = vpart[head.faces] == ear
        mixed = isear.any(1) & ~isear.all(1)
        ring = np.unique(head.faces[mixed][~isear[mixed]])
        ring = ring[surface[ring] & (vpart[ring] != ear)]
        if len(ring) < 8:
            raise ValueError(f"ear_loops_shell: the head has no ear root on the {'left' if sign > 0 else 'right'}")
        c = v[ring, 1:].mean(0)
        ang = np.degrees(np.arctan2(v[ring, 1] - c[0], v[ring, 2] - c[1])) % 360
        arc = []
        for a0 in np.arange(_LOOP_ARC[0], _LOOP_ARC[1], 15.0):
            sel = ring[(ang >= a0) & (ang < a0 + 15)]
            if len(sel):
                nrm = normals[sel].mean(0)
                arc.append(np.median(v[sel], 0) + lift * nrm / np.linalg.norm(nrm))
        arc = np.array(arc)
        # Smooth the arc (the root's vertices zigzag), keeping its ends, then lift it off the skin again
        # (smoothing pulls a convex arc inward: on the procedural head into the ear's top).
        for _ in range(2):
            arc[1:-1] = 0.5 * arc[1:-1] + 0.25 * (arc[:-2] + arc[2:])
        for _ in range(3):
            arc = _lift_off(arc, tree, surf, surf_n, lift)
        path = np.concatenate([_taut_over(corners[0], arc[0], tree, surf, surf_n, lift)[:-1], arc,
                               _taut_over(arc[-1], corners[1], tree, surf, surf_n, lift)[1:]])
        tv, tf = _tube(path, LOOP_RADIUS, sides)
        verts.append(tv)
        faces.append(tf + off)
        off += len(tv)
        centres.append(path)
    verts, faces = np.concatenate(verts).astype(np.float64), np.concatenate(faces)
    # Each ring of the tube rides on the head vertex nearest its centre (per vertex, a ring's vertices took
    # different head vertices, which move apart with the identity and would squash the cord's section).
    cand = np.nonzero(surface)[0]
    vids = np.repeat(cand[cKDTree(v[cand]).query(np.concatenate(centres))[1]], sides)
    n = len(verts)
    # Each vertex's height over its head vertex goes along that vertex's normal (the shell's thickness),
    # which turns with each identity's and expression's skin there; only the rest is a fixed offset. (All as
    # a fixed offset, the cord sank up to 2 mm into the skin below the ears of some identities.)
    height = ((verts - v[vids]) * normals[vids]).sum(-1)
    return Shell(vids, faces, np.stack([np.zeros(n), np.ones(n)]).astype(np.float32),
                 np.stack([np.zeros(n), height]).astype(np.float32), P["FACEWEAR"],
                 offset=(verts - v[vids] - normals[vids] * height[:, None]).astype(np.float32),
                 casts=np.zeros(len(faces), bool), inner_side=False)


def _parabolic_dilation(z: np.ndarray, c: float) -> np.ndarray:
    """max over v of z(v) - c * |u - v|^2 on a grid (separable: rows, then columns); -inf stays empty."""
    out = z
    for axis in (0, 1):
        zz = np.moveaxis(out, axis, -1)
        n = zz.shape[-1]
        d2 = (np.arange(n)[:, None] - np.arange(n)[None]) ** 2
        out = np.moveaxis((zz[..., None, :] - c * d2).max(-1), -1, axis)
    return out


def _adjacency(faces: np.ndarray, n: int):
    """The symmetric 0/1 vertex adjacency (n, n) of a triangle mesh's edges, as a scipy CSR matrix."""
    from scipy.sparse import csr_matrix

    e = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1), axis=0)
    e = np.concatenate([e, e[:, ::-1]])
    return csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))


def smooth_over(faces: np.ndarray, values: np.ndarray, iterations: int) -> np.ndarray:
    """values (K, n, d) on a mesh's n vertices after ``iterations`` steps of moving halfway to the mean of
    the mesh neighbours (uniform weights)."""
    from scipy.sparse import csr_matrix

    K, n, d = values.shape
    adj = _adjacency(faces, n)
    mean = csr_matrix(adj.multiply(1 / np.maximum(np.asarray(adj.sum(1)), 1)))
    out = values.astype(np.float64).transpose(1, 0, 2).reshape(n, K * d)
    for _ in range(iterations):
        out = 0.5 * out + 0.5 * (mean @ out)
    return out.reshape(n, K, d).transpose(1, 0, 2)


def _harmonic(faces: np.ndarray, free: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values (n, d) with the rows of ``free`` vertices replaced by the mean of their mesh neighbours'
    (uniform weights; the other rows held): a sparse solve of the graph Laplace equation."""
    from scipy.sparse import diags
    from scipy.sparse.linalg import spsolve

    adj = _adjacency(faces, len(values))
    lap = (diags(np.asarray(adj.sum(1)).ravel()) - adj).tocsr()
    f, h = np.nonzero(free)[0], np.nonzero(~free)[0]
    out = values.astype(np.float64).copy()
    A, rhs = lap[f][:, f].tocsc(), -(lap[f][:, h] @ out[h])
    out[f] = np.stack([spsolve(A, rhs[:, c]) for c in range(values.shape[1])], 1)
    return out


def taut_offset(head: HeadModel, vids: np.ndarray, faces: np.ndarray, lift: np.ndarray, radius: float = 0.08,
                tilt: float = 25.0, res: float = 0.001,
                seen_res: float = 0.0002) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Taut fabric over the head's vertices vids (n,) (a face patch with local faces, lifted by ``lift`` (n,)
    along its normals): displacements (n, 3) (head frame, metres) from the vertex each follows (see the
    end), the fabric's faces, and per vertex the vertex it follows.

    Seen along a view from the front and ``tilt`` degrees below (the throat under the chin in view), the
    head's front surface as a depth map is closed with a paraboloid of curvature ``radius`` (dilation then
    erosion: hollows narrower than the paraboloid fill, convex shapes stay), and each vertex of a face seen
    in that view (rasterized at ``seen_res``) moves along the view up to it: the fabric spans the mouth
    from the nose to the chin, the hollows beside the nose and the throat under the chin. The other
    vertices (inside the mouth, the lips' inner sides) would land anywhere along the view: they take the
    harmonic map of the mesh (in the view's plane) from the seen ones, drawn into the opening between the
    lips, on the fabric. Faces not seen whose vertices all are (turned away at the lips, they would fold
    over the fabric) are dropped. Units: metres; the view's depth map and closing on a ``res`` grid."""
    from facebench.render.backends.cpu.rasterize import depth_map_numba, rasterize_numba

    x, n = head.template[vids], vertex_normals(head.template, head.faces)[vids]
    a = np.deg2rad(tilt)
    R = np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])  # view frame: z' toward the viewer
    pv, xv = head.template @ R.T, x @ R.T
    lo = xv[:, :2].min(0) - 0.03
    hi = xv[:, :2].max(0) + 0.03
    W, H = (np.ceil((hi - lo) / res).astype(int) + 1)
    zmin = pv[:, 2].min() - 0.01
    scr = np.stack([(pv[:, 0] - lo[0]) / res + 0.5, (hi[1] - pv[:, 1]) / res + 0.5, pv[:, 2] - zmin], 1)
    zb = depth_map_numba(torch.from_numpy(scr[None].astype(np.float32)), torch.from_numpy(head.faces), int(H), int(W),
                         torch.ones(1, len(head.faces), dtype=torch.bool))[0].numpy().astype(np.float64)
    z = np.where(zb > 0, zb + zmin, -np.inf)
    c = res * res / (2 * radius)
    closed = -_parabolic_dilation(-_parabolic_dilation(z, c), c)

    def closed_at(p):  # the closed surface's depth at view positions p (k, 2), bilinear (pixel centres at i + 0.5)
        gx, gy = (p[:, 0] - lo[0]) / res - 0.5, (hi[1] - p[:, 1]) / res - 0.5
        i0, j0 = np.clip(np.floor(gy).astype(int), 0, H - 2), np.clip(np.floor(gx).astype(int), 0, W - 2)
        fy, fx = np.clip(gy - i0, 0, 1), np.clip(gx - j0, 0, 1)
        zc = ((closed[i0, j0] * (1 - fx) + closed[i0, j0 + 1] * fx) * (1 - fy)
              + (closed[i0 + 1, j0] * (1 - fx) + closed[i0 + 1, j0 + 1] * fx) * fy)
        return np.where(np.isfinite(zc), zc, -np.inf)

    zc = closed_at(xv[:, :2])
    # Lifted along its normal, a vertex on a crease's wall (the mouth's corners, the lips' outline) would sit
    # below the fabric's clearance: each comes up along the view to the closed surface plus the clearance.
    q = x + n * lift[:, None]
    dz = np.maximum(zc + lift - q @ R[2], 0)
    q = q + dz[:, None] * R[2]
    # Faces seen in the view: those winning a sample of a finer raster (back faces culled).
    up = res / seen_res
    p = scr.copy()
    p[:, :2] *= up
    tri = rasterize_numba(torch.from_numpy(p[None].astype(np.float32)), torch.from_numpy(head.faces),
                          int(np.ceil(H * up)) + 2, int(np.ceil(W * up)) + 2, cull_backfaces=True).tri[0].numpy()
    won = np.zeros(len(head.faces), bool)
    won[tri[tri >= 0]] = True
    seen_v = np.zeros(head.num_vertices, bool)
    seen_v[head.faces[won].reshape(-1)] = True
    # The patch's faces among the head's (matched by their sorted vertex ids).
    V = np.int64(head.num_vertices)
    key = lambda f: (np.sort(f, 1).astype(np.int64) * np.array([V * V, V, 1])).sum(1)  # noqa: E731
    head_keys = key(head.faces)
    order = np.argsort(head_keys)
    face_won = won[order[np.searchsorted(head_keys[order], key(vids[faces]))]]
    seen = seen_v[vids]
    if (~seen).any() and seen.any():
        # In the view's plane (a harmonic map of a disc into its rim does not fold), then on the fabric.
        qv = q @ R.T
        qv[~seen, :2] = _harmonic(faces, ~seen, qv[:, :2])[~seen]
        zf = closed_at(qv[~seen, :2])
        qv[~seen, 2] = np.where(np.isfinite(zf), zf + lift[~seen], qv[~seen, 2])
        q = qv @ R
        # The flattened interior faces the other way (its surface faced into the mouth): turned round.
        p2 = qv[:, :2][faces]
        area = ((p2[:, 1, 0] - p2[:, 0, 0]) * (p2[:, 2, 1] - p2[:, 0, 1])
                - (p2[:, 1, 1] - p2[:, 0, 1]) * (p2[:, 2, 0] - p2[:, 0, 0]))
        front = np.sign(np.median(area[face_won]))
        turn = ~seen[faces].all(1) & (area * front < 0)
        faces = np.where(turn[:, None], faces[:, [0, 2, 1]], faces)
    keep = face_won | ~seen[faces].all(1)
    # Squeezed into the opening, the interior's vertices follow the nearest seen vertex: its head vertex
    # carries them (their own, inside the mouth, move apart with the identity's shape and crumple the
    # fabric) and they take its normal (their faces are slivers whose normals are noise).
    follow = np.arange(len(x))
    if (~seen).any() and seen.any():
        follow[~seen] = np.nonzero(seen)[0][cKDTree(q[seen]).query(q[~seen])[1]]
    return q - x[follow] - n[follow] * lift[:, None], faces[keep], follow


def _tube(path: np.ndarray, radius: float, sides: int = 6, closed: bool = False):
    """Tube mesh along a polyline; returns (verts, faces) with outward winding."""
    n = len(path)
    tang = np.gradient(path, axis=0) if not closed else np.roll(path, -1, 0) - np.roll(path, 1, 0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    ref = np.where(np.abs(tang[:, 1:2]) < 0.9, [[0, 1, 0]], [[1, 0, 0]])
    n1 = np.cross(tang, ref)
    n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
    n2 = np.cross(tang, n1)
    ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.cos(ang)[None, :, None] * n1[:, None] + np.sin(ang)[None, :, None] * n2[:, None]
    verts = (path[:, None] + radius * ring).reshape(-1, 3)
    faces = []
    segs = n if closed else n - 1
    for i in range(segs):
        j = (i + 1) % n
        for k in range(sides):
            a, b = i * sides + k, i * sides + (k + 1) % sides
            c, d = j * sides + (k + 1) % sides, j * sides + k
            faces += [(a, b, c), (a, c, d)]
    faces = np.array(faces)
    # Orient outward: the normal must point away from the tube axis point of that segment.
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    axis_pt = path[(faces[:, 0] // sides)]
    out = verts[faces].mean(1) - axis_pt
    flip = (fn * out).sum(1) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return verts.astype(np.float32), faces


def _double_sided(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of a thin sheet: the back side gets its own copy of the vertices, so each side's vertex
    normals point out of that side (shared vertices would sum the two sides' normals to zero)."""
    n = len(verts)
    return np.r_[verts, verts], np.r_[faces, faces[:, [0, 2, 1]] + n]


def _disc(centre, rx, ry, n=16, z_bulge=0.0):
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rim = centre + np.stack([rx * np.cos(ang), ry * np.sin(ang), np.zeros(n)], 1)
    verts = np.r_[centre[None] + [0, 0, z_bulge], rim]
    f = np.array([(0, 1 + i, 1 + (i + 1) % n) for i in range(n)])
    return _double_sided(verts.astype(np.float32), f)


def glasses_mesh(head: HeadModel) -> RigidMesh:
    lm = head.template[head.landmarks[:68]]
    parts, faces, verts, style = [], [], [], []
    off = 0
    front_z = max(lm[37, 2], lm[44, 2]) + 0.016
    for side in (range(36, 42), range(42, 48)):
        c = lm[list(side)].mean(0)
        c = np.array([c[0], c[1] + 0.001, front_z])
        ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        rim = c + np.stack([0.025 * np.cos(ang), 0.018 * np.sin(ang), -0.004 * np.cos(ang) ** 2 * 0], 1)
        tv, tf = _tube(rim, 0.0016, 5, closed=True)
        verts.append(tv); faces.append(tf + off); parts += [P["GLASSES"]] * len(tf); style += [1] * len(tf); off += len(tv)
        dv, df = _disc(c, 0.024, 0.017, 16, 0.002)
        verts.append(dv); faces.append(df + off); parts += [P["LENS"]] * len(df); style += [2] * len(df); off += len(dv)
    # Bridge and temples.
    rc = lm[36:42].mean(0); lc = lm[42:48].mean(0)
    bridge = np.array([[rc[0] + 0.024, rc[1] + 0.006, front_z], [0, lm[27, 1] + 0.004, front_z + 0.004],
                       [lc[0] - 0.024, lc[1] + 0.006, front_z]])
    paths = [bridge]
    # Temples: from the rim's upper outer corner out and 12 mm back to the hinge, then back 3 mm off the side
    # of the head, sloping down to the ear's root (landmark 0's height, 2-4 cm behind it), over it and down
    # behind the ear. (They went back diagonally from the rim's outer end and stopped 1 cm behind landmark
    # 0: a spike at the hinge seen from the front, and an end in mid-air in front of the ear. At the rim's
    # height the far temple passed in front of the far eye's corner, seen across the face at 45 degrees.)
    v = head.template
    vpart = vertex_parts(head)
    skin = ~np.isin(vpart, [P["EAR_R"], P["EAR_L"], -1])
    for sign, c in ((-1, rc), (1, lc)):
        yz = np.array([[c[1] + 0.011, front_z - 0.012], [lm[0, 1] + 0.006, lm[0, 2] - 0.02],
                       [lm[0, 1] + 0.004, lm[0, 2] - 0.04], [lm[0, 1] - 0.016, lm[0, 2] - 0.054]])
        yz = np.concatenate([np.linspace(yz[i], yz[i + 1], 8, endpoint=False) for i in range(len(yz) - 1)] + [yz[-1:]])
        side = skin & (sign * v[:, 0] > 0)
        # 3 mm off the side of the head (the ears' root behind them): the outermost of the head's vertices
        # nearest each point in the side view.
        near = cKDTree(v[side][:, 1:]).query(yz, k=12)[1]
        x = np.abs(v[side][near, 0]).max(1) + 0.003
        # Never inward until over the ear's root: a head wider than this template's (identities vary; the
        # glasses follow the eyes) then takes the temple in once, instead of in dashes along its dips.
        root = 16  # the third waypoint, 4 cm behind landmark 0 over the ear's root (8 samples per leg)
        x[:root + 1] = np.maximum.accumulate(np.maximum(x[:root + 1], abs(c[0]) + 0.024))  # from the rim out
        temple = np.c_[sign * x, yz]
        # From the rim's upper outer corner (30 degrees above its outer end), as an endpiece is.
        paths.append(np.r_[[[c[0] + sign * 0.0217, c[1] + 0.001 + 0.009, front_z]], temple])
    for k, path in enumerate(paths):
        fine = path if k > 0 else np.concatenate([np.linspace(path[i], path[i + 1], 6, endpoint=False)
                                                  for i in range(len(path) - 1)] + [path[-1:]])
        tv, tf = _tube(fine, 0.0014, 5)
        verts.append(tv); faces.append(tf + off); parts += [P["GLASSES"]] * len(tf); style += [1] * len(tf); off += len(tv)
    style = np.array(style)
    table = np.stack([np.zeros_like(style, bool), style == 1, style >= 1])
    verts = np.concatenate(verts)
    # The frame scales with the eyes' spacing; the temples, from the hinge back to the ear's root, more and
    # more with the head's width and depth, so they reach the ears of any head.
    hinge, root = front_z - 0.012, lm[0, 2] - 0.02
    follow = np.clip((hinge - verts[:, 2]) / (hinge - root), 0, 1).astype(np.float32)
    return RigidMesh(verts, np.concatenate(faces), np.array(parts), table, follow)


def brim_mesh(head: HeadModel, hair_max_thickness: float) -> RigidMesh:
    """A cap's brim: a sheet over the front 140 degrees of the head 25 mm above the brows. Its inner edge
    follows the head's own outline at that height (the outermost head vertices within 3 mm of it), so it lies
    between the head and the crown's surface (the crown is 2.4 mm thick or more there; over a bald template
    the edge is 0.9-3.7 mm inside it) and the brim grows out of the crown at any yaw; a circular inner edge
    floated off the head at the sides and poked through the crown elsewhere (shards of brim at wide yaw). It
    reaches 78 mm past the thickest hair at the front and tapers into the crown at its ends."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    brow = max(lm[19, 1], lm[24, 1])
    y = brow + 0.025
    zc = lm[0, 2] - 0.01  # the azimuth centre the hair and hat shells use
    band = v[np.abs(v[:, 1] - y) < 0.003]
    az_v = np.arctan2(band[:, 0], band[:, 2] - zc)
    rad_v = np.hypot(band[:, 0], band[:, 2] - zc)
    ang = np.linspace(-np.pi * 0.39, np.pi * 0.39, 17)
    r = np.array([rad_v[np.abs(az_v - a) < np.radians(5)].max() for a in ang])
    taper = np.cos(ang / np.abs(ang).max() * np.pi / 2) ** 0.6  # 1 at the front, 0 at the ends
    d = np.stack([np.sin(ang), np.zeros_like(ang), np.cos(ang)], 1)
    centre = np.array([0.0, 0.0, zc])
    inner = centre + r[:, None] * d
    # At its ends the brim is a 5 mm strip, mostly inside the crown (not a point: zero-area faces have no normal).
    outer = centre + (r + 0.005 + (hair_max_thickness + 0.078 - 0.005) * taper)[:, None] * d
    inner[:, 1] = y
    outer[:, 1] = y - 0.001 - 0.011 * taper  # sloping down toward the peak
    verts = np.r_[inner, outer].astype(np.float32)
    n = len(ang)
    f = []
    for i in range(n - 1):
        f += [(i, i + 1, n + i + 1), (i, n + i + 1, n + i)]
    verts, faces = _double_sided(verts, np.array(f))
    table = np.stack([np.zeros(len(faces), bool), np.zeros(len(faces), bool), np.ones(len(faces), bool)])
    return RigidMesh(verts, faces, np.full(len(faces), P["HEADWEAR"]), table)


def hair_locks_mesh(head: HeadModel, top_margin: float = 0.006, margin: float = 0.018) -> RigidMesh:
    """Long hair falling from the head: a sheet round the back and the sides of the head from 2 cm above the
    ear landmark (landmark 0) down to the shoulders, its front edges at the ears (90 degrees from the front
    at the top, 80 at the tips: at 78 and 70 the sheet covered the cheek in front of the ear in nearly every
    profile), drawn for the 'long' hair style (the shell alone hugs the head
    and neck like a helmet). At each height it lies outside the widest the head is at or above that
    height (hair hangs; it does not follow the neck in), ``top_margin`` there at its top edge, which
    lies under the long style's shell (1.3 cm thick or more; over the ears, where the shell is cut away,
    2.5 cm higher), widening to ``margin`` 4 cm lower; wavy by +-4 mm with +-3 mm clumps over the waves,
    its front edges uneven by +-3 degrees, its tips ragged over 3 cm. Units: metres, head frame; it follows
    the eyes and scales with the head's width and depth (RigidMesh.follow_head); below the jaw the renderer
    twists it with the neck."""
    v, lm = head.template, head.template[head.landmarks[:68]]
    zc = lm[0, 2] - 0.01  # the azimuth centre the hair and hat shells use
    y_top, y_bot = lm[0, 1] + 0.02, lm[8, 1] - 0.06
    ys = np.linspace(y_top, y_bot, 16)
    front = np.radians(np.interp(ys, [y_bot, y_top], [80.0, 90.0]))
    # The front edges uneven: strands falling forward or back by a few degrees from row to row.
    front = front + np.radians(3.0) * np.sin(np.arange(len(ys)) * 1.9) * np.clip((y_top - ys) / 0.03, 0, 1)
    cols = 64
    u = np.linspace(0, 1, cols)  # 0: the right front edge, round the back, 1: the left front edge
    az = np.sign(u - 0.5)[None] * (front[:, None] + (np.pi - front[:, None]) * (1 - np.abs(2 * u - 1))[None])
    az_v = np.arctan2(v[:, 0], v[:, 2] - zc)
    rad_v = np.hypot(v[:, 0], v[:, 2] - zc)
    # The head's radius at or above each height (within 4 mm below it) within 8 degrees of each column's
    # azimuth: per row, the vertices in range against the columns' azimuths at once.
    r = np.zeros((len(ys), cols))
    for i, y in enumerate(ys):
        near = v[:, 1] >= y - 0.004
        d = np.abs((az_v[near][:, None] - az[i][None] + np.pi) % (2 * np.pi) - np.pi)  # (n, cols), wrapped
        r[i] = np.where(d < np.radians(8), rad_v[near][:, None], -np.inf).max(0)
    drop = y_top - ys
    r += top_margin + (margin - top_margin) * np.clip(drop / 0.04, 0, 1)[:, None]
    # Locks: waves round the head drifting as the hair falls, and finer clumps over them (a smooth sheet
    # read as a plank in profile).
    r += (0.004 * np.sin(az * 7 + drop[:, None] * 40) + 0.003 * np.sin(az * 19 - drop[:, None] * 25 + 1.3)) \
        * np.clip(drop / 0.03, 0, 1)[:, None]
    x = r * np.sin(az)
    z = zc + r * np.cos(az)
    y = np.repeat(ys[:, None], cols, 1).copy()
    # Over the ears the shell is cut away (ears stick out of it): there the top edge starts 2.5 cm higher,
    # under the shell, instead of showing as a flap above the ear.
    y[0] += 0.025 * np.exp(-(((np.abs(az[0]) - np.radians(95)) / np.radians(25)) ** 2))
    # Ragged tips: the last row ends 0-3 cm higher, varying round the head (a fixed pattern).
    tips = 0.015 * (1 + np.sin(np.arange(cols) * 2.3) * np.cos(np.arange(cols) * 0.7))
    y[-1] += tips
    y[-2] = np.maximum(y[-2], y[-1] + 0.004)
    verts = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float32)
    f = []
    for i in range(len(ys) - 1):
        for j in range(cols - 1):
            a, b, c, d = i * cols + j, i * cols + j + 1, (i + 1) * cols + j + 1, (i + 1) * cols + j
            f += [(a, b, c), (a, c, d)]
    f = np.array(f)
    # Outer side out (away from the head's vertical axis through zc).
    fn = np.cross(verts[f[:, 1]] - verts[f[:, 0]], verts[f[:, 2]] - verts[f[:, 0]])
    out = verts[f].mean(1) - np.array([0.0, 0.0, zc])
    out[:, 1] = 0
    flip = (fn * out).sum(1) < 0
    f[flip] = f[flip][:, [0, 2, 1]]
    verts, faces = _double_sided(verts, f)
    table = np.zeros((len(HAIR_STYLES), len(faces)), bool)
    table[HAIR_STYLES.index("long")] = True
    return RigidMesh(verts, faces, np.full(len(faces), P["HAIR"]), table,
                     np.ones(len(verts), np.float32))  # round the head: its width and depth


@dataclass
class Rig:
    hair: Shell
    beard: Shell
    headwear: Shell
    facewear: Shell
    clothing: Shell
    loops: Shell  # the face mask's ear loops
    glasses: RigidMesh
    brim: RigidMesh
    locks: RigidMesh


def build_rig(head: HeadModel) -> Rig:
    hair = hair_shell(head)
    tmax = float(hair.thickness.max())
    # Hat crowns follow the hair's smooth profile (a tufted one made crumpled hats), 30% out to clear tufts.
    smooth = hair_shell(head, tufts=False)
    hair_t = np.zeros(head.num_vertices)
    hair_t[smooth.vids] = smooth.thickness.max(0) * 1.3
    return Rig(hair, beard_shell(head), headwear_shell(head, hair_t), facewear_shell(head), clothing_shell(head),
               ear_loops_shell(head), glasses_mesh(head), brim_mesh(head, tmax), hair_locks_mesh(head))


__all__ = ["build_rig", "Rig", "Shell", "RigidMesh", "HAIR_STYLES", "BEARD_STYLES",
           "HEADWEAR_STYLES", "FACEWEAR_STYLES", "GLASSES_STYLES",
           "CLOTHING_STYLES"]
