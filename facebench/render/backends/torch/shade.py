"""Deferred per-pixel shading of a visibility buffer (PyTorch reference; the GPU path).

:mod:`facebench.render.backends.cpu.shade` implements the same function for the CPU; a test holds the two
together. Inputs are the fragments (triangle id + barycentrics per supersample), per-vertex attributes
of the combined mesh and per-sample lighting/colour parameters; outputs are exposed linear colours
(shaded once per part and output pixel, see block_part_mean) and the FaceSynthetics class of every
supersample.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from facebench.labels import SEG
from facebench.render.scene.heads.base import P
from facebench.render.materials import (SCLERA, SCLERA_FALLOFF, IRIS_ANGLE, PUPIL_ANGLE, LUMA, MATERIALS,
                                        BEARD_DENSITY, paint_edge, HAIR_STRANDS, HAIR_SHEEN, HAIRABLE_PARTS,
                                        HATTABLE_PARTS, FACEWEAR_PARTS, BROW_NOISE, SKIN_TEXTURE, SKIN_CHROMA,
                                        SKIN_RADIUS, SKIN_SEED, SKIN_TEXTURE_PARTS, ShadeInputs, SHADOW_BIAS)
from facebench.render.shading import sh_irradiance, value_noise


def skin_texture(canon: torch.Tensor, seeds: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """Albedo multipliers (..., 3) at canonical positions (..., 3) for images whose output pixels span
    ``footprint`` metres at the face (broadcast like seeds): see SKIN_TEXTURE."""
    u = torch.atan2(canon[..., 0], canon[..., 2] + 0.02) * SKIN_RADIUS
    v = canon[..., 1]
    terms = []
    for i, (lam, amp) in enumerate(SKIN_TEXTURE):
        fade = ((lam / footprint - 2.0) * 0.5).clamp(0, 1)
        terms.append(amp * fade * (2 * value_noise(u / lam, v / lam, seeds + SKIN_SEED + i) - 1))
    grain = terms[1] + terms[2]
    return 1 + grain[..., None] + terms[0][..., None] * torch.tensor(SKIN_CHROMA, device=canon.device)


def hair_strands(canon: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Brightness (..., ) of hair at canonical positions (..., 3): streaks along the strands (HAIR_STRANDS)
    in clumps (low-frequency noise that also bends the streaks)."""
    k1, k2, ka, warp, base, amp = HAIR_STRANDS
    u, v = canon[..., 0] * 60, canon[..., 1] * 60
    clump = (value_noise(u, v, seeds) + 0.5 * value_noise(u * 2, v * 2, seeds + 17)) / 1.5
    az = torch.atan2(canon[..., 0], canon[..., 2] + 0.02) + warp * clump
    along = canon[..., 1] * ka
    n = 0.65 * value_noise(az * k1, along, seeds + 41) + 0.35 * value_noise(az * k2, along * 2, seeds + 43)
    return (base + amp * n) * (0.9 + 0.2 * clump)


def hair_sheen(normal: torch.Tensor, axis: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Kajiya-Kay specular (..., 1) of strands along ``axis`` projected onto the surface of unit normal
    ``normal`` (tilted by HAIR_SHEEN[2] toward it) for the unit half vector ``half``; all (..., 3)."""
    t = axis - (axis * normal).sum(-1, keepdim=True) * normal + HAIR_SHEEN[2] * normal
    t = F.normalize(t, dim=-1, eps=1e-12)
    th = (t * half).sum(-1, keepdim=True)
    return HAIR_SHEEN[0] * (1 - th * th).clamp(min=0).sqrt().pow(HAIR_SHEEN[1])


def brow_texture(canon: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Brightness (..., ) of brow hairs: value noise stretched along x, i.e. mostly horizontal streaks."""
    return 0.7 + 0.6 * (value_noise(canon[..., 0] * BROW_NOISE[0], canon[..., 1] * BROW_NOISE[1],
                                    seeds + BROW_NOISE[2]) - 0.5)


def shadow_visibility(p: torch.Tensor, shadow: torch.Tensor, ndl: torch.Tensor, bias=SHADOW_BIAS) -> torch.Tensor:
    """Fraction (B, H, W) of a 3x3 texel neighbourhood in which the point p (B, H, W, 3: texel x, y,
    depth toward the light) is not behind a nearer surface (percentage-closer filtering: soft edges).
    The depth bias (metres: constant, times the tangent of the light angle) grows at grazing light angles
    (ndl = cosine) to avoid self-shadowing acne."""
    tan = (1 - ndl * ndl).clamp(min=0).sqrt() / ndl.clamp(min=1e-3)
    bias = bias[0] + bias[1] * tan.clamp(max=4.0)
    B, S = shadow.shape[0], shadow.shape[-1]
    bidx = torch.arange(B, device=p.device).view(B, 1, 1)
    # Bilinear PCF: the 3x3 texel box convolved with a tent, i.e. 4x4 taps weighted (1 - f, 1, 1, f) / 3 per
    # axis (f = position within the texel, texel centres at +0.5). Nearest-texel taps made 3 mm steps in
    # the shadow's edge that showed as blocks at 224 px.
    gx, gy = p[..., 0] - 0.5, p[..., 1] - 0.5
    bx, by = torch.floor(gx), torch.floor(gy)
    fx, fy = gx - bx, gy - by
    bx, by = bx.long(), by.long()
    wts = lambda f: (1 - f, torch.ones_like(f), torch.ones_like(f), f)  # noqa: E731
    lit = torch.zeros_like(p[..., 0])
    for dy, wy in zip((-1, 0, 1, 2), wts(fy)):
        row = torch.zeros_like(lit)
        for dx, wx in zip((-1, 0, 1, 2), wts(fx)):
            x, y = (bx + dx).clamp(0, S - 1), (by + dy).clamp(0, S - 1)
            row += wx * (shadow[bidx, y, x] <= p[..., 2] + bias).float()
        lit += wy * row
    return lit / 9


def shade_torch(s: ShadeInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (exposed linear colours (B, H, W, 3), 0 where empty; classes (B, H, W) int64). The display
    transform follows the box filter (see the renderer): anti-aliasing averages light, not display values."""
    B, dev = s.tri.shape[0], s.tri.device
    hit = s.tri >= 0
    tri = s.tri.clamp(min=0)
    fv = s.faces[tri]
    bidx = torch.arange(B, device=dev)[:, None, None, None]
    bary = s.bary[..., None]
    V = s.paint.shape[1]
    interp = lambda attr: (attr[bidx, fv] * bary).sum(-2)  # noqa: E731
    part = torch.where(hit, s.face_part[tri], torch.full_like(tri, -1))
    head_fv = fv.clamp(max=V - 1)
    sample_paint = (s.paint[bidx, head_fv] * ((fv < V) * s.bary)[..., None]).sum(-2)  # per sample: the labels
    attrs = torch.cat([interp(s.vn), (s.canon[fv] * bary).sum(-2), interp(s.albedo), sample_paint,
                       interp(s.light_pos), (s.occlusion[fv] * s.bary).sum(-1, keepdim=True)], -1)
    if s.ss > 1:
        attrs = block_part_mean(attrs, part, s.ss)
    nraw, canon, albedo, paint, light_pos, occlusion = attrs.split([3, 3, 3, 4, 3, 1], -1)
    normal = F.normalize(nraw, dim=-1)
    paint, beard_paint, mask_paint, hat_paint = paint.unbind(-1)
    seeds = s.seeds.view(B, 1, 1)
    view = lambda t: t.view(B, 1, 1, 3)  # noqa: E731
    skin_like = torch.isin(part, torch.tensor(SKIN_TEXTURE_PARTS, device=dev))
    albedo = torch.where(skin_like[..., None], albedo * skin_texture(canon, seeds, s.footprint.view(B, 1, 1)), albedo)
    # Hair: strands along the azimuth around the head, broken up by low-frequency noise.
    strands = hair_strands(canon, seeds)
    hair = view(s.hair_rgb) * strands[..., None]
    albedo = torch.where(((part == P["HAIR"]) | (part == P["BEARD"]))[..., None], hair, albedo)
    # Hair painted on the skin under the hair shell: a smooth per-pixel hairline (the shell's own edge
    # follows mesh edges and is hidden on painted skin).
    hairable = torch.isin(part, torch.tensor(HAIRABLE_PARTS, device=dev))
    paint = paint * hairable
    albedo = albedo * (1 - paint[..., None]) + paint[..., None] * hair
    beardable = (part == P["SKIN"]) | (part == P["NECK"])
    bw = (beard_paint * BEARD_DENSITY * beardable)[..., None]
    albedo = albedo * (1 - bw) + bw * 0.9 * hair
    # Face mask and hat colours just past their shells' borders (over hair and beard).
    facewearable = torch.isin(part, torch.tensor(FACEWEAR_PARTS, device=dev))
    mask_paint = paint_edge(mask_paint) * facewearable
    hattable = torch.isin(part, torch.tensor(HATTABLE_PARTS, device=dev))
    hat_paint = paint_edge(hat_paint) * hattable
    for w, k in ((mask_paint, 0), (hat_paint, 1)):
        albedo = albedo * (1 - w[..., None]) + w[..., None] * view(s.paint_rgb[:, k])
    brow = (part == P["BROW_R"]) | (part == P["BROW_L"])
    albedo = torch.where(brow[..., None], albedo.clamp(min=0.002) * brow_texture(canon, seeds)[..., None], albedo)
    # Eyes: sclera, iris and pupil placed by the angle from the eyeball's forward axis.
    eye_r, eye_l = part == P["EYE_R"], part == P["EYE_L"]
    ec = torch.where(eye_r[..., None], s.eye_centre[0], s.eye_centre[1])
    d = F.normalize(canon - ec, dim=-1)
    ang = torch.acos(d[..., 2].clamp(-1, 1))
    ring = (0.6 + 0.4 * torch.sin(torch.atan2(d[..., 1], d[..., 0]) * 30))[..., None]
    iris_mix = torch.sigmoid((IRIS_ANGLE - ang) * 60)[..., None]
    pupil = torch.sigmoid((PUPIL_ANGLE - ang) * 80)[..., None]
    sclera = torch.tensor(SCLERA, device=dev)
    # The sclera darkens toward the eye corners, which the lids shade (SCLERA_FALLOFF: from, to, depth).
    t = ((ang - SCLERA_FALLOFF[0]) / (SCLERA_FALLOFF[1] - SCLERA_FALLOFF[0])).clamp(0, 1)
    shade_sc = (1 - SCLERA_FALLOFF[2] * t * t * (3 - 2 * t))[..., None]
    eye_col = sclera * shade_sc * (1 - iris_mix) + iris_mix * (view(s.iris_rgb) * ring * (1 - pupil) + 0.003 * pupil)
    albedo = torch.where((eye_r | eye_l)[..., None], eye_col, albedo)
    # Clothing: stripes (one sample in three) or plain.
    freq = 80 + 200 * (seeds % 3 == 0)
    stripe = 0.8 + 0.2 * torch.sign(torch.sin(canon[..., 1] * freq))
    albedo = torch.where((part == P["CLOTHING"])[..., None], view(s.cloth_rgb) * stripe[..., None], albedo)
    # Lighting: SH environment + key light + Blinn-Phong specular (distant camera: view = +Z).
    pc = part.clamp(min=0)
    mat = torch.from_numpy(MATERIALS).to(dev)[pc]  # (B, H, W, 4)
    ks, pw, ao, wrap = (mat[..., i:i + 1] for i in range(4))
    irr = sh_irradiance(normal, s.sh) * ao * occlusion
    kd = view(s.key_dir)
    cos = (normal * kd).sum(-1, keepdim=True)
    ndl = cos.clamp(min=0)
    ndl_wrap = ((cos + wrap) / (1 + wrap)).clamp(min=0)
    half = F.normalize(kd + torch.tensor([0.0, 0.0, 1.0], device=dev), dim=-1)
    ndh = (normal * half).sum(-1, keepdim=True).clamp(min=0)
    key = view(s.key_rgb) * shadow_visibility(light_pos, s.shadow, ndl[..., 0])[..., None]
    diffuse_light = irr + key * ndl_wrap
    spec = torch.where((part == P["HAIR"])[..., None], hair_sheen(normal, view(s.hair_axis), half) * strands[..., None],
                       ks * ndh.pow(pw))
    lin = albedo * diffuse_light + spec * key * (ndl > 0)
    # Exposure from the light falling on the skin (not its albedo), like an incident-light meter, so dark
    # and light skins keep their difference.
    light = (diffuse_light * torch.tensor(LUMA, device=dev)).sum(-1)
    skin_px = (part == P["SKIN"]).float()
    mean_light = (light * skin_px).sum((1, 2)) / skin_px.sum((1, 2)).clamp(min=1)
    expo = (s.target / mean_light.clamp(min=1e-3)).clamp(0.2, 30).view(B, 1, 1, 1)
    fg = lin * expo * hit[..., None]
    # Classes from each sample's own paint values (not the block means): painted layers over 0.5, topmost last.
    sp = sample_paint
    seg = torch.where(hit, s.part_to_seg[pc], torch.zeros_like(part))
    seg = torch.where(hairable & (sp[..., 0] > 0.5), torch.full_like(seg, SEG["HAIR"]), seg)
    seg = torch.where(beardable & (sp[..., 1] > 0.5), torch.full_like(seg, SEG["BEARD"]), seg)
    seg = torch.where(facewearable & (sp[..., 2] > 0.5), torch.full_like(seg, SEG["FACEWEAR"]), seg)
    seg = torch.where(hattable & (sp[..., 3] > 0.5), torch.full_like(seg, SEG["HEADWEAR"]), seg)
    return fg, seg


def block_part_mean(x: torch.Tensor, part: torch.Tensor, ss: int) -> torch.Tensor:
    """Replace each supersample's attributes x (B, Hs, Ws, C) by their mean over the samples of its ss x ss
    block that show the same part: shading then runs once per part and output pixel (MSAA-style), and
    every sample of a group gets the same colour, which the box filter weights by its count."""
    B, Hs, Ws, C = x.shape
    H, W, n = Hs // ss, Ws // ss, ss * ss
    xb = x.view(B, H, ss, W, ss, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, n, C)
    pb = part.view(B, H, ss, W, ss).permute(0, 1, 3, 2, 4).reshape(B, H, W, n)
    same = (pb[..., :, None] == pb[..., None, :]).to(x.dtype)  # (B, H, W, n, n)
    mean = (same @ xb) / same.sum(-1, keepdim=True)
    return mean.view(B, H, W, ss, ss, C).permute(0, 1, 3, 2, 4, 5).reshape(B, Hs, Ws, C)
