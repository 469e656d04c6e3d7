"""The numba CPU backend: fused per-image kernels (assembly, screen space, shadow map, and one pass that
rasterizes, shades and finishes each image)."""
from __future__ import annotations

from facebench.render.backends.base import KernelBackend


class NumbaBackend(KernelBackend):
    name = "numba"

    def assemble_kernel(self, scene):
        from facebench.render.backends.cpu.assemble import assemble_numba

        return assemble_numba, scene.head.faces.shape[0]

    def screen_space(self, v, cam_dist, M):
        from facebench.render.backends.cpu.mesh import screen_space_numba

        return screen_space_numba(v, cam_dist, M)

    def raster(self, scene, scr, H, W, fmask, cull, faces=None, alpha=None):
        from facebench.render.backends.cpu.rasterize import rasterize_numba

        phase = scene._raster_phase if faces is None else None
        faces = scene.faces if faces is None else faces
        return rasterize_numba(scr, faces, H, W, face_mask=fmask, cull_backfaces=cull, phase=phase, alpha=alpha)

    def camera_fragments(self, scene, scr, H, W, fmask, alpha):
        return None  # rasterized inside the fused shading kernel (render_numba)

    def light_depth(self, scene, v, basis, size, fmask):
        # one fused pass per image (the torch ops took ~30 ms per 64 faces)
        from facebench.render.backends.cpu.mesh import light_space_numba
        from facebench.render.backends.cpu.rasterize import depth_map_numba

        ls = light_space_numba(v, basis, size)
        return ls, depth_map_numba(ls, scene.shadow_faces, size, size, fmask)

    def shade_finish(self, scene, fac, inputs, frags, scr, fmask, alpha, lm_scr, size, ss, sigma):
        from facebench.render.backends.cpu.shade import render_numba

        Hs = Ws = size * ss
        img, seg, lm_tri, lm_bary = render_numba(inputs, scr, fmask, alpha, scene._raster_phase, Hs, Ws,
                                                 scene._landmark_pixels(lm_scr, Hs, Ws), fac.background, sigma)
        return img, seg, (lm_tri, lm_bary)
