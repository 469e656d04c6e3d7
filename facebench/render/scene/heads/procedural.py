"""A built-in procedural head that needs no files: the default on a fresh machine.

A deformed ellipsoid (skull and face) with analytic features (nose, brow ridge, eye sockets, cheeks,
lips, chin, ears), a neck tube and two eyeball spheres, in the same frame and units as the ICT head
(metres, +Y up, +Z forward, +X the subject's left). Identity modes are smooth, left-right symmetric
random displacement fields; expression shapes are analytic displacements with the ARKit names that
facebench's expression recipes use. Parts are labelled with the same rules as the ICT head.
"""
from __future__ import annotations

import numpy as np

from facebench.render.scene.heads.base import EXPRESSION_SHAPES, HeadModel
from facebench.render.scene.heads.geometry import vertex_normals

NUM_SHAPE = 80


def _grid_sphere(n_lat: int, n_lon: int):
    """UV sphere (poles on the y axis); returns unit vertices and outward faces."""
    th = np.linspace(0, np.pi, n_lat)
    ph = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    T, Ph = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(T) * np.sin(Ph), np.cos(T), np.sin(T) * np.cos(Ph)], -1).reshape(-1, 3)
    f = []
    for i in range(n_lat - 1):
        for j in range(n_lon):
            a, b = i * n_lon + j, i * n_lon + (j + 1) % n_lon
            c, d = (i + 1) * n_lon + (j + 1) % n_lon, (i + 1) * n_lon + j
            f += [(a, d, c), (a, c, b)]
    return v, np.array(f)


def _orient_outward(v, f, centre):
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = (fn * (v[f].mean(1) - centre)).sum(1) < 0
    f = f.copy()
    f[flip] = f[flip][:, [0, 2, 1]]
    area = np.linalg.norm(fn, axis=1)
    return f[area > 1e-14]


def _bump(p, c, s):
    return np.exp(-(((p - np.asarray(c)) / np.asarray(s)) ** 2).sum(-1))


def _features(p):
    """Face deformation of the unit-ish ellipsoid points p (metres)."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    front = np.clip(z / 0.095, 0, 1) ** 2
    d = np.zeros_like(p)
    # Jaw and chin: narrow the lower head and pull the chin down and forward.
    low = np.clip((-0.0 - y) / 0.09, 0, 1)
    d[:, 0] -= x * 0.28 * low
    d[:, 1] -= 0.02 * low * front
    d[:, 2] += 0.012 * _bump(p, (0, -0.07, 0.09), (0.03, 0.02, 0.05))
    # Flatten the face a little and push the cheekbones.
    d[:, 2] -= 0.012 * front * _bump(p, (0, 0.0, 0.1), (0.05, 0.06, 1))
    d[:, 2] += 0.010 * (_bump(p, (0.045, 0.005, 0.08), (0.02, 0.02, 0.05)) + _bump(p, (-0.045, 0.005, 0.08), (0.02, 0.02, 0.05)))
    # Nose: a ridge from the brow down to a rounded tip, plus nostril wings.
    ridge = np.exp(-(x / 0.009) ** 2) * np.clip((0.035 - y) / 0.035, 0, 1) * np.clip((y + 0.004) / 0.006, 0, 1) * front
    d[:, 2] += 0.028 * ridge
    d[:, 2] += 0.006 * _bump(p, (0, 0.002, 0.12), (0.012, 0.01, 0.05))
    d[:, 2] += 0.006 * (_bump(p, (0.014, -0.002, 0.1), (0.007, 0.006, 0.05)) + _bump(p, (-0.014, -0.002, 0.1), (0.007, 0.006, 0.05)))
    # Eye sockets and brow ridge.
    for sx in (-1, 1):
        d[:, 2] -= 0.014 * _bump(p, (sx * 0.031, 0.036, 0.09), (0.016, 0.011, 0.05))
        d[:, 2] += 0.006 * _bump(p, (sx * 0.032, 0.055, 0.09), (0.022, 0.007, 0.05))
    # Lips.
    d[:, 2] += 0.008 * _bump(p, (0, -0.028, 0.1), (0.022, 0.006, 0.05))
    d[:, 2] += 0.007 * _bump(p, (0, -0.043, 0.1), (0.02, 0.006, 0.05))
    d[:, 2] -= 0.004 * _bump(p, (0, -0.052, 0.1), (0.02, 0.005, 0.05))
    # Ears: lateral flaps.
    for sx in (-1, 1):
        d[:, 0] += sx * 0.018 * _bump(p, (sx * 0.074, 0.025, 0.0), (0.01, 0.028, 0.016))
    return p + d


def _landmark_targets():
    """68 iBUG points (x, y) on the procedural face, metres."""
    t = np.linspace(-1, 1, 17)
    ang = t * np.radians(80)
    jaw = np.stack([0.072 * np.sin(ang), 0.035 - 0.11 * np.cos(ang) ** 1.5], 1)
    pts = list(jaw)
    for sx in (-1, 1):  # brows (17-21 subject's right, from outside in)
        xs = np.linspace(0.052, 0.012, 5) * sx
        ys = 0.052 + 0.007 * np.sin(np.linspace(0.3, 2.8, 5))
        seq = list(zip(xs, ys))
        pts += seq if sx < 0 else seq[::-1]
    pts += [(0, 0.036), (0, 0.024), (0, 0.012), (0, 0.002)]  # bridge 27-30
    pts += [(-0.012, -0.008), (-0.006, -0.01), (0, -0.012), (0.006, -0.01), (0.012, -0.008)]
    for sx in (-1, 1):  # eyes 36-41 / 42-47, starting at the outer (right) or inner (left) corner
        cx = 0.031 * sx
        a = np.radians([180, 120, 60, 0, -60, -120])
        ring = [(cx + 0.0105 * np.cos(q), 0.036 + 0.005 * np.sin(q) * (1 if np.sin(q) > 0 else 0.8)) for q in a]
        pts += ring
    a = np.radians(np.linspace(180, -150, 12))
    pts += [(0.025 * np.cos(q), -0.035 + (0.009 if np.sin(q) > 0 else 0.011) * np.sin(q)) for q in a]
    a = np.radians([180, 120, 90, 60, 0, -60, -90, -120])
    pts += [(0.018 * np.cos(q), -0.035 + 0.0015 * np.sin(q)) for q in a]
    return np.array(pts)


_EXPR = {  # name: list of (centre, sigma, displacement) gaussian bumps; _L uses +x
    "browDown": [((0.032, 0.052, 0.1), (0.02, 0.012, 0.05), (0, -0.005, 0.001))],
    "browInnerUp": [((0.014, 0.05, 0.1), (0.012, 0.012, 0.05), (0, 0.006, 0))],
    "browOuterUp": [((0.045, 0.05, 0.09), (0.014, 0.012, 0.05), (0, 0.006, 0))],
    "cheekSquint": [((0.04, 0.012, 0.09), (0.018, 0.014, 0.05), (0, 0.004, 0.002))],
    "eyeBlink": [], "eyeSquint": [((0.031, 0.026, 0.09), (0.014, 0.006, 0.05), (0, 0.002, 0))],
    "eyeWide": [((0.031, 0.046, 0.09), (0.016, 0.006, 0.05), (0, 0.002, 0))],
    "mouthFrown": [((0.025, -0.038, 0.1), (0.01, 0.01, 0.05), (0.001, -0.005, 0))],
    "mouthSmile": [((0.026, -0.034, 0.1), (0.012, 0.012, 0.05), (0.005, 0.006, -0.002))],
    "mouthStretch": [((0.025, -0.036, 0.1), (0.012, 0.012, 0.05), (0.006, -0.003, 0))],
    "mouthPress": [((0.0, -0.036, 0.1), (0.02, 0.007, 0.05), (0, 0, -0.002))],
    "mouthUpperUp": [((0.008, -0.029, 0.1), (0.012, 0.006, 0.05), (0, 0.003, 0))],
    "mouthLowerDown": [((0.008, -0.044, 0.1), (0.012, 0.006, 0.05), (0, -0.004, 0))],
    "noseSneer": [((0.012, 0.0, 0.1), (0.008, 0.01, 0.05), (0, 0.004, 0))],
    "cheekPuff": [((0.04, -0.025, 0.08), (0.018, 0.018, 0.05), (0.006, 0, 0.004))],
}
_EXPR_CENTRAL = {
    "mouthPucker": [((0, -0.036, 0.1), (0.02, 0.012, 0.05), (0, 0, 0.008))],
    "mouthFunnel": [((0, -0.036, 0.1), (0.02, 0.012, 0.05), (0, 0, 0.006))],
    "mouthShrugLower": [((0, -0.06, 0.1), (0.025, 0.012, 0.05), (0, 0.004, 0))],
    "mouthRollLower": [((0, -0.044, 0.1), (0.02, 0.005, 0.05), (0, 0.002, -0.003))],
    "jawForward": [((0, -0.07, 0.08), (0.06, 0.03, 0.08), (0, 0, 0.006))],
}


def build_procedural_head(seed: int = 0) -> HeadModel:
    from facebench.render.scene.heads.ict import _label_parts

    u, f = _grid_sphere(90, 120)
    head = u * np.array([0.076, 0.104, 0.097]) + np.array([0, 0.025, 0.0])
    head = _features(head)
    nv_head = len(head)
    # Neck: an open tube below the head.
    ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    ys = np.linspace(-0.03, -0.15, 12)  # to the shoulders: the garment (accessories.clothing_shell) goes on from there
    neck = np.stack([np.tile(0.052 * np.sin(ang), len(ys)), np.repeat(ys, len(ang)),
                     np.tile(-0.012 + 0.048 * np.cos(ang), len(ys))], 1)
    nf = []
    for i in range(len(ys) - 1):
        for j in range(len(ang)):
            a, b = i * 40 + j, i * 40 + (j + 1) % 40
            nf += [(a, b, b + 40), (a, b + 40, a + 40)]
    # Eyeballs.
    eu, ef = _grid_sphere(24, 32)
    eyes, eye_faces = [], []
    for sx in (-1, 1):
        c = np.array([sx * 0.031, 0.036, 0.069])
        eyes.append(eu * 0.0125 + c)
        eye_faces.append(_orient_outward(eyes[-1], ef, c))
    v = np.concatenate([head, neck, eyes[0], eyes[1]]).astype(np.float32)
    o1, o2, o3 = nv_head, nv_head + len(neck), nv_head + len(neck) + len(eyes[0])
    hf = _orient_outward(head, f, np.array([0, 0.02, 0]))
    # Neck faces: orient outward from the neck axis.
    nfc = neck[np.array(nf)].mean(1)
    fn = np.cross(neck[np.array(nf)[:, 1]] - neck[np.array(nf)[:, 0]], neck[np.array(nf)[:, 2]] - neck[np.array(nf)[:, 0]])
    out = nfc - np.array([0, 0, -0.012])
    out[:, 1] = 0
    nf = np.array(nf)
    flipn = (fn * out).sum(1) < 0
    nf[flipn] = nf[flipn][:, [0, 2, 1]]
    faces = np.concatenate([hf, nf + o1, eye_faces[0] + o2, eye_faces[1] + o3]).astype(np.int64)
    names = ["face", "head_neck", "mouth_socket", "eye_socket_left", "eye_socket_right", "gums_tongue",
             "teeth", "sclera_left", "sclera_right"]
    vreg = np.zeros(len(v), np.int64)
    vreg[:nv_head] = np.where(head[:, 2] > -0.01, 0, 1)
    vreg[o1:o2] = 1
    vreg[o2:o3] = names.index("sclera_right")
    vreg[o3:] = names.index("sclera_left")
    # Landmarks: nearest front-facing head vertex to each 2D target.
    nrm = vertex_normals(v, faces)
    tgt = _landmark_targets()
    cand = np.nonzero((np.arange(len(v)) < nv_head) & (nrm[:, 2] > 0.05) & (v[:, 2] > 0.0))[0]
    lm68 = cand[np.argmin(((v[cand, None, :2] - tgt[None]) ** 2).sum(-1), axis=0)]
    pupils = [o2 + np.argmax(eyes[0][:, 2]), o3 + np.argmax(eyes[1][:, 2])]
    landmarks = np.r_[lm68, pupils].astype(np.int64)
    fpart = _label_parts(v, faces, vreg, names, v[lm68])
    # Identity: smooth symmetric random fields, RMS falling with the mode index.
    rng = np.random.default_rng(seed)
    idb = np.zeros((NUM_SHAPE, len(v), 3), np.float32)
    skin = np.arange(len(v)) < o2
    for k in range(NUM_SHAPE):
        amp = 0.004 / (1 + k / 12)
        for _ in range(3):
            c = head[rng.integers(nv_head)]
            s = rng.uniform(0.02, 0.06)
            dvec = rng.normal(0, 1, 3)
            for mirror in (1, -1):
                cc = c * [mirror, 1, 1]
                dd = dvec * [mirror, 1, 1]
                idb[k] += (amp * _bump(v, cc, (s, s, s))[:, None] * dd * skin[:, None]).astype(np.float32)
    # Eyes move rigidly with the identity field at their centre.
    for sl, c in ((slice(o2, o3), eyes[0].mean(0)), (slice(o3, None), eyes[1].mean(0))):
        near = np.argmin(np.linalg.norm(head - c, axis=1))
        idb[:, sl] = idb[:, near][:, None]
    expr = np.zeros((len(EXPRESSION_SHAPES), len(v), 3), np.float32)
    for i, name in enumerate(EXPRESSION_SHAPES):
        base, side = (name[:-2], name[-1]) if name.endswith(("_L", "_R")) else (name, None)
        if base == "jawOpen":
            y_m = -0.036
            w = np.clip((y_m - v[:, 1]) / 0.015, 0, 1) * (v[:, 2] > 0.0) * skin
            a = np.radians(14)
            # Rotate the lower face about a jaw axis along x through the origin (near the ears).
            rot = np.stack([v[:, 0], v[:, 1] * np.cos(a) - v[:, 2] * np.sin(a),
                            v[:, 1] * np.sin(a) + v[:, 2] * np.cos(a)], 1)
            expr[i] = ((rot - v) * w[:, None]).astype(np.float32)
            continue
        table = _EXPR.get(base) or _EXPR_CENTRAL.get(base) or []
        for c, s, dv in table:
            sx = 1 if side == "L" else -1 if side == "R" else 1
            cc, dd = np.array(c) * [sx, 1, 1], np.array(dv) * [sx, 1, 1]
            expr[i] += (_bump(v, cc, s)[:, None] * dd * skin[:, None]).astype(np.float32)
    eye_ids = (np.arange(o2, o3), np.arange(o3, len(v)))
    offsets = np.array([eyes[0].mean(0) - v[eye_ids[0]].mean(0), eyes[1].mean(0) - v[eye_ids[1]].mean(0)], np.float32)
    return HeadModel(name="procedural", template=v, id_basis=idb, expr_basis=expr, faces=faces, face_part=fpart,
                     landmarks=landmarks, eye_vertices=eye_ids, eye_centre_offset=offsets)
