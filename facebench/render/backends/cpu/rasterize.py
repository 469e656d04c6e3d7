"""CPU rasterizer kernel (numba), the same contract as :func:`facebench.render.backends.torch.rasterize.rasterize`.

Same coverage rule (pixel centres, top-left edges), same culling and perspective-correct barycentrics;
depth is compared in float32 inverse depth instead of the PyTorch path's 30-bit log-quantised key, so the
two can differ on pixels where two surfaces are within quantisation distance (tests bound this). Each
image of the batch is rasterized in parallel; on an exact depth tie the lower triangle index wins, as in
the PyTorch path, in whatever order the triangles are drawn (see _raster_one's coarse depth test).
"""
from __future__ import annotations

from facebench.render.backends.cpu._numba import numba
import numpy as np
import torch

from facebench.render.backends.torch.rasterize import Fragments


_TILE = 8  # samples per side of the coarse depth tiles (see _raster_one)


@numba.njit(cache=True, fastmath=False)
def _raster_one(v, faces, fmask, H, W, tri, zbuf, bary, cull, order, checks, alpha, depth_only=False):
    """Rasterize faces ``order`` (indices into ``faces``) of one image.

    alpha: per-vertex coverage (V,), or empty for none: as rasterize.rasterize's alpha test, a sample of a
    face with a vertex at or below 0.5 is drawn only where the interpolated alpha exceeds 0.5.

    At each position of ``checks`` in the order (e.g. after the surfaces in front: shells, accessories,
    skin) the kernel records, per 8x8-sample tile, the farthest depth drawn so far (0 if a sample is still
    empty); each face after the first check (e.g. the mouth interior, eyeballs, shells' inner sides: mostly
    hidden) is skipped when its nearest vertex is farther than that in every tile its bounding box
    touches. Depths only grow, so a skipped face could not have won a sample: the output is the same as
    drawing every face in index order, ties going to the lower face index.
    """
    TH, TW = (H + _TILE - 1) // _TILE, (W + _TILE - 1) // _TILE
    tile_far = np.zeros((TH, TW), np.float32)
    n_early = checks[0] if checks.shape[0] > 0 else order.shape[0]
    nc = 0  # the next check (an empty phase repeats a position)
    for j in range(order.shape[0]):
        at_check = False
        while nc < checks.shape[0] and checks[nc] == j:
            nc += 1
            at_check = True
        if at_check:
            for ty in range(TH):
                for tx in range(TW):
                    m = np.float32(np.inf)
                    for py in range(ty * _TILE, min(ty * _TILE + _TILE, H)):
                        for px in range(tx * _TILE, min(tx * _TILE + _TILE, W)):
                            m = min(m, zbuf[py, px])
                    tile_far[ty, tx] = m
        f = order[j]
        if not fmask[f]:
            continue
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        ax, ay, aw = v[i0, 0], v[i0, 1], v[i0, 2]
        bx, by, bw = v[i1, 0], v[i1, 1], v[i1, 2]
        cx, cy, cw = v[i2, 0], v[i2, 1], v[i2, 2]
        if aw <= 0 or bw <= 0 or cw <= 0:
            continue
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if area == 0 or (cull and area > 0):
            continue
        # Alpha test only where a vertex is at or below the threshold (elsewhere every sample passes).
        aa, ab, ac = np.float32(1), np.float32(1), np.float32(1)
        if alpha.shape[0] > 0:
            aa, ab, ac = alpha[i0], alpha[i1], alpha[i2]
        clip = min(aa, ab, ac) <= np.float32(0.5)
        # Reorder to positive area (as the PyTorch path does) and remember the vertex permutation.
        p1, p2 = 1, 2
        if area < 0:
            bx, by, bw, cx, cy, cw = cx, cy, cw, bx, by, bw
            ab, ac = ac, ab
            p1, p2 = 2, 1
            area = -area
        x0 = max(int(np.ceil(min(ax, bx, cx) - 0.5)), 0)  # pixel centres inside the extent
        x1 = min(int(np.floor(max(ax, bx, cx) - 0.5)), W - 1)
        y0 = max(int(np.ceil(min(ay, by, cy) - 0.5)), 0)
        y1 = min(int(np.floor(max(ay, by, cy) - 0.5)), H - 1)
        if x0 > x1 or y0 > y1:
            continue
        if j >= n_early:
            # The interpolated depth never exceeds the nearest vertex's (up to rounding: the margin).
            near = max(aw, bw, cw) * np.float32(1.000001)
            hidden = True
            for ty in range(y0 // _TILE, y1 // _TILE + 1):
                for tx in range(x0 // _TILE, x1 // _TILE + 1):
                    if tile_far[ty, tx] <= near:
                        hidden = False
            if hidden:
                continue
        # Top-left flags of the three edges (b->c, c->a, a->b), as _top_left in the PyTorch path.
        tl0 = (cy - by == 0 and cx - bx > 0) or (cy - by < 0)
        tl1 = (ay - cy == 0 and ax - cx > 0) or (ay - cy < 0)
        tl2 = (by - ay == 0 and bx - ax > 0) or (by - ay < 0)
        for py in range(y0, y1 + 1):
            yc = np.float32(py + 0.5)
            for px in range(x0, x1 + 1):
                xc = np.float32(px + 0.5)
                e0 = (cx - bx) * (yc - by) - (cy - by) * (xc - bx)
                if e0 < 0 or (e0 == 0 and not tl0):
                    continue
                e1 = (ax - cx) * (yc - cy) - (ay - cy) * (xc - cx)
                if e1 < 0 or (e1 == 0 and not tl1):
                    continue
                e2 = (bx - ax) * (yc - ay) - (by - ay) * (xc - ax)
                if e2 < 0 or (e2 == 0 and not tl2):
                    continue
                if clip:
                    l0, l1, l2 = e0 * aw, e1 * bw, e2 * cw
                    if not l0 * aa + l1 * ab + l2 * ac > np.float32(0.5) * (l0 + l1 + l2):
                        continue
                s = e0 + e1 + e2
                w = (e0 * aw + e1 * bw + e2 * cw) / s
                z = zbuf[py, px]
                if w > z:
                    zbuf[py, px] = w
                    if depth_only:
                        continue
                elif depth_only or w < z or f > tri[py, px]:
                    continue  # an exact tie goes to the lower face index, whatever the drawing order
                tri[py, px] = f
                l0, l1, l2 = e0 * aw, e1 * bw, e2 * cw
                t = l0 + l1 + l2
                bary[py, px, 0] = l0 / t
                bary[py, px, p1] = l1 / t
                bary[py, px, p2] = l2 / t


@numba.njit(parallel=True, cache=True)
def _raster_batch(v, faces, fmask, H, W, tri, zbuf, bary, cull, order, checks, alpha):
    none = np.empty(0, np.float32)
    for b in numba.prange(v.shape[0]):
        _raster_one(v[b], faces, fmask[b], H, W, tri[b], zbuf[b], bary[b], cull, order, checks,
                    alpha[b] if alpha.shape[0] > 0 else none)


@numba.njit(parallel=True, cache=True)
def _depth_batch(v, faces, fmask, H, W, zbuf):
    tri = np.empty((0, 0), np.int64)  # not written in depth-only mode
    bary = np.empty((0, 0, 3), np.float32)
    order = np.arange(faces.shape[0])
    checks = np.empty(0, np.int64)
    alpha = np.empty(0, np.float32)
    for b in numba.prange(v.shape[0]):
        _raster_one(v[b], faces, fmask[b], H, W, tri, zbuf[b], bary, False, order, checks, alpha, True)


def depth_map_numba(verts: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                    face_mask: torch.Tensor) -> torch.Tensor:
    """Nearest screen-affine depth (B, H, W) of every pixel (the largest ``w``, the rasterizer's own
    coverage rules, no culling), 0 where nothing is drawn: the shadow map, without triangle ids or
    barycentrics (a third less work than :func:`rasterize_numba`)."""
    v = np.ascontiguousarray(verts.detach().cpu().numpy(), dtype=np.float32)
    f = np.ascontiguousarray(faces.cpu().numpy(), dtype=np.int64)
    fm = np.ascontiguousarray(face_mask.cpu().numpy(), dtype=np.bool_)
    zbuf = np.zeros((v.shape[0], height, width), np.float32)
    _depth_batch(v, f, fm, height, width, zbuf)
    return torch.from_numpy(zbuf)


def drawing_order(phase: torch.Tensor | None, num_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """The face order and the positions of the coarse depth checks for _raster_one: index order without
    phases, else phase by phase (stable), a check where each later phase starts."""
    if phase is None:
        return np.arange(num_faces), np.empty(0, np.int64)
    ph = phase.cpu().numpy()
    return np.argsort(ph, kind="stable"), np.cumsum(np.bincount(ph))[:-1].astype(np.int64)


def rasterize_numba(verts: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                    face_mask: torch.Tensor | None = None, cull_backfaces: bool = True,
                    phase: torch.Tensor | None = None, alpha: torch.Tensor | None = None) -> Fragments:
    """Numba counterpart of :func:`facebench.render.backends.torch.rasterize.rasterize` for CPU tensors.

    phase: optional (F,) int, a drawing order by groups, a speed hint that leaves the result unchanged:
    phase 0 first (surfaces in front), then each later phase behind a coarse depth test against what the
    earlier phases drew (see _raster_one), so that mostly hidden faces (the mouth interior, the eyeballs,
    shells' inner sides) are mostly skipped. alpha: optional (B, V) per-vertex coverage (the alpha test of
    :func:`facebench.render.backends.torch.rasterize.rasterize`)."""
    B = verts.shape[0]
    v = np.ascontiguousarray(verts.detach().cpu().numpy(), dtype=np.float32)
    f = np.ascontiguousarray(faces.cpu().numpy(), dtype=np.int64)
    fm = (np.ones((B, f.shape[0]), np.bool_) if face_mask is None
          else np.ascontiguousarray(face_mask.cpu().numpy(), dtype=np.bool_))
    tri = np.full((B, height, width), -1, np.int64)
    zbuf = np.zeros((B, height, width), np.float32)
    bary = np.zeros((B, height, width, 3), np.float32)
    order, checks = drawing_order(phase, f.shape[0])
    a = (np.empty((0, 0), np.float32) if alpha is None
         else np.ascontiguousarray(alpha.detach().cpu().numpy(), dtype=np.float32))
    _raster_batch(v, f, fm, height, width, tri, zbuf, bary, cull_backfaces, order, checks, a)
    return Fragments(tri=torch.from_numpy(tri), bary=torch.from_numpy(bary), w=torch.from_numpy(zbuf))
