"""The factors of one rendered face, in the structure of DiscoFaceGAN, and their seeded sampling.

Sample ``index`` of a dataset with seed ``seed`` is drawn from ``np.random.default_rng([seed, 1, index])``
and identity ``k`` from ``np.random.default_rng([seed, 0, k])``, so a sample never depends on batch
size, worker count or rank. Factors that do not vary within an identity (see
:class:`facebench.render.spec.DatasetSpec`) are drawn from an identity-level generator instead.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from facebench.labels import EXPRESSIONS
from facebench.render.accessories import HAIR_STYLES
from facebench.render.albedo import N_FIELDS, NUM_ALBEDO
from facebench.render.heads.base import EXPRESSION_SHAPES

FACTOR_GROUPS = ("expression", "pose", "illumination", "accessories", "camera")

# Expressions from action-unit-like shapes (ARKit names); weights at full intensity.
EXPRESSION_RECIPES = {
    "neutral": {},
    "happy": {"mouthSmile_L": 0.9, "mouthSmile_R": 0.9, "cheekSquint_L": 0.6, "cheekSquint_R": 0.6,
              "eyeSquint_L": 0.35, "eyeSquint_R": 0.35, "jawOpen": 0.12, "mouthUpperUp_L": 0.2,
              "mouthUpperUp_R": 0.2},
    "sad": {"browInnerUp_L": 0.9, "browInnerUp_R": 0.9, "mouthFrown_L": 0.8, "mouthFrown_R": 0.8,
            "mouthShrugLower": 0.4, "eyeSquint_L": 0.15, "eyeSquint_R": 0.15, "browDown_L": 0.15,
            "browDown_R": 0.15},
    "surprise": {"browInnerUp_L": 0.9, "browInnerUp_R": 0.9, "browOuterUp_L": 0.9, "browOuterUp_R": 0.9,
                 "eyeWide_L": 0.8, "eyeWide_R": 0.8, "jawOpen": 0.55, "mouthFunnel": 0.2},
    "fear": {"browInnerUp_L": 0.9, "browInnerUp_R": 0.9, "browOuterUp_L": 0.35, "browOuterUp_R": 0.35,
             "eyeWide_L": 0.9, "eyeWide_R": 0.9, "mouthStretch_L": 0.7, "mouthStretch_R": 0.7,
             "jawOpen": 0.2, "browDown_L": 0.2, "browDown_R": 0.2},
    "disgust": {"noseSneer_L": 0.9, "noseSneer_R": 0.9, "mouthUpperUp_L": 0.6, "mouthUpperUp_R": 0.6,
                "browDown_L": 0.45, "browDown_R": 0.45, "cheekSquint_L": 0.4, "cheekSquint_R": 0.4,
                "mouthFrown_L": 0.3, "mouthFrown_R": 0.3, "eyeSquint_L": 0.3, "eyeSquint_R": 0.3},
    "anger": {"browDown_L": 1.0, "browDown_R": 1.0, "eyeSquint_L": 0.4, "eyeSquint_R": 0.4,
              "mouthPress_L": 0.6, "mouthPress_R": 0.6, "noseSneer_L": 0.3, "noseSneer_R": 0.3,
              "eyeWide_L": 0.25, "eyeWide_R": 0.25, "jawForward": 0.15},
}
_RECIPE_MATRIX = np.array([[EXPRESSION_RECIPES[e].get(s, 0.0) for s in EXPRESSION_SHAPES] for e in EXPRESSIONS],
                          np.float32)


@dataclass
class FaceFactors:
    """Batched factors (torch tensors on CPU until moved). Angles in degrees, colours linear RGB."""

    identity: torch.Tensor  # (B,) int64 identity ids
    id_shape: torch.Tensor  # (B, K) shape coefficients ~ N(0, 1)
    id_albedo: torch.Tensor  # (B, NUM_ALBEDO) albedo coefficients (see facebench.render.albedo)
    feminine: torch.Tensor  # (B,) 0..1, steers plausible hair / beard combinations
    expression: torch.Tensor  # (B,) class ids into facebench.labels.EXPRESSIONS
    expr_weights: torch.Tensor  # (B, len(EXPRESSION_SHAPES)) in [0, 1]
    pose: torch.Tensor  # (B, 3) yaw, pitch, roll
    gaze: torch.Tensor  # (B, 2) eye yaw, pitch relative to the head
    sh: torch.Tensor  # (B, 9, 3) second-order SH environment light (27 coefficients)
    key_dir: torch.Tensor  # (B, 3) unit direction toward the key light (camera frame)
    key_rgb: torch.Tensor  # (B, 3) key light colour x intensity
    hair: torch.Tensor  # (B,) style ids
    beard: torch.Tensor  # (B,)
    headwear: torch.Tensor  # (B,)
    facewear: torch.Tensor  # (B,)
    glasses: torch.Tensor  # (B,)
    cloth_rgb: torch.Tensor  # (B, 3)
    accessory_rgb: torch.Tensor  # (B, 3, 3) headwear, facewear, glasses frame colours
    cam_dist: torch.Tensor  # (B,) metres
    framing: torch.Tensor  # (B, 4) wild framing: face size fraction, centre dx, dy, in-plane angle
    background: torch.Tensor  # (B, 24) background parameters
    seeds: torch.Tensor  # (B,) int64 per-sample seeds for noise and post-processing

    def __len__(self) -> int:
        return self.identity.shape[0]

    def to(self, device) -> "FaceFactors":
        return FaceFactors(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def index(self, idx) -> "FaceFactors":
        return FaceFactors(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def cat(items: list["FaceFactors"]) -> "FaceFactors":
        return FaceFactors(**{f.name: torch.cat([getattr(i, f.name) for i in items]) for f in fields(FaceFactors)})


def sample_identity(seed: int, identity: int, num_shape: int) -> dict[str, np.ndarray]:
    """Identity-level draws: shape and albedo coefficients and the identity's style defaults."""
    rng = np.random.default_rng([seed, 0, identity])
    feminine = float(rng.uniform() < 0.5)
    tone = rng.beta(1.1, 1.1)  # covers the full range, lightest to darkest
    alb = np.zeros(NUM_ALBEDO, np.float32)
    alb[0] = tone
    alb[1] = rng.uniform(-0.5, 1.0)
    alb[2] = rng.uniform(-0.5, 1.0)
    alb[3] = rng.uniform(0, 1.2) * (1 - 0.6 * tone)
    alb[4] = rng.uniform(0.2, 1.0) * (0.5 + 0.5 * feminine)
    alb[5] = rng.uniform(0, 0.6) * tone
    # Hair colour: darker skins mostly carry dark hair; some greys, blondes, reds elsewhere.
    palette = np.array([[0.012, 0.008, 0.006], [0.05, 0.025, 0.012], [0.12, 0.06, 0.025],
                        [0.35, 0.22, 0.10], [0.25, 0.07, 0.02], [0.35, 0.33, 0.30]], np.float32)
    p = np.array([0.35, 0.3, 0.15, 0.08, 0.05, 0.07])
    p = p * np.array([1, 1, 1 - 0.8 * tone, 1 - 0.95 * tone, 1 - 0.95 * tone, 1])
    hair_rgb = palette[rng.choice(len(p), p=p / p.sum())] * rng.uniform(0.75, 1.25, 3)
    alb[14:17] = hair_rgb
    alb[6:9] = hair_rgb * 0.8 - np.array([0.55, 0.38, 0.28]) * 0.6  # brows read as darker than skin
    alb[9] = rng.uniform(0, 1)
    alb[10] = (1 - feminine) * rng.uniform(0, 1)
    iris = np.array([[0.03, 0.012, 0.004], [0.08, 0.035, 0.01], [0.05, 0.09, 0.14], [0.06, 0.08, 0.04],
                     [0.09, 0.07, 0.03]], np.float32)
    q = np.array([0.5, 0.2, 0.12, 0.1, 0.08]) * np.array([1, 1, 1 - 0.95 * tone, 1 - 0.9 * tone, 1 - 0.5 * tone])
    alb[11:14] = iris[rng.choice(5, p=q / q.sum())] * rng.uniform(0.8, 1.2, 3)
    alb[17:] = rng.normal(0, 1, N_FIELDS)
    hair_p = np.array([0.05, 0.12, 0.35, 0.25, 0.13, 0.10]) if not feminine else np.array([0.01, 0.02, 0.1, 0.35, 0.42, 0.1])
    return {
        "shape": rng.normal(0, 1, num_shape).astype(np.float32),
        "albedo": alb,
        "feminine": feminine,
        "hair": rng.choice(len(HAIR_STYLES), p=hair_p),
        "beard": 0 if feminine else rng.choice(4, p=[0.55, 0.3, 0.05, 0.1]),
    }


def _draw_group(group, rng, ident):
    """Draw one factor group from ``rng`` (a per-image or per-identity generator)."""
    if group == "expression":
        cls = rng.integers(len(EXPRESSIONS))
        intensity = rng.uniform(0.55, 1.0)
        w = _RECIPE_MATRIX[cls] * intensity
        w = w + rng.uniform(0, 0.12, len(EXPRESSION_SHAPES)) * (rng.uniform(size=len(EXPRESSION_SHAPES)) < 0.25)
        if rng.uniform() < 0.04:  # blink
            w[EXPRESSION_SHAPES.index("eyeBlink_L")] = w[EXPRESSION_SHAPES.index("eyeBlink_R")] = 1.0
        return {"expression": cls, "expr_weights": np.clip(w, 0, 1).astype(np.float32)}
    if group == "pose":
        yaw = np.clip(rng.normal(0, 35), -90, 90) if rng.uniform() < 0.85 else rng.uniform(-90, 90)
        return {"pose": np.array([yaw, np.clip(rng.normal(0, 12), -40, 40), np.clip(rng.normal(0, 8), -30, 30)], np.float32),
                "gaze": np.array([rng.normal(0, 10), rng.normal(0, 7)], np.float32)}
    if group == "illumination":
        sh = np.zeros((9, 3), np.float32)
        temp = rng.uniform(-1, 1)
        base = np.array([1 + 0.15 * temp, 1.0, 1 - 0.15 * temp]) * rng.uniform(0.35, 0.95)
        sh[0] = base
        # Directional terms share the warm/cool colour of the environment; only a little free tint.
        sh[1:4] = rng.normal(0, 0.25, (3, 1)) * base + rng.normal(0, 0.01, (3, 3))
        sh[4:] = rng.normal(0, 0.08, (5, 1)) * base
        d = rng.normal(0, 1, 3)
        d[2] = abs(d[2]) + 0.3
        d /= np.linalg.norm(d)
        ktemp = rng.uniform(-1, 1)
        key = np.array([1 + 0.2 * ktemp, 1.0, 1 - 0.2 * ktemp]) * rng.uniform(0.0, 1.4)
        return {"sh": sh, "key_dir": d.astype(np.float32), "key_rgb": key.astype(np.float32)}
    if group == "accessories":
        fem = ident["feminine"]
        head = rng.choice(3, p=[0.82, 0.09, 0.09])
        return {
            "headwear": head,
            "facewear": int(rng.uniform() < 0.08),
            "glasses": rng.choice(3, p=[0.72, 0.2, 0.08]),
            "cloth_rgb": (rng.uniform(0.02, 0.7, 3) ** 1.5).astype(np.float32),
            "accessory_rgb": (rng.uniform(0.01, 0.8, (3, 3)) ** 1.6).astype(np.float32),
            "hair": ident["hair"] if rng.uniform() < 0.9 else rng.choice(len(HAIR_STYLES)),
            "beard": ident["beard"] if fem < 0.5 else 0,
        }
    if group == "camera":
        return {"cam_dist": np.float32(rng.uniform(0.45, 1.6)),
                "framing": np.array([rng.uniform(0.4, 0.8), rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12),
                                     np.clip(rng.normal(0, 8), -20, 20)], np.float32),
                "background": rng.uniform(0, 1, 24).astype(np.float32)}
    raise KeyError(group)


def sample_factors(seed: int, indices, identities, vary: frozenset[str], num_shape: int,
                   identity_override: dict | None = None) -> FaceFactors:
    """Draw the factors of samples ``indices`` (global sample ids) of identities ``identities``.

    vary: the factor groups (FACTOR_GROUPS) that change from image to image within an identity; the
    others are fixed per identity. identity_override maps a position in the batch to replacement
    identity coefficients ({"shape", "albedo"}) for identity mixing.
    """
    rows = []
    for pos, (i, k) in enumerate(zip(indices, identities)):
        ident = sample_identity(seed, int(k), num_shape)
        if identity_override and pos in identity_override:
            ident.update(identity_override[pos])
        rng_img = np.random.default_rng([seed, 1, int(i)])
        row = {"identity": int(k), "id_shape": ident["shape"], "id_albedo": ident["albedo"],
               "feminine": np.float32(ident["feminine"]), "seeds": int(rng_img.integers(2 ** 31))}
        for gi, g in enumerate(FACTOR_GROUPS):
            rng = rng_img if g in vary else np.random.default_rng([seed, 2, int(k), gi])
            row.update(_draw_group(g, rng, ident))
        rows.append(row)
    out = {}
    for f in fields(FaceFactors):
        vals = [r[f.name] for r in rows]
        t = torch.as_tensor(np.stack([np.asarray(v) for v in vals]))
        out[f.name] = t.long() if f.name in ("identity", "expression", "hair", "beard", "headwear", "facewear",
                                             "glasses", "seeds") else t.float()
    return FaceFactors(**out)
