"""Hair, beards, headwear, face masks, glasses and clothing as geometry around a head template.

Everything is built once per head (numpy) as a *rig*: shells (offset copies of head-surface patches,
switched per sample by a per-vertex mask table of styles) and rigid meshes (glasses, cap brim, torso)
that follow a few anchor points of the identity. Per sample only masks and offsets change, so a batch
renders with one face list and a per-sample face mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from facebench.render.albedo import beard_weight
from facebench.render.heads.base import P, HeadModel

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


@dataclass
class RigidMesh:
    """A mesh following the head rigidly, anchored to a reference point and a scale of the head."""

    verts: np.ndarray
    faces: np.ndarray
    face_part: np.ndarray
    face_style: np.ndarray  # (S, F) bool: which faces exist in each style
    anchor: str  # 'eyes' | 'forehead' | 'neck'


def _shell(head: HeadModel, weights: np.ndarray, thickness: np.ndarray, allowed_parts, part,
           paint: np.ndarray | None = None) -> Shell:
    vpart = np.full(head.num_vertices, -1)
    vpart[head.faces.reshape(-1)] = np.repeat(head.face_part, 3)
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
    vpart = np.full(head.num_vertices, -1)
    vpart[head.faces.reshape(-1)] = np.repeat(head.face_part, 3)
    allowed = np.isin(vpart, parts)  # the head parts a shell covers (see _shell)
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
        m = np.clip(0.5 + (v[:, 1] - h - 0.002) / 0.016, 0, 1)
        masks.append(m)
        # The painted hairline (see Shell.paint): level 0.5 6 mm below the mask's over a 24 mm ramp, so the
        # paint is dense (0.6) 4 mm before the shell's border and its edge does not zigzag.
        paint.append(_smooth(v[:, 1] - h, -0.016, 0.008) * np.isin(vpart, parts))
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


def facewear_shell(head: HeadModel) -> Shell:
    v, lm = head.template, head.template[head.landmarks[:68]]
    m = (_smooth(lm[28, 1] - v[:, 1], 0, 0.004) * _smooth(v[:, 1] - (lm[8, 1] - 0.02), 0, 0.004)
         * _smooth(abs(lm[2, 0]) - np.abs(v[:, 0]), 0, 0.004) * _smooth(v[:, 2] - lm[2, 2], 0, 0.01))
    # Thicker over the hollows beside the nose and under the lip so the mask spans them flatly.
    t = 0.004 + 0.012 * np.clip(lm[30, 2] - v[:, 2], 0, 0.06) / 0.06 * _smooth(lm[33, 1] + 0.005 - v[:, 1], 0, 0.01)
    # Thickness ramps up over ~12 mm inside the border, several mesh edges wide: a ramp as narrow as the
    # mask's own 4 mm edge stood the shell's triangle-stepped border up off the skin (a saw-toothed rim).
    ramp = (_smooth(lm[28, 1] - v[:, 1], 0, 0.014) * _smooth(v[:, 1] - (lm[8, 1] - 0.02), 0, 0.012)
            * _smooth(abs(lm[2, 0]) - np.abs(v[:, 0]), 0, 0.012))
    masks = np.stack([np.zeros(len(v)), m])
    thick = np.stack([np.zeros(len(v)), t * ramp * (m > 0.5)])
    parts = [P["SKIN"], P["NOSE"], P["LIP_TOP"], P["LIP_BOTTOM"], P["NECK"], P["MOUTH"]]
    # The painted border: each edge's level 0.5 3 mm outside the mask's, over 16 mm ramps (see Shell.paint).
    p = (_smooth(lm[28, 1] - v[:, 1], -0.011, 0.005) * _smooth(v[:, 1] - (lm[8, 1] - 0.02), -0.011, 0.005)
         * _smooth(abs(lm[2, 0]) - np.abs(v[:, 0]), -0.011, 0.005))
    return _shell(head, masks, thick, parts, P["FACEWEAR"], paint=np.stack([np.zeros(len(v)), p]))


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
    for path in (bridge,
                 np.array([[rc[0] - 0.025, rc[1] + 0.004, front_z], [lm[0, 0] - 0.006, lm[0, 1] + 0.012, front_z - 0.03],
                           [lm[0, 0] - 0.006, lm[0, 1] + 0.012, lm[0, 2] - 0.01]]),
                 np.array([[lc[0] + 0.025, lc[1] + 0.004, front_z], [lm[16, 0] + 0.006, lm[16, 1] + 0.012, front_z - 0.03],
                           [lm[16, 0] + 0.006, lm[16, 1] + 0.012, lm[16, 2] - 0.01]])):
        fine = np.concatenate([np.linspace(path[i], path[i + 1], 6, endpoint=False) for i in range(len(path) - 1)] + [path[-1:]])
        tv, tf = _tube(fine, 0.0014, 5)
        verts.append(tv); faces.append(tf + off); parts += [P["GLASSES"]] * len(tf); style += [1] * len(tf); off += len(tv)
    style = np.array(style)
    table = np.stack([np.zeros_like(style, bool), style == 1, style >= 1])
    return RigidMesh(np.concatenate(verts), np.concatenate(faces), np.array(parts), table, "eyes")


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
    return RigidMesh(verts, faces, np.full(len(faces), P["HEADWEAR"]), table, "forehead")


def torso_mesh(head: HeadModel) -> RigidMesh:
    """Shoulders and chest as a lofted tube from the neck base down, with a collar."""
    v = head.template
    vpart = np.full(head.num_vertices, -1)
    vpart[head.faces.reshape(-1)] = np.repeat(head.face_part, 3)
    neck = v[vpart == P["NECK"]]
    y0 = neck[:, 1].min() + 0.03
    ring = neck[np.abs(neck[:, 1] - y0) < 0.01]
    cx, cz = ring[:, 0].mean(), ring[:, 2].mean()
    rx = (ring[:, 0].max() - ring[:, 0].min()) / 2 + 0.008
    rz = (ring[:, 2].max() - ring[:, 2].min()) / 2 + 0.008
    levels = [(y0 + 0.005, rx, rz), (y0 - 0.015, rx + 0.012, rz + 0.01), (y0 - 0.035, 0.085, 0.07),
              (y0 - 0.055, 0.15, 0.095), (y0 - 0.08, 0.19, 0.105), (y0 - 0.12, 0.205, 0.11),
              (y0 - 0.25, 0.205, 0.11)]
    sides = 28
    ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    verts = np.concatenate([np.stack([cx + a * np.sin(ang), np.full(sides, y), cz + b * np.cos(ang)], 1)
                            for y, a, b in levels]).astype(np.float32)
    f = []
    for i in range(len(levels) - 1):
        for k in range(sides):
            a, b = i * sides + k, i * sides + (k + 1) % sides
            c, d = (i + 1) * sides + (k + 1) % sides, (i + 1) * sides + k
            f += [(a, b, c), (a, c, d)]
    f = np.array(f)
    fn = np.cross(verts[f[:, 1]] - verts[f[:, 0]], verts[f[:, 2]] - verts[f[:, 0]])
    out = verts[f].mean(1) - np.array([cx, 0, cz]) * [1, 0, 1]
    out[:, 1] = 0
    flip = (fn * out).sum(1) < 0
    f[flip] = f[flip][:, [0, 2, 1]]
    table = np.ones((1, len(f)), bool)
    return RigidMesh(verts, f, np.full(len(f), P["CLOTHING"]), table, "neck")


@dataclass
class Rig:
    hair: Shell
    beard: Shell
    headwear: Shell
    facewear: Shell
    glasses: RigidMesh
    brim: RigidMesh
    torso: RigidMesh


def build_rig(head: HeadModel) -> Rig:
    hair = hair_shell(head)
    tmax = float(hair.thickness.max())
    # Hat crowns follow the hair's smooth profile (a tufted one made crumpled hats), 30% out to clear tufts.
    smooth = hair_shell(head, tufts=False)
    hair_t = np.zeros(head.num_vertices)
    hair_t[smooth.vids] = smooth.thickness.max(0) * 1.3
    return Rig(hair, beard_shell(head), headwear_shell(head, hair_t), facewear_shell(head),
               glasses_mesh(head), brim_mesh(head, tmax), torso_mesh(head))


__all__ = ["build_rig", "Rig", "Shell", "RigidMesh", "HAIR_STYLES", "BEARD_STYLES",
           "HEADWEAR_STYLES", "FACEWEAR_STYLES", "GLASSES_STYLES"]
