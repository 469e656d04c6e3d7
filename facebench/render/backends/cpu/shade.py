"""CPU shading and finishing kernel (numba): :func:`facebench.render.backends.torch.shade.shade_torch` followed by the
renderer's finishing steps (box filter, display transform, background, noise, majority class).

One image per thread (the PyTorch path makes dozens of full-image passes): per output pixel, the
supersamples' attributes and classes, then one shading per part at the mean of that part's samples (as
shade.block_part_mean); then, for the same image while its supersamples are in cache, the output pixels.
Noise uses the same integer hash, so textures agree exactly up to float rounding; a test compares the two
paths on real renders.
"""
from __future__ import annotations

import math

from facebench.render.backends.cpu._numba import numba
import numpy as np
import torch

from facebench.render.backends.cpu.rasterize import _raster_one
from facebench.render.backends.kernel_helpers import build_helpers
from facebench.render.materials import (BEARD_DENSITY, BROW_NOISE, IRIS_ANGLE, LUMA, MATERIALS, PUPIL_ANGLE, SCLERA, SCLERA_FALLOFF, SHADOW_BIAS,
                                    ShadeInputs)
from facebench.render.materials import (BEARD as _BEARD, BROW_L as _BROW_L, BROW_R as _BROW_R, CLOTHING as _CLOTHING,
                                        EAR_L as _EAR_L, EAR_R as _EAR_R, EYE_L as _EYE_L, EYE_R as _EYE_R,
                                        HAIR as _HAIR, LIP_BOTTOM as _LIP_BOTTOM, LIP_TOP as _LIP_TOP, MOUTH as _MOUTH,
                                        NECK as _NECK, NOSE as _NOSE, SCALP as _SCALP, SH_C1 as _C1, SH_C2 as _C2,
                                        SH_C3 as _C3, SH_C4 as _C4, SH_C5 as _C5, SKIN as _SKIN)

# The material table plus a fifth column: the half-vector cosine below which ndh ** exponent < 1e-6.
_MATS_CPU = np.concatenate([MATERIALS, (1e-6 ** (1.0 / MATERIALS[:, 1:2])).astype(np.float32)], 1)


@numba.njit(cache=True, inline="always")
def _same(x):
    return x


@numba.njit(cache=True, inline="always")
def _floor(x):
    return np.floor(x)


# The helpers shared with the GPU kernels (backends/kernel_helpers.py), compiled for the CPU in float64.
_H = build_helpers(numba.njit(cache=True), numba.njit(cache=True, inline="always"), _same, _floor)
hash_u32, _noise, _value_noise, _hair_strands, _tap_weight = _H.hash_u32, _H.noise, _H.value_noise, _H.hair_strands, _H.tap_weight
_paint_edge, _sigmoid, _painted_class, _skin_octave = _H.paint_edge, _H.sigmoid, _H.painted_class, _H.skin_octave
_skin_texture, _hair_sheen = _H.skin_texture, _H.hair_sheen


@numba.njit(cache=True)
def _pcf(smap, lx, ly, lz):
    """Lit fraction of a 3x3 texel box around (lx, ly), bilinearly weighted (facebench.render.backends.torch.shade.shadow_visibility)."""
    S = smap.shape[0]
    gx, gy = lx - 0.5, ly - 0.5
    fx0, fy0 = np.floor(gx), np.floor(gy)
    fx, fy = gx - fx0, gy - fy0
    bx, by = int(fx0), int(fy0)
    lit = 0.0
    for ky in range(4):
        sy = min(max(by + ky - 1, 0), S - 1)
        row = 0.0
        for kx in range(4):
            sx = min(max(bx + kx - 1, 0), S - 1)
            if smap[sy, sx] <= lz:
                row += _tap_weight(kx, fx)
        lit += _tap_weight(ky, fy) * row
    return lit / 9.0


_DISPLAY_LUT_N = 1024
# The display curve as a function of u = sqrt(tone-mapped value): u ** (2 / 2.2) is nearly linear in u, so
# linear interpolation in this table is within 4e-5 of the curve (a hundredth of a grey level), at a
# fraction of the cost of pow per output pixel and channel.
_DISPLAY_LUT = (np.linspace(0.0, 1.0, _DISPLAY_LUT_N + 1) ** (2 / 2.2)).astype(np.float64)


@numba.njit(cache=True, inline="always")
def _display_lut(x):
    """facebench.render.shading.to_display of one value, by table lookup (see _DISPLAY_LUT)."""
    x = max(x, 0.0)
    y = min(x / (1 + 0.25 * x), 1.0)
    t = math.sqrt(y) * _DISPLAY_LUT_N
    i = min(int(t), _DISPLAY_LUT_N - 1)
    f = t - i
    return _DISPLAY_LUT[i] * (1 - f) + _DISPLAY_LUT[i + 1] * f


_NATTR = 17  # per-sample shading attributes: raw normal 3, canonical position 3, albedo 3, paint 4, light-space 3, occlusion 1


@numba.njit(cache=True, inline="always")
def _sample_attributes(f, b0, b1, b2, faces, vn, alb, canon, paint, lpos, occ, out):
    """Interpolated attributes of one supersample into out[0:17] (normal not yet normalised)."""
    V = paint.shape[0]
    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
    for c in range(3):
        out[c] = b0 * vn[i0, c] + b1 * vn[i1, c] + b2 * vn[i2, c]
        out[3 + c] = b0 * canon[i0, c] + b1 * canon[i1, c] + b2 * canon[i2, c]
        out[6 + c] = b0 * alb[i0, c] + b1 * alb[i1, c] + b2 * alb[i2, c]
        out[13 + c] = b0 * lpos[i0, c] + b1 * lpos[i1, c] + b2 * lpos[i2, c]
    for c in range(4):
        p = 0.0
        if i0 < V:
            p += b0 * paint[i0, c]
        if i1 < V:
            p += b1 * paint[i1, c]
        if i2 < V:
            p += b2 * paint[i2, c]
        out[9 + c] = p
    out[16] = b0 * occ[i0] + b1 * occ[i1] + b2 * occ[i2]


@numba.njit(cache=True)
def _shade_one(tri, bary, faces, face_part, part_to_seg, vn, alb, canon, occ, paint, eye_c, sh, kd, key, hair, hax, iris,
               cloth, prgb, seed, target, mats, sclera, luma, lpos, smap, bias0, bias1, ss, foot, fg, seg):
    H, W = tri.shape
    n = ss * ss
    A = np.zeros((n, _NATTR), np.float32)  # attributes of the block's samples
    avg = np.zeros(_NATTR, np.float32)
    col = np.zeros(3, np.float32)
    parts = np.empty(n, np.int64)
    # Half vector of the key light and a distant viewer (+Z).
    hx, hy, hz = kd[0], kd[1], kd[2] + 1.0
    hn = math.sqrt(hx * hx + hy * hy + hz * hz)
    hn = hn if hn > 1e-12 else 1e-12
    hx, hy, hz = hx / hn, hy / hn, hz / hn
    light_sum, skin_n = 0.0, 0.0
    for bi in range(H // ss):
        for bj in range(W // ss):
            # Per sample: attributes and class. Then one shading per part in the block, at the mean of its
            # samples' attributes (MSAA-style: the box filter averages them anyway), written to each sample.
            for k in range(n):
                y, x = bi * ss + k // ss, bj * ss + k % ss
                f = tri[y, x]
                if f < 0:
                    parts[k] = -1
                    seg[y, x] = 0
                    continue
                part = face_part[f]
                parts[k] = part
                _sample_attributes(f, bary[y, x, 0], bary[y, x, 1], bary[y, x, 2], faces, vn, alb, canon, paint,
                                   lpos, occ, A[k])
                seg[y, x] = _painted_class(part, part_to_seg, A[k, 9], A[k, 10], A[k, 11], A[k, 12])
            for k in range(n):
                part = parts[k]
                if part < 0 or (k > 0 and _seen(parts, k)):
                    continue
                cnt = 0
                avg[:] = 0.0
                for m in range(k, n):
                    if parts[m] == part:
                        cnt += 1
                        for q in range(_NATTR):
                            avg[q] += A[m, q]
                for q in range(_NATTR):
                    avg[q] /= cnt
                nx, ny, nz = avg[0], avg[1], avg[2]
                cx, cy, cz = avg[3], avg[4], avg[5]
                ar, ag, ab = avg[6], avg[7], avg[8]
                pnt, bpn, mpn, hpn = avg[9], avg[10], avg[11], avg[12]
                lx, ly, lz = avg[13], avg[14], avg[15]
                nn = math.sqrt(nx * nx + ny * ny + nz * nz)
                nn = nn if nn > 1e-12 else 1e-12
                nx, ny, nz = nx / nn, ny / nn, nz / nn
                beardable = part == _SKIN or part == _NECK
                if not beardable:
                    bpn = 0.0
                hairable = part == _SKIN or part == _SCALP or part == _NECK or part == _EAR_R or part == _EAR_L
                if hairable or part == _NOSE:
                    sr, sg, sb = _skin_texture(cx, cy, cz, seed, foot)
                    ar, ag, ab = ar * sr, ag * sg, ab * sb
                if not hairable:
                    pnt = 0.0
                st = 1.0
                if part == _HAIR or part == _BEARD or pnt > 0 or bpn > 0:
                    st = _hair_strands(cx, cy, cz, seed)
                    if part == _HAIR or part == _BEARD:
                        ar, ag, ab = hair[0] * st, hair[1] * st, hair[2] * st
                    else:
                        # Hair painted under the shell (a smooth hairline), then the beard over it.
                        ar = ar * (1 - pnt) + pnt * hair[0] * st
                        ag = ag * (1 - pnt) + pnt * hair[1] * st
                        ab = ab * (1 - pnt) + pnt * hair[2] * st
                        bw = bpn * BEARD_DENSITY
                        ar = ar * (1 - bw) + bw * 0.9 * hair[0] * st
                        ag = ag * (1 - bw) + bw * 0.9 * hair[1] * st
                        ab = ab * (1 - bw) + bw * 0.9 * hair[2] * st
                elif part == _BROW_R or part == _BROW_L:
                    t = 0.7 + 0.6 * (_value_noise(cx * BROW_NOISE[0], cy * BROW_NOISE[1], seed + BROW_NOISE[2]) - 0.5)
                    ar, ag, ab = max(ar, 0.002) * t, max(ag, 0.002) * t, max(ab, 0.002) * t
                elif part == _EYE_R or part == _EYE_L:
                    e = 0 if part == _EYE_R else 1
                    dx, dy, dz = cx - eye_c[e, 0], cy - eye_c[e, 1], cz - eye_c[e, 2]
                    dn = math.sqrt(dx * dx + dy * dy + dz * dz)
                    dn = dn if dn > 1e-12 else 1e-12
                    dx, dy, dz = dx / dn, dy / dn, dz / dn
                    ang = math.acos(min(max(dz, -1.0), 1.0))
                    ring = 0.6 + 0.4 * math.sin(math.atan2(dy, dx) * 30)
                    im = _sigmoid((IRIS_ANGLE - ang) * 60)
                    pu = _sigmoid((PUPIL_ANGLE - ang) * 80)
                    tf = min(max((ang - SCLERA_FALLOFF[0]) / (SCLERA_FALLOFF[1] - SCLERA_FALLOFF[0]), 0.0), 1.0)
                    sc = 1 - SCLERA_FALLOFF[2] * tf * tf * (3 - 2 * tf)  # lid shading toward the corners
                    ar = sclera[0] * sc * (1 - im) + im * (iris[0] * ring * (1 - pu) + 0.003 * pu)
                    ag = sclera[1] * sc * (1 - im) + im * (iris[1] * ring * (1 - pu) + 0.003 * pu)
                    ab = sclera[2] * sc * (1 - im) + im * (iris[2] * ring * (1 - pu) + 0.003 * pu)
                elif part == _CLOTHING:
                    freq = 280.0 if seed % 3 == 0 else 80.0
                    sv = math.sin(cy * freq)
                    st = 0.8 + 0.2 * (1.0 if sv > 0 else (-1.0 if sv < 0 else 0.0))
                    ar, ag, ab = cloth[0] * st, cloth[1] * st, cloth[2] * st
                # Face mask and hat colours just past their shells' borders (as facebench.render.backends.torch.shade).
                if not (part == _SKIN or part == _NOSE or part == _LIP_TOP or part == _LIP_BOTTOM or part == _NECK
                        or part == _MOUTH or part == _BEARD):
                    mpn = 0.0
                if not (part == _SKIN or part == _SCALP or part == _NECK or part == _EAR_R or part == _EAR_L or part == _HAIR):
                    hpn = 0.0
                mpn, hpn = _paint_edge(mpn), _paint_edge(hpn)
                ar = ar * (1 - mpn) + mpn * prgb[0, 0]
                ag = ag * (1 - mpn) + mpn * prgb[0, 1]
                ab = ab * (1 - mpn) + mpn * prgb[0, 2]
                ar = ar * (1 - hpn) + hpn * prgb[1, 0]
                ag = ag * (1 - hpn) + hpn * prgb[1, 1]
                ab = ab * (1 - hpn) + hpn * prgb[1, 2]
                # Soft shadow of the key light: 3x3 percentage-closer filtering in the shadow map, with a
                # depth bias growing at grazing angles (as facebench.render.backends.torch.shade.shadow_visibility).
                cos = nx * kd[0] + ny * kd[1] + nz * kd[2]
                ndl = max(cos, 0.0)
                ks, pw, ao, wrap = mats[part, 0], mats[part, 1], mats[part, 2], mats[part, 3]
                ndl_wrap = max((cos + wrap) / (1 + wrap), 0.0)
                tan = min(math.sqrt(max(1.0 - ndl * ndl, 0.0)) / max(ndl, 1e-3), 4.0)
                bias = bias0 + bias1 * tan
                vis = _pcf(smap, lx, ly, lz + bias)
                ndh = max(nx * hx + ny * hy + nz * hz, 0.0)
                # ndh ** pw only where it can matter: below spec_min it is under 1e-6 (a float32 rounding of
                # the image), and most samples face away from the half vector.
                spec = ks * ndh ** pw * vis if ndl > 0 and ndh > mats[part, 4] else 0.0
                if part == _HAIR:
                    spec = _hair_sheen(nx, ny, nz, hax[0], hax[1], hax[2], hx, hy, hz) * st * vis if ndl > 0 else 0.0
                light = 0.0
                for c in range(3):
                    e = (_C4 * sh[0, c] + 2 * _C2 * (sh[3, c] * nx + sh[1, c] * ny + sh[2, c] * nz)
                         + _C1 * sh[8, c] * (nx * nx - ny * ny) + _C3 * sh[6, c] * (nz * nz) - _C5 * sh[6, c]
                         + 2 * _C1 * (sh[4, c] * (nx * ny) + sh[7, c] * (nx * nz) + sh[5, c] * (ny * nz)))
                    dl = max(e, 0.0) / math.pi * ao * avg[16] + key[c] * vis * ndl_wrap
                    a = ar if c == 0 else (ag if c == 1 else ab)
                    col[c] = a * dl + spec * key[c]
                    light += dl * luma[c]
                for m in range(k, n):
                    if parts[m] == part:
                        y, x = bi * ss + m // ss, bj * ss + m % ss
                        fg[y, x, 0], fg[y, x, 1], fg[y, x, 2] = col[0], col[1], col[2]
                if part == _SKIN:
                    light_sum += light * cnt
                    skin_n += cnt
    mean_light = light_sum / max(skin_n, 1.0)
    expo = min(max(target / max(mean_light, 1e-3), 0.2), 30.0)
    for y in range(H):
        for x in range(W):
            if tri[y, x] >= 0:
                for c in range(3):
                    fg[y, x, c] *= expo  # display transform after the box filter (finish)


@numba.njit(cache=True, inline="always")
def _seen(parts, k):
    """Whether an earlier sample of the block has the part of sample k (its group is shaded already)."""
    for m in range(k):
        if parts[m] == parts[k]:
            return True
    return False


@numba.njit(parallel=True, cache=True)
def _render_batch(scr, faces, fmask, alpha, order, checks, Hs, Ws, lm_px, face_part, part_to_seg, vn, alb, canon, occ, paint,
                  eye_c, sh, kd, key, hair, hax, iris, cloth, prgb, seeds, target, mats, sclera, luma, lpos, smap, bias0,
                  bias1, ss, foot, bgp, sigma, img, seg, lm_tri, lm_bary):
    """Per image, in one thread: rasterize, shade every supersample and finish the output pixels, with the
    supersample buffers in per-image scratch while they are in cache (batch-sized buffers cost more in
    memory traffic than the arithmetic); the fragments under the landmarks (lm_px: supersample x, y) are
    kept for the visibility labels."""
    B = scr.shape[0]
    for b in numba.prange(B):
        tri = np.full((Hs, Ws), -1, np.int64)
        zbuf = np.zeros((Hs, Ws), np.float32)
        bary = np.zeros((Hs, Ws, 3), np.float32)
        _raster_one(scr[b], faces, fmask[b], Hs, Ws, tri, zbuf, bary, 1, order, checks, alpha[b])
        for k in range(lm_px.shape[1]):
            x, y = lm_px[b, k, 0], lm_px[b, k, 1]
            lm_tri[b, k] = tri[y, x]
            for c in range(3):
                lm_bary[b, k, c] = bary[y, x, c]
        fg = np.empty((Hs, Ws, 3), np.float32)  # every covered sample is written; empty ones are never read
        cls = np.empty((Hs, Ws), np.uint8)
        _shade_one(tri, bary, faces, face_part, part_to_seg, vn[b], alb[b], canon, occ, paint[b], eye_c, sh[b],
                   kd[b], key[b], hair[b], hax[b], iris[b], cloth[b], prgb[b], seeds[b], target[b], mats, sclera, luma,
                   lpos[b], smap[b], bias0, bias1, ss, foot[b], fg, cls)
        _finish_one(fg, tri, cls, bgp[b], seeds[b], sigma[b], ss, img[b], seg[b])


def render_numba(s: ShadeInputs, scr: torch.Tensor, face_mask: torch.Tensor, alpha: torch.Tensor, phase: torch.Tensor,
                 height: int, width: int, lm_px: torch.Tensor, background: torch.Tensor, sigma: torch.Tensor):
    """The CPU render of one batch after geometry, fused per image: the camera raster
    (:func:`facebench.render.backends.cpu.rasterize.rasterize_numba` with drawing phases, back faces culled) of the
    screen vertices scr (B, N, 3) at height x width supersamples, alpha-tested by the per-vertex coverage
    alpha (B, N) (see :func:`facebench.render.backends.torch.rasterize.rasterize`), then
    :func:`facebench.render.backends.torch.shade.shade_torch`'s shading and the renderer's finishing steps (exposure, box filter in linear light, display transform, background of
    24 parameters per image, compositing by coverage, sensor noise of level sigma (B,), majority class).
    ``s`` holds the shading inputs (its tri and bary are not used: the fragments live only inside the
    kernel); lm_px (B, K, 2) are supersample pixels whose fragments are returned.

    Returns image (B, 3, H, W) in [0, 1], classes (B, H, W) uint8, and the fragments under lm_px:
    triangle ids (B, K) int64 (-1 empty) and barycentrics (B, K, 3)."""
    from facebench.render.backends.cpu.rasterize import drawing_order

    f32 = lambda t: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)  # noqa: E731
    i64 = lambda t: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.int64)  # noqa: E731
    B = scr.shape[0]
    ss = int(s.ss)
    Hs, Ws = int(height), int(width)
    img = np.zeros((B, 3, Hs // ss, Ws // ss), np.float32)
    seg = np.zeros((B, Hs // ss, Ws // ss), np.uint8)
    K = lm_px.shape[1]
    lm_tri = np.full((B, K), -1, np.int64)
    lm_bary = np.zeros((B, K, 3), np.float32)
    order, checks = drawing_order(phase, s.faces.shape[0])
    _render_batch(f32(scr), i64(s.faces), np.ascontiguousarray(face_mask.cpu().numpy(), dtype=np.bool_), f32(alpha), order,
                  checks, Hs, Ws, i64(lm_px), i64(s.face_part), i64(s.part_to_seg), f32(s.vn), f32(s.albedo),
                  f32(s.canon), f32(s.occlusion), f32(s.paint), f32(s.eye_centre), f32(s.sh), f32(s.key_dir), f32(s.key_rgb),
                  f32(s.hair_rgb), f32(s.hair_axis), f32(s.iris_rgb), f32(s.cloth_rgb), f32(s.paint_rgb), i64(s.seeds), f32(s.target),
                  _MATS_CPU, np.array(SCLERA, np.float32), np.array(LUMA, np.float32), f32(s.light_pos),
                  f32(s.shadow), SHADOW_BIAS[0], SHADOW_BIAS[1], ss,
                  np.ascontiguousarray(s.footprint.detach().cpu().numpy(), np.float64),
                  np.ascontiguousarray(background.detach().cpu().numpy(), np.float64),
                  np.ascontiguousarray(sigma.detach().cpu().numpy(), np.float64), img, seg, lm_tri, lm_bary)
    return torch.from_numpy(img), torch.from_numpy(seg), torch.from_numpy(lm_tri), torch.from_numpy(lm_bary)


_BG_CONSTS = 12


@numba.njit(cache=True)
def _background_consts(pb, out):
    """The per-image constants of the background (out: _BG_CONSTS floats): gradient end colours, the
    gradient direction's cos and sin, the rectangle colour and the texture scale. Computed once per image:
    per pixel, their pow / cos / sin calls cost more than the rest of the background."""
    for c in range(3):
        out[c] = pb[c] ** 1.2
        out[3 + c] = pb[3 + c] ** 1.2
    ang = pb[6] * 2 * math.pi
    out[6], out[7] = math.cos(ang), math.sin(ang)
    out[8], out[9], out[10] = pb[22] ** 1.3, pb[7] ** 1.3, pb[10] ** 1.3
    out[11] = 4 + 24 * pb[18]


@numba.njit(cache=True)
def _background_px(pb, k, seed, i, j, H, W, col):
    """Display colour (into col, 3 floats) of the procedural background at output pixel (i, j); k holds
    _background_consts(pb)."""
    ys = i / (H - 1) if H > 1 else 0.0
    xs = j / (W - 1) if W > 1 else 0.0
    t = (xs * k[6] + ys * k[7] + 1) / 2
    for c in range(3):
        col[c] = k[c] * (1 - t) + k[3 + c] * t
    for q in range(2):
        cx, cy, r = pb[7 + 3 * q], pb[8 + 3 * q], 0.1 + 0.4 * pb[9 + 3 * q]
        g = math.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / r ** 2))
        o = (13 + 3 * q) % 24
        for c in range(3):
            col[c] = col[c] * (1 - 0.7 * g) + 0.7 * g * pb[o + c]
    x0, y0 = pb[19] * 0.8, pb[20] * 0.8
    if (pb[23] > 0.5 and xs > x0 and xs < x0 + 0.1 + 0.5 * pb[21]
            and ys > y0 and ys < y0 + 0.1 + 0.6 * pb[22]):
        col[0], col[1], col[2] = k[8], k[9], k[10]
    scale = k[11]
    u, v = np.float32(xs) * np.float32(scale), np.float32(ys) * np.float32(scale)
    tex, amp, tot = 0.0, 1.0, 0.0
    for o in range(4):
        tex += amp * _value_noise(u * np.float32(2 ** o), v * np.float32(2 ** o), seed + 17 * o)
        tot += amp
        amp *= 0.5
    m = 0.75 + 0.5 * tex / tot
    for c in range(3):
        col[c] = min(max(col[c] * m, 0.0), 1.0)


@numba.njit(parallel=True, cache=True)
def _background_batch(p, seeds, out):
    B, H, W, _ = out.shape
    for b in numba.prange(B):
        col = np.empty(3)
        k = np.empty(_BG_CONSTS)
        _background_consts(p[b], k)
        for i in range(H):
            for j in range(W):
                _background_px(p[b], k, seeds[b], i, j, H, W, col)
                out[b, i, j, 0], out[b, i, j, 1], out[b, i, j, 2] = col[0], col[1], col[2]


@numba.njit(cache=True)
def _finish_one(fg, tri, seg_full, bgp, seed, sigma, ss, img, seg):
    """One image's output pixels from its supersamples: box filter of the exposed linear colours over the
    covered samples, display transform, background, compositing by coverage, sensor noise and the
    majority class (ties keep the earlier sample), as the PyTorch path's finishing steps."""
    H, W = seg.shape
    n = ss * ss
    col = np.empty(3)
    k = np.empty(_BG_CONSTS)
    _background_consts(bgp, k)
    for i in range(H):
        for j in range(W):
            y0, x0 = i * ss, j * ss
            cover = 0
            a0, a1, a2 = 0.0, 0.0, 0.0  # scalars: an array here would be allocated per pixel
            best, best_n = seg_full[y0, x0], 0
            for dy in range(ss):
                for dx in range(ss):
                    if tri[y0 + dy, x0 + dx] >= 0:
                        cover += 1
                        a0 += fg[y0 + dy, x0 + dx, 0]
                        a1 += fg[y0 + dy, x0 + dx, 1]
                        a2 += fg[y0 + dy, x0 + dx, 2]
                    val = seg_full[y0 + dy, x0 + dx]
                    m = 0
                    for qy in range(ss):
                        for qx in range(ss):
                            if seg_full[y0 + qy, x0 + qx] == val:
                                m += 1
                    if m > best_n:  # strict: ties keep the earlier sample, as the other paths
                        best, best_n = val, m
            seg[i, j] = best
            alpha = cover / n
            if cover < n:  # the procedural background (a dozen hashes) only where it shows
                _background_px(bgp, k, seed, i, j, H, W, col)
            else:
                col[0], col[1], col[2] = 0.0, 0.0, 0.0
            for c in range(3):
                nz = _noise(np.int64(j) + np.int64(c) * 4096, np.int64(i), seed + 3)
                a = a0 if c == 0 else (a1 if c == 1 else a2)
                f = _display_lut(a / cover) * alpha if cover > 0 else 0.0  # mean light of the covered samples
                v = f + col[c] * (1 - alpha) + sigma * (nz - 0.5) * 2
                img[c, i, j] = min(max(v, 0.0), 1.0)


def background_numba(params: torch.Tensor, seeds: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """CPU counterpart of :func:`facebench.render.shading.background` -> (B, 3, H, W)."""
    out = np.zeros((params.shape[0], H, W, 3), np.float32)
    _background_batch(np.ascontiguousarray(params.numpy(), np.float64), np.ascontiguousarray(seeds.numpy(), np.int64), out)
    return torch.from_numpy(out).permute(0, 3, 1, 2)
