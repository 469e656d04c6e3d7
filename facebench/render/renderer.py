"""FaceRenderer: factors -> images with exact labels, batched on one device (CPU or CUDA).

Per batch: linear head shape -> gaze -> accessory shells and rigid meshes -> head pose -> perspective
projection -> 2D framing (ArcFace-aligned or wild) -> z-buffer at ``supersample`` x resolution ->
deferred shading -> composite over a background -> box-filter down to the output size.

Outputs (all at the output size):
- image (B, 3, H, W) float in [0, 1]
- seg (B, H, W) uint8, FaceSynthetics classes (majority of the supersamples)
- ldmk2d (B, 70, 2) float pixels, OpenCV convention (pixel centres at integer coordinates), iBUG 68 +
  right/left pupil; ldmk_visible (B, 70) bool: not hidden by the head itself
- ldmk3d (B, 70, 3) metres, posed head frame (+X subject's left at yaw 0, +Y up, +Z toward camera)
- pose (B, 3) yaw, pitch, roll in degrees; identity (B,); expression (B,)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facebench.labels import ARCFACE_TEMPLATE_112
from facebench.render.scene.accessories import Rig, build_rig, vertex_parts
from facebench.render.scene.albedo import build_albedo_model
from facebench.render.camera import apply_similarity, euler_to_matrix, project, umeyama_similarity
from facebench.render.scene.factors import FaceFactors
from facebench.render.scene.heads.base import P, PART_TO_SEG, HeadModel, vertex_clustering_lod
from facebench.render.scene.heads.geometry import vertex_normals
from facebench.render.scene.occlusion import ambient_occlusion
from facebench.render.backends import make_backend
from facebench.render.backends.base import light_basis
from facebench.render.materials import ShadeInputs, paint_edge
from facebench.render.shading import hash_noise

FRAMINGS = ("aligned", "wild")
_PIVOT = (0.0, -0.07, -0.01)  # neck pivot of head rotations (m, head frame)
_FABRIC_CLEARANCE = 0.001  # m: the least gap between a face mask and the skin under it
_FABRIC_NORMAL_SMOOTHING = 3  # passes of neighbour averaging over the face mask's shading normals
# Offset copies of head patches (beards are painted on), and the face mask's ear loops riding on head vertices.
SHELLS = ("hair", "headwear", "facewear", "clothing", "loops")
RIGIDS = ("glasses", "brim", "locks")
_SHADOW_SIZE = 160  # texels of the key light's shadow map (about 3 mm each over head and shoulders)
_SHADOW_CELL = 0.008  # metres: vertex-cluster size of the head's copy in the shadow pass
# The neck twists: below NECK_TWIST[0] (template height, m) the head mesh (the ICT bust) turns with the torso,
# above NECK_TWIST[1] with the head, and in between along a smoothstep through POSE_LEVELS + 1 rotations whose
# angles run from the torso's to the head's (neighbouring levels are blended linearly: at most 4 degrees
# apart, so the blend does not shrink the neck as blending the two end rotations would at wide yaw).
NECK_TWIST = (-0.13, -0.085)
POSE_LEVELS = 16
AO_PARTS = ("SKIN", "NOSE", "EAR_R", "EAR_L", "NECK", "SCALP", "LIP_TOP", "LIP_BOTTOM", "BROW_R", "BROW_L")
AO_FLOOR = 0.35  # the ambient light left in a fully occluded crease (what bounces in)


@dataclass
class RenderOutput:
    image: torch.Tensor
    seg: torch.Tensor
    ldmk2d: torch.Tensor
    ldmk_visible: torch.Tensor
    ldmk3d: torch.Tensor
    pose: torch.Tensor
    identity: torch.Tensor
    expression: torch.Tensor

    def images_u8(self) -> np.ndarray:
        """The images as a C-contiguous (B, H, W, 3) uint8 array on the CPU (rounded), ready for OpenCV."""
        return np.ascontiguousarray((self.image.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))


def _vertex_normals(v: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (B, V, 3); numba on the CPU, a scatter-add elsewhere."""
    if v.device.type == "cpu":
        from facebench.render.backends.cpu.mesh import vertex_normals_numba

        return vertex_normals_numba(v, faces)
    fv = v[:, faces]  # (B, F, 3, 3)
    fn = torch.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)
    n = torch.zeros_like(v)
    for k in range(3):
        n.index_add_(1, faces[:, k], fn)
    return F.normalize(n, dim=-1, eps=1e-12)


def _padded_rows(rows: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """values (M,) grouped by their row ids rows (M,) in [0, n) into an (n, max count) table padded with -1,
    each row in the pairs' order (a stable sort)."""
    count = torch.bincount(rows, minlength=n)
    order = torch.argsort(rows, stable=True)
    slot = torch.arange(len(order)) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    table = torch.full((n, int(count.max())), -1, dtype=torch.long)
    table[rows[order], slot] = values[order]
    return table


def gathered_vertex_normals(v: torch.Tensor, faces: torch.Tensor, vertex_faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (B, V, 3) as _vertex_normals, by gathers and sums over each vertex's
    faces (vertex_faces (V, K), padded with -1) instead of a scatter-add, whose atomics on a GPU would make
    the order of the sums, and so the last bits, vary from run to run."""
    fv = v[:, faces]
    fn = torch.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)
    fn = torch.cat([fn, torch.zeros_like(fn[:, :1])], 1)  # index -1: the padding
    return F.normalize(fn[:, vertex_faces].sum(2), dim=-1, eps=1e-12)


def neck_follow(y: torch.Tensor) -> torch.Tensor:
    """How far (0 = torso, 1 = head) each template point at height y (m) turns with the head (NECK_TWIST)."""
    t = ((y - NECK_TWIST[0]) / (NECK_TWIST[1] - NECK_TWIST[0])).clamp(0, 1)
    return t * t * (3 - 2 * t)


def pose_rotations(pose: torch.Tensor) -> torch.Tensor:
    """Rotations (B, POSE_LEVELS + 1, 3, 3) for pose (B, 3) yaw, pitch, roll (degrees): level 0 the torso's (a
    quarter of the yaw), level POSE_LEVELS the head's, angles linear in between."""
    B = pose.shape[0]
    k = torch.arange(POSE_LEVELS + 1, device=pose.device, dtype=pose.dtype) / POSE_LEVELS
    yaw = pose[:, :1] * (0.25 + 0.75 * k)
    pitch, roll = pose[:, 1:2] * k, pose[:, 2:3] * k
    return euler_to_matrix(yaw.reshape(-1), pitch.reshape(-1), roll.reshape(-1)).view(B, POSE_LEVELS + 1, 3, 3)


def pose_points(p: torch.Tensor, w: torch.Tensor, Rs: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """Points p (B, N, 3) turned about pivot by the rotation each takes at follow weight w (N,) (0 torso, 1
    head): level l = floor(w * POSE_LEVELS) of Rs (B, L + 1, 3, 3) blended linearly with level l + 1. The
    kernels (geometry_numba, cuda_kernels) compute the same."""
    L = Rs.shape[1] - 1
    q = p - pivot
    out = torch.empty_like(p)
    # Most points take one end rotation: a batched matmul each; the blended band a per-point matrix.
    for sel, M in ((w >= 1, Rs[:, L]), (w <= 0, Rs[:, 0])):
        out[:, sel] = q[:, sel] @ M.transpose(1, 2)
    band = torch.nonzero((w > 0) & (w < 1)).flatten()
    if len(band):
        t = w[band] * L
        lvl = t.floor().long().clamp(max=L - 1)
        f = (t - lvl).view(1, -1, 1, 1)
        M = (1 - f) * Rs[:, lvl] + f * Rs[:, lvl + 1]  # (B, n, 3, 3)
        out[:, band] = torch.einsum("bnij,bnj->bni", M, q[:, band])
    return out + pivot


def _majority(x: torch.Tensor, s: int) -> torch.Tensor:
    """Per-block mode of an integer image (B, H*s, W*s) -> (B, H, W); ties go to the first sample."""
    if x.device.type == "cpu":
        from facebench.render.backends.cpu.mesh import majority_numba

        return majority_numba(x, s)
    B, Hs, Ws = x.shape
    blk = x.view(B, Hs // s, s, Ws // s, s).permute(0, 1, 3, 2, 4).reshape(B, Hs // s, Ws // s, s * s)
    counts = (blk[..., :, None] == blk[..., None, :]).sum(-1)
    return blk.gather(-1, counts.argmax(-1, keepdim=True)).squeeze(-1)


def _shell_styles(fac: FaceFactors) -> dict[str, torch.Tensor]:
    """The style index (B,) of each shell."""
    return {"hair": fac.hair, "headwear": fac.headwear, "facewear": fac.facewear, "clothing": fac.clothing,
            "loops": fac.facewear}


def _per_identity(coef: torch.Tensor, fn) -> torch.Tensor:
    """fn(coef) (B, ...) for a (B, K) batch of identity coefficients, on the CPU computed once per distinct row.

    Images of one identity share its albedo coefficients, and a batch of consecutive samples (generation,
    identity-folder order) holds a few identities. (The shape model gains nothing from this: with its
    expression part its GEMM stays bound by reading the float64 basis.) A row's value does not depend on the
    other rows of the batch (float64, rounded to float32: see FaceRenderer.__init__; tests/test_determinism.py),
    so no output changes. On a GPU torch.unique would synchronise the host, and the GEMM is cheap there."""
    if coef.device.type != "cpu" or len(coef) < 2:
        return fn(coef)
    rows, inverse = torch.unique(coef, dim=0, return_inverse=True)
    if len(rows) == len(coef):
        return fn(coef)
    return fn(rows)[inverse]


class FaceRenderer:
    """Renders :class:`FaceFactors` with one head model on one device."""

    def __init__(self, head: HeadModel, device: str | torch.device = "cpu", backend: str = "auto"):
        self.head = head
        self.device = torch.device(device)
        # The per-batch stages run on a backend (facebench.render.backends); this constructor builds the scene
        # they read, once per head.
        self.backend_impl = make_backend(backend, self.device)
        self.backend = self.backend_impl.name
        dev = self.device
        t = head.tensors(dev)
        V = head.num_vertices
        self.template = t["template"]
        # The linear models as one (K, D) basis each. sgemm's blocking (and so its rounding) changes with
        # the batch size; in float64, rounded to float32 afterwards, a sample comes out the same in any
        # batch (and costs about the same: the bases are small, and FP64 tensor cores on Hopper).
        self._shape_basis = torch.cat([t["id_basis"].reshape(head.num_identity, -1),
                                       t["expr_basis"].reshape(t["expr_basis"].shape[0], -1)]).double()
        self.landmarks = t["landmarks"]
        self.eye_vertices = t["eye_vertices"]
        self.eye_offset = t["eye_centre_offset"]
        mean, basis = build_albedo_model(head)
        self.alb_mean = torch.from_numpy(mean).to(dev)
        self._alb_basis64 = torch.from_numpy(basis).to(dev).reshape(basis.shape[0], -1).double()
        self.rig: Rig = build_rig(head)
        r = self.rig
        # One combined mesh: head, then shells, then rigid meshes.
        blocks = [("head", V)] + [(n, len(getattr(r, n).vids)) for n in SHELLS] \
            + [(n, len(getattr(r, n).verts)) for n in RIGIDS]
        self.offset, o = {}, 0
        for name, n in blocks:
            self.offset[name] = (o, o + n)
            o += n
        self.num_all = o
        faces, parts = [head.faces], [head.face_part]
        for name in SHELLS + RIGIDS:
            m = getattr(r, name)
            faces.append(m.faces + self.offset[name][0])
            parts.append(np.full(len(m.faces), m.part) if name in SHELLS else m.face_part)
        # The shells' inner sides: reversed copies of their faces, appended after every other face. Seen
        # past a shell's edge at a silhouette, the back-face-culled shell showed the background through
        # the gap between it and the head. The copies share the shell's vertices, so vertex normals are
        # computed from the faces before them (num_front_faces) and they share their originals' face masks.
        # Closed shells (the ear loops' tubes) have none (Shell.inner_side).
        self.num_front_faces = sum(len(f) for f in faces)
        starts = np.cumsum([0] + [len(f) for f in faces])
        blocks_in_order = ("head",) + SHELLS + RIGIDS
        back_src = np.concatenate([np.arange(starts[blocks_in_order.index(n)], starts[blocks_in_order.index(n) + 1])
                                   for n in SHELLS if getattr(r, n).inner_side])
        all_faces = np.concatenate(faces)
        all_parts = np.concatenate(parts)
        self.faces = torch.from_numpy(np.concatenate([all_faces, all_faces[back_src][:, [0, 2, 1]]])).long().to(dev)
        self.face_part = torch.from_numpy(np.concatenate([all_parts, all_parts[back_src]])).long().to(dev)
        self._back_src = torch.from_numpy(back_src).long().to(dev)
        self.part_to_seg = torch.from_numpy(PART_TO_SEG.astype(np.int64)).to(dev)
        f = lambda a: torch.from_numpy(np.asarray(a)).to(dev)  # noqa: E731
        self.shell = {n: (f(getattr(r, n).vids).long(), f(getattr(r, n).masks).float(), f(getattr(r, n).thickness).float(),
                          f(getattr(r, n).faces).long()) for n in SHELLS}
        # Each shell vertex's fixed displacement after its offset along the normal (Shell.offset: the face
        # mask's taut fabric, which _fabric_unposed places anyway; the garment's continuation below the
        # head mesh), and its rest position (template + offset).
        self._shell_offset = torch.cat([f(getattr(r, n).offset).float() if getattr(r, n).offset is not None
                                        else torch.zeros(len(self.shell[n][0]), 3, device=dev) for n in SHELLS])
        shell_rest = torch.split(self.template[torch.cat([self.shell[n][0] for n in SHELLS])] + self._shell_offset,
                                 [len(self.shell[n][0]) for n in SHELLS])
        self._shell_rest = dict(zip(SHELLS, shell_rest))
        self.rigid = {n: (f(getattr(r, n).verts).float(), f(getattr(r, n).face_style)) for n in RIGIDS}
        # Painted layers per style (S, V), smooth per-pixel edges for the shader and the labels: hair on the
        # scalp and skin, beards on the skin, and the face mask and hat colours on the skin just past their
        # shells, whose own borders follow mesh edges. The order is that of ShadeInputs.paint. Hair, masks
        # and hats paint from their shells' wide paint fields (Shell.paint: level lines a few millimetres
        # outside the shell's border, over ramps several mesh edges wide), ramped over 0.4-0.6: smooth
        # edges, and dense paint under the shells' stepped borders (over partly painted skin the steps showed
        # as notches; the shells' own 4-8 mm mask ramps zigzagged along the mesh edges). The hair's field is
        # ramped here, per vertex (a soft hairline: ramped per pixel it read as a drawn line); the mask's and
        # hat's fields stay raw and the shaders ramp them per pixel (shade.paint_edge: a fabric's edge, which
        # per vertex zigzagged along the neck's coarse mesh).
        self.paint_tables = []
        for shell in (r.hair, r.beard, r.facewear, r.headwear):
            m = f(shell.masks if shell.paint is None else shell.paint).float()
            if shell is r.hair:
                m = paint_edge(m)  # the same ramp the shaders apply to the mask's and hat's fields per pixel
            if shell.paint is None:  # masks live on the shell's vertices
                table = torch.zeros(shell.masks.shape[0], V, device=dev)
                table[:, f(shell.vids).long()] = m
            else:
                table = m
            self.paint_tables.append(table)
        # The head vertex whose paint each combined vertex carries (rigid meshes: the zero row V). Shells take
        # their head vertex's: the hat's paint then also covers the hair shell just below its rim (hair showed
        # through the notches of the hat's stepped border as dark spikes) and the mask's the beard shell.
        self._paint_src = torch.cat([torch.arange(V, device=dev)] + [self.shell[n][0] for n in SHELLS]
                                    + [torch.full((len(self.rigid[n][0]),), V, device=dev) for n in RIGIDS])
        # Canonical (template) positions of every combined vertex, for procedural textures.
        canon = [self.template] + [self._shell_rest[n] for n in SHELLS] + [self.rigid[n][0] for n in RIGIDS]
        self.canon = torch.cat(canon)
        tl = self.template[self.landmarks[:68]]
        self.t_eye_mid = (tl[36:42].mean(0) + tl[42:48].mean(0)) / 2
        self.t_iod = (tl[36:42].mean(0) - tl[42:48].mean(0)).norm()
        self.t_width = (tl[0] - tl[16]).norm()
        self.t_depth = self.t_eye_mid[2] - (tl[0, 2] + tl[16, 2]) / 2
        self.eye_centre_t = torch.stack([self.template[e].mean(0) for e in self.eye_vertices]) + self.eye_offset
        self.pivot = torch.tensor(_PIVOT, device=dev)
        # Hair thickness of each hair style at the hat shell's vertices (0 where that style has none), for
        # _shell_thickness.
        hat_pos = torch.full((V,), -1, dtype=torch.long, device=dev)
        hat_pos[self.shell["headwear"][0]] = torch.arange(len(self.shell["headwear"][0]), device=dev)
        hair_vids, _, hair_t, _ = self.shell["hair"]
        on_hat = hat_pos[hair_vids] >= 0
        self._hair_at_hat = torch.zeros(hair_t.shape[0], len(self.shell["headwear"][0]), device=dev)
        self._hair_at_hat[:, hat_pos[hair_vids[on_hat]]] = hair_t[:, on_hat]
        # Per style, the shell faces drawn: those with a vertex whose mask exceeds 0.5 (S, F_shell); the raster
        # clips them per sample where the interpolated mask is at or below 0.5 (_vertex_alpha). Drawing only
        # faces with all three vertices past 0.5 gave each shell a border stepped along its mesh edges, which
        # showed as jags where a hat's rim stands proud of the hair.
        self._shell_face_table = {n: (self.shell[n][1][:, self.shell[n][3]] > 0.5).any(-1) for n in SHELLS}
        # Concatenated shell vertex ids for the kernels.
        self._shell_vids = torch.cat([self.shell[n][0] for n in SHELLS])
        # The face mask's fabric (accessories.facewear_shell; see _fabric_unposed): the head vertex each vertex
        # follows, the template there and the smoothed identity basis (K, n*3), and per vertex its faces (padded
        # with -1) for its normals in the kernel backends.
        fw = r.facewear
        self._fabric_follow = f(fw.follow).long()
        self._fabric_anchor = self.shell["facewear"][0][self._fabric_follow]  # the head vertex carrying each
        self._fabric_still = f(fw.still).float()[:, None]
        self._fabric_template = self.template[self._fabric_anchor]
        self._fabric_identity = f(fw.smooth_identity).double().reshape(head.num_identity, -1)  # float64, as shape()
        self._fabric_offset = f(fw.offset).float()
        fw_faces = torch.from_numpy(fw.faces).long()
        vf = _padded_rows(fw_faces.reshape(-1), torch.arange(fw_faces.numel()) // 3, len(fw.vids))
        self._fabric_faces, self._fabric_vf = fw_faces.to(dev), vf.to(dev)
        # The fabric's shading normals are averaged with their mesh neighbours' (_FABRIC_NORMAL_SMOOTHING
        # times): where the taut fabric bends round the nose's wings and the mouth's corners its faces turn
        # within a row of triangles, and those rows shaded as dark hairlines in close-ups.
        # Each vertex's neighbourhood (itself and its mesh neighbours) as padded index rows (-1: none): a
        # gather and a sum in a fixed order, the same in any batch on any device.
        e = torch.cat([fw_faces[:, [0, 1]], fw_faces[:, [1, 2]], fw_faces[:, [2, 0]]])
        e = torch.unique(torch.cat([e, e.flip(1), torch.arange(len(fw.vids))[:, None].repeat(1, 2)]), dim=0)
        self._fabric_nbr = _padded_rows(e[:, 0], e[:, 1], len(fw.vids)).to(dev)
        self._rigid_verts = torch.cat([self.rigid[n][0] for n in RIGIDS])
        # How far each rigid vertex scales with the head's width and depth (RigidMesh.follow_head).
        self._rigid_follow = torch.cat([f(getattr(r, n).follow_head).float() if getattr(r, n).follow_head is not None
                                        else torch.zeros(len(self.rigid[n][0]), device=dev) for n in RIGIDS])
        # How far each combined vertex turns with the head (pose_points): head vertices by their height (the
        # neck twists; the ICT bust stays on the torso), shell vertices as their head vertex (the garment below
        # the head mesh as the edge vertex it hangs from), the glasses and brims with the head, and long hair
        # by its height like the neck (its ends lie on the shoulders: turned with the head they passed into
        # them at wide yaw).
        w_head = neck_follow(self.template[:, 1])
        self._pose_w = torch.cat([w_head] + [w_head[self.shell[n][0]] for n in SHELLS]
                                 + [neck_follow(self.rigid[n][0][:, 1]) if n == "locks"
                                    else torch.ones(len(self.rigid[n][0]), device=dev) for n in RIGIDS])
        # Ambient occlusion of the head's skin, lips, ears and brows, baked on the template (occlusion.py) and
        # scaled into [AO_FLOOR, 1] (light bounces into the creases); 1 elsewhere (the mouth interior, teeth,
        # eyes and eye corners carry their materials' constant occlusion; shells and rigid meshes none).
        ao = ambient_occlusion(head.template, head.faces, vertex_normals(head.template, head.faces), 48, 192)
        ao_parts = np.isin(vertex_parts(head), [P[q] for q in AO_PARTS])
        occ = np.ones(self.num_all, np.float32)
        occ[:V] = np.where(ao_parts, AO_FLOOR + (1 - AO_FLOOR) * ao, 1.0)
        self.occlusion = torch.from_numpy(occ).to(dev)
        # Shadow casters: everything but the mouth interior, eyeballs and eye corners, which sit inside
        # the head and only receive shadows (a third of the faces: the shadow pass is per-triangle bound),
        # and the garment below the head mesh (Shell.casts): its large triangles took a fifth of the shadow
        # pass, and what it could shadow is a sliver at the bottom of the frame. It still receives the head's
        # shadow. The shells' inner copies are the same surfaces: no second caster.
        inner = torch.isin(self.face_part, torch.tensor([P[n] for n in ("MOUTH", "TEETH", "EYE_R", "EYE_L", "CARUNCLE_R",
                                                                        "CARUNCLE_L")], device=dev))
        self.shadow_caster = ~inner
        # Drawing phases of the numba camera raster (rasterize_numba; a speed hint, same output): first the
        # surfaces in front, then what is mostly hidden behind a coarse depth test: the inner parts above
        # (behind the lips and the lids) and the shells' inner sides (behind the head). A third of the
        # raster's work went into these for about 1% of the visible samples.
        self._raster_phase = inner.long()
        self._raster_phase[self.num_front_faces:] = 1
        self._raster_groups = [torch.nonzero(self._raster_phase == p).squeeze(1) for p in (0, 1)]
        self.shadow_caster[self.num_front_faces:] = False
        # The shadow pass draws a coarser copy of the head's casters (8 mm vertex clusters over the same
        # vertices: chords sag far less than the 3 mm depth bias).
        nh = head.faces.shape[0]
        head_casters = head.faces[self.shadow_caster[:nh].cpu().numpy()]
        kept, coarse, _ = vertex_clustering_lod(head.template, head_casters, np.zeros(V, np.int64),
                                                np.full(V, _SHADOW_CELL), np.zeros(0, np.int64))
        # The shells likewise (8 mm clusters of their rest positions): each coarse face is drawn with
        # the style mask of the face it came from. Rigid casters (glasses, brims) as they are.
        shadow_faces, shadow_src = [kept[coarse]], []
        for name in SHELLS:
            a = self.offset[name][0]
            sh = getattr(r, name)
            cast = np.arange(len(sh.faces)) if sh.casts is None else np.nonzero(sh.casts)[0]
            if not len(cast):
                continue
            s_kept, s_coarse, s_src = vertex_clustering_lod(self._shell_rest[name].cpu().numpy(), sh.faces[cast],
                                                            np.zeros(len(sh.vids), np.int64),
                                                            np.full(len(sh.vids), _SHADOW_CELL), np.zeros(0, np.int64))
            shadow_faces.append(a + s_kept[s_coarse])
            shadow_src.append(starts[blocks_in_order.index(name)] + cast[s_src])
        shell_end = starts[blocks_in_order.index(SHELLS[-1]) + 1]
        rigid_casters = np.nonzero(self.shadow_caster[shell_end:self.num_front_faces].cpu().numpy())[0] + shell_end
        shadow_faces.append(all_faces[rigid_casters])
        shadow_src.append(rigid_casters)
        self.shadow_faces = torch.from_numpy(np.concatenate(shadow_faces)).long().to(dev)
        self._shadow_others = torch.from_numpy(np.concatenate(shadow_src)).long().to(dev)
        self._num_shadow_head = len(coarse)
        self._arcface = torch.tensor(ARCFACE_TEMPLATE_112, device=dev)
        self._axes = torch.eye(3, device=dev)
        self.backend_impl.prepare(self)

    # ------------------------------------------------------------------ geometry
    def shape(self, fac: FaceFactors) -> torch.Tensor:
        """Head vertices (B, V, 3) in the head frame, before pose, with gaze applied."""
        B = len(fac)
        coef = torch.cat([fac.id_shape, fac.expr_weights], 1).double()
        v = (self.template.reshape(1, -1).double() + coef @ self._shape_basis).float()
        v = v.view(B, -1, 3)  # a new tensor (the float32 copy): the eye rotation below may write into it
        yaw, pitch = torch.deg2rad(fac.gaze[:, 0]), torch.deg2rad(-fac.gaze[:, 1])
        zero = torch.zeros_like(yaw)
        R = euler_to_matrix(torch.rad2deg(yaw), torch.rad2deg(-pitch), zero)
        for e, off in zip(self.eye_vertices, self.eye_offset):
            c = v[:, e].mean(1, keepdim=True) + off
            v[:, e] = (v[:, e] - c) @ R.transpose(1, 2) + c
        return v

    def _shell_thickness(self, fac: FaceFactors) -> dict[str, torch.Tensor]:
        """Each shell's offset (B, n_vids) in metres, in SHELLS order. A hat's crown tapers to the skin at its
        rim, and would meet the hair's shell inside it (hair poked out between the rim's mesh steps): it
        rides at least 1 mm above the image's hair instead."""
        styles = _shell_styles(fac)
        t = {n: self.shell[n][2][styles[n]] for n in SHELLS}
        t["headwear"] = torch.maximum(t["headwear"], self._hair_at_hat[fac.hair] + 0.001)
        return t

    def _face_mask(self, fac: FaceFactors) -> torch.Tensor:
        """Per-sample face mask (B, F) of the combined mesh: head faces always, shell and rigid faces by
        style, the shells' inner sides as their outer faces."""
        B, dev = len(fac), self.device
        fmask = [torch.ones(B, self.head.faces.shape[0], dtype=torch.bool, device=dev)]
        styles = _shell_styles(fac)
        for name in SHELLS:
            fmask.append(self._shell_face_table[name][styles[name]])
        for name, st in (("glasses", fac.glasses), ("brim", fac.headwear), ("locks", fac.hair)):
            fmask.append(self.rigid[name][1][st])
        fmask = torch.cat(fmask, 1)
        return torch.cat([fmask, fmask[:, self._back_src]], 1)

    def _vertex_alpha(self, fac: FaceFactors) -> torch.Tensor:
        """Per-vertex coverage (B, N) of the combined mesh for the rasterizers' alpha test: each shell's style
        mask on its vertices, 1 elsewhere (the mask's 0.5 level line is the shell's border)."""
        B, dev = len(fac), self.device
        styles = _shell_styles(fac)
        a0, a1 = self.offset[SHELLS[0]][0], self.offset[SHELLS[-1]][1]
        return torch.cat([torch.ones(B, a0, device=dev)] + [self.shell[n][1][styles[n]] for n in SHELLS]
                         + [torch.ones(B, self.num_all - a1, device=dev)], 1)

    def _anchors(self, fac: FaceFactors, vh: torch.Tensor):
        """Eye midpoint (B, 3) and inter-ocular scale (B,) of the head, which glasses and brims follow; the
        head's scale (B, 3) against the template's in width (jaw landmarks 0 to 16), height (the inter-ocular
        scale) and depth (eye midpoint to the midpoint of landmarks 0 and 16), which the rigid vertices with a
        follow_head weight take; the rotations (B, POSE_LEVELS + 1, 3, 3) from the torso's (a quarter of the
        yaw) to the head's (pose_rotations)."""
        lm = vh[:, self.landmarks[:68]]
        eye_mid = (lm[:, 36:42].mean(1) + lm[:, 42:48].mean(1)) / 2
        s = (lm[:, 36:42].mean(1) - lm[:, 42:48].mean(1)).norm(dim=-1) / self.t_iod
        width = (lm[:, 0] - lm[:, 16]).norm(dim=-1) / self.t_width
        depth = (eye_mid[:, 2] - (lm[:, 0, 2] + lm[:, 16, 2]) / 2) / self.t_depth
        return eye_mid, s, torch.stack([width, s, depth], -1), pose_rotations(fac.pose)

    def geometry(self, fac: FaceFactors):
        """All vertices (B, N, 3) posed in the head-world frame, the per-sample face mask (B, F) and
        the posed landmark positions (B, 70, 3)."""
        return self._geometry(fac)[:3]

    def _geometry(self, fac: FaceFactors):
        """:meth:`geometry`, plus the head's unposed unit normals (B, V, 3) and the pose rotations."""
        vh = self.shape(fac)
        n = self._normals(vh, "head")
        parts = [vh]
        thick = self._shell_thickness(fac)
        sel = torch.nonzero(fac.facewear > 0).flatten()
        for name in SHELLS:
            vids = self.shell[name][0]
            a, b = (x - self.offset[SHELLS[0]][0] for x in self.offset[name])
            parts.append(vh[:, vids] + n[:, vids] * thick[name][..., None] + self._shell_offset[a:b])
            if name == "facewear" and len(sel):  # the masks' fabric, on the images that wear one
                parts[-1][sel] = self._fabric_unposed(fac.index(sel), vh[sel], n[sel], thick[name][sel])
        eye_mid, s, head_scale, Rs = self._anchors(fac, vh)
        r0 = self.offset[RIGIDS[0]][0]
        for name in RIGIDS:
            verts = self.rigid[name][0]
            a, b = self.offset[name]
            w = self._rigid_follow[a - r0:b - r0][None, :, None]
            scale = s[:, None, None] + w * (head_scale[:, None] - s[:, None, None])
            parts.append(eye_mid[:, None] + scale * (verts[None] - self.t_eye_mid))
        # Head pose about the neck pivot; the neck twists between the head and the torso.
        v = pose_points(torch.cat(parts, 1), self._pose_w, Rs, self.pivot)
        return v, self._face_mask(fac), v[:, self.landmarks], n, Rs

    def posed(self, fac: FaceFactors):
        """:meth:`geometry` plus the posed unit vertex normals: (v, normals, face mask, landmarks 3D). The
        kernel backends replace the PyTorch ops with one pass over the vertices (geometry_numba on the CPU,
        cuda_kernels.assemble_cuda on a GPU: the ops' gathers, concatenations and 3x3 batched matmuls took
        a sixth of a GPU batch) and rotate the head's normals instead of summing them again. The PyTorch
        path turns them too: on the twisting neck the sums over the sheared triangles tilt with the
        tessellation, while turned normals stay smooth."""
        return self.backend_impl.posed(self, fac)

    def _fabric_normals(self, n: torch.Tensor) -> torch.Tensor:
        """The face mask's shading normals (B, n, 3) from its vertex normals n: smoothed over the fabric's
        mesh, then each vertex takes the one of the vertex it follows (Shell.follow)."""
        valid = (self._fabric_nbr >= 0)[None, ..., None].to(n.dtype)
        idx = self._fabric_nbr.clamp(min=0)
        for _ in range(_FABRIC_NORMAL_SMOOTHING):
            n = (n[:, idx] * valid).sum(2) / valid.sum(2)
        return F.normalize(n, dim=-1)[:, self._fabric_follow]

    def _fabric_unposed(self, fac: FaceFactors, vh: torch.Tensor, nh: torch.Tensor, thick: torch.Tensor) -> torch.Tensor:
        """The face mask's vertices (B, n, 3) before pose. Away from its border (Shell.still) they ride on the
        template face with the identity's shape smoothed over the fabric and no expression, at the border on
        the head vertices vh (B, V, 3) they follow; lifted by ``thick`` (B, n) along the head normals nh, plus
        the taut offset, and never closer to the skin than _FABRIC_CLEARANCE. (A mask that followed the skin
        showed each face's lips and nostrils, and moved with every expression.)"""
        k = self._fabric_anchor
        smooth = self._fabric_template + (fac.id_shape.double() @ self._fabric_identity).float().view(len(fac), -1, 3)
        q = vh[:, k] + self._fabric_still * (smooth - vh[:, k]) + nh[:, k] * thick[..., None] + self._fabric_offset
        # Where an expression pushes the skin forward (a lip, a cheek) the fabric rests on it instead of
        # cutting through: at least _FABRIC_CLEARANCE out from the skin along its normal.
        below = (_FABRIC_CLEARANCE - ((q - vh[:, k]) * nh[:, k]).sum(-1)).clamp_min(0) * (thick > 0)
        return q + nh[:, k] * below[..., None]

    # ------------------------------------------------------------------ framing
    def framing(self, fac: FaceFactors, lm2: torch.Tensor, size: int, framing: str, ss: int) -> torch.Tensor:
        """2D similarity (B, 2, 3) from normalised image coordinates to supersampled pixels."""
        if framing == "aligned":
            src = torch.stack([lm2[:, 36:42].mean(1), lm2[:, 42:48].mean(1), lm2[:, 30], lm2[:, 48], lm2[:, 54]], 1)
            dst = (self._arcface + 0.5) * (size * ss / 112.0)
            return umeyama_similarity(src, dst.expand(len(fac), -1, -1))
        if framing == "wild":
            pts = lm2[:, :68]
            lo, hi = pts.min(1).values, pts.max(1).values
            c = (lo + hi) / 2
            ext = (hi - lo).max(-1).values
            S = size * ss
            frac, dx, dy, ang = fac.framing.unbind(-1)
            scale = frac * S / ext
            a = torch.deg2rad(ang)
            A = torch.stack([torch.stack([a.cos(), -a.sin()], -1), torch.stack([a.sin(), a.cos()], -1)], 1) * scale[:, None, None]
            target = torch.stack([S / 2 + dx * S, S / 2 + dy * S], -1)
            t = target - (A @ c[..., None]).squeeze(-1)
            return torch.cat([A, t[..., None]], -1)
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")

    # ------------------------------------------------------------------ render
    @torch.no_grad()
    def render(self, fac: FaceFactors, size: int = 112, framing: str = "aligned", supersample: int = 2) -> RenderOutput:
        fac = fac.to(self.device)
        B, dev, ss = len(fac), self.device, supersample
        v, vn, fmask, lm3 = self.posed(fac)
        lm_proj = project(v[:, self.landmarks], torch.ones(B, device=dev), fac.cam_dist)
        M = self.framing(fac, lm_proj[..., :2], size, framing, ss)
        lm_scr = apply_similarity(M, lm_proj)  # landmarks in supersampled screen space
        scr = self.backend_impl.screen_space(v, fac.cam_dist, M)
        Hs = Ws = size * ss
        alpha = self._vertex_alpha(fac)
        frags = self.backend_impl.camera_fragments(self, scr, Hs, Ws, fmask, alpha)
        smask = torch.cat([torch.ones(B, self._num_shadow_head, dtype=torch.bool, device=dev),
                           fmask[:, self._shadow_others]], 1)
        light_pos, shadow = self.shadow_map(v, smask, fac.key_dir)
        # Exposure: the mean light on the skin is scaled to ``target``; 1.0 is a photographer's normal
        # exposure (an 18% grey card lands near sRGB 118), so 0.7-1.3 spans about +-0.9 stops around it.
        paint = torch.stack([t[st] for t, st in zip(self.paint_tables, (fac.hair, fac.beard, fac.facewear, fac.headwear))],
                            -1)
        paint = torch.cat([paint, paint.new_zeros(B, 1, 4)], 1)[:, self._paint_src]
        inputs = ShadeInputs(
            tri=frags.tri if frags is not None else None, bary=frags.bary if frags is not None else None,
            faces=self.faces, face_part=self.face_part, part_to_seg=self.part_to_seg,
            vn=vn, albedo=self._vertex_albedo(fac), canon=self.canon, paint=paint,
            paint_rgb=torch.stack([fac.accessory_rgb[:, 1], fac.accessory_rgb[:, 0]], 1),
            eye_centre=self.eye_centre_t, sh=fac.sh, key_dir=fac.key_dir, key_rgb=fac.key_rgb,
            hair_rgb=fac.id_albedo[:, 14:17], iris_rgb=fac.id_albedo[:, 11:14].clamp(min=0.003),
            hair_axis=-euler_to_matrix(fac.pose[:, 0], fac.pose[:, 1], fac.pose[:, 2])[:, :, 1],
            occlusion=self.occlusion,
            cloth_rgb=fac.cloth_rgb, seeds=fac.seeds,
            target=0.7 + 0.6 * hash_noise(fac.seeds, torch.full_like(fac.seeds, 1), fac.seeds),
            light_pos=light_pos, shadow=shadow, ss=ss,
            # Metres per output pixel at the face: the similarity's scale maps unit-focal image coordinates
            # (length / distance) to supersamples.
            footprint=ss * fac.cam_dist / M[:, :, 0].norm(dim=-1))
        sigma = 0.02 * hash_noise(fac.seeds, torch.full_like(fac.seeds, 2), fac.seeds)  # sensor noise level
        # Shading and the finishing steps: box filter, background, compositing, sensor noise, majority class.
        img, seg, lab = self.backend_impl.shade_finish(self, fac, inputs, frags, scr, fmask, alpha, lm_scr, size, ss,
                                                       sigma)
        return self._labelled(fac, img, seg, lm_scr, lm3, lab, scr, ss)

    def _labelled(self, fac, img, seg, lm_scr, lm3, frags, scr, ss) -> RenderOutput:
        """The output with its landmark labels (2D in output pixels, visibility, 3D) from the landmarks in
        supersampled screen space lm_scr (B, 70, 3). frags: the camera
        view's Fragments, or already the fragments under the landmark pixels (triangle ids (B, 70) and
        barycentrics (B, 70, 3), from the fused numba kernel)."""
        Hs, Ws = img.shape[-2] * ss, img.shape[-1] * ss
        if isinstance(frags, tuple):
            lm_tri, lm_bary = frags
        else:
            xy = self._landmark_pixels(lm_scr, Hs, Ws)
            b = torch.arange(xy.shape[0], device=xy.device)[:, None]
            lm_tri, lm_bary = frags.tri[b, xy[..., 1], xy[..., 0]], frags.bary[b, xy[..., 1], xy[..., 0]]
        vis = self._landmark_visibility(lm_scr, lm_tri, lm_bary, scr, Hs, Ws)
        ldmk2d = lm_scr[..., :2] / ss - 0.5
        return RenderOutput(image=img, seg=seg.to(torch.uint8), ldmk2d=ldmk2d, ldmk_visible=vis,
                            ldmk3d=lm3, pose=fac.pose, identity=fac.identity, expression=fac.expression)

    def _normals(self, v: torch.Tensor, which: str) -> torch.Tensor:
        """Unit vertex normals (B, N, 3) of the head mesh ('head') or of the combined mesh ('all')."""
        return self.backend_impl.normals(self, v, which)

    def shadow_map(self, v: torch.Tensor, fmask: torch.Tensor, key_dir: torch.Tensor, size: int = _SHADOW_SIZE):
        """Orthographic depth map of the scene seen from the key light: the faces ``shadow_faces`` under the
        per-sample mask ``fmask`` (B, len(shadow_faces)).

        Returns the vertices in map space (B, N, 3: texel x, y and depth toward the light in metres,
        offset to stay positive) and the map (B, size, size) of the nearest depth, 0 where empty."""
        return self.backend_impl.light_depth(self, v, light_basis(key_dir, self._axes), size, fmask)

    def _vertex_albedo(self, fac: FaceFactors) -> torch.Tensor:
        """Per-vertex linear-RGB albedo (B, N, 3) of the combined mesh."""
        B = len(fac)
        head = _per_identity(fac.id_albedo,
                             lambda c: (self.alb_mean.reshape(1, -1).double() + c.double() @ self._alb_basis64).float())
        head = head.view(B, -1, 3).clamp(0.002, 1)
        hair = fac.id_albedo[:, 14:17]
        blocks = [head]
        cols = {"hair": hair, "headwear": fac.accessory_rgb[:, 0], "facewear": fac.accessory_rgb[:, 1],
                "glasses": fac.accessory_rgb[:, 2] * 0.5, "brim": fac.accessory_rgb[:, 0], "locks": hair,
                "clothing": fac.cloth_rgb, "loops": fac.accessory_rgb[:, 1]}
        for name in SHELLS + RIGIDS:
            a, b = self.offset[name]
            blocks.append(cols[name][:, None].expand(B, b - a, 3))
        return torch.cat(blocks, 1)

    @staticmethod
    def _landmark_pixels(lm_scr: torch.Tensor, Hs: int, Ws: int) -> torch.Tensor:
        """The supersample (x, y) (B, K, 2) int64 under each landmark, clamped into the image."""
        x = lm_scr[..., 0].floor().long().clamp(0, Ws - 1)
        y = lm_scr[..., 1].floor().long().clamp(0, Hs - 1)
        return torch.stack([x, y], -1)

    def _landmark_visibility(self, lm_scr, tri, bary, scr, Hs, Ws):
        """A landmark is visible unless a nearer *head* surface covers its pixel (self-occlusion). tri (B, K),
        bary (B, K, 3): the fragments at the landmarks' pixels (_landmark_pixels)."""
        B = lm_scr.shape[0]
        inside = (lm_scr[..., 0] >= 0) & (lm_scr[..., 0] < Ws) & (lm_scr[..., 1] >= 0) & (lm_scr[..., 1] < Hs)
        b = torch.arange(B, device=lm_scr.device)[:, None]
        fv = self.faces[tri.clamp(min=0)]
        w_front = (scr[b[..., None], fv, 2] * bary).sum(-1)
        w_lm = lm_scr[..., 2]
        # 1/z margin of about 4 mm at typical distances.
        nearer = w_front > 1.0 / (1.0 / w_lm - 0.004)
        head_surface = tri < self.head.faces.shape[0]
        occluded = (tri >= 0) & nearer & head_surface
        return inside & ~occluded
