"""The ICT-FaceKit Light head (scan-based, MIT) read from the compact ``ict_facekit_light.npz``.

Semantic parts (nose, lips, brows, ears, neck, scalp) are not in the model; they are derived once
from the neutral mesh and its 68 landmarks. Following the model's README: the lacrimal, eye-blend,
eye-occlusion and eyelash meshes are see-through overlays and are left out; the iris mesh sits inside
the sclera, so the iris is shaded onto the sclera by its angle from the gaze axis instead; eyes are
rotated rigidly about a sphere-fitted centre for gaze.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facebench.render.scene.heads.base import EXPRESSION_SHAPES, P, HeadModel, vertex_clustering_lod
from facebench.render.scene.heads.geometry import distance_to_polyline, points_in_polygon, sphere_fit

ENV_VAR = "FACEBENCH_ICT_PATH"
_REGIONS_DROPPED = ("iris_left", "iris_right", "lacrimal_fluid_left", "lacrimal_fluid_right",
                    "eye_blend_left", "eye_blend_right", "eye_occlusion_left", "eye_occlusion_right",
                    "eyelashes_left", "eyelashes_right")
REQUIRED_KEYS = ("vertices", "faces", "identity_basis", "identity_std", "expression_basis",
                 "expression_names", "landmarks68", "region_names", "vertex_region", "face_region")


def find_ict_file(path: str | os.PathLike | None = None) -> Path | None:
    """The ICT file to use: ``path``, else $FACEBENCH_ICT_PATH, else None."""
    for cand in (path, os.environ.get(ENV_VAR)):
        if cand:
            p = Path(cand).expanduser()
            if p.is_dir():
                p = p / "ict_facekit_light.npz"
            if p.is_file():
                return p
            raise FileNotFoundError(f"ICT-FaceKit file not found at {p} (from {'argument' if cand == path else ENV_VAR})")
    return None


def _polygon_parts(lm: np.ndarray) -> list[tuple[int, np.ndarray, float]]:
    """The parts drawn as polygons on the front of the face, in labelling order (a later one wins): part id,
    polygon (M, 2) in the template's x-y plane, and the least depth z a vertex needs (metres)."""
    # Nose: polygon from the bridge top down around the nostrils, on the front of the face.
    eye_in = abs(lm[42, 0] - lm[39, 0])
    nose_poly = np.array([
        [lm[27, 0] - 0.28 * eye_in, lm[27, 1]], [lm[27, 0] + 0.28 * eye_in, lm[27, 1]],
        [lm[35, 0] + 0.006, lm[35, 1] + 0.004], [lm[35, 0] + 0.004, lm[33, 1] - 0.003],
        [lm[31, 0] - 0.004, lm[33, 1] - 0.003], [lm[31, 0] - 0.006, lm[31, 1] + 0.004],
    ])
    # Lips: between the outer and inner lip contours, split into top and bottom halves.
    top_poly = np.r_[lm[48:55], lm[[64, 63, 62, 61, 60]]][:, :2]
    bot_poly = np.r_[lm[[54, 55, 56, 57, 58, 59, 48]], lm[[60, 67, 66, 65, 64]]][:, :2]
    return [(P["NOSE"], nose_poly, lm[36, 2] - 0.02), (P["LIP_TOP"], top_poly, lm[48, 2] - 0.012),
            (P["LIP_BOTTOM"], bot_poly, lm[48, 2] - 0.012)]


def _polygon_label(pts: np.ndarray, polys) -> np.ndarray:
    """Index (N,) into ``polys`` (_polygon_parts) plus one of the polygon part each point (N, 3) of skin lies
    in, 0 for none."""
    lab = np.zeros(len(pts), np.int64)
    for k, (_, poly, zmin) in enumerate(polys, 1):
        lab[(pts[:, 2] > zmin) & points_in_polygon(pts[:, :2], poly)] = k
    return lab


def _label_parts(v: np.ndarray, faces: np.ndarray, vreg: np.ndarray, names: list[str], lm: np.ndarray) -> np.ndarray:
    """Part id per triangle from the neutral mesh (v) and its 68 landmark positions (lm)."""
    R = {n: i for i, n in enumerate(names)}
    vpart = np.full(len(v), P["SKIN"], np.int64)
    skin = (vreg == R["face"]) | (vreg == R["head_neck"])
    xy = v[:, :2]
    front = v[:, 2] > lm[36, 2] - 0.02
    polys = _polygon_parts(lm)
    lab = _polygon_label(v, polys)
    for k, (part, _, _) in enumerate(polys, 1):
        vpart[skin & (lab == k)] = part
    # Brows: a band around the brow landmarks, slightly thicker toward the inner end.
    for part, idx in (("BROW_R", range(17, 22)), ("BROW_L", range(22, 27))):
        line = lm[list(idx)][:, :2]
        d = distance_to_polyline(xy, line)
        vpart[skin & front & (d < 0.0042)] = P[part]
    # Ears: the ICT ear (behind the jaw's start, landmark 0) lies inside an ellipse in the side view (z, y),
    # measured on the template: a box from the ear's back to landmark 0 also took a band of cheek in front
    # of the tragus, and triangle majorities made its border a sawtooth (and a mask painted over the
    # cheek showed skin-coloured teeth there, where the shaders do not paint masks over ears).
    ez, ey = (v[:, 2] - (lm[0, 2] - 0.0355)) / 0.0195, (v[:, 1] - (lm[0, 1] - 0.029)) / 0.031
    for part, sign in (("EAR_R", -1), ("EAR_L", 1)):
        ear = skin & (sign * v[:, 0] > abs(lm[0, 0]) - 0.016) & (ez * ez + ey * ey < 1)
        vpart[ear] = P[part]
    # Neck: below the jaw line (chin -> jaw angle in the y-z plane), and the nape behind the ears.
    yc, zc = lm[8, 1], lm[8, 2]
    ya, za = lm[3, 1] - 0.012, lm[1, 2] - 0.01
    t = np.clip((zc - v[:, 2]) / (zc - za), 0, None)
    y_jaw = yc - 0.004 + (ya - yc + 0.004) * np.minimum(t, 1.0)
    behind = v[:, 2] < za
    neck = skin & ((~behind & (v[:, 1] < y_jaw)) | (behind & (v[:, 1] < lm[2, 1] - 0.02)))
    vpart[neck & (vpart == P["SKIN"])] = P["NECK"]
    # Scalp: the head_neck surface above the ears / forehead (hair and hats attach here).
    scalp = (vreg == R["head_neck"]) & (v[:, 1] > lm[2, 1] - 0.02) & ~np.isin(vpart, [P["EAR_R"], P["EAR_L"]])
    vpart[scalp] = P["SCALP"]
    for reg, part in (("mouth_socket", "MOUTH"), ("gums_tongue", "MOUTH"), ("teeth", "TEETH"),
                      ("sclera_right", "EYE_R"), ("sclera_left", "EYE_L"),
                      ("eye_socket_right", "CARUNCLE_R"), ("eye_socket_left", "CARUNCLE_L")):
        vpart[vreg == R[reg]] = P[part]
    # A triangle takes the part of its region for non-skin regions, else the majority of its vertices.
    fp = vpart[faces]
    maj = np.where(fp[:, 1] == fp[:, 2], fp[:, 1], fp[:, 0])
    return maj


def _cut_polygon_parts(v, idb, expr, faces, fpart, skin, lm, margin: float = 0.25):
    """Split the triangles that straddle a polygon part's border (_polygon_parts: nose, lips) so that part
    labels follow the border instead of the mesh's edges (a triangle took the majority of its vertices'
    labels: at 512 px the lips' and nose's classes had sawtooth borders of triangle size).

    An edge of skin, nose or lip triangles whose ends lie on two sides gets a vertex where it crosses
    (bisection of the label along the edge), unless that is within ``margin`` of the edge's length from an
    end (slivers: the face mask's fabric, built on these faces, creased along them); the shape and
    expression bases are interpolated there. Each triangle with cut edges is split into 2, 3 or 4 (every
    triangle on a cut edge is split by it, and no edge that a face of another part shares is cut: no
    T-junctions), and every triangle of skin, nose or lips takes the label of its centroid. The surface does not change: the new vertices lie on the old edges, and stay
    there under any identity or expression (linear models).

    v (V, 3), idb (K, V, 3), expr (E, V, 3), faces (F, 3), fpart (F,), skin (V,) bool, lm (68, 3) positions.
    Returns v, idb, expr, faces, fpart with the new vertices appended."""
    polys = _polygon_parts(lm)
    part_of = np.array([P["SKIN"]] + [p for p, _, _ in polys])
    lab = np.where(skin, _polygon_label(v, polys), -1)
    cuttable = np.isin(fpart, part_of) & (lab[faces] >= 0).all(1)
    # Candidate edges: ends on two sides, in cuttable faces; the crossing by bisection of the label.
    fc = faces[cuttable]
    edges = np.unique(np.sort(np.concatenate([fc[:, [0, 1]], fc[:, [1, 2]], fc[:, [2, 0]]]), 1), axis=0)
    edges = edges[lab[edges[:, 0]] != lab[edges[:, 1]]]
    # Not on an edge that a face left whole shares (brows, the mouth's inside): it would be a T-junction.
    fo = faces[~cuttable]
    other = np.unique(np.sort(np.concatenate([fo[:, [0, 1]], fo[:, [1, 2]], fo[:, [2, 0]]]), 1), axis=0)
    V = np.int64(len(v))
    edges = edges[~np.isin(edges[:, 0] * V + edges[:, 1], other[:, 0] * V + other[:, 1])]
    a, b = v[edges[:, 0]].astype(np.float64), v[edges[:, 1]].astype(np.float64)
    la = lab[edges[:, 0]]
    lo, hi = np.zeros(len(edges)), np.ones(len(edges))
    for _ in range(20):
        mid = (lo + hi) / 2
        same = _polygon_label(a + mid[:, None] * (b - a), polys) == la
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    t = (lo + hi) / 2
    ok = (t > margin) & (t < 1 - margin)
    edges, t = edges[ok], t[ok].astype(np.float32)
    lerp = lambda x: (1 - t)[:, None] * x[..., edges[:, 0], :] + t[:, None] * x[..., edges[:, 1], :]  # noqa: E731
    new = len(v) + np.arange(len(edges))
    v = np.concatenate([v, lerp(v)])
    idb = np.concatenate([idb, lerp(idb)], 1)
    expr = np.concatenate([expr, lerp(expr)], 1)
    key = {e: n for e, n in zip(map(tuple, edges.tolist()), new.tolist())}
    cut = lambda i, j: key.get((min(i, j), max(i, j)), -1)  # noqa: E731
    out_f, out_cut = [], []
    for f in np.nonzero(cuttable & (np.isin(faces, edges).sum(1) >= 2))[0]:  # faces that may hold a cut edge
        f0, f1, f2 = faces[f].tolist()
        c = [cut(f0, f1), cut(f1, f2), cut(f2, f0)]
        n = sum(x >= 0 for x in c)
        if n == 0:
            continue
        if n == 1:  # rotate the cut edge to (f0, f1)
            k = [x >= 0 for x in c].index(True)
            f0, f1, f2 = [f0, f1, f2][k:] + [f0, f1, f2][:k]
            p = cut(f0, f1)
            tris = [(f0, p, f2), (p, f1, f2)]
        elif n == 2:  # rotate the uncut edge to (f1, f2)
            k = [x < 0 for x in c].index(True)
            k = (k + 2) % 3
            f0, f1, f2 = [f0, f1, f2][k:] + [f0, f1, f2][:k]
            p, q = cut(f0, f1), cut(f2, f0)
            tris = [(f0, p, q), (p, f1, f2), (p, f2, q)]
        else:
            p, q, r = c
            tris = [(f0, p, r), (p, f1, q), (r, q, f2), (p, q, r)]
        out_cut.append(f)
        out_f += tris
    keep = np.ones(len(faces), bool)
    keep[out_cut] = False
    faces = np.concatenate([faces[keep], np.array(out_f, np.int64).reshape(-1, 3)])
    fpart = np.concatenate([fpart[keep], np.full(len(out_f), P["SKIN"])])
    # Every skin, nose or lip triangle (split or not) takes its centroid's label.
    mine = np.concatenate([cuttable[keep], np.ones(len(out_f), bool)])
    fpart[mine] = part_of[_polygon_label(v[faces[mine]].mean(1), polys)]
    return v, idb, expr, faces, fpart


def _vertex_normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (V, 3), not normalised."""
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n


def flipped_faces(v: np.ndarray, faces: np.ndarray, kept: np.ndarray, lod_faces: np.ndarray,
                  full_normals: np.ndarray | None = None) -> np.ndarray:
    """Indices of LOD faces (into lod_faces, which index ``kept`` vertices of the full mesh (v, faces)) that
    face the other way than the full surface at their corners: vertex clustering folds a surface over
    where it curves tightly within a cell (the eyelid creases), and a folded face is back-face culled:
    a hole that shows what is behind the head. full_normals: _vertex_normals(v, faces), if at hand."""
    n = _vertex_normals(v, faces) if full_normals is None else full_normals
    n_full = n[kept[lod_faces]].sum(1)
    n_lod = np.cross(v[kept[lod_faces[:, 1]]] - v[kept[lod_faces[:, 0]]], v[kept[lod_faces[:, 2]]] - v[kept[lod_faces[:, 0]]])
    return np.nonzero((n_full * n_lod).sum(1) < 0)[0]


def _fold_free_lod(vx: np.ndarray, faces: np.ndarray, group: np.ndarray, cell: np.ndarray, keep: np.ndarray,
                   checked: np.ndarray, rounds: int = 6, finest: float = 0.0012):
    """vertex_clustering_lod, then halve the cells around folded faces (flipped_faces) among the source
    faces ``checked`` (bool per face of ``faces``) and cluster again, until none are left or the cells
    reach ``finest`` (m)."""
    from scipy.spatial import cKDTree

    cell = cell.copy()
    v = vx[:, :3]
    normals = _vertex_normals(v, faces)
    for _ in range(rounds):
        kept, lod_faces, fsel = vertex_clustering_lod(vx, faces, group, cell, keep)
        bad = flipped_faces(v, faces, kept, lod_faces, normals)
        bad = bad[checked[fsel[bad]]]
        if len(bad) == 0:
            break
        # Refine every original vertex within a cell of a folded face's corners.
        near = cKDTree(v[kept[lod_faces[bad]].ravel()]).query(v)[0] < cell
        refine = near & (cell > finest)
        if not refine.any():
            break
        cell[refine] = np.maximum(cell[refine] / 2, finest)
    return kept, lod_faces, fsel


def load_ict(path: str | os.PathLike, lod: str = "auto") -> HeadModel:
    """Load the ICT-FaceKit Light head; ``lod`` is 'full', 'low' (about 28k of the full mesh's triangles) or 'auto' (low)."""
    path = Path(path)
    try:
        d = np.load(path)
    except Exception as e:  # noqa: BLE001 - surface the file in the message
        raise ValueError(f"{path}: not a readable .npz file ({e})") from e
    missing = [k for k in REQUIRED_KEYS if k not in d.files]
    if missing:
        raise ValueError(f"{path}: not an ICT-FaceKit Light file, missing arrays {missing}")
    v = d["vertices"].astype(np.float32)
    faces = d["faces"].astype(np.int64)
    names = [str(n) for n in d["region_names"]]
    vreg, freg = d["vertex_region"].astype(np.int64), d["face_region"].astype(np.int64)
    lm68 = d["landmarks68"].astype(np.int64)
    R = {n: i for i, n in enumerate(names)}
    drop_f = np.isin(freg, [R[n] for n in _REGIONS_DROPPED])
    faces, freg = faces[~drop_f], freg[~drop_f]

    # Eyeballs: sphere-fit centre on the back part of the sclera (the cornea bulges forward).
    eyes, offsets, pupils = [], [], []
    for side in ("right", "left"):
        idx = np.nonzero(vreg == R[f"sclera_{side}"])[0]
        c0 = v[idx].mean(0)
        back = idx[v[idx, 2] < c0[2]]
        c, r = sphere_fit(v[back])
        eyes.append(idx)
        offsets.append(c - v[idx].mean(0))
        # Pupil landmark: the sclera vertex on the gaze axis at the front of the cornea.
        dirs = (v[idx] - c) / np.linalg.norm(v[idx] - c, axis=1, keepdims=True)
        pupils.append(idx[np.argmax(dirs[:, 2])])
    landmarks = np.r_[lm68, pupils]

    fpart = _label_parts(v, faces, vreg, names, v[lm68])
    exp_names = [str(n) for n in d["expression_names"]]
    expr = np.stack([d["expression_basis"][exp_names.index(n)].astype(np.float32) for n in EXPRESSION_SHAPES])
    idb = (d["identity_basis"].astype(np.float32) * d["identity_std"][:, None, None])

    if lod in ("auto", "low"):
        vpart = np.full(len(v), P["SKIN"])
        vpart[faces.reshape(-1)] = np.repeat(fpart, 3)
        # Cells: fine where detail shows at 112 px (eyes, lips), coarse inside the mouth and behind.
        cell = np.full(len(v), 0.0042)
        cell[np.isin(vpart, [P["EYE_R"], P["EYE_L"], P["CARUNCLE_R"], P["CARUNCLE_L"]])] = 0.0012
        cell[np.isin(vpart, [P["LIP_TOP"], P["LIP_BOTTOM"], P["BROW_R"], P["BROW_L"]])] = 0.0026
        cell[np.isin(vpart, [P["NOSE"]])] = 0.003
        cell[(v[:, 2] < v[lm68[0], 2]) & np.isin(vpart, [P["SKIN"], P["SCALP"], P["NECK"]])] = 0.008
        # Teeth are clustered tooth by tooth: clusters spanning two neighbouring teeth bridged them with
        # spikes, leaving two incisor blocks and dark slivers for a smile.
        # Around the mouth the lips roll inward over the teeth: coarse cells there pulled spikes of skin
        # into the mouth opening.
        lip_d = distance_to_polyline(v[:, :2], v[lm68[list(range(48, 60)) + [48]], :2])
        cell[(lip_d < 0.012) & (v[:, 2] > v[lm68[48], 2] - 0.02) & np.isin(vreg, [R["face"]])] = 0.0022
        cell[np.isin(vreg, [R["gums_tongue"], R["mouth_socket"]])] = 0.006
        cell[np.isin(vpart, [P["TEETH"]])] = 0.004
        group = vpart * 64 + vreg
        if "tooth_vertex_ranges" in d.files:
            # Tooth by tooth (clusters spanning two teeth bridged them), and the twelve front teeth, the
            # ones a smile shows, at full resolution (they are small: 75-100 vertices each).
            for k, (a, b) in enumerate(d["tooth_vertex_ranges"]):
                group[a:b] = -100 - k
                name = str(d["tooth_names"][k])
                if "incisor" in name or "canine" in name:
                    cell[a:b] = 0.0012
        keep = np.unique(np.r_[landmarks])
        # Vertices merge only if they also move alike when the jaw opens (see vertex_clustering_lod).
        jaw = expr[EXPRESSION_SHAPES.index("jawOpen")]
        # Folds are refined away on the outer surfaces; the mouth interior and teeth fold too (their cells
        # are coarse on purpose), but mostly out of sight: refining them doubled their faces.
        outer = ~np.isin(fpart, [P["MOUTH"], P["TEETH"]])
        kept, faces, fsel = _fold_free_lod(np.concatenate([v, jaw], 1), faces, group, cell, keep, outer)
        fpart = fpart[fsel]
        remap = -np.ones(len(v), np.int64)
        remap[kept] = np.arange(len(kept))
        v, idb, expr, vreg = v[kept], idb[:, kept], expr[:, kept], vreg[kept]
        landmarks = remap[landmarks]
        eyes = [remap[e][remap[e] >= 0] for e in eyes]
        # Recompute the centre offsets on the reduced eyes (the mean moves when vertices merge).
        new_off = []
        for i, e in enumerate(eyes):
            back = e[v[e, 2] < v[e].mean(0)[2]]
            c, _ = sphere_fit(v[back])
            new_off.append(c - v[e].mean(0))
        offsets = new_off
    elif lod != "full":
        raise ValueError(f"lod must be 'full', 'low' or 'auto', got {lod!r}")
    skin = (vreg == R["face"]) | (vreg == R["head_neck"])
    v, idb, expr, faces, fpart = _cut_polygon_parts(v, idb, expr, faces, fpart, skin, v[landmarks[:68]])
    return HeadModel(
        name="ict", template=v, id_basis=idb, expr_basis=expr, faces=faces, face_part=fpart,
        landmarks=landmarks, eye_vertices=(eyes[0], eyes[1]),
        eye_centre_offset=np.asarray(offsets, np.float32),
    )
