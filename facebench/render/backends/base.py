"""The backend interface of the render pipeline: one method per per-batch stage.

``scene`` is the :class:`facebench.render.renderer.FaceRenderer` whose constructor built the scene once per head
(combined mesh, shells, LOD, paint and shadow tables); a backend reads those tables and keeps nothing per batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from facebench.render.scene.factors import FaceFactors


class Backend:
    """The stages (geometry, raster, shadow, shade + finish, labels' fragments) of one implementation."""

    name = "base"

    def prepare(self, scene) -> None:
        """Per-scene tables this backend needs (called once, at the end of the scene's construction)."""

    def normals(self, scene, v: torch.Tensor, which: str) -> torch.Tensor:
        """Unit vertex normals (B, N, 3) of the head mesh ('head') or of the combined mesh ('all')."""
        from facebench.render.renderer import _vertex_normals

        return _vertex_normals(v, scene.faces[: scene.head.faces.shape[0] if which == "head" else scene.num_front_faces])

    def posed(self, scene, fac: FaceFactors):
        """(posed vertices (B, N, 3), unit normals (B, N, 3), face mask (B, F), landmarks 3D (B, 70, 3))."""
        raise NotImplementedError

    def screen_space(self, v: torch.Tensor, cam_dist: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """Posed vertices (B, N, 3) to supersampled screen x, y and inverse depth."""
        raise NotImplementedError

    def raster(self, scene, scr, H, W, fmask, cull, faces=None, alpha=None):
        """Fragments of ``faces`` (default: the scene's, with its drawing phases) at H x W."""
        raise NotImplementedError

    def camera_fragments(self, scene, scr, H, W, fmask, alpha):
        """The camera view's fragments for shading; None where the shading pass rasterizes itself."""
        return self.raster(scene, scr, H, W, fmask, cull=True, alpha=alpha)

    def light_depth(self, scene, v: torch.Tensor, basis: torch.Tensor, size: int, fmask: torch.Tensor):
        """(vertices in shadow-map space (B, N, 3), nearest depth map (B, size, size)) seen along ``basis``
        (B, 3, 3: the light's right, up and forward axes) for the scene's shadow casters."""
        raise NotImplementedError

    def shade_finish(self, scene, fac: FaceFactors, inputs, frags, scr, fmask, alpha, lm_scr, size: int, ss: int,
                     sigma: torch.Tensor):
        """(images (B, 3, size, size) in [0, 1], classes (B, size, size), the fragments the labels read:
        the camera Fragments, or (triangle ids (B, 70), barycentrics (B, 70, 3)) under the landmarks)."""
        raise NotImplementedError


class KernelBackend(Backend):
    """The kernel backends' geometry: one assembly pass over the vertices (shells, rigid meshes, pose, normals
    turned with the head), then the face masks' fabric in PyTorch."""

    def assemble_kernel(self, scene):
        """(the assembly function, its last argument: the head's face count (CPU) or the vertex-face CSR (CUDA))."""
        raise NotImplementedError

    def assemble(self, scene, vh, nh, thick, eye_mid, s, head_scale, Rs):
        """Posed vertices and normals (B, N, 3) of the combined mesh in one pass (shells, rigid meshes, pose)."""
        kernel, last = self.assemble_kernel(scene)
        return kernel(vh, nh, scene._shell_vids, thick, scene._shell_offset, scene._rigid_verts, scene._rigid_follow,
                      eye_mid, s, head_scale, scene.t_eye_mid, Rs, scene._pose_w, scene.pivot,
                      scene.faces[: scene.num_front_faces], last)

    def posed(self, scene, fac: FaceFactors):
        from facebench.render.renderer import _vertex_normals, gathered_vertex_normals, pose_points

        vh = scene.shape(fac)
        nh = self.normals(scene, vh, "head")
        thick_by_shell = scene._shell_thickness(fac)
        thick = torch.cat(list(thick_by_shell.values()), 1)
        eye_mid, s, head_scale, Rs = scene._anchors(fac, vh)
        v, vn = self.assemble(scene, vh, nh, thick, eye_mid, s, head_scale, Rs)
        sel = torch.nonzero(fac.facewear > 0).flatten()
        if len(sel):  # the face masks' fabric (the kernels placed those vertices on the skin)
            a, b = scene.offset["facewear"]
            q = scene._fabric_unposed(fac.index(sel), vh[sel], nh[sel], thick_by_shell["facewear"][sel])
            q = pose_points(q, scene._pose_w[a:b], Rs[sel], scene.pivot)
            v[sel, a:b] = q
            if q.device.type == "cpu":
                n = _vertex_normals(q, scene._fabric_faces)  # numba
            else:
                n = gathered_vertex_normals(q, scene._fabric_faces, scene._fabric_vf)
            vn[sel, a:b] = scene._fabric_normals(n)
        return v, vn, scene._face_mask(fac), v[:, scene.landmarks]


def light_basis(key_dir: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """The key light's (right, up, forward) unit axes (B, 3, 3) for directions key_dir (B, 3)."""
    w = F.normalize(key_dir, dim=-1)
    up = axes[1].expand_as(w)
    up = torch.where((w[:, 1].abs() > 0.95)[:, None], axes[0], up)
    u = F.normalize(torch.cross(up, w, dim=-1), dim=-1)
    vv = torch.cross(w, u, dim=-1)
    return torch.stack([u, vv, w], 1)
