"""What shading means, shared by every render backend: the material table, the texture, hair, eye and shadow
constants, and the shading inputs (:class:`ShadeInputs`). The backends (PyTorch, numba CPU, numba.cuda) compile or
read these values from here, so a change reaches all of them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facebench.labels import SEG
from facebench.render.scene.heads.base import P, PARTS

SCLERA = (0.55, 0.50, 0.46)
SCLERA_FALLOFF = (0.5, 1.1, 0.4)  # radians from the gaze axis where the sclera starts / ends darkening, by 40%
# Iris and pupil as angles from the eyeball's forward axis (radians): on the ~15.5 mm sclera sphere of the
# ICT eye these are radii of about 6 mm and 2 mm.
IRIS_ANGLE, PUPIL_ANGLE = 0.38, 0.14
LUMA = (0.2126, 0.7152, 0.0722)


def _material_table() -> np.ndarray:
    """Per part: Blinn-Phong strength, exponent, ambient occlusion (multiplies the SH light) and diffuse
    wrap (softens the terminator of skin, a cheap stand-in for subsurface scattering)."""
    t = np.zeros((len(PARTS), 4), np.float32)
    t[:] = (0.03, 16.0, 1.0, 0.0)
    # Skin: a Fresnel reflectance of about 0.028 under a normalised Blinn-Phong lobe, (n + 8) / 8 * F0,
    # gives a peak near 0.07 at n = 20: the sheen on foreheads, noses and cheekbones.
    for parts, k, p in ((("SKIN", "EAR_R", "EAR_L", "NECK"), 0.07, 20.0), (("LIP_TOP", "LIP_BOTTOM"), 0.12, 40.0),
                        (("EYE_R", "EYE_L"), 0.6, 300.0), (("GLASSES", "LENS"), 0.5, 120.0), (("NOSE",), 0.09, 24.0),
                        (("HAIR", "BEARD"), 0.05, 8.0)):
        for q in parts:
            t[P[q], :2] = k, p
    for q, ao in (("MOUTH", 0.25), ("TEETH", 0.7), ("CARUNCLE_R", 0.6), ("CARUNCLE_L", 0.6), ("EYE_R", 0.75),
                  ("EYE_L", 0.75)):  # eyes sit under the lids: less of the sky reaches the sclera
        t[P[q], 2] = ao
    for q in ("SKIN", "NOSE", "EAR_R", "EAR_L", "NECK", "SCALP", "LIP_TOP", "LIP_BOTTOM", "BROW_R", "BROW_L"):
        t[P[q], 3] = 0.3
    return t


MATERIALS = _material_table()  # (len(PARTS), 4): specular strength, exponent, ambient occlusion, wrap
BEARD_DENSITY = 0.9  # how much a painted beard covers the skin colour
# The face-mask and hat paint fields (level 0.5 a few millimetres past their shells' borders, ramps ~16 mm
# wide) become their colours' coverage over this band, per shaded pixel: ramped per vertex instead, the
# band (~3 mm) was narrower than the mesh edges (4-8 mm) and its edge zigzagged along them (drips of mask
# colour on the neck).
PAINT_EDGE = (0.4, 0.6)


def paint_edge(x: torch.Tensor) -> torch.Tensor:
    """Coverage (smoothstep over PAINT_EDGE) of an interpolated face-mask or hat paint field."""
    t = ((x - PAINT_EDGE[0]) / (PAINT_EDGE[1] - PAINT_EDGE[0])).clamp(0, 1)
    return t * t * (3 - 2 * t)
# Hair strands: value noise stretched along the strand direction (lines of constant azimuth around the
# head's vertical axis, i.e. hair falling from the crown): (across-strand cells per radian of the coarse
# and the fine octave, along-strand cells per metre, azimuth warp by the clump noise in radians, base,
# amplitude). Random streaks instead of a sinusoid: a periodic pattern read as zebra stripes on light hair
# and aliased into moire; noise aliases into noise.
HAIR_STRANDS = (40.0, 110.0, 8.0, 0.04, 0.6, 0.5)
# Hair's sheen (Kajiya-Kay): the key light reflected by strands that fall along the head's down axis, a
# highlight band across the hair instead of Blinn-Phong's spot: strength (times the strands' brightness),
# exponent of the sine between strand and half vector, and the strand tangent's tilt toward the normal
# (moves the band toward the roots, as hair's cuticle scales do).
HAIR_SHEEN = (0.035, 80.0, -0.12)
HAIRABLE_PARTS = tuple(P[q] for q in ("SKIN", "SCALP", "NECK", "EAR_R", "EAR_L"))  # the hair (and hat) shells' base parts
HATTABLE_PARTS = HAIRABLE_PARTS + (P["HAIR"],)  # a hat's painted rim also covers the hair shell under it
# the mask shell's base parts, and the beard shell under it
FACEWEAR_PARTS = tuple(P[q] for q in ("SKIN", "NOSE", "LIP_TOP", "LIP_BOTTOM", "NECK", "MOUTH", "BEARD"))
BROW_NOISE = (250.0, 1400.0, 29)  # brow hair streaks: noise frequency across x and y (1/m), seed offset


# Skin micro-texture: value noise on a cylinder around the head's vertical axis (azimuth x SKIN_RADIUS metres
# of arc, height) in three octaves of (wavelength m, amplitude): blotches that also shift the hue (darker is
# redder: SKIN_CHROMA scales the first octave per channel), then finer grain. An octave fades out where its
# wavelength is under four output pixels (footprint: metres per output pixel at the face), gone at two, so
# it never aliases: at 112 px aligned mostly the blotches show, at 256 px and up the grain too. Shading once
# per pixel (MSAA-style) samples the texture once per pixel, hence the footprint rather than a filter.
SKIN_TEXTURE = ((0.008, 0.08), (0.0035, 0.05), (0.0018, 0.035))
SKIN_CHROMA = (0.6, 1.0, 1.2)
SKIN_RADIUS, SKIN_SEED = 0.09, 71
SKIN_TEXTURE_PARTS = tuple(P[q] for q in ("SKIN", "NOSE", "NECK", "EAR_R", "EAR_L", "SCALP"))


@dataclass
class ShadeInputs:
    tri: torch.Tensor  # (B, H, W) int64, -1 = empty
    bary: torch.Tensor  # (B, H, W, 3)
    faces: torch.Tensor  # (F, 3)
    face_part: torch.Tensor  # (F,)
    part_to_seg: torch.Tensor  # (len(PARTS),)
    vn: torch.Tensor  # (B, N, 3) unit vertex normals, camera frame
    albedo: torch.Tensor  # (B, N, 3) linear RGB
    canon: torch.Tensor  # (N, 3) template positions (texture coordinates)
    paint: torch.Tensor  # (B, V, 4) painted layers (hair, beard, face mask, hat; 0..1) on vertices 0..V-1 (V <= N)
    eye_centre: torch.Tensor  # (2, 3) template eyeball centres (right, left)
    sh: torch.Tensor  # (B, 9, 3)
    key_dir: torch.Tensor  # (B, 3)
    key_rgb: torch.Tensor  # (B, 3)
    hair_rgb: torch.Tensor  # (B, 3)
    iris_rgb: torch.Tensor  # (B, 3)
    cloth_rgb: torch.Tensor  # (B, 3)
    hair_axis: torch.Tensor  # (B, 3) the posed head's down direction (camera frame): hair strands fall along it
    occlusion: torch.Tensor  # (N,) ambient visibility per vertex (baked, occlusion.py): scales the SH light
    seeds: torch.Tensor  # (B,) int64
    target: torch.Tensor  # (B,) exposure target (mean light on the skin after exposure)
    paint_rgb: torch.Tensor  # (B, 2, 3) linear colours of the painted face mask and hat
    light_pos: torch.Tensor  # (B, N, 3) vertices in shadow-map space: texel x, y and depth toward the light (m)
    shadow: torch.Tensor  # (B, S, S) shadow-map depth toward the light (m), 0 where empty
    footprint: torch.Tensor  # (B,) metres at the face per output pixel (fades the skin texture's fine octaves)
    ss: int = 1  # supersampling factor: each ss x ss block shades once per part (see shade_torch)


SHADOW_BIAS = (0.003, 0.005)  # metres: constant + slope-scaled (times tan of the light angle, up to 4); the
# slope term must cover the 3x3 PCF footprint (+-1.5 texels of ~3 mm) or lit skin shows a moire of acne


# Part and class ids and the spherical-harmonics constants, as plain ints and floats for the kernels.
HAIR, BEARD, SCALP = P["HAIR"], P["BEARD"], P["SCALP"]
BROW_R, BROW_L, EYE_R, EYE_L = P["BROW_R"], P["BROW_L"], P["EYE_R"], P["EYE_L"]
CLOTHING, SKIN, NECK, SEG_HAIR, SEG_BEARD = P["CLOTHING"], P["SKIN"], P["NECK"], SEG["HAIR"], SEG["BEARD"]
EAR_R, EAR_L = P["EAR_R"], P["EAR_L"]
NOSE, LIP_TOP, LIP_BOTTOM, MOUTH = P["NOSE"], P["LIP_TOP"], P["LIP_BOTTOM"], P["MOUTH"]
SEG_FACEWEAR, SEG_HEADWEAR = SEG["FACEWEAR"], SEG["HEADWEAR"]
SH_C1, SH_C2, SH_C3, SH_C4, SH_C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708
