"""The small shading helpers of the numba kernels, written once and compiled for both numba targets.

:func:`build_helpers` defines them for a target: the CPU kernels (``backends/cpu/shade.py``) build them with
``numba.njit`` and ``f32`` the identity, the GPU kernels (``backends/cuda/kernels.py``) with
``numba.cuda.jit(device=True)`` and ``f32`` a float32 cast: float64 transcendental functions on GPUs are long
instruction sequences where float32 has hardware approximations, so the GPU path rounds their arguments to
float32 (results differ from the CPU by float32 rounding; the tests hold the paths together). Each helper is the
scalar form of the PyTorch reference function named in its docstring (``backends/torch/shade.py``,
``render/shading.py``); constants come from ``render/materials.py``.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from facebench.render.materials import (BEARD, EAR_L, EAR_R, HAIR, HAIR_SHEEN, HAIR_STRANDS, LIP_BOTTOM, LIP_TOP,
                                        MOUTH, NECK, NOSE, PAINT_EDGE, SCALP, SEG_BEARD, SEG_FACEWEAR, SEG_HAIR,
                                        SEG_HEADWEAR, SKIN, SKIN_CHROMA, SKIN_RADIUS, SKIN_SEED, SKIN_TEXTURE)

_M32 = np.int64(0xFFFFFFFF)


def build_helpers(jit, jit_inline, f32, floor) -> SimpleNamespace:
    """The helpers compiled with ``jit`` (``jit_inline`` for the small ones inlined into their callers);
    ``f32``: a compiled function applied to the arguments of transcendental functions; ``floor``: the target's
    floor (NumPy's keeps a float32 argument's type on the CPU, where math.floor returns an integer and so
    promotes the subtraction after it to float64)."""

    @jit_inline
    def hash_u32(a, b, c):
        """facebench.render.shading.hash_u32 (int64 arithmetic, low 32 bits kept)."""
        h = (((a & _M32) * np.int64(0x8DA6B343)) ^ ((b & _M32) * np.int64(0xD8163841))
             ^ ((c & _M32) * np.int64(0xCB1AB31F))) & _M32
        h = h ^ (h >> 16)
        h = (h * np.int64(0x7FEB352D)) & _M32
        h = h ^ (h >> 15)
        h = (h * np.int64(0x846CA68B)) & _M32
        return h ^ (h >> 16)

    @jit_inline
    def noise(a, b, s):
        """facebench.render.shading.hash_noise: a uniform value in [0, 1) from three integers."""
        return np.float32(hash_u32(a, b, s) >> 8) * np.float32(1.0 / 16777216.0)

    @jit
    def value_noise(u, v, s):
        """facebench.render.shading.value_noise at one point."""
        fu0, fv0 = floor(u), floor(v)
        iu, iv = np.int64(fu0), np.int64(fv0)
        fu, fv = u - fu0, v - fv0
        fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
        a, b = noise(iu, iv, s), noise(iu + 1, iv, s)
        c, d = noise(iu, iv + 1, s), noise(iu + 1, iv + 1, s)
        return (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv

    @jit
    def hair_strands(cx, cy, cz, seed):
        """hair_strands at one canonical position."""
        u, v = cx * 60, cy * 60
        clump = (value_noise(u, v, seed) + 0.5 * value_noise(u * 2, v * 2, seed + 17)) / 1.5
        az = math.atan2(f32(cx), f32(cz + 0.02)) + HAIR_STRANDS[3] * clump
        along = cy * HAIR_STRANDS[2]
        n = (0.65 * value_noise(az * HAIR_STRANDS[0], along, seed + 41)
             + 0.35 * value_noise(az * HAIR_STRANDS[1], along * 2, seed + 43))
        return (HAIR_STRANDS[4] + HAIR_STRANDS[5] * n) * (0.9 + 0.2 * clump)

    @jit_inline
    def skin_octave(u, v, lam, amp, foot, seed):
        """One octave of skin_texture, faded out below two output pixels per wavelength."""
        fade = min(max((lam / foot - 2.0) * 0.5, 0.0), 1.0)
        if fade <= 0:  # under two pixels per wavelength: the octave is off (no noise to evaluate)
            return 0.0
        return amp * fade * (2 * value_noise(u / lam, v / lam, seed) - 1)

    @jit
    def skin_texture(cx, cy, cz, seed, foot):
        """skin_texture at one canonical position: albedo multipliers (r, g, b)."""
        u = math.atan2(f32(cx), f32(cz + 0.02)) * SKIN_RADIUS
        r = skin_octave(u, cy, SKIN_TEXTURE[0][0], SKIN_TEXTURE[0][1], foot, seed + SKIN_SEED)
        g = (skin_octave(u, cy, SKIN_TEXTURE[1][0], SKIN_TEXTURE[1][1], foot, seed + SKIN_SEED + 1)
             + skin_octave(u, cy, SKIN_TEXTURE[2][0], SKIN_TEXTURE[2][1], foot, seed + SKIN_SEED + 2))
        return 1 + g + r * SKIN_CHROMA[0], 1 + g + r * SKIN_CHROMA[1], 1 + g + r * SKIN_CHROMA[2]

    @jit_inline
    def paint_edge(x):
        """paint_edge of one value (smoothstep over PAINT_EDGE)."""
        t = min(max((x - f32(PAINT_EDGE[0])) / f32(PAINT_EDGE[1] - PAINT_EDGE[0]), f32(0.0)), f32(1.0))
        return t * t * (f32(3.0) - f32(2.0) * t)

    @jit_inline
    def sigmoid(x):
        return 1.0 / (1.0 + math.exp(f32(-x)))

    @jit_inline
    def tap_weight(k, f):
        """Bilinear PCF weight of tap k (0..3, offsets -1..2 from the texel below) at fraction f."""
        return 1.0 - f if k == 0 else (f if k == 3 else 1.0)

    @jit_inline
    def painted_class(part, part_to_seg, pnt, bpn, mpn, hpn):
        """The class of a sample: its part's, or a painted layer's above 0.5 (hat, mask, beard, hair first)."""
        if hpn > 0.5 and (part == SKIN or part == SCALP or part == NECK or part == EAR_R or part == EAR_L
                          or part == HAIR):
            return SEG_HEADWEAR
        if mpn > 0.5 and (part == SKIN or part == NOSE or part == LIP_TOP or part == LIP_BOTTOM or part == NECK
                          or part == MOUTH or part == BEARD):
            return SEG_FACEWEAR
        if bpn > 0.5 and (part == SKIN or part == NECK):
            return SEG_BEARD
        if pnt > 0.5 and (part == SKIN or part == SCALP or part == NECK or part == EAR_R or part == EAR_L):
            return SEG_HAIR
        return part_to_seg[part]

    @jit_inline
    def hair_sheen(nx, ny, nz, ax, ay, az, hx, hy, hz):
        """hair_sheen at one unit normal, strand axis and unit half vector."""
        d = ax * nx + ay * ny + az * nz
        tx = ax - d * nx + HAIR_SHEEN[2] * nx
        ty = ay - d * ny + HAIR_SHEEN[2] * ny
        tz = az - d * nz + HAIR_SHEEN[2] * nz
        tn = max(math.sqrt(f32(tx * tx + ty * ty + tz * tz)), 1e-12)
        th = (tx * hx + ty * hy + tz * hz) / tn
        return HAIR_SHEEN[0] * math.sqrt(f32(max(1.0 - th * th, 0.0))) ** f32(HAIR_SHEEN[1])

    return SimpleNamespace(hash_u32=hash_u32, noise=noise, value_noise=value_noise, hair_strands=hair_strands,
                           skin_octave=skin_octave, skin_texture=skin_texture, paint_edge=paint_edge,
                           sigmoid=sigmoid, tap_weight=tap_weight, painted_class=painted_class,
                           hair_sheen=hair_sheen)
