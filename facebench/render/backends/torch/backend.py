"""The PyTorch backend: every stage as tensor ops on any device (the reference the kernels are held to)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from facebench.render.backends.base import Backend
from facebench.render.backends.torch.rasterize import rasterize
from facebench.render.backends.torch.shade import shade_torch
from facebench.render.camera import apply_similarity, project
from facebench.render.shading import background, hash_noise, to_display


class TorchBackend(Backend):
    name = "torch"

    def posed(self, scene, fac):
        # The head's normals are turned with it, as the kernels do: on the twisting neck the sums over the
        # sheared triangles tilt with the tessellation, while turned normals stay smooth.
        from facebench.render.renderer import pose_points

        v, fmask, lm3, nh, Rs = scene._geometry(fac)
        vn = self.normals(scene, v, "all")
        V = nh.shape[1]
        vn[:, :V] = F.normalize(pose_points(nh, scene._pose_w[:V], Rs, torch.zeros_like(scene.pivot)), dim=-1)
        sel = torch.nonzero(fac.facewear > 0).flatten()
        a, b = scene.offset["facewear"]
        vn[sel, a:b] = scene._fabric_normals(vn[sel, a:b])
        return v, vn, fmask, lm3

    def screen_space(self, v, cam_dist, M):
        return apply_similarity(M, project(v, torch.ones(v.shape[0], device=v.device), cam_dist))

    def raster(self, scene, scr, H, W, fmask, cull, faces=None, alpha=None):
        faces = scene.faces if faces is None else faces
        return rasterize(scr, faces, H, W, face_mask=fmask, cull_backfaces=cull, alpha=alpha)

    def light_depth(self, scene, v, basis, size, fmask):
        lp = v @ basis.transpose(1, 2)  # (B, N, 3)
        lo, hi = lp[..., :2].amin(1), lp[..., :2].amax(1)
        scale = (size - 2) / (hi - lo).amax(-1).clamp(min=1e-6)
        xy = (lp[..., :2] - lo[:, None]) * scale[:, None, None] + 1
        depth = lp[..., 2] - lp[..., 2].amin(1, keepdim=True) + 0.5
        ls = torch.cat([xy, depth[..., None]], -1)
        fr = self.raster(scene, ls, size, size, fmask, cull=False, faces=scene.shadow_faces)
        # Perspective-correct barycentrics b_i = l_i w_i / sum(l w), so the screen-affine depth is 1 / sum(b_i / w_i).
        fv = scene.shadow_faces[fr.tri.clamp(min=0)]
        bidx = torch.arange(v.shape[0], device=v.device)[:, None, None, None]
        inv = (fr.bary / depth[bidx, fv]).sum(-1)
        return ls, torch.where(fr.mask, 1.0 / inv.clamp(min=1e-6), torch.zeros_like(inv))

    def shade_finish(self, scene, fac, inputs, frags, scr, fmask, alpha, lm_scr, size, ss, sigma):
        from facebench.render.renderer import _majority

        B, dev = len(fac), scene.device
        fg, seg_full = shade_torch(inputs)
        alpha = frags.mask.float()[:, None]
        fg = fg.permute(0, 3, 1, 2)
        # Box filter in linear light (mean of the covered supersamples), then the display transform once per
        # output pixel; then compositing over the background, which is smooth at the output scale and so
        # generated at the output size (ss^2 fewer pixels) and weighted by the filtered coverage.
        if ss > 1:
            fg, alpha = F.avg_pool2d(fg, ss), F.avg_pool2d(alpha, ss)
        fg = to_display(fg / alpha.clamp(min=1e-12)) * alpha
        img = fg + background(fac.background, fac.seeds, size, size) * (1 - alpha)
        ys, xs = torch.meshgrid(torch.arange(size, device=dev), torch.arange(size, device=dev), indexing="ij")
        sigma = sigma.view(B, 1, 1, 1)
        chan = torch.arange(3, device=dev).view(1, 3, 1, 1)
        noise = hash_noise(xs[None, None] + chan * 4096, ys[None, None], fac.seeds.view(B, 1, 1, 1) + 3)
        img = (img + sigma * (noise - 0.5) * 2).clamp(0, 1)
        seg = _majority(seg_full, ss) if ss > 1 else seg_full
        return img, seg, frags
