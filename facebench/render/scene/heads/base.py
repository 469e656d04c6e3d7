"""The interface every head model implements, and the material/part ids shared by the renderer.

A head is a linear model in metres, +Y up, +Z the way the face looks, +X the subject's left:

    vertices = template + id_coeffs @ id_basis + expr_weights @ expr_basis

with a fixed triangle list. Each triangle carries a *part* id (skin, nose, lips, ...) that decides its
material and its segmentation class; eyes are rigid sub-meshes rotated about their centres for gaze.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from facebench.labels import SEG

# Part ids (materials). "R"/"L" are the subject's sides.
PARTS = (
    "SKIN", "NOSE", "EYE_R", "EYE_L", "BROW_R", "BROW_L", "EAR_R", "EAR_L", "MOUTH", "TEETH",
    "LIP_TOP", "LIP_BOTTOM", "NECK", "SCALP", "HAIR", "BEARD", "CLOTHING", "GLASSES", "HEADWEAR",
    "FACEWEAR", "CARUNCLE_R", "CARUNCLE_L", "LENS",
)
P = {name: i for i, name in enumerate(PARTS)}

# Part -> FaceSynthetics class. FaceSynthetics names sides from the viewer (see facebench.labels), so the
# subject's right eye is its LEFT_EYE. SCALP becomes HAIR where hair is painted on (decided per sample).
PART_TO_SEG = np.array([
    SEG["SKIN"], SEG["NOSE"], SEG["LEFT_EYE"], SEG["RIGHT_EYE"], SEG["LEFT_BROW"], SEG["RIGHT_BROW"],
    SEG["LEFT_EAR"], SEG["RIGHT_EAR"], SEG["MOUTH_INTERIOR"], SEG["MOUTH_INTERIOR"], SEG["TOP_LIP"],
    SEG["BOTTOM_LIP"], SEG["NECK"], SEG["SKIN"], SEG["HAIR"], SEG["BEARD"], SEG["CLOTHING"],
    SEG["GLASSES"], SEG["HEADWEAR"], SEG["FACEWEAR"], SEG["LEFT_EYE"], SEG["RIGHT_EYE"], SEG["GLASSES"],
], dtype=np.uint8)

# The expression shapes both heads provide (ARKit names; the ICT head has all of them natively).
EXPRESSION_SHAPES = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R", "eyeSquint_L", "eyeSquint_R",
    "eyeWide_L", "eyeWide_R", "jawOpen", "jawForward", "mouthFrown_L", "mouthFrown_R",
    "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R", "mouthPress_L",
    "mouthPress_R", "mouthPucker", "mouthFunnel", "mouthUpperUp_L", "mouthUpperUp_R",
    "mouthLowerDown_L", "mouthLowerDown_R", "noseSneer_L", "noseSneer_R", "mouthShrugLower",
    "mouthRollLower", "cheekPuff_L", "cheekPuff_R",
)


@dataclass
class HeadModel:
    """A linear head model with per-triangle parts (numpy on construction, torch via :meth:`to`)."""

    name: str
    template: np.ndarray  # (V, 3) float32, metres
    id_basis: np.ndarray  # (K, V, 3) float32, coefficients ~ N(0, 1)
    expr_basis: np.ndarray  # (len(EXPRESSION_SHAPES), V, 3) float32, weights in [0, 1]
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    face_part: np.ndarray  # (F,) int64 part ids
    landmarks: np.ndarray  # (70,) vertex ids: iBUG 68 then right and left pupil
    eye_vertices: tuple[np.ndarray, np.ndarray]  # vertex ids of the (right, left) rigid eyeballs
    eye_centre_offset: np.ndarray  # (2, 3) eyeball centre minus the mean of its vertices (template)

    @property
    def num_vertices(self) -> int:
        return self.template.shape[0]

    @property
    def num_identity(self) -> int:
        return self.id_basis.shape[0]

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """All arrays as torch tensors on ``device`` (float32 / int64)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                t = torch.from_numpy(np.ascontiguousarray(v))
                out[f.name] = (t.float() if t.is_floating_point() else t.long()).to(device)
            elif isinstance(v, tuple):
                out[f.name] = tuple(torch.from_numpy(a).long().to(device) for a in v)
        return out


def vertex_clustering_lod(
    template: np.ndarray,
    faces: np.ndarray,
    vertex_group: np.ndarray,
    cell: np.ndarray,
    keep: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level of detail by vertex clustering: merge vertices in the same grid cell *and* group.

    template: (V, 3) positions, optionally followed by more columns (V, 3 + k), e.g. an expression's
    displacement: vertices then merge only when those fall in the same cell too, so surfaces that touch at
    rest but part in the expression (the inner lips when the jaw opens) stay apart.

    cell: (V,) cell size in metres per vertex (finer on the face, coarser behind it).
    keep: vertex ids that must survive unmerged (landmarks, pupils).
    Returns (kept_vertex_ids, new_faces, kept_face_ids): new_faces index into kept_vertex_ids and
    kept_face_ids are the source triangles that survived. The survivor of a
    cluster is the original vertex nearest the cluster mean, so every basis of the model is simply
    indexed: no blendshape is resampled.
    """
    V = template.shape[0]
    q = np.floor(template / cell[:, None]).astype(np.int64)
    key = np.concatenate([q, vertex_group.astype(np.int64)[:, None],
                          np.round(np.log2(cell) * 4).astype(np.int64)[:, None]], 1)
    key[keep, -2] = -1 - np.arange(len(keep))  # a cluster of its own
    _, cluster = np.unique(key, axis=0, return_inverse=True)
    cluster = cluster.reshape(-1)
    n = cluster.max() + 1
    mean = np.zeros((n, template.shape[1]))
    np.add.at(mean, cluster, template)
    mean /= np.bincount(cluster, minlength=n)[:, None]
    d = np.linalg.norm(template - mean[cluster], axis=1)
    order = np.lexsort((d, cluster))
    first = np.ones(V, bool)
    first[1:] = cluster[order][1:] != cluster[order][:-1]
    rep = np.empty(n, np.int64)
    rep[cluster[order][first]] = order[first]
    rep[cluster[keep]] = keep
    nf = cluster[faces]
    ok = (nf[:, 0] != nf[:, 1]) & (nf[:, 1] != nf[:, 2]) & (nf[:, 0] != nf[:, 2])
    nf = nf[ok]
    # Drop duplicated triangles (same vertex set) created by the merge.
    _, uniq = np.unique(np.sort(nf, 1), axis=0, return_index=True)
    keep_faces = np.zeros(len(nf), bool)
    keep_faces[uniq] = True
    # Landmark clusters stay even if all their triangles collapsed (they are then floating points).
    used = np.unique(np.r_[nf[keep_faces].ravel(), cluster[keep]])
    remap = -np.ones(n, np.int64)
    remap[used] = np.arange(len(used))
    return rep[used], remap[nf[keep_faces]], np.nonzero(ok)[0][keep_faces]
