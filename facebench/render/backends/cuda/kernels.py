"""CUDA kernels (numba.cuda) for the GPU path: rasterize, shade and finish a batch in a few fused passes.

The PyTorch path (:mod:`facebench.render.backends.torch.rasterize`, :func:`facebench.render.backends.torch.shade.shade_torch`) makes
hundreds of full-image passes per batch; on an H100 that is memory-bound at ~2k images/s. These kernels
compute the same functions with one thread per triangle (raster) or per pixel (resolve, shade, finish):

- ``raster``: z-buffer by 64-bit ``atomic.min`` of the PyTorch path's key (30-bit log-quantised inverse
  depth above the triangle id), so the nearest surface and tie-breaking are those of the PyTorch path;
  then a per-pixel resolve to triangle ids and perspective-correct barycentrics.
- ``shade``: the per-pixel body of :mod:`facebench.render.backends.cpu.shade` (same materials, textures,
  shadow PCF and SH lighting; same integer hash), writing linear colour, the class, and the skin light
  for the exposure meter; the per-image exposure is a deterministic torch reduction (no float atomics, so
  repeated runs are bitwise identical).
- ``vertex_normals``: per vertex, its faces' normals summed in a fixed (CSR) order (scatter-add with
  atomics would sum in thread-timing order and change the last bits from run to run).
- ``finish``: per output pixel, exposure and box filter of the covered supersamples' linear colour, the
  display transform, the procedural background, compositing by coverage, sensor noise and the majority
  class.

Screen conventions are those of :mod:`facebench.render.backends.torch.rasterize`. Tests hold these kernels to the
PyTorch / numba paths: in CUDA's simulator (NUMBA_ENABLE_CUDASIM=1) on the CPU, and on a GPU when present.
"""
from __future__ import annotations

import functools
import logging
import math

import numpy as np
import torch

if not hasattr(np, "row_stack"):
    # Some numba-cuda releases still register an overload for np.row_stack, which NumPy 2.4 removed; their
    # first kernel compile then fails. The alias is what NumPy itself provided until then.
    np.row_stack = np.vstack
import numba  # noqa: E402
from numba import cuda  # noqa: E402

from facebench.render.backends.kernel_helpers import build_helpers  # noqa: E402
from facebench.render.backends.torch.rasterize import _DEPTH_BITS, _ID_BITS, Fragments  # noqa: E402
from facebench.render.materials import (BEARD_DENSITY, BROW_NOISE, IRIS_ANGLE, LUMA, MATERIALS, PUPIL_ANGLE, SCLERA, SCLERA_FALLOFF,  # noqa: E402
                                    SHADOW_BIAS, ShadeInputs)
from facebench.render.materials import BEARD as _BEARD, BROW_L as _BROW_L, BROW_R as _BROW_R  # noqa: E402
from facebench.render.materials import CLOTHING as _CLOTHING, EAR_L as _EAR_L, EAR_R as _EAR_R  # noqa: E402
from facebench.render.materials import EYE_L as _EYE_L, EYE_R as _EYE_R, HAIR as _HAIR, LIP_BOTTOM as _LIP_BOTTOM  # noqa: E402
from facebench.render.materials import LIP_TOP as _LIP_TOP, MOUTH as _MOUTH, NECK as _NECK, NOSE as _NOSE  # noqa: E402
from facebench.render.materials import SCALP as _SCALP  # noqa: E402
from facebench.render.materials import SKIN as _SKIN  # noqa: E402
from facebench.render.materials import SH_C1 as _C1, SH_C2 as _C2, SH_C3 as _C3, SH_C4 as _C4, SH_C5 as _C5  # noqa: E402

log = logging.getLogger(__name__)

_EMPTY = np.int64(np.iinfo(np.int64).max)
_ID_MASK = np.int64((1 << _ID_BITS) - 1)
_DQ_MAX = float((1 << _DEPTH_BITS) - 1)
_W_LO, _W_HI = 1e-3, 1e3  # the PyTorch rasterizer's default w_range
_LOG_LO = math.log(_W_LO)
_INV_LOG_RANGE = 1.0 / (math.log(_W_HI) - math.log(_W_LO))
_THREADS = 256


def _arr(t: torch.Tensor):
    """A kernel argument view of a tensor: zero-copy on CUDA; numpy (shared memory) for the simulator."""
    return cuda.as_cuda_array(t) if t.is_cuda else t.numpy()


@functools.lru_cache(maxsize=64)
def _numba_stream(ptr: int):
    """numba's handle on the CUDA stream ``ptr`` (torch's current stream), made once: creating one per
    launch made a launch cost ~0.6 ms of host time instead of ~0.08 ms (measured on an H100)."""
    return cuda.external_stream(ptr)


def _launch(kernel, n: int, *args):
    blocks = max((n + _THREADS - 1) // _THREADS, 1)
    t = next((a for a in args if isinstance(a, torch.Tensor)), None)
    if t is not None and t.is_cuda:
        stream = _numba_stream(torch.cuda.current_stream(t.device).cuda_stream)
        kernel[blocks, _THREADS, stream](*[_arr(a) if isinstance(a, torch.Tensor) else a for a in args])
    else:
        kernel[blocks, _THREADS](*[_arr(a) if isinstance(a, torch.Tensor) else a for a in args])


# ---------------------------------------------------------------------------------------------- geometry
# index_add_ on CUDA sums with atomics in thread-timing order; this kernel sums each vertex's faces in a
# fixed order, so normals are bitwise the same on every run.
def vertex_faces(faces: torch.Tensor, num_vertices: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CSR adjacency (offsets (V+1,), face ids) of a face list: the faces around each vertex, ascending."""
    f = faces.long().cpu()
    order = torch.argsort(f.flatten(), stable=True)
    counts = torch.bincount(f.flatten(), minlength=num_vertices)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    return offsets.to(faces.device), (order // 3).to(faces.device)


@cuda.jit(device=True, inline=True)
def _face_sum(v, b, i, faces, offsets, adj):
    """Sum over vertex i's faces (CSR order) of their cross products (area-weighted face normals x 2)."""
    nx, ny, nz = np.float32(0.0), np.float32(0.0), np.float32(0.0)
    for j in range(offsets[i], offsets[i + 1]):
        f = adj[j]
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        ux, uy, uz = v[b, i1, 0] - v[b, i0, 0], v[b, i1, 1] - v[b, i0, 1], v[b, i1, 2] - v[b, i0, 2]
        wx, wy, wz = v[b, i2, 0] - v[b, i0, 0], v[b, i2, 1] - v[b, i0, 1], v[b, i2, 2] - v[b, i0, 2]
        nx += uy * wz - uz * wy
        ny += uz * wx - ux * wz
        nz += ux * wy - uy * wx
    return nx, ny, nz


@cuda.jit(device=True, inline=True)
def _store_unit(out, b, i, nx, ny, nz):
    length = max(math.sqrt(nx * nx + ny * ny + nz * nz), np.float32(1e-12))
    out[b, i, 0] = nx / length
    out[b, i, 1] = ny / length
    out[b, i, 2] = nz / length


@cuda.jit(device=True, inline=True)
def _image_and_item(t, n):
    """Image and item (vertex) of flat thread index t over (B, n); the image is B or more past the end."""
    b = t // n
    return b, t - b * n


@cuda.jit
def _normals_k(v, faces, offsets, adj, out):
    b, i = _image_and_item(cuda.grid(1), out.shape[1])
    if b >= out.shape[0]:
        return
    nx, ny, nz = _face_sum(v, b, i, faces, offsets, adj)
    _store_unit(out, b, i, nx, ny, nz)


def vertex_normals_cuda(v: torch.Tensor, faces: torch.Tensor, csr: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Area-weighted unit vertex normals (B, V, 3), V = len(csr[0]) - 1; a vertex in no face gets zero."""
    offsets, adj = csr
    out = torch.zeros(v.shape[0], offsets.shape[0] - 1, 3, device=v.device)
    _launch(_normals_k, v.shape[0] * (offsets.shape[0] - 1), v.float().contiguous(), faces.long().contiguous(),
            offsets, adj, out)
    return out


@cuda.jit(device=True, inline=True)
def _rotate_at(Rs, b, w, x, y, z, c):
    """Component c of (x, y, z) turned by image b's rotation at follow weight w (renderer.pose_points)."""
    L = Rs.shape[1] - 1
    if w >= 1 or w <= 0:
        lvl = L if w >= 1 else 0
        return Rs[b, lvl, c, 0] * x + Rs[b, lvl, c, 1] * y + Rs[b, lvl, c, 2] * z
    t = w * np.float32(L)
    lvl = min(int(t), L - 1)
    f = t - np.float32(lvl)
    g = np.float32(1) - f
    return ((g * Rs[b, lvl, c, 0] + f * Rs[b, lvl + 1, c, 0]) * x + (g * Rs[b, lvl, c, 1] + f * Rs[b, lvl + 1, c, 1]) * y
            + (g * Rs[b, lvl, c, 2] + f * Rs[b, lvl + 1, c, 2]) * z)


@cuda.jit
def _assemble_k(vh, nh, shell_vids, shell_thick, shell_offset, rigid_verts, rigid_follow, eye_mid, scale,
                head_scale, t_eye_mid, Rs, pose_w, pivot, out):
    """One thread per image and combined vertex: its unposed position (head; shell = head vertex offset
    along its normal, plus its fixed offset; rigid = template following the eyes), then the pose about the
    neck pivot with the rotation of its follow weight pose_w (the neck twists between torso and head)."""
    b, i = _image_and_item(cuda.grid(1), out.shape[1])
    if b >= out.shape[0]:
        return
    V, ns = vh.shape[1], shell_vids.shape[0]
    if i < V:
        x, y, z = vh[b, i, 0], vh[b, i, 1], vh[b, i, 2]
    elif i < V + ns:
        k = shell_vids[i - V]
        th = shell_thick[b, i - V]
        o = i - V
        x = vh[b, k, 0] + nh[b, k, 0] * th + shell_offset[o, 0]
        y = vh[b, k, 1] + nh[b, k, 1] * th + shell_offset[o, 1]
        z = vh[b, k, 2] + nh[b, k, 2] * th + shell_offset[o, 2]
    else:
        j = i - V - ns
        s, w = scale[b], rigid_follow[j]
        x = eye_mid[b, 0] + (s + w * (head_scale[b, 0] - s)) * (rigid_verts[j, 0] - t_eye_mid[0])
        y = eye_mid[b, 1] + (s + w * (head_scale[b, 1] - s)) * (rigid_verts[j, 1] - t_eye_mid[1])
        z = eye_mid[b, 2] + (s + w * (head_scale[b, 2] - s)) * (rigid_verts[j, 2] - t_eye_mid[2])
    x, y, z = x - pivot[0], y - pivot[1], z - pivot[2]
    w = pose_w[i]
    for c in range(3):
        out[b, i, c] = _rotate_at(Rs, b, w, x, y, z, c) + pivot[c]


@cuda.jit
def _posed_normals_k(v, nh, Rs, pose_w, V, faces, offsets, adj, out):
    """Unit normals of the posed combined mesh: the head's (i < V) its unposed normals turned like their
    vertex (renormalised where the rotation is a blend), the rest summed over their faces (the CSR of the
    combined mesh's front faces)."""
    b, i = _image_and_item(cuda.grid(1), out.shape[1])
    if b >= out.shape[0]:
        return
    if i < V:
        x, y, z = nh[b, i, 0], nh[b, i, 1], nh[b, i, 2]
        w = pose_w[i]
        nx, ny, nz = _rotate_at(Rs, b, w, x, y, z, 0), _rotate_at(Rs, b, w, x, y, z, 1), _rotate_at(Rs, b, w, x, y, z, 2)
        if 0 < w < 1:
            _store_unit(out, b, i, nx, ny, nz)
        else:
            out[b, i, 0], out[b, i, 1], out[b, i, 2] = nx, ny, nz
        return
    nx, ny, nz = _face_sum(v, b, i, faces, offsets, adj)
    _store_unit(out, b, i, nx, ny, nz)


def assemble_cuda(vh, nh, shell_vids, shell_thick, shell_offset, rigid_verts, rigid_follow, eye_mid, scale,
                  head_scale, t_eye_mid, Rs, pose_w, pivot, faces, csr) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed vertices and unit normals (B, N, 3) of the combined mesh, as geometry_numba.assemble_numba
    (same arguments, except csr: vertex_faces of the front faces instead of the first face to sum)."""
    B, V = vh.shape[:2]
    N = V + shell_vids.shape[0] + rigid_verts.shape[0]
    f32 = lambda t: t.detach().float().contiguous()  # noqa: E731
    out = torch.empty(B, N, 3, device=vh.device)
    out_n = torch.empty(B, N, 3, device=vh.device)
    Rs, nh, pose_w = f32(Rs), f32(nh), f32(pose_w)
    _launch(_assemble_k, B * N, f32(vh), nh, shell_vids.long().contiguous(), f32(shell_thick), f32(shell_offset),
            f32(rigid_verts), f32(rigid_follow), f32(eye_mid), f32(scale), f32(head_scale),
            f32(t_eye_mid), Rs, pose_w, f32(pivot), out)
    _launch(_posed_normals_k, B * N, out, nh, Rs, pose_w, int(V), faces.long().contiguous(), csr[0], csr[1], out_n)
    return out, out_n


@cuda.jit
def _screen_space_k(v, cam_dist, M, out):
    b, i = _image_and_item(cuda.grid(1), v.shape[1])
    if b >= v.shape[0]:
        return
    inv = np.float32(1.0) / (cam_dist[b] - v[b, i, 2])
    x = v[b, i, 0] * inv
    y = -v[b, i, 1] * inv
    out[b, i, 0] = x * M[b, 0, 0] + y * M[b, 0, 1] + M[b, 0, 2]
    out[b, i, 1] = x * M[b, 1, 0] + y * M[b, 1, 1] + M[b, 1, 2]
    out[b, i, 2] = inv


def screen_space_cuda(v: torch.Tensor, cam_dist: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """camera.project (unit focal length) then apply_similarity(M) in one pass, as mesh_numba.screen_space_numba."""
    out = torch.empty(v.shape, device=v.device)
    _launch(_screen_space_k, v.shape[0] * v.shape[1], v.float().contiguous(), cam_dist.float().contiguous(),
            M.float().contiguous(), out)
    return out


@cuda.jit
def _light_rotate_k(v, basis, out):
    b, i = _image_and_item(cuda.grid(1), v.shape[1])
    if b >= v.shape[0]:
        return
    x, y, z = v[b, i, 0], v[b, i, 1], v[b, i, 2]
    for c in range(3):
        out[b, i, c] = x * basis[b, c, 0] + y * basis[b, c, 1] + z * basis[b, c, 2]


@cuda.jit
def _light_fit_k(lp, lo, scale):
    b, i = _image_and_item(cuda.grid(1), lp.shape[1])
    if b >= lp.shape[0]:
        return
    lp[b, i, 0] = (lp[b, i, 0] - lo[b, 0]) * scale[b] + np.float32(1.0)
    lp[b, i, 1] = (lp[b, i, 1] - lo[b, 1]) * scale[b] + np.float32(1.0)
    lp[b, i, 2] = lp[b, i, 2] - lo[b, 2] + np.float32(0.5)


def light_space_cuda(v: torch.Tensor, basis: torch.Tensor, size: int) -> torch.Tensor:
    """Vertices (B, N, 3) in shadow-map space, as mesh_numba.light_space_numba: rotation into the light
    frames basis (B, 3, 3), then x, y fitted to the map with a one-texel border and depth offset to 0.5."""
    B, N = v.shape[:2]
    lp = torch.empty(B, N, 3, device=v.device)
    _launch(_light_rotate_k, B * N, v.float().contiguous(), basis.float().contiguous(), lp)
    lo, hi = torch.aminmax(lp, dim=1)  # exact in any order: the same bounds on every run
    scale = (size - 2) / (hi[:, :2] - lo[:, :2]).amax(-1).clamp(min=1e-6)
    _launch(_light_fit_k, B * N, lp, lo.contiguous(), scale.float().contiguous())
    return lp


# ---------------------------------------------------------------------------------------------- raster
_TILE = 8  # samples per side of the coarse depth tiles (rasterize_cuda's drawing phases)


@cuda.jit
def _raster_k(v, faces, fmask, alpha, H, W, cull, key, fids, test, tile_far):
    """One thread per image and face of ``fids``; with ``test``, a face is skipped where it is behind every
    8x8 tile its bounding box touches (tile_far: the farthest depth key of each tile so far). alpha: per-vertex
    coverage (B, V) for rasterize.rasterize's alpha test, or (0, 0) for none."""
    t = cuda.grid(1)
    n = fids.shape[0]
    if t >= v.shape[0] * n:
        return
    b = t // n
    f = fids[t - b * n]
    if fmask[b, f] == 0:
        return
    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
    ax, ay, aw = v[b, i0, 0], v[b, i0, 1], v[b, i0, 2]
    bx, by, bw = v[b, i1, 0], v[b, i1, 1], v[b, i1, 2]
    cx, cy, cw = v[b, i2, 0], v[b, i2, 1], v[b, i2, 2]
    if aw <= 0 or bw <= 0 or cw <= 0:
        return
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    if area == 0 or (cull and area > 0):
        return
    aa, ab, ac = np.float32(1.0), np.float32(1.0), np.float32(1.0)
    if alpha.shape[0] > 0:
        aa, ab, ac = alpha[b, i0], alpha[b, i1], alpha[b, i2]
    clip = min(aa, ab, ac) <= np.float32(0.5)
    if area < 0:  # make it positive, as the PyTorch path does
        bx, by, bw, cx, cy, cw = cx, cy, cw, bx, by, bw
        ab, ac = ac, ab
    x0 = max(int(math.ceil(min(ax, bx, cx) - 0.5)), 0)  # pixel centres inside the extent
    x1 = min(int(math.floor(max(ax, bx, cx) - 0.5)), W - 1)
    y0 = max(int(math.ceil(min(ay, by, cy) - 0.5)), 0)
    y1 = min(int(math.floor(max(ay, by, cy) - 0.5)), H - 1)
    if x0 > x1 or y0 > y1:
        return
    if test:
        # The nearest depth key the face can write: from its nearest vertex, with a margin above the
        # rounding of the interpolated depth. Skipped only if strictly behind everything drawn in each tile:
        # an atomic minimum it could never have lowered (nor tied), so the result is unchanged.
        wn = min(max(max(aw, bw, cw) * np.float32(1.00001), np.float32(_W_LO)), np.float32(_W_HI))
        dq_near = np.int64(round((1.0 - (math.log(wn) - _LOG_LO) * _INV_LOG_RANGE) * _DQ_MAX)) - 1
        hidden = True
        for ty in range(y0 // _TILE, y1 // _TILE + 1):
            for tx in range(x0 // _TILE, x1 // _TILE + 1):
                if dq_near <= tile_far[b, ty, tx]:  # keys grow with distance
                    hidden = False
        if hidden:
            return
    tl0 = (cy - by == 0 and cx - bx > 0) or (cy - by < 0)
    tl1 = (ay - cy == 0 and ax - cx > 0) or (ay - cy < 0)
    tl2 = (by - ay == 0 and bx - ax > 0) or (by - ay < 0)
    for py in range(y0, y1 + 1):
        yc = np.float32(py) + np.float32(0.5)
        for px in range(x0, x1 + 1):
            xc = np.float32(px) + np.float32(0.5)
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
            w = (e0 * aw + e1 * bw + e2 * cw) / (e0 + e1 + e2)
            w = min(max(w, np.float32(_W_LO)), np.float32(_W_HI))
            lw = (math.log(w) - _LOG_LO) * _INV_LOG_RANGE
            dq = np.int64(round((1.0 - lw) * _DQ_MAX))
            cuda.atomic.min(key, (b, py * W + px), (dq << _ID_BITS) | np.int64(f))


@cuda.jit
def _tile_far_k(key, H, W, tile_far):
    """Per image and 8x8 tile: the farthest depth key drawn (the largest; an empty sample's is the largest)."""
    t = cuda.grid(1)
    B, TH, TW = tile_far.shape
    if t >= B * TH * TW:
        return
    b = t // (TH * TW)
    r = t - b * (TH * TW)
    ty = r // TW
    tx = r - ty * TW
    far = np.int64(0)
    for py in range(ty * _TILE, min(ty * _TILE + _TILE, H)):
        for px in range(tx * _TILE, min(tx * _TILE + _TILE, W)):
            k = key[b, py * W + px]
            d = _EMPTY if k == _EMPTY else (k >> _ID_BITS)
            far = max(far, d)
    tile_far[b, ty, tx] = far


@cuda.jit(device=True, inline=True)
def _unravel(t, H, W):
    """Image, row and column (b, y, x) of flat thread index t over (B, H, W)."""
    b = t // (H * W)
    p = t - b * (H * W)
    y = p // W
    return b, y, p - y * W


@cuda.jit(device=True, inline=True)
def _edges_at(v, faces, b, f, x, y):
    """Edge functions (e0, e1, e2) of face f of image b at the centre of sample (x, y), their sum s (1 where
    zero) and the face's vertex depths (aw, bw, cw)."""
    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
    ax, ay, aw = v[b, i0, 0], v[b, i0, 1], v[b, i0, 2]
    bx, by, bw = v[b, i1, 0], v[b, i1, 1], v[b, i1, 2]
    cx, cy, cw = v[b, i2, 0], v[b, i2, 1], v[b, i2, 2]
    xc, yc = np.float32(x) + np.float32(0.5), np.float32(y) + np.float32(0.5)
    e0 = (cx - bx) * (yc - by) - (cy - by) * (xc - bx)
    e1 = (ax - cx) * (yc - cy) - (ay - cy) * (xc - cx)
    e2 = (bx - ax) * (yc - ay) - (by - ay) * (xc - ax)
    s = e0 + e1 + e2
    if s == 0:
        s = np.float32(1.0)
    return e0, e1, e2, s, aw, bw, cw


@cuda.jit(device=True, inline=True)
def _key_at(t, key, W):
    """Image, row and column (b, y, x) of flat sample index t over the z-buffer key (B, H*W), and that
    sample's key; past the end b is B (and the key empty)."""
    B, HW = key.shape
    if t >= B * HW:
        return B, 0, 0, _EMPTY
    b, y, x = _unravel(t, HW // W, W)
    return b, y, x, key[b, y * W + x]


@cuda.jit
def _resolve_k(v, faces, key, W, tri, bary):
    b, y, x, k = _key_at(cuda.grid(1), key, W)
    if b >= key.shape[0]:
        return
    if k == _EMPTY:
        tri[b, y, x] = -1
        for c in range(3):
            bary[b, y, x, c] = 0.0
        return
    f = k & _ID_MASK
    tri[b, y, x] = f
    e0, e1, e2, s, aw, bw, cw = _edges_at(v, faces, b, f, x, y)
    l0, l1, l2 = e0 / s * aw, e1 / s * bw, e2 / s * cw
    t3 = l0 + l1 + l2
    if t3 == 0:
        t3 = np.float32(1.0)
    bary[b, y, x, 0] = l0 / t3
    bary[b, y, x, 1] = l1 / t3
    bary[b, y, x, 2] = l2 / t3


def _raster_inputs(verts, faces, face_mask, height, width):
    """The raster kernel's inputs: vertices float32, faces int64, face mask uint8 (all ones if None) and an
    empty depth-id key buffer (B, height * width)."""
    B, dev = verts.shape[0], verts.device
    v = verts.detach().float().contiguous()
    f = faces.long().contiguous()
    fm = (torch.ones(B, f.shape[0], dtype=torch.uint8, device=dev) if face_mask is None
          else face_mask.to(torch.uint8).contiguous())
    return v, f, fm, torch.full((B, height * width), int(_EMPTY), dtype=torch.int64, device=dev)


def rasterize_cuda(verts: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                   face_mask: torch.Tensor | None = None, cull_backfaces: bool = True,
                   phase=None, alpha: torch.Tensor | None = None) -> Fragments:
    """Kernel counterpart of :func:`facebench.render.backends.torch.rasterize.rasterize` (same arguments and result).

    phase: optional, a speed hint that leaves the result unchanged (as in rasterize_numba): (F,) int64 or,
    to save the device synchronisations of splitting it, a list of face-index tensors, one per phase.
    Faces of phase 0 are drawn first, then each later phase skips the faces that a coarse depth test (the
    farthest depth of each 8x8 tile so far) shows hidden. alpha: optional (B, V) per-vertex coverage (the
    alpha test of rasterize.rasterize)."""
    B, dev = verts.shape[0], verts.device
    v, f, fm, key = _raster_inputs(verts, faces, face_mask, height, width)
    a = (torch.empty(0, 0, device=dev) if alpha is None else alpha.detach().float().contiguous())
    if phase is None:
        groups = [torch.arange(f.shape[0], device=dev)]
    elif isinstance(phase, (list, tuple)):
        groups = [g.to(dev).long() for g in phase]
    else:
        groups = [torch.nonzero(phase == p).squeeze(1) for p in range(int(phase.max()) + 1)]
    tile_far = torch.zeros(B, (height + _TILE - 1) // _TILE, (width + _TILE - 1) // _TILE, dtype=torch.int64,
                           device=dev)
    for g, fids in enumerate(groups):
        if g > 0:
            _launch(_tile_far_k, tile_far.numel(), key, height, width, tile_far)
        if len(fids):
            _launch(_raster_k, B * len(fids), v, f, fm, a, height, width, bool(cull_backfaces), key, fids, g > 0,
                    tile_far)
    tri = torch.empty(B, height, width, dtype=torch.int64, device=dev)
    bary = torch.empty(B, height, width, 3, dtype=torch.float32, device=dev)
    _launch(_resolve_k, B * height * width, v, f, key, width, tri, bary)
    return Fragments(tri=tri, bary=bary)


@cuda.jit
def _depth_resolve_k(v, faces, key, W, out):
    """Per sample: the screen-affine depth of the face in the key (what the numba depth raster keeps:
    equal to 1 / sum(b_i / w_i) of the perspective-correct barycentrics), 0 where empty."""
    b, y, x, k = _key_at(cuda.grid(1), key, W)
    if b >= key.shape[0]:
        return
    if k == _EMPTY:
        out[b, y, x] = 0.0
        return
    e0, e1, e2, s, aw, bw, cw = _edges_at(v, faces, b, k & _ID_MASK, x, y)
    out[b, y, x] = (e0 * aw + e1 * bw + e2 * cw) / s


def depth_map_cuda(verts: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                   face_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Nearest screen-affine depth (B, H, W) of the faces (no culling), 0 where empty: the shadow map, as
    rasterize_numba.depth_map_numba (the raster's z-buffer, then one depth per sample instead of ids and
    barycentrics)."""
    B, dev = verts.shape[0], verts.device
    v, f, fm, key = _raster_inputs(verts, faces, face_mask, height, width)
    fids = torch.arange(f.shape[0], device=dev)
    dummy = torch.zeros(1, 1, 1, dtype=torch.int64, device=dev)
    _launch(_raster_k, B * len(fids), v, f, fm, torch.empty(0, 0, device=dev), height, width, False, key, fids,
            False, dummy)
    out = torch.empty(B, height, width, device=dev)
    _launch(_depth_resolve_k, B * height * width, v, f, key, width, out)
    return out


# ---------------------------------------------------------------------------------------------- shade
# Transcendental functions take float32 arguments below (np.float32(...)): Python float literals promote the
# kernels' arithmetic to float64, and float64 sin/atan2/exp/pow on GPUs are long instruction sequences
# where float32 has hardware approximations. Results differ from the float64 CPU kernels by float32 rounding.
@cuda.jit(device=True, inline=True)
def _f32(x):
    return np.float32(x)


@cuda.jit(device=True, inline=True)
def _floor(x):
    return math.floor(x)


# The helpers shared with the CPU kernels (backends/kernel_helpers.py), compiled as device functions with the
# arguments of transcendental functions in float32.
_H = build_helpers(cuda.jit(device=True), cuda.jit(device=True, inline=True), _f32, _floor)
_hash_u32, _noise, _value_noise, _hair_strands, _tap_weight = _H.hash_u32, _H.noise, _H.value_noise, _H.hair_strands, _H.tap_weight
_paint_edge, _sigmoid, _painted_class, _skin_octave = _H.paint_edge, _H.sigmoid, _H.painted_class, _H.skin_octave
_skin_texture, _hair_sheen = _H.skin_texture, _H.hair_sheen


@cuda.jit(device=True)
def _pcf(smap, b, lx, ly, lz):
    """Bilinear 3x3 PCF of image b (as shade_numba._pcf)."""
    S = smap.shape[1]
    gx, gy = lx - 0.5, ly - 0.5
    fx0, fy0 = math.floor(gx), math.floor(gy)
    fx, fy = gx - fx0, gy - fy0
    bx, by = int(fx0), int(fy0)
    lit = 0.0
    for ky in range(4):
        sy = min(max(by + ky - 1, 0), S - 1)
        row = 0.0
        for kx in range(4):
            sx = min(max(bx + kx - 1, 0), S - 1)
            if smap[b, sy, sx] <= lz:
                row += _tap_weight(kx, fx)
        lit += _tap_weight(ky, fy) * row
    return lit / 9.0


@cuda.jit(device=True, inline=True)
def _display(x):
    x = max(x, 0.0)
    x = x / (1 + 0.25 * x)
    return np.float32(min(max(x, 0.0), 1.0)) ** np.float32(1 / 2.2)


_MAX_SAMPLES = 16  # samples per output pixel the shading kernel handles (supersample <= 4)
_NATTR = 17  # interpolated attributes per sample: raw normal 3, canonical position 3, albedo 3, paint 4, light-space 3, occlusion 1


@cuda.jit
def _shade_k(tri, bary, faces, face_part, part_to_seg, vn, alb, canon, occ, paint, eye_c, sh, kd, key, hair, hax, iris,
             cloth, prgb, seeds, mats, sclera, luma, lpos, smap, bias0, bias1, ss, foot, lin, seg, light_out, skin_out):
    # One thread per output pixel: the attributes and class of each of its ss x ss samples, then one shading
    # per part at the mean of that part's samples (as shade_numba), written to each of them.
    t = cuda.grid(1)
    B, Hs, Ws = tri.shape
    H, W = Hs // ss, Ws // ss
    if t >= B * H * W:
        return
    b, bi, bj = _unravel(t, H, W)
    V = paint.shape[1]
    seed = seeds[b]
    A = cuda.local.array((_MAX_SAMPLES, _NATTR), numba.float32)
    avg = cuda.local.array(_NATTR, numba.float32)
    col = cuda.local.array(3, numba.float32)
    parts = cuda.local.array(_MAX_SAMPLES, numba.int64)
    n = 0
    for qy in range(ss):  # (not dx/dy: the eye shading below uses those names for floats)
        for qx in range(ss):
            y, x = bi * ss + qy, bj * ss + qx
            light_out[b, y, x] = 0.0
            skin_out[b, y, x] = 0.0
            f = tri[b, y, x]
            if f < 0:
                parts[n] = -1
                seg[b, y, x] = 0
                for c in range(3):
                    lin[b, y, x, c] = 0.0
                n += 1
                continue
            part = face_part[f]
            parts[n] = part
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            b0, b1, b2 = bary[b, y, x, 0], bary[b, y, x, 1], bary[b, y, x, 2]
            for c in range(3):
                A[n, c] = b0 * vn[b, i0, c] + b1 * vn[b, i1, c] + b2 * vn[b, i2, c]
                A[n, 3 + c] = b0 * canon[i0, c] + b1 * canon[i1, c] + b2 * canon[i2, c]
                A[n, 6 + c] = b0 * alb[b, i0, c] + b1 * alb[b, i1, c] + b2 * alb[b, i2, c]
                A[n, 13 + c] = b0 * lpos[b, i0, c] + b1 * lpos[b, i1, c] + b2 * lpos[b, i2, c]
            A[n, 16] = b0 * occ[i0] + b1 * occ[i1] + b2 * occ[i2]
            for c in range(4):
                pv = 0.0
                if i0 < V:
                    pv += b0 * paint[b, i0, c]
                if i1 < V:
                    pv += b1 * paint[b, i1, c]
                if i2 < V:
                    pv += b2 * paint[b, i2, c]
                A[n, 9 + c] = pv
            seg[b, y, x] = _painted_class(part, part_to_seg, A[n, 9], A[n, 10], A[n, 11], A[n, 12])
            n += 1
    for k in range(n):
        part = parts[k]
        if part < 0:
            continue
        seen = False
        for m in range(k):
            if parts[m] == part:
                seen = True
        if seen:
            continue
        cnt = 0
        for q in range(_NATTR):
            avg[q] = 0.0
        for m in range(k, n):
            if parts[m] == part:
                cnt += 1
                for q in range(_NATTR):
                    avg[q] += A[m, q]
        for q in range(_NATTR):
            avg[q] /= cnt
        nx, ny, nz = avg[0], avg[1], avg[2]
        nn = max(math.sqrt(np.float32(nx * nx + ny * ny + nz * nz)), 1e-12)
        nx, ny, nz = nx / nn, ny / nn, nz / nn
        cx, cy, cz = avg[3], avg[4], avg[5]
        ar, ag, ab = avg[6], avg[7], avg[8]
        pnt, bpn, mpn, hpn = avg[9], avg[10], avg[11], avg[12]
        lx, ly, lz = avg[13], avg[14], avg[15]
        beardable = part == _SKIN or part == _NECK
        if not beardable:
            bpn = 0.0
        hairable = part == _SKIN or part == _SCALP or part == _NECK or part == _EAR_R or part == _EAR_L
        if hairable or part == _NOSE:
            sr, sg, sb = _skin_texture(cx, cy, cz, seed, foot[b])
            ar, ag, ab = ar * sr, ag * sg, ab * sb
        if not hairable:
            pnt = 0.0
        st = np.float32(1.0)
        if part == _HAIR or part == _BEARD or pnt > 0 or bpn > 0:
            st = _hair_strands(cx, cy, cz, seed)
            if part == _HAIR or part == _BEARD:
                ar, ag, ab = hair[b, 0] * st, hair[b, 1] * st, hair[b, 2] * st
            else:
                ar = ar * (1 - pnt) + pnt * hair[b, 0] * st
                ag = ag * (1 - pnt) + pnt * hair[b, 1] * st
                ab = ab * (1 - pnt) + pnt * hair[b, 2] * st
                bw = bpn * BEARD_DENSITY
                ar = ar * (1 - bw) + bw * 0.9 * hair[b, 0] * st
                ag = ag * (1 - bw) + bw * 0.9 * hair[b, 1] * st
                ab = ab * (1 - bw) + bw * 0.9 * hair[b, 2] * st
        elif part == _BROW_R or part == _BROW_L:
            tb = 0.7 + 0.6 * (_value_noise(cx * BROW_NOISE[0], cy * BROW_NOISE[1], seed + BROW_NOISE[2]) - 0.5)
            ar, ag, ab = max(ar, 0.002) * tb, max(ag, 0.002) * tb, max(ab, 0.002) * tb
        elif part == _EYE_R or part == _EYE_L:
            e = 0 if part == _EYE_R else 1
            dx, dy, dz = cx - eye_c[e, 0], cy - eye_c[e, 1], cz - eye_c[e, 2]
            dn = max(math.sqrt(np.float32(dx * dx + dy * dy + dz * dz)), 1e-12)
            dx, dy, dz = dx / dn, dy / dn, dz / dn
            ang = math.acos(np.float32(min(max(dz, -1.0), 1.0)))
            ring = 0.6 + 0.4 * math.sin(np.float32(math.atan2(np.float32(dy), np.float32(dx)) * 30))
            im = _sigmoid((IRIS_ANGLE - ang) * 60)
            pu = _sigmoid((PUPIL_ANGLE - ang) * 80)
            tf = min(max((ang - SCLERA_FALLOFF[0]) / (SCLERA_FALLOFF[1] - SCLERA_FALLOFF[0]), 0.0), 1.0)
            sc = 1 - SCLERA_FALLOFF[2] * tf * tf * (3 - 2 * tf)  # lid shading toward the corners
            ar = sclera[0] * sc * (1 - im) + im * (iris[b, 0] * ring * (1 - pu) + 0.003 * pu)
            ag = sclera[1] * sc * (1 - im) + im * (iris[b, 1] * ring * (1 - pu) + 0.003 * pu)
            ab = sclera[2] * sc * (1 - im) + im * (iris[b, 2] * ring * (1 - pu) + 0.003 * pu)
        elif part == _CLOTHING:
            freq = 280.0 if seed % 3 == 0 else 80.0
            sv = math.sin(np.float32(cy * freq))
            st = 0.8 + 0.2 * (1.0 if sv > 0 else (-1.0 if sv < 0 else 0.0))
            ar, ag, ab = cloth[b, 0] * st, cloth[b, 1] * st, cloth[b, 2] * st
        # Face mask and hat colours just past their shells' borders (as facebench.render.backends.torch.shade).
        if not (part == _SKIN or part == _NOSE or part == _LIP_TOP or part == _LIP_BOTTOM or part == _NECK
                or part == _MOUTH or part == _BEARD):
            mpn = 0.0
        if not (part == _SKIN or part == _SCALP or part == _NECK or part == _EAR_R or part == _EAR_L or part == _HAIR):
            hpn = 0.0
        mpn, hpn = _paint_edge(mpn), _paint_edge(hpn)
        ar = ar * (1 - mpn) + mpn * prgb[b, 0, 0]
        ag = ag * (1 - mpn) + mpn * prgb[b, 0, 1]
        ab = ab * (1 - mpn) + mpn * prgb[b, 0, 2]
        ar = ar * (1 - hpn) + hpn * prgb[b, 1, 0]
        ag = ag * (1 - hpn) + hpn * prgb[b, 1, 1]
        ab = ab * (1 - hpn) + hpn * prgb[b, 1, 2]
        kx, ky, kz = kd[b, 0], kd[b, 1], kd[b, 2]
        hx, hy, hz = kx, ky, kz + 1.0
        hn = max(math.sqrt(np.float32(hx * hx + hy * hy + hz * hz)), 1e-12)
        hx, hy, hz = hx / hn, hy / hn, hz / hn
        cos = nx * kx + ny * ky + nz * kz
        ndl = max(cos, 0.0)
        ks, pw, ao, wrap = mats[part, 0], mats[part, 1], mats[part, 2], mats[part, 3]
        ndl_wrap = max((cos + wrap) / (1 + wrap), 0.0)
        tan = min(math.sqrt(np.float32(max(1.0 - ndl * ndl, 0.0))) / max(ndl, 1e-3), 4.0)
        bias = bias0 + bias1 * tan
        vis = _pcf(smap, b, lx, ly, lz + bias)
        ndh = max(nx * hx + ny * hy + nz * hz, 0.0)
        spec = ks * np.float32(ndh) ** pw * vis if ndl > 0 else 0.0
        if part == _HAIR:
            spec = _hair_sheen(nx, ny, nz, hax[b, 0], hax[b, 1], hax[b, 2], hx, hy, hz) * st * vis if ndl > 0 else 0.0
        light = 0.0
        for c in range(3):
            ev = (_C4 * sh[b, 0, c] + 2 * _C2 * (sh[b, 3, c] * nx + sh[b, 1, c] * ny + sh[b, 2, c] * nz)
                  + _C1 * sh[b, 8, c] * (nx * nx - ny * ny) + _C3 * sh[b, 6, c] * (nz * nz) - _C5 * sh[b, 6, c]
                  + 2 * _C1 * (sh[b, 4, c] * (nx * ny) + sh[b, 7, c] * (nx * nz) + sh[b, 5, c] * (ny * nz)))
            dl = max(ev, 0.0) / math.pi * ao * avg[16] + key[b, c] * vis * ndl_wrap
            a = ar if c == 0 else (ag if c == 1 else ab)
            col[c] = a * dl + spec * key[b, c]
            light += dl * luma[c]
        m = 0
        for qy in range(ss):
            for qx in range(ss):
                if m >= k and parts[m] == part:
                    y, x = bi * ss + qy, bj * ss + qx
                    for c in range(3):
                        lin[b, y, x, c] = col[c]
                    if part == _SKIN:
                        light_out[b, y, x] = light
                        skin_out[b, y, x] = 1.0
                m += 1


@functools.lru_cache(maxsize=8)
def _shade_constants(device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Material table, sclera colour and luma weights on ``device``, copied once (not per batch)."""
    return tuple(torch.as_tensor(np.asarray(a, np.float32), device=device) for a in (MATERIALS, SCLERA, LUMA))


def shade_cuda(s: ShadeInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear colour (B, H, W, 3), classes (B, H, W) and the exposure (B,) of every supersample (shaded once
    per part and output pixel, see _shade_k); the display transform happens in :func:`finish_cuda`."""
    B, H, W = s.tri.shape
    if not 1 <= s.ss <= 4:
        raise ValueError(f"the CUDA shader handles supersample 1-4, got {s.ss}")
    dev = s.tri.device
    f32 = lambda t: t.detach().float().contiguous()  # noqa: E731
    i64 = lambda t: t.detach().long().contiguous()  # noqa: E731
    lin = torch.empty(B, H, W, 3, device=dev)
    seg = torch.empty(B, H, W, dtype=torch.int64, device=dev)
    light = torch.empty(B, H, W, device=dev)
    skin = torch.empty(B, H, W, device=dev)
    mats, sclera, luma = _shade_constants(str(dev))
    ss = int(s.ss)
    _launch(_shade_k, B * (H // ss) * (W // ss), i64(s.tri), f32(s.bary), i64(s.faces), i64(s.face_part), i64(s.part_to_seg),
            f32(s.vn), f32(s.albedo), f32(s.canon), f32(s.occlusion), f32(s.paint), f32(s.eye_centre), f32(s.sh), f32(s.key_dir),
            f32(s.key_rgb), f32(s.hair_rgb), f32(s.hair_axis), f32(s.iris_rgb), f32(s.cloth_rgb), f32(s.paint_rgb), i64(s.seeds), mats,
            sclera, luma, f32(s.light_pos), f32(s.shadow), SHADOW_BIAS[0], SHADOW_BIAS[1], ss, f32(s.footprint), lin, seg,
            light, skin)
    # Exposure from the mean light on the skin, as the other paths (a deterministic reduction).
    mean_light = light.sum((1, 2)) / skin.sum((1, 2)).clamp(min=1)
    expo = (s.target.float() / mean_light.clamp(min=1e-3)).clamp(0.2, 30)
    return lin, seg, expo


# ---------------------------------------------------------------------------------------------- finish
@cuda.jit(device=True)
def _background_px(p, seed, i, j, H, W):
    """The procedural background (as facebench.render.shading.background) at pixel (i, j): (r, g, b)."""
    ys = i / (H - 1) if H > 1 else 0.0
    xs = j / (W - 1) if W > 1 else 0.0
    ang = p[6] * 2 * math.pi
    tt = (xs * math.cos(np.float32(ang)) + ys * math.sin(np.float32(ang)) + 1) / 2
    r = p[0] ** np.float32(1.2) * (1 - tt) + p[3] ** np.float32(1.2) * tt
    g = p[1] ** np.float32(1.2) * (1 - tt) + p[4] ** np.float32(1.2) * tt
    bl = p[2] ** np.float32(1.2) * (1 - tt) + p[5] ** np.float32(1.2) * tt
    for k in range(2):
        bx, by, rad = p[7 + 3 * k], p[8 + 3 * k], 0.1 + 0.4 * p[9 + 3 * k]
        w = 0.7 * math.exp(np.float32(-(((xs - bx) ** 2 + (ys - by) ** 2) / rad ** 2)))
        o = (13 + 3 * k) % 24
        r, g, bl = r * (1 - w) + w * p[o], g * (1 - w) + w * p[o + 1], bl * (1 - w) + w * p[o + 2]
    x0, y0 = p[19] * 0.8, p[20] * 0.8
    if p[23] > 0.5 and xs > x0 and xs < x0 + 0.1 + 0.5 * p[21] and ys > y0 and ys < y0 + 0.1 + 0.6 * p[22]:
        r, g, bl = p[22] ** np.float32(1.3), p[7] ** np.float32(1.3), p[10] ** np.float32(1.3)
    scale = 4 + 24 * p[18]
    u, v = np.float32(xs) * np.float32(scale), np.float32(ys) * np.float32(scale)
    tex, amp, tot = 0.0, 1.0, 0.0
    for o in range(4):
        tex += amp * _value_noise(u * np.float32(2 ** o), v * np.float32(2 ** o), seed + 17 * o)
        tot += amp
        amp *= 0.5
    m = 0.75 + 0.5 * tex / tot
    return min(max(r * m, 0.0), 1.0), min(max(g * m, 0.0), 1.0), min(max(bl * m, 0.0), 1.0)


@cuda.jit
def _finish_k(lin, tri, seg_full, expo, bg, seeds, sigma, ss, img, seg):
    t = cuda.grid(1)
    B, H, W = seg.shape
    if t >= B * H * W:
        return
    b, i, j = _unravel(t, H, W)
    # Nested loops over the block, no integer division: 64-bit division is a long instruction sequence
    # on GPUs, and a k // ss per sample made this kernel several times slower.
    y0, x0 = i * ss, j * ss
    n = ss * ss
    e = expo[b]
    cover, fr, fgc, fb = 0, 0.0, 0.0, 0.0
    # Majority class of the block (ties keep the earlier sample, as the other paths).
    best, best_n = seg_full[b, y0, x0], 0
    for dy in range(ss):
        for dx in range(ss):
            if tri[b, y0 + dy, x0 + dx] >= 0:
                cover += 1
                fr += lin[b, y0 + dy, x0 + dx, 0] * e
                fgc += lin[b, y0 + dy, x0 + dx, 1] * e
                fb += lin[b, y0 + dy, x0 + dx, 2] * e
            val = seg_full[b, y0 + dy, x0 + dx]
            m = 0
            for qy in range(ss):
                for qx in range(ss):
                    if seg_full[b, y0 + qy, x0 + qx] == val:
                        m += 1
            if m > best_n:
                best, best_n = val, m
    seg[b, i, j] = best
    alpha = cover / n
    seed = seeds[b]
    bg_r, bg_g, bg_b = _background_px(bg[b], seed, i, j, H, W)
    for c in range(3):
        # Mean light of the covered samples, then the display transform, weighted by the coverage.
        fg = _display((fr if c == 0 else (fgc if c == 1 else fb)) / cover) * alpha if cover > 0 else 0.0
        col = fg + (bg_r if c == 0 else (bg_g if c == 1 else bg_b)) * (1 - alpha)
        nz = _noise(np.int64(j) + np.int64(c) * 4096, np.int64(i), seed + 3)
        img[b, c, i, j] = min(max(col + sigma[b] * (nz - 0.5) * 2, 0.0), 1.0)


def finish_cuda(lin, tri, seg_full, expo, background, seeds, sigma, ss: int):
    """Output image (B, 3, H, W) in [0, 1] and classes (B, H, W) uint8 from the supersampled buffers."""
    B, Hs, Ws = tri.shape
    H, W = Hs // ss, Ws // ss
    img = torch.empty(B, 3, H, W, device=tri.device)
    seg = torch.empty(B, H, W, dtype=torch.int64, device=tri.device)
    _launch(_finish_k, B * H * W, lin.contiguous(), tri.contiguous(), seg_full.contiguous(), expo.float().contiguous(),
            background.float().contiguous(), seeds.long().contiguous(), sigma.float().contiguous(), int(ss), img, seg)
    return img, seg.to(torch.uint8)


@cuda.jit
def _probe_k(x):
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] = x[i] + 1


@functools.lru_cache(maxsize=None)
def available(device: str = "cuda") -> bool:
    """True when numba can compile and launch kernels for tensors on ``device`` (checked once with a
    probe kernel); False, with a warning, where numba.cuda is broken, so the renderer falls back."""
    try:
        if not cuda.is_available():
            return False
        x = torch.zeros(4, device=device if torch.cuda.is_available() else "cpu")
        _launch(_probe_k, 4, x)
        return bool((x == 1).all())
    except Exception as e:  # noqa: BLE001 - any failure of numba.cuda means: use the PyTorch path
        log.warning("numba.cuda kernels unavailable (%s: %s); rendering with the PyTorch path", type(e).__name__, e)
        return False
