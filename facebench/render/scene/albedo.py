"""A linear per-vertex albedo model (linear RGB), built for any head from its geometry.

albedo(v) = mean(v) + sum_k a_k * basis_k(v). Because it is linear, mixing two identities' albedo
coefficients (SynFace's Identity Mixup) mixes their skin. Coefficients (NUM_ALBEDO = 60):

 0 tone (0 = lightest, 1 = darkest skin; also darkens the eye-corner tissue), 1 redness, 2 olive/yellow, 3 cheek and nose flush,
 4 lip redness, 5 lip darkness, 6-8 brow colour, 9 under-eye darkness, 10 stubble shadow,
 11-13 iris colour, 14-16 hair colour, 17-18 the bend of the tone axis (see skin_tone), 19-59 smooth random fields
 (blotches, uneven tone).
The iris and hair colours live here too so that identity mixing mixes them as well.
"""
from __future__ import annotations

import numpy as np

from facebench.render.scene.heads.base import P, HeadModel
from facebench.render.scene.heads.geometry import distance_to_polyline

NUM_ALBEDO = 60
FIELDS_START = 19
N_FIELDS = NUM_ALBEDO - FIELDS_START
# Linear-RGB skin albedo at the two ends of the tone axis.
LIGHT_SKIN = np.array([0.70, 0.52, 0.41], np.float32)
DARK_SKIN = np.array([0.05, 0.028, 0.018], np.float32)
# The tone axis is a cubic Bezier curve from LIGHT_SKIN to DARK_SKIN, not a straight line: melanin absorbs
# blue far more than red, so real skin turns brown (R/B ~3 at mid tones), where the straight line between
# the ends passes through grey-mauve (R/B ~2). The curve passes near (0.40, 0.25, 0.15) at tone 1/3 and
# (0.17, 0.09, 0.05) at 2/3 (sRGB ~(168, 136, 107) and (118, 91, 66), the brown middle of the Monk skin tone
# scale). TONE_BEND holds the Bezier control points' offsets from the straight line; they enter the linear
# model as two basis vectors whose weights (tone_bend_weights) the sampler sets from the tone.
TONE_BEND = np.array([[-0.105, -0.165, -0.24], [-0.165, -0.147, -0.102]], np.float32)


def tone_bend_weights(tone):
    """Weights of the two TONE_BEND basis vectors (coefficients 17, 18) for a tone in [0, 1] (NumPy or torch)."""
    return 3 * tone * (1 - tone) ** 2, 3 * tone ** 2 * (1 - tone)


def skin_tone(tone):
    """Linear-RGB skin albedo (..., 3) on the tone axis at ``tone`` (NumPy array of shape (...,))."""
    t = np.asarray(tone, np.float64)[..., None]
    w1, w2 = tone_bend_weights(t)
    return LIGHT_SKIN + t * (DARK_SKIN - LIGHT_SKIN) + w1 * TONE_BEND[0] + w2 * TONE_BEND[1]


def _smooth(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def build_albedo_model(head: HeadModel, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean (V, 3), basis (NUM_ALBEDO, V, 3)) for the head's template."""
    v = head.template
    V = len(v)
    lm = v[head.landmarks[:68]]
    vpart = np.full(V, P["SKIN"])
    vpart[head.faces.reshape(-1)] = np.repeat(head.face_part, 3)
    mean = np.repeat(LIGHT_SKIN[None], V, 0).copy()
    # Inside the mouth and the eye corners: fixed colours (not skin tone dependent).
    for part, col in (("MOUTH", (0.16, 0.03, 0.03)), ("TEETH", (0.62, 0.58, 0.5)), ("CARUNCLE_R", (0.5, 0.22, 0.2)),
                      ("CARUNCLE_L", (0.5, 0.22, 0.2))):
        mean[vpart == P[part]] = col
    B = np.zeros((NUM_ALBEDO, V, 3), np.float32)
    skinlike = np.isin(vpart, [P["SKIN"], P["NOSE"], P["EAR_R"], P["EAR_L"], P["NECK"], P["SCALP"],
                                P["BROW_R"], P["BROW_L"], P["LIP_TOP"], P["LIP_BOTTOM"]]).astype(np.float32)
    B[0] = (DARK_SKIN - LIGHT_SKIN)[None] * skinlike[:, None]
    # The eye-corner and lid-rim tissue darkens with the skin (a fixed pink read as red rims on dark skin).
    caruncle = np.isin(vpart, [P["CARUNCLE_R"], P["CARUNCLE_L"]])
    B[0][caruncle] = np.array([0.12, 0.045, 0.035]) - np.array([0.5, 0.22, 0.2])
    B[1] = np.array([0.06, -0.015, -0.01]) * skinlike[:, None]
    B[2] = np.array([0.02, 0.025, -0.02]) * skinlike[:, None]
    # Flush on cheeks and nose: distance to cheek centres (below the eyes, beside the nose).
    cheeks = np.stack([(lm[41] + lm[31]) / 2, (lm[46] + lm[35]) / 2, lm[30]])
    dc = np.linalg.norm(v[:, None] - cheeks[None], axis=-1).min(1)
    B[3] = np.array([0.04, -0.006, -0.004]) * (np.exp(-(dc / 0.018) ** 2) * skinlike)[:, None]
    # Lip colour: smooth-edged region inside the outer lip contour (landmarks 48-59) rather than the lip
    # faces, whose outline at the LOD mesh's resolution is jagged.
    outer = lm[48:60, :2]
    d = distance_to_polyline(v[:, :2], np.r_[outer, outer[:1]])
    signed = np.where(_inside_polygon(v[:, :2], outer), d, -d)
    near = v[:, 2] > lm[48:60, 2].min() - 0.01
    lips = (_smooth(signed, -0.0008, 0.0012) * skinlike * near).astype(np.float32)
    B[4] = np.array([0.10, -0.04, -0.02]) * lips[:, None]
    B[5] = np.array([-0.2, -0.12, -0.08]) * lips[:, None]
    # Brow colour: a smooth band around the brow landmark curves (thicker toward the nose) rather than
    # the BROW faces themselves, whose outline at the LOD mesh's resolution is a jagged blob.
    d_r = distance_to_polyline(v[:, :2], lm[17:22, :2])
    d_l = distance_to_polyline(v[:, :2], lm[22:27, :2])
    inner = np.where(d_r < d_l, _smooth(np.abs(v[:, 0] - lm[17, 0]), 0, abs(lm[21, 0] - lm[17, 0])),
                     _smooth(np.abs(v[:, 0] - lm[26, 0]), 0, abs(lm[22, 0] - lm[26, 0])))
    half = 0.0016 + 0.0024 * inner  # half-height of the band (m): 1.6 mm at the tail, 4 mm at the head
    front = v[:, 2] > lm[17:27, 2].min() - 0.01
    brows = (_smooth(half + 0.0012 - np.minimum(d_r, d_l), 0, 0.0024) * skinlike * front).astype(np.float32)
    for c in range(3):
        B[6 + c, :, c] = brows
    # Under-eye darkness: a band below the lower lids.
    under = np.minimum(distance_to_polyline(v[:, :2], lm[[36, 41, 40, 39]][:, :2] - [0, 0.008]),
                       distance_to_polyline(v[:, :2], lm[[42, 47, 46, 45]][:, :2] - [0, 0.008]))
    B[9] = np.array([-0.05, -0.05, -0.03]) * (np.exp(-(under / 0.006) ** 2) * skinlike * (v[:, 2] > lm[36, 2] - 0.01))[:, None]
    # Stubble shadow: the beard area (jaw below the mouth corners, chin, upper lip).
    beard = beard_weight(v, lm) * (vpart == P["SKIN"])
    B[10] = -0.15 * LIGHT_SKIN * beard[:, None]  # darkens along the skin's hue; the sampler fades it on dark skin
    eyes = np.isin(vpart, [P["EYE_R"], P["EYE_L"]])
    for c in range(3):
        B[11 + c, :, c] = eyes  # iris colour is read from here by the shader
    scalp = (vpart == P["SCALP"]).astype(np.float32)
    for c in range(3):
        B[14 + c, :, c] = scalp  # hair colour, also read by the hair shader
    # The bend of the tone axis (see TONE_BEND).
    B[17] = TONE_BEND[0][None] * skinlike[:, None]
    B[18] = TONE_BEND[1][None] * skinlike[:, None]
    rng = np.random.default_rng(seed)
    for k in range(N_FIELDS):
        # Smooth random field: a few Gaussian bumps at random surface points, random colour direction.
        pts = v[rng.choice(np.nonzero(skinlike)[0], size=4)]
        width = rng.uniform(0.01, 0.05)
        f = sum(s * np.exp(-(np.linalg.norm(v - p, axis=1) / width) ** 2)
                for p, s in zip(pts, rng.choice([-1, 1], 4)))
        col = np.array([1.0, 0.75, 0.6]) if k % 2 == 0 else np.array([0.5, -0.15, -0.2])
        B[FIELDS_START + k] = 0.008 * col[None] * (f * skinlike)[:, None]
    return mean.astype(np.float32), B


def _inside_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd test of (N, 2) points against a closed (M, 2) polygon."""
    x, y = pts[:, 0], pts[:, 1]
    inside = np.zeros(len(pts), bool)
    for a, b in zip(poly, np.roll(poly, -1, 0)):
        crosses = (a[1] > y) != (b[1] > y)
        x_at = a[0] + (y - a[1]) * (b[0] - a[0]) / ((b[1] - a[1]) if b[1] != a[1] else 1e-12)
        inside ^= crosses & (x < x_at)
    return inside


def beard_weight(v: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Soft (0..1) beard area of a template: lower face below the cheekbones, and the upper lip."""
    y_mouth = (lm[48, 1] + lm[54, 1]) / 2
    # Upper edge: the moustache just under the nose, dipping to ~1 cm above the mouth corners beside the
    # nasolabial folds, then up the jaw to the sideburns in front of the ears (a straight, gently rising
    # line at nose height read as a mask, not a beard). Knots relative to the landmarks, so any head fits.
    ax = np.abs(v[:, 0])
    mc, jaw = abs(lm[48, 0]), abs(lm[1, 0])
    cheek_line = np.interp(ax, [0, 0.8 * mc, 1.35 * mc, jaw, jaw + 0.03],
                           [lm[33, 1] - 0.0015, lm[33, 1] - 0.005, y_mouth + 0.011, lm[1, 1] + 0.004, lm[0, 1]])
    # A ragged edge: +-2.5 mm of per-vertex noise (a hash of the vertex position, fixed per head).
    jitter = ((np.floor(v * 2000).astype(np.int64) * [73856093, 19349663, 83492791]).sum(1) % 1000) / 1000.0 - 0.5
    w = _smooth(cheek_line - v[:, 1] + 0.005 * jitter, 0.0, 0.006)
    w *= _smooth(v[:, 2], lm[0, 2] - 0.0, lm[0, 2] + 0.02)  # front of the ears
    w *= _smooth(v[:, 1], lm[8, 1] - 0.035, lm[8, 1] - 0.015)  # fades under the chin
    # Keep the lips and a little margin clear.
    lipd = distance_to_polyline(v[:, :2], lm[list(range(48, 60)) + [48]][:, :2])
    inside = (np.abs(v[:, 0]) < abs(lm[54, 0] - lm[48, 0]) / 2) & (np.abs(v[:, 1] - y_mouth) < 0.009)
    w *= np.where(inside, 0, _smooth(lipd, 0.001, 0.004))
    return w.astype(np.float32)
