"""The factors of one rendered face, in the structure of DiscoFaceGAN, and their seeded sampling.

Every random number is a counter-based draw (an integer hash of seed, stream, key and draw number, see
:class:`CounterRNG`): sample ``index`` draws from its own stream, identity ``k`` from another, so a sample
never depends on batch size, worker count or rank, and a whole batch is drawn with a few dozen vectorised
tensor operations on any device (the GPU path samples 1024 faces in about a millisecond instead of half a
second of per-sample NumPy generators). Factors that do not vary within an identity (see
:class:`facebench.render.spec.DatasetSpec`) are drawn from identity-level streams instead.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import functools
import math

import numpy as np
import torch

from facebench.labels import EXPRESSIONS
from facebench.render.scene.accessories import HAIR_STYLES
from facebench.render.scene.albedo import DARK_SKIN, FIELDS_START, LIGHT_SKIN, N_FIELDS, NUM_ALBEDO, TONE_BEND, tone_bend_weights
from facebench.render.scene.heads.base import EXPRESSION_SHAPES
from facebench.render.shading import hash_u32

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
    id_albedo: torch.Tensor  # (B, NUM_ALBEDO) albedo coefficients (see facebench.render.scene.albedo)
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
    clothing: torch.Tensor  # (B,) neckline style ids (accessories.CLOTHING_STYLES)
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


_INT_FIELDS = ("identity", "expression", "hair", "beard", "headwear", "facewear", "glasses", "clothing", "seeds")
_STREAM_IDENTITY, _STREAM_IMAGE, _STREAM_IDENTITY_GROUP = 0, 1, 8  # + group index for the last two
_HAIR_PALETTE = ((0.012, 0.008, 0.006), (0.05, 0.025, 0.012), (0.12, 0.06, 0.025),
                 (0.35, 0.22, 0.10), (0.25, 0.07, 0.02), (0.35, 0.33, 0.30))
# Face mask colours (linear RGB): surgical blue, white, black, grey, navy; the last probability is any colour.
_MASK_PALETTE = ((0.30, 0.56, 0.74), (0.80, 0.80, 0.78), (0.015, 0.015, 0.017), (0.18, 0.18, 0.19), (0.015, 0.022, 0.06))
_MASK_PALETTE_P = (0.4, 0.15, 0.2, 0.05, 0.05, 0.15)
_CLOTHING_P = (0.55, 0.3, 0.15)  # crew neck, V-neck, high collar (accessories.CLOTHING_STYLES)
_IRIS_PALETTE = ((0.03, 0.012, 0.004), (0.08, 0.035, 0.01), (0.05, 0.09, 0.14), (0.06, 0.08, 0.04),
                 (0.09, 0.07, 0.03))


@functools.lru_cache(maxsize=64)
def _const(values: tuple, device: str, dtype=torch.float64) -> torch.Tensor:
    """A constant table on ``device``, made once: a fresh host-to-device copy per batch would synchronise
    the GPU with the host at every call and stall the launch queue."""
    return torch.tensor(values, dtype=dtype, device=device)


class CounterRNG:
    """Vectorised counter-based random numbers: row b of every draw comes from stream ``stream`` of key
    ``keys[b]`` under ``seed``, draw after draw in call order, so a row never depends on the other rows.

    Draw j of a row is ``hash(hash(key, stream << 16 | j, seed'), ...)`` (the integer hash of the
    renderer's textures, applied twice), its top 24 bits scaled to (0, 1).
    """

    BLOCK = 64  # draws hashed at once: a batch's draws cost a few dozen tensor ops, not one set per call

    def __init__(self, seed: int, stream: int, keys: torch.Tensor):
        self.keys = keys.long()
        self.stream = int(stream)
        # Keys beyond 32 bits fold their high bits into the seed word.
        self.seed = (self.keys >> 32) * 1000003 + int(seed)
        self.count = 0
        self._block = torch.empty(len(self.keys), 0, dtype=torch.float64, device=self.keys.device)
        self._start = 0  # draw number of the block's first column

    def _draws(self, j0: int, j1: int) -> torch.Tensor:
        """Uniforms (B, j1 - j0) of draws j0..j1-1; the same values however they are requested."""
        if j1 > 1 << 16:
            raise RuntimeError("CounterRNG: more than 65536 draws in one stream")
        if j1 > self._start + self._block.shape[1]:
            self._start = j0
            j = torch.arange(j0, max(j1, j0 + self.BLOCK), device=self.keys.device)
            b = (self.stream << 16) | j
            h = hash_u32(self.keys[:, None], b[None], self.seed[:, None])
            h = hash_u32(h, b[None], self.seed[:, None] ^ 0x5BD1E995)
            # float64 arithmetic from here on: vectorised and scalar code paths of pow/log/cos differ in the
            # last bit, which in float32 would make a row depend on its position in the batch; rounded to
            # float32 at the end, float64 results agree.
            self._block = ((h >> 8).double() + 0.5) * (1.0 / 16777216.0)
        return self._block[:, j0 - self._start:j1 - self._start]

    def uniform(self, *shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        m = math.prod(shape)
        u = self._draws(self.count, self.count + m)
        self.count += m
        return (lo + (hi - lo) * u).reshape(len(self.keys), *shape)

    def normal(self, *shape: int, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        """Box-Muller normals."""
        u1, u2 = self.uniform(*shape), self.uniform(*shape)
        return mean + std * torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)

    def integers(self, n: int) -> torch.Tensor:
        return (self.uniform() * n).long().clamp(max=n - 1)

    def choice(self, p) -> torch.Tensor:
        """Index drawn with probabilities p ((k,) shared or (B, k) per row; normalised here)."""
        if not isinstance(p, torch.Tensor):
            p = _const(tuple(p), str(self.keys.device))
        cdf = (p / p.sum(-1, keepdim=True)).cumsum(-1)
        u = self.uniform()
        return (u[:, None] > cdf[..., :-1]).sum(-1)


def _identity_draws(seed: int, identities: torch.Tensor, num_shape: int) -> dict[str, torch.Tensor]:
    """Identity-level draws (B rows): shape and albedo coefficients and the identity's style defaults."""
    rng = CounterRNG(seed, _STREAM_IDENTITY, identities)
    dev, B = identities.device, len(identities)
    feminine = (rng.uniform() < 0.5).float()
    # Skin tone covers the full range, lightest to darkest: Kumaraswamy(1.1, 1.1), a near-uniform
    # density with a little less weight at the extremes (a closed-form stand-in for Beta(1.1, 1.1)).
    tone = (1 - (1 - rng.uniform()) ** (1 / 1.1)) ** (1 / 1.1)
    alb = torch.zeros(B, NUM_ALBEDO, dtype=torch.float64, device=dev)
    alb[:, 0] = tone
    # Redness, olive and the blotch fields are fixed colour offsets: scaled down on dark skin, where the
    # same offset would be a large fraction of the albedo (olive-grey, blotchy faces).
    shade = 1 - 0.85 * tone
    alb[:, 1] = rng.uniform(lo=0.0, hi=1.0) * shade  # never below the axis: less red than it reads grey-green
    alb[:, 2] = rng.uniform(lo=-0.5, hi=1.0) * shade
    alb[:, 3] = rng.uniform(lo=0, hi=1.2) * (1 - 0.6 * tone)
    alb[:, 4] = rng.uniform(lo=0.2, hi=1.0) * (0.5 + 0.5 * feminine) * (1 - 0.7 * tone)
    alb[:, 5] = rng.uniform(lo=0, hi=0.6) * 2 * tone * (1 - tone)  # a fixed darkening: none on the darkest skin
    # Hair colour: darker skins mostly carry dark hair; some greys, blondes, reds elsewhere.
    t = tone[:, None]
    p = _const((0.35, 0.3, 0.15, 0.08, 0.05, 0.07), str(dev)) * torch.cat(
        [torch.ones_like(t), torch.ones_like(t), 1 - 0.8 * t, 1 - 0.95 * t, 1 - 0.95 * t, torch.ones_like(t)], 1)
    # One brightness for the three channels and only a small per-channel change: independent +-25% per
    # channel turned grey hair green or purple.
    hair_rgb = (_const(_HAIR_PALETTE, str(dev))[rng.choice(p)] * rng.uniform(lo=0.75, hi=1.25)[:, None]
                * rng.uniform(3, lo=0.94, hi=1.06))
    alb[:, 14:17] = hair_rgb
    # Brows: part of the way from the skin (the tone axis of the albedo model) toward a darker hair colour.
    w1, w2 = tone_bend_weights(t)
    skin = (_const(tuple(LIGHT_SKIN.tolist()), str(dev)) * (1 - t) + _const(tuple(DARK_SKIN.tolist()), str(dev)) * t
            + w1 * _const(tuple(TONE_BEND[0].tolist()), str(dev)) + w2 * _const(tuple(TONE_BEND[1].tolist()), str(dev)))
    alb[:, 6:9] = rng.uniform(lo=0.55, hi=0.85)[:, None] * (hair_rgb * 0.9 - skin)
    alb[:, 9] = rng.uniform() * shade  # under-eye darkness: a fixed offset (on dark skin it clipped green to red rims)
    # Stubble shadow, weaker on dark skin (an additive offset would push it below black, then to pure red).
    alb[:, 10] = (1 - feminine) * rng.uniform() * (1 - 0.85 * tone)
    q = _const((0.5, 0.2, 0.12, 0.1, 0.08), str(dev)) * torch.cat(
        [torch.ones_like(t), torch.ones_like(t), 1 - 0.95 * t, 1 - 0.9 * t, 1 - 0.5 * t], 1)
    alb[:, 11:14] = _const(_IRIS_PALETTE, str(dev))[rng.choice(q)] * rng.uniform(3, lo=0.8, hi=1.2)
    alb[:, FIELDS_START:] = rng.normal(N_FIELDS) * shade[:, None]
    # The tone axis' bend (albedo.TONE_BEND), the first weight jittered per identity: browner or greyer
    # skins at the same tone.
    bend1, bend2 = tone_bend_weights(tone)
    alb[:, 17] = bend1 * rng.uniform(lo=0.75, hi=1.25)
    alb[:, 18] = bend2
    hair_p = torch.where(feminine[:, None] > 0, _const((0.01, 0.02, 0.1, 0.35, 0.42, 0.1), str(dev)),
                         _const((0.05, 0.12, 0.35, 0.25, 0.13, 0.10), str(dev)))
    hair = rng.choice(hair_p)
    beard = torch.where(feminine > 0, 0, rng.choice([0.55, 0.3, 0.05, 0.1]))
    return {"shape": rng.normal(num_shape), "albedo": alb, "feminine": feminine, "hair": hair, "beard": beard}


def sample_identity(seed: int, identity: int, num_shape: int) -> dict[str, np.ndarray]:
    """The identity-level draws of one identity as NumPy values (shape, albedo, feminine, hair, beard)."""
    d = _identity_draws(seed, torch.tensor([int(identity)]), num_shape)
    return {"shape": d["shape"][0].float().numpy(), "albedo": d["albedo"][0].float().numpy(),
            "feminine": float(d["feminine"][0]), "hair": int(d["hair"][0]), "beard": int(d["beard"][0])}


def _draw_group(group: str, rng: CounterRNG, ident: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Draw one factor group for every row of ``rng`` (per-image or per-identity streams)."""
    dev, B = rng.keys.device, len(rng.keys)
    if group == "expression":
        cls = rng.integers(len(EXPRESSIONS))
        intensity = rng.uniform(lo=0.55, hi=1.0)
        S = len(EXPRESSION_SHAPES)
        w = _const(tuple(map(tuple, _RECIPE_MATRIX.tolist())), str(dev))[cls] * intensity[:, None]
        w = w + rng.uniform(S, lo=0, hi=0.12) * (rng.uniform(S) < 0.25)
        blink = rng.uniform() < 0.04
        for name in ("eyeBlink_L", "eyeBlink_R"):
            k = EXPRESSION_SHAPES.index(name)
            w[:, k] = torch.where(blink, 1.0, w[:, k])
        return {"expression": cls, "expr_weights": w.clamp(0, 1)}
    if group == "pose":
        wide = rng.uniform() >= 0.85
        yaw = torch.where(wide, rng.uniform(lo=-90, hi=90), rng.normal(std=35).clamp(-90, 90))
        pose = torch.stack([yaw, rng.normal(std=12).clamp(-40, 40), rng.normal(std=8).clamp(-30, 30)], -1)
        return {"pose": pose, "gaze": torch.stack([rng.normal(std=10), rng.normal(std=7)], -1)}
    if group == "illumination":
        temp = rng.uniform(lo=-1, hi=1)
        base = torch.stack([1 + 0.15 * temp, torch.ones_like(temp), 1 - 0.15 * temp], -1) * rng.uniform(lo=0.35, hi=0.95)[:, None]
        sh = torch.zeros(B, 9, 3, dtype=torch.float64, device=dev)
        sh[:, 0] = base
        # Directional terms share the warm/cool colour of the environment; only a little free tint.
        sh[:, 1:4] = rng.normal(3, 1, std=0.25) * base[:, None] + rng.normal(3, 3, std=0.01)
        sh[:, 4:] = rng.normal(5, 1, std=0.08) * base[:, None]
        d = rng.normal(3)
        d[:, 2] = d[:, 2].abs() + 0.3
        d = d / d.norm(dim=-1, keepdim=True)
        ktemp = rng.uniform(lo=-1, hi=1)
        key = torch.stack([1 + 0.2 * ktemp, torch.ones_like(ktemp), 1 - 0.2 * ktemp], -1) * rng.uniform(lo=0.25, hi=1.5)[:, None]
        return {"sh": sh, "key_dir": d, "key_rgb": key}
    if group == "accessories":
        out = {
            "headwear": rng.choice([0.82, 0.09, 0.09]),
            "facewear": (rng.uniform() < 0.08).long(),
            "glasses": rng.choice([0.72, 0.2, 0.08]),
            "cloth_rgb": rng.uniform(3, lo=0.02, hi=0.7) ** 1.5,
            "accessory_rgb": rng.uniform(3, 3, lo=0.01, hi=0.8) ** 1.6,
            "hair": torch.where(rng.uniform() < 0.9, ident["hair"], rng.integers(len(HAIR_STYLES))),
            "beard": torch.where(ident["feminine"] < 0.5, ident["beard"], 0),
        }
        # Face masks mostly in the colours masks come in (drawn last: the draws above stay as they were).
        kind = rng.choice(_MASK_PALETTE_P)
        palette = _const(_MASK_PALETTE, str(dev))[kind.clamp_max(len(_MASK_PALETTE) - 1)]
        shade = rng.uniform(lo=0.85, hi=1.1)[:, None]
        out["accessory_rgb"][:, 1] = torch.where((kind < len(_MASK_PALETTE))[:, None], palette * shade,
                                                 out["accessory_rgb"][:, 1])
        out["clothing"] = rng.choice(_CLOTHING_P)  # last again: every draw above is unchanged
        return out
    if group == "camera":
        framing = torch.stack([rng.uniform(lo=0.4, hi=0.8), rng.uniform(lo=-0.12, hi=0.12),
                               rng.uniform(lo=-0.12, hi=0.12), rng.normal(std=8).clamp(-20, 20)], -1)
        return {"cam_dist": rng.uniform(lo=0.45, hi=1.6), "framing": framing, "background": rng.uniform(24)}
    raise KeyError(group)


def _host_to(values, device) -> torch.Tensor:
    """int64 tensor of ``values`` on ``device``. To a GPU through pinned memory without waiting: a plain copy
    from pageable memory synchronises the stream, so the host could not queue a batch while the GPU still
    renders the previous one."""
    t = torch.from_numpy(np.ascontiguousarray(np.asarray(values), dtype=np.int64))
    device = torch.device(device)
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def sample_factors(seed: int, indices, identities, vary: frozenset[str], num_shape: int,
                   identity_override: dict | None = None, device: str | torch.device = "cpu") -> FaceFactors:
    """Draw the factors of samples ``indices`` (global sample ids) of identities ``identities``, on ``device``.

    vary: the factor groups (FACTOR_GROUPS) that change from image to image within an identity; the
    others are fixed per identity. identity_override maps a position in the batch to replacement
    identity coefficients ({"shape", "albedo"}) for identity mixing.
    """
    idx, ids = _host_to(indices, device), _host_to(identities, device)
    ident = _identity_draws(seed, ids, num_shape)
    for pos, ov in (identity_override or {}).items():
        ident["shape"][pos] = torch.as_tensor(ov["shape"], dtype=torch.float32, device=device)
        ident["albedo"][pos] = torch.as_tensor(ov["albedo"], dtype=torch.float32, device=device)
    img = CounterRNG(seed, _STREAM_IMAGE, idx)
    out = {"identity": ids, "id_shape": ident["shape"], "id_albedo": ident["albedo"], "feminine": ident["feminine"],
           "seeds": (img.uniform() * 2 ** 31).long()}
    for gi, g in enumerate(FACTOR_GROUPS):
        rng = (CounterRNG(seed, _STREAM_IMAGE + 1 + gi, idx) if g in vary
               else CounterRNG(seed, _STREAM_IDENTITY_GROUP + gi, ids))
        out.update(_draw_group(g, rng, ident))
    return FaceFactors(**{f.name: out[f.name].long() if f.name in _INT_FIELDS else out[f.name].float()
                          for f in fields(FaceFactors)})
