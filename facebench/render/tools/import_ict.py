"""Build ``ict_facekit_light.npz`` (the compact head file facebench reads) from a clone of ICT-FaceKit.

    git clone https://github.com/ICT-VGL/ICT-FaceKit
    python -m facebench.render.tools.import_ict ICT-FaceKit out=ict_facekit_light.npz

What it reads (the repository's ``FaceXModel/``): ``generic_neutral_mesh.obj``, ``identity000..099.obj``,
the 53 expression OBJs listed in ``vertex_indices.json["expressions"]`` and the landmark list in the
same JSON. Sub-mesh regions are the vertex/polygon ranges of the repository README's geometry tables
(reproduced below). OBJ units are centimetres; the file is written in metres. Polygons are fan-split
into triangles keeping the OBJ winding; bases are stored as float16 (under 0.03 mm of error).
The result is MIT-licensed data of USC ICT: keep the repository's LICENSE beside it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import track

# (name, first vertex, last vertex, first polygon, last polygon), inclusive, from the ICT-FaceKit README
# ("Geometry", "Eyeball Details" tables; the eyeballs are split into sclera and iris).
REGIONS = (
    ("face", 0, 9408, 0, 9229), ("head_neck", 9409, 11247, 9230, 11143),
    ("mouth_socket", 11248, 13293, 11144, 13225), ("eye_socket_left", 13294, 13677, 13226, 13629),
    ("eye_socket_right", 13678, 14061, 13630, 14033), ("gums_tongue", 14062, 17038, 14034, 17005),
    ("teeth", 17039, 21450, 17006, 21495), ("sclera_left", 21451, 22220, 21496, 22295),
    ("iris_left", 22221, 23020, 22296, 23093), ("sclera_right", 23021, 23790, 23094, 23893),
    ("iris_right", 23791, 24590, 23894, 24691), ("lacrimal_fluid_left", 24591, 24794, 24692, 24854),
    ("lacrimal_fluid_right", 24795, 24998, 24855, 25017), ("eye_blend_left", 24999, 25022, 25018, 25032),
    ("eye_blend_right", 25023, 25046, 25033, 25047), ("eye_occlusion_left", 25047, 25198, 25048, 25175),
    ("eye_occlusion_right", 25199, 25350, 25176, 25303), ("eyelashes_left", 25351, 26034, 25304, 25843),
    ("eyelashes_right", 26035, 26718, 25844, 26383),
)
NUM_VERTICES, NUM_POLYGONS = 26719, 26384
CM_TO_M = 0.01


def read_obj(path: Path, with_faces: bool = False):
    """(V, 3) float64 vertex positions of an OBJ, and with_faces: (triangles (F, 3) int64, 0-based, fan-split
    from each polygon keeping its winding; the source polygon index of every triangle)."""
    verts, tris, poly_of = [], [], []
    n_poly = 0
    with open(path) as fh:
        for ln, line in enumerate(fh, 1):
            if line.startswith("v "):
                verts.append(line[2:])
            elif with_faces and line.startswith("f "):
                try:
                    idx = [int(tok.split("/")[0]) for tok in line.split()[1:]]
                except ValueError:
                    raise ValueError(f"{path}:{ln}: malformed face line {line.strip()!r}") from None
                if len(idx) < 3:
                    raise ValueError(f"{path}:{ln}: a face needs at least 3 vertices")
                idx = [i - 1 if i > 0 else len(verts) + i for i in idx]  # OBJ is 1-based; negatives are relative
                for k in range(1, len(idx) - 1):
                    tris.append((idx[0], idx[k], idx[k + 1]))
                    poly_of.append(n_poly)
                n_poly += 1
    v = np.array(" ".join(verts).split(), dtype=np.float64)
    if v.size % 3:
        raise ValueError(f"{path}: vertex lines must hold x y z")
    v = v.reshape(-1, 3)
    if not with_faces:
        return v
    return v, np.asarray(tris, np.int64), np.asarray(poly_of, np.int64)


@dataclass
class ImportConfig:
    repo: str = ""
    out: str = "ict_facekit_light.npz"


def import_ict(repo: str | Path, out: str | Path) -> Path:
    repo, out = Path(repo), Path(out)
    model = repo / "FaceXModel"
    index_file = model / "vertex_indices.json"
    if not index_file.is_file():
        raise FileNotFoundError(f"{index_file}: not found; pass the root of an ICT-FaceKit clone")
    index = json.loads(index_file.read_text())
    neutral, faces, tri_poly = read_obj(model / "generic_neutral_mesh.obj", with_faces=True)
    if neutral.shape[0] != NUM_VERTICES or tri_poly.max() + 1 != NUM_POLYGONS:
        raise ValueError(f"{model / 'generic_neutral_mesh.obj'}: expected {NUM_VERTICES} vertices and {NUM_POLYGONS} "
                         f"polygons (ICT-FaceKit Light), got {neutral.shape[0]} and {tri_poly.max() + 1}")

    def offsets(names, what):
        out_ = np.zeros((len(names), NUM_VERTICES, 3), np.float16)
        for i, name in enumerate(track(names, description=f"reading {what}")):
            v = read_obj(model / f"{name}.obj")
            if v.shape != neutral.shape:
                raise ValueError(f"{model / (name + '.obj')}: {v.shape[0]} vertices, expected {NUM_VERTICES}")
            out_[i] = ((v - neutral) * CM_TO_M).astype(np.float16)
        return out_

    id_names = [f"identity{i:03d}" for i in range(100)]
    expr_names = list(index["expressions"])
    vreg = np.zeros(NUM_VERTICES, np.int16)
    freg = np.zeros(len(faces), np.int16)
    for r, (_, v0, v1, p0, p1) in enumerate(REGIONS):
        vreg[v0:v1 + 1] = r
        freg[(tri_poly >= p0) & (tri_poly <= p1)] = r
    arrays = {
        "vertices": (neutral * CM_TO_M).astype(np.float32),
        "faces": faces.astype(np.int32),
        "tri_poly_index": tri_poly.astype(np.int32),
        "identity_basis": offsets(id_names, "identity modes"),
        "identity_std": np.ones(100, np.float32),
        "identity_names": np.array(id_names),
        "expression_basis": offsets(expr_names, "expression shapes"),
        "expression_names": np.array(expr_names),
        "landmarks68": np.asarray(index["idx_to_landmark_verts"], np.int32),
        "region_names": np.array([r[0] for r in REGIONS]),
        "vertex_region": vreg,
        "face_region": freg,
        "units": np.array("m"),
        "source_units": np.array("cm"),
        "source_repo": np.array("https://github.com/ICT-VGL/ICT-FaceKit"),
        "license": np.array("MIT, Copyright (c) 2020 USC Institute for Creative Technologies"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}: {NUM_VERTICES} vertices, {len(faces)} triangles, 100 identity modes, "
          f"{len(expr_names)} expressions")
    return out


def main(argv=None):
    from facebench.cli_args import parse

    cfg = parse(ImportConfig(), argv, positional="repo")
    if not cfg.repo:
        raise SystemExit("usage: python -m facebench.render.tools.import_ict ICT_FACEKIT_CLONE [out=ict_facekit_light.npz]")
    import_ict(cfg.repo, cfg.out)


if __name__ == "__main__":
    main()
