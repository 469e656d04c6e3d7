"""The numba.cuda backend: fused GPU kernels (assembly, normals in a fixed order, raster by 64-bit atomic min,
shadow map, shading and finishing)."""
from __future__ import annotations

from facebench.render.backends.base import KernelBackend


class CudaBackend(KernelBackend):
    name = "cuda"

    def prepare(self, scene) -> None:
        from facebench.render.backends.cuda.kernels import vertex_faces

        # per vertex its faces (CSR): normals summed in a fixed order
        self.csr = {"head": vertex_faces(scene.faces[: scene.head.faces.shape[0]], scene.head.num_vertices),
                    "all": vertex_faces(scene.faces[: scene.num_front_faces], scene.num_all)}

    def normals(self, scene, v, which):
        from facebench.render.backends.cuda.kernels import vertex_normals_cuda

        return vertex_normals_cuda(v, scene.faces, self.csr[which])

    def assemble_kernel(self, scene):
        from facebench.render.backends.cuda.kernels import assemble_cuda

        return assemble_cuda, self.csr["all"]

    def screen_space(self, v, cam_dist, M):
        from facebench.render.backends.cuda.kernels import screen_space_cuda

        return screen_space_cuda(v, cam_dist, M)

    def raster(self, scene, scr, H, W, fmask, cull, faces=None, alpha=None):
        from facebench.render.backends.cuda.kernels import rasterize_cuda

        phase = scene._raster_groups if faces is None else None
        faces = scene.faces if faces is None else faces
        return rasterize_cuda(scr, faces, H, W, face_mask=fmask, cull_backfaces=cull, phase=phase, alpha=alpha)

    def light_depth(self, scene, v, basis, size, fmask):
        from facebench.render.backends.cuda.kernels import depth_map_cuda, light_space_cuda

        ls = light_space_cuda(v, basis, size)
        return ls, depth_map_cuda(ls, scene.shadow_faces, size, size, fmask)

    def shade_finish(self, scene, fac, inputs, frags, scr, fmask, alpha, lm_scr, size, ss, sigma):
        from facebench.render.backends.cuda.kernels import finish_cuda, shade_cuda

        lin, seg_full, expo = shade_cuda(inputs)
        img, seg = finish_cuda(lin, frags.tri, seg_full, expo, fac.background, fac.seeds, sigma, ss)
        return img, seg, frags
