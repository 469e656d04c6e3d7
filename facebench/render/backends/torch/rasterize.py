"""Batched z-buffer rasterizer in plain PyTorch (CPU or CUDA, no compiled extension).

Screen space: x to the right, y down, in pixels; pixel (i, j) has its centre at (j + 0.5, i + 0.5).
Depth is given as *inverse* depth ``w = 1/z`` per vertex (z = distance along the camera axis), because
1/z is affine in screen space: interpolating it linearly is exact under perspective, and the nearer
surface is the one with the larger w.

Every triangle is tested against the pixel centres inside its bounding box. Triangles are bucketed by
bounding-box size so that tiny triangles (most of a head at 112 px) test a 1x1 or 2x2 window while a
few big ones test larger windows; all buckets are vectorised. The nearest fragment per pixel wins via
``scatter_reduce(amin)`` on a 64-bit key (quantised depth in the high bits, triangle id in the low
bits), which is deterministic on CPU and CUDA.

Coverage rule: a pixel centre is inside when all three edge functions are > 0, or == 0 on a top-left
edge (the D3D/OpenGL rule), so two triangles sharing an edge never both cover a pixel and never leave
a gap.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

_DEPTH_BITS = 30
_ID_BITS = 33  # up to 8.6e9 (batch x triangles) ids


@dataclass
class Fragments:
    """Visibility buffer of a batch.

    tri: (B, H, W) int64, index into the faces (``-1`` where nothing is drawn).
    bary: (B, H, W, 3) float, perspective-correct barycentric weights of the face's three vertices.
    w: optional (B, H, W) float, the vertices' third coordinate interpolated affinely in screen space (inverse
      depth for a perspective camera, depth for an orthographic one); 0 where nothing is drawn.
    """

    tri: torch.Tensor
    bary: torch.Tensor
    w: torch.Tensor | None = None  # (B, H, W) screen-affine interpolated w where a raster keeps it (numba)

    @property
    def mask(self) -> torch.Tensor:
        return self.tri >= 0


def _edge(ax, ay, bx, by, px, py):
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _top_left(ax, ay, bx, by):
    # For triangles with positive _edge area in the y-down frame the interior lies below a "top" edge
    # (horizontal, running to the right) and right of a "left" edge (running upward).
    dx, dy = bx - ax, by - ay
    return ((dy == 0) & (dx > 0)) | (dy < 0)


def rasterize(
    verts: torch.Tensor,
    faces: torch.Tensor,
    height: int,
    width: int,
    face_mask: torch.Tensor | None = None,
    cull_backfaces: bool = True,
    w_range: tuple[float, float] = (1e-3, 1e3),
    alpha: torch.Tensor | None = None,
) -> Fragments:
    """Rasterize a batch of meshes that share one face list.

    verts: (B, V, 3) with screen x, y in pixels and inverse depth w = 1/z (> 0 in front of the camera).
    faces: (F, 3) int64 vertex indices, counter-clockwise *as seen by the camera* when front-facing in a
      y-up frame; in our y-down screen frame, front faces therefore have a negative signed area.
    face_mask: optional (B, F) bool, faces switched off per sample (accessories, hair styles).
    alpha: optional (B, V) per-vertex coverage: a sample is drawn only where alpha, interpolated with the
      perspective-correct barycentrics, exceeds 0.5 (an alpha test: a shell's border then follows its
      mask's 0.5 level line across its triangles instead of stepping along their edges).
    Returns the :class:`Fragments` of the nearest visible face per pixel.
    """
    B, V, _ = verts.shape
    F = faces.shape[0]
    device = verts.device
    faces = faces.long()
    tv = verts[:, faces]  # (B, F, 3, 3)
    x, y, w = tv[..., 0], tv[..., 1], tv[..., 2]
    area = _edge(x[..., 0], y[..., 0], x[..., 1], y[..., 1], x[..., 2], y[..., 2])  # (B, F)
    keep = (w > 0).all(-1) & (area != 0)
    if cull_backfaces:
        keep &= area < 0  # y-down screen: front faces (CCW in y-up) have negative area
    if face_mask is not None:
        keep &= face_mask
    # Candidate pixels: those whose centre (p + 0.5) lies within the triangle's extent, ceil(min - 0.5) ..
    # floor(max - 0.5), in float64 as in the kernels (a wider box only adds pixels that fail the tests).
    xd, yd = x.double(), y.double()
    xmin = torch.ceil(xd.min(-1).values - 0.5).clamp(min=0).float()
    xmax = torch.floor(xd.max(-1).values - 0.5).clamp(max=width - 1).float()
    ymin = torch.ceil(yd.min(-1).values - 0.5).clamp(min=0).float()
    ymax = torch.floor(yd.max(-1).values - 0.5).clamp(max=height - 1).float()
    keep &= (xmax >= xmin) & (ymax >= ymin)
    b_idx, f_idx = keep.nonzero(as_tuple=True)
    n_pix = B * height * width
    key = torch.full((n_pix,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=device)
    if b_idx.numel():
        # Make every kept triangle counter-clockwise in the y-down frame (positive area) so one edge
        # orientation and one top-left rule apply.
        tx, ty, tw = x[b_idx, f_idx], y[b_idx, f_idx], w[b_idx, f_idx]
        flip = area[b_idx, f_idx] < 0
        tx = torch.where(flip[:, None], tx[:, [0, 2, 1]], tx)
        ty = torch.where(flip[:, None], ty[:, [0, 2, 1]], ty)
        tw = torch.where(flip[:, None], tw[:, [0, 2, 1]], tw)
        ta = None
        if alpha is not None:
            ta = alpha[b_idx[:, None], faces[f_idx]].to(tw.dtype)
            ta = torch.where(flip[:, None], ta[:, [0, 2, 1]], ta)
        x0, y0 = xmin[b_idx, f_idx].long(), ymin[b_idx, f_idx].long()
        ext = torch.maximum(xmax[b_idx, f_idx].long() - x0, ymax[b_idx, f_idx].long() - y0) + 1
        w_lo, w_hi = w_range
        gid = b_idx * F + f_idx
        size = 1
        while True:
            sel = (ext <= size) & (ext > size // 2) if size > 1 else ext <= 1
            if size >= max(height, width):
                sel = ext > size // 2
            if sel.any():
                _raster_bucket(
                    key, sel, size, tx, ty, tw, ta, x0, y0, b_idx, gid, height, width, w_lo, w_hi
                )
            if size >= max(height, width):
                break
            size *= 2
    best = key.view(B, height, width)
    hit = best != torch.iinfo(torch.int64).max
    gid_best = torch.where(hit, best & ((1 << _ID_BITS) - 1), torch.zeros_like(best))
    tri = torch.where(hit, gid_best % F, torch.full_like(best, -1))
    bary = _barycentrics(verts, faces, tri, hit)
    return Fragments(tri=tri, bary=bary)


def _raster_bucket(key, sel, size, tx, ty, tw, ta, x0, y0, b_idx, gid, H, W, w_lo, w_hi):
    tx, ty, tw = tx[sel], ty[sel], tw[sel]
    x0, y0, b, g = x0[sel], y0[sel], b_idx[sel], gid[sel]
    off = torch.arange(size, device=key.device)
    px = (x0[:, None, None] + off[None, None, :])  # (T, 1, S)
    py = (y0[:, None, None] + off[None, :, None])  # (T, S, 1)
    pxf, pyf = px.to(tx.dtype) + 0.5, py.to(tx.dtype) + 0.5
    ax, bx, cx = (tx[:, i, None, None] for i in range(3))
    ay, by, cy = (ty[:, i, None, None] for i in range(3))
    e0 = _edge(bx, by, cx, cy, pxf, pyf)  # weight of vertex 0
    e1 = _edge(cx, cy, ax, ay, pxf, pyf)
    e2 = _edge(ax, ay, bx, by, pxf, pyf)
    inside = (
        ((e0 > 0) | ((e0 == 0) & _top_left(bx, by, cx, cy)))
        & ((e1 > 0) | ((e1 == 0) & _top_left(cx, cy, ax, ay)))
        & ((e2 > 0) | ((e2 == 0) & _top_left(ax, ay, bx, by)))
        & (px < W)
        & (py < H)
    )
    if ta is not None:
        # The alpha test in the kernels' form: sum(l_i a_i) > 0.5 sum(l_i), l_i = e_i w_i (perspective-correct
        # barycentrics before normalisation).
        l0, l1, l2 = (e * tw[:, i, None, None] for i, e in enumerate((e0, e1, e2)))
        a = ta[sel]
        inside &= (l0 * a[:, 0, None, None] + l1 * a[:, 1, None, None] + l2 * a[:, 2, None, None]) > 0.5 * (l0 + l1 + l2)
    area = e0 + e1 + e2
    wpix = (e0 * tw[:, 0, None, None] + e1 * tw[:, 1, None, None] + e2 * tw[:, 2, None, None]) / area
    t_i, r_i, c_i = inside.nonzero(as_tuple=True)
    if t_i.numel() == 0:
        return
    wv = wpix[t_i, r_i, c_i].clamp(w_lo, w_hi)
    # Larger w = nearer; quantise log-spaced so relative depth precision is constant.
    lw = (torch.log(wv) - torch.log(torch.tensor(w_lo))) / (
        torch.log(torch.tensor(w_hi)) - torch.log(torch.tensor(w_lo))
    )
    dq = ((1.0 - lw) * ((1 << _DEPTH_BITS) - 1)).round().long()
    k = (dq << _ID_BITS) | g[t_i]
    pix = (b[t_i] * H + py[t_i, r_i, 0]) * W + px[t_i, 0, c_i]
    key.scatter_reduce_(0, pix, k, reduce="amin")


def _barycentrics(verts, faces, tri, hit):
    """Perspective-correct barycentrics of each pixel centre in its visible face."""
    B, H, W = tri.shape
    dev = verts.device
    t = tri.clamp(min=0)
    fv = faces[t]  # (B, H, W, 3)
    bidx = torch.arange(B, device=dev)[:, None, None, None].expand_as(fv)
    p = verts[bidx, fv]  # (B, H, W, 3, 3)
    ys, xs = torch.meshgrid(
        torch.arange(H, device=dev, dtype=verts.dtype) + 0.5,
        torch.arange(W, device=dev, dtype=verts.dtype) + 0.5,
        indexing="ij",
    )
    ax, bx, cx = p[..., 0, 0], p[..., 1, 0], p[..., 2, 0]
    ay, by, cy = p[..., 0, 1], p[..., 1, 1], p[..., 2, 1]
    e0 = _edge(bx, by, cx, cy, xs, ys)
    e1 = _edge(cx, cy, ax, ay, xs, ys)
    e2 = _edge(ax, ay, bx, by, xs, ys)
    area = e0 + e1 + e2
    area = torch.where(area == 0, torch.ones_like(area), area)
    l = torch.stack([e0, e1, e2], -1) / area[..., None]  # screen-space barycentrics
    lw = l * p[..., 2]  # divide by z == multiply by w
    s = lw.sum(-1, keepdim=True)
    bary = lw / torch.where(s == 0, torch.ones_like(s), s)
    return torch.where(hit[..., None], bary, torch.zeros_like(bary))
