"""The Vec2Face generator (Wu et al., "Vec2Face: Scaling Face Dataset Generation with Loosely Constrained
Vectors", 2024): a 512-d face-recognition feature -> a 112x112 face, in the released architecture, so that the
public checkpoint (``vec2face_generator.pth``, key ``model_vec2face``) loads into it with a strict
state-dict load. Attribute names follow the released state dict's keys; the code is ours.

Forward pass (B faces):
1. the feature -> ``embed_dim`` (``latent_prior_proj_f``) = e; 49 feature tokens t_j = w_j e + b_j
   (``feature_token``, a Linear(1, 49) applied per channel);
2. masking, the generator's only randomness: a mask ratio r (truncated normal) and a uniform noise per token
   position; the ``ceil(49 min_ratio)`` lowest-noise positions are *dropped* (not seen by the encoder), the
   ``ceil(49 r)`` lowest are *masked* (their token replaced by e); a leading token e is prepended;
3. BERT-style embedding (learned positions, LayerNorm eps 1e-6), the kept tokens through the encoder's
   pre-norm transformer blocks and a LayerNorm;
4. decoder: a linear map, every masked or dropped position filled with the *first* decoded token (there is
   no learned mask token), learned positions, transformer blocks, LayerNorm;
5. the 49 position tokens as a 7x7 map -> ``z_channels`` (``im_decoder_proj``) -> a convolutional image
   decoder (GroupNorm(32, eps 1e-6) + swish residual blocks without biases, nearest x2 upsampling + 3x3
   conv, 7 -> 112 px) -> RGB, nominally [-1, 1] (not clamped here; the public code clamps generated images).

``patch_embed`` and ``center_token`` are in the released state dict but unused; they are kept so that the
strict load works.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NUM_TOKENS = 49  # 7 x 7 positions


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (attention logits in float32)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        w = ((q.float() @ k.float().transpose(-2, -1)) * self.scale).softmax(-1)
        return self.proj((w.to(v.dtype) @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.1):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop = nn.Dropout(dropout)  # the released model trains with dropout 0.1 after attention and MLP

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class TokenEmbedding(nn.Module):
    """Learned position embeddings added to the tokens, then LayerNorm (eps 1e-6) and dropout."""

    def __init__(self, dim: int, length: int, dropout: float = 0.1):
        super().__init__()
        self.position_embeddings = nn.Embedding(length, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-6)  # noqa: N815 - the released key name
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("position_ids", torch.arange(length).unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.LayerNorm(x + self.position_embeddings(self.position_ids[:, :x.shape[1]])))


class PatchEmbed(nn.Module):
    """Present in the released state dict, unused by the forward pass."""

    def __init__(self, dim: int, patch: int, in_chans: int = 3):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, patch)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, c, eps=1e-6)


class ResBlock(nn.Module):
    """GroupNorm-swish-conv3x3 twice (no biases); where the width changes, a 1x1 ``nin_shortcut`` is applied to
    the block's own output and added to it (the released decoder's wiring), else the input is added."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cout, cout, 1, bias=False)
        self.changes_width = cin != cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(h) if self.changes_width else x) + h


class Upsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Middle(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.block_1, self.block_2 = ResBlock(c, c), ResBlock(c, c)


class _Level(nn.Module):
    def __init__(self, cin: int, cout: int, blocks: int, upsample: bool):
        super().__init__()
        self.block = nn.ModuleList(ResBlock(cin if i == 0 else cout, cout) for i in range(blocks))
        if upsample:
            self.upsample = Upsample(cout)


class ImageDecoder(nn.Module):
    """(B, z_channels, 7, 7) -> (B, 3, 7 * 2**(len(ch_mult)-1), ...) image. ``up[i]`` is resolution level i
    (``up[0]`` the output resolution); levels run from the last to the first."""

    def __init__(self, ch: int = 128, ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4), num_res_blocks: int = 2,
                 z_channels: int = 256, out_ch: int = 3):
        super().__init__()
        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, 3, 1, 1)
        self.mid = _Middle(c)
        levels = [None] * len(ch_mult)
        for i in reversed(range(len(ch_mult))):
            levels[i] = _Level(c, ch * ch_mult[i], num_res_blocks, upsample=i != 0)
            c = ch * ch_mult[i]
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid.block_2(self.mid.block_1(self.conv_in(z)))
        for i in reversed(range(len(self.up))):
            for blk in self.up[i].block:
                h = blk(h)
            if i != 0:
                h = self.up[i].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


@dataclass
class MaskDraw:
    """The random draws of one forward pass: the mask ratio and a noise (B, 49) per token position;
    ``min_ratio`` the share of dropped positions (None: the model's, 0.1 as released; training uses 0.5)."""

    mask_rate: float | torch.Tensor  # one ratio for the batch, or (B,) one per sample
    noise: torch.Tensor
    min_ratio: float | None = None


@dataclass
class Vec2FaceOutput:
    image: torch.Tensor  # (B, 3, 112, 112), nominally [-1, 1]
    gt_tokens: torch.Tensor  # (B, 50, D) the unmasked input tokens (the training target of the token loss)
    encoder_out: torch.Tensor  # (B, 50 - dropped, D)
    logits: torch.Tensor  # (B, 50, D) decoder output tokens
    decoder_proj: torch.Tensor  # (B, z_channels, 7, 7)
    token_drop_mask: torch.Tensor  # (B, 50) 1 = dropped
    token_all_mask: torch.Tensor  # (B, 50) 1 = masked (dropped included)


# Mask-ratio distributions of the public code: generation and training.
GENERATION_MASKING = {"min": 0.1, "max": 1.0, "mu": 0.15, "std": 0.25}
TRAINING_MASKING = {"min": 0.5, "max": 1.0, "mu": 0.75, "std": 0.25}


class Vec2FaceGenerator(nn.Module):
    """Feature (B, rep_dim) -> face (B, 3, 112, 112). Defaults: the released configuration (ViT-base sizes,
    174,126,998 parameters); ``tiny()`` gives a CPU-sized one. ``embed_dim`` must equal ``decoder_embed_dim``
    (the image projection reads decoder tokens with the encoder's width, as released)."""

    def __init__(self, rep_dim: int = 512, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 decoder_embed_dim: int = 768, decoder_depth: int = 8, decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.0, patch_size: int = 16, decoder_ch: int = 128,
                 decoder_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4), decoder_res_blocks: int = 2,
                 z_channels: int = 256, mask_ratio_min: float = 0.1, mask_ratio_max: float = 1.0,
                 mask_ratio_mu: float = 0.15, mask_ratio_std: float = 0.25):
        super().__init__()
        if embed_dim != decoder_embed_dim:
            raise ValueError(f"embed_dim ({embed_dim}) must equal decoder_embed_dim ({decoder_embed_dim})")
        if 7 * 2 ** (len(decoder_ch_mult) - 1) != 112:
            raise ValueError("the image decoder must go from 7 to 112 px: 5 levels (decoder_ch_mult of length 5)")
        self.token_emb = TokenEmbedding(embed_dim, NUM_TOKENS + 1)
        self.latent_prior_proj_f = nn.Linear(rep_dim, embed_dim)
        self.feature_token = nn.Linear(1, NUM_TOKENS)
        self.center_token = nn.Linear(embed_dim, NUM_TOKENS)  # unused (released key)
        self.im_decoder = ImageDecoder(decoder_ch, tuple(decoder_ch_mult), decoder_res_blocks, z_channels)
        self.im_decoder_proj = nn.Linear(embed_dim, z_channels)
        self.patch_embed = PatchEmbed(embed_dim, patch_size)  # unused (released key)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.decoder_pos_embed_learned = nn.Parameter(torch.zeros(1, NUM_TOKENS + 1, decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList(Block(decoder_embed_dim, decoder_num_heads, mlp_ratio)
                                            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.masking = {"min": mask_ratio_min, "max": mask_ratio_max, "mu": mask_ratio_mu, "std": mask_ratio_std}
        self.rep_dim = rep_dim
        self._init_weights()

    @classmethod
    def tiny(cls, **kw) -> "Vec2FaceGenerator":
        """A CPU-sized variant (2.5M parameters)."""
        args = dict(embed_dim=96, depth=2, num_heads=4, decoder_embed_dim=96, decoder_depth=2, decoder_num_heads=4,
                    decoder_ch=32, z_channels=64)
        args.update(kw)
        return cls(**args)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.decoder_pos_embed_learned, std=0.02)
        nn.init.normal_(self.token_emb.position_embeddings.weight, std=0.02)

    def draw_masks(self, batch: int, generator: torch.Generator | None = None, masking: dict | None = None,
                   device=None) -> MaskDraw:
        """One forward pass's random draws: a mask ratio from the truncated normal ``masking`` (default: the
        model's) by inverse-CDF sampling, and a uniform noise (batch, 49)."""
        m = masking or self.masking
        u = float(torch.rand((), generator=generator))
        a, b = ((m["min"] - m["mu"]) / m["std"], (m["max"] - m["mu"]) / m["std"])
        cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
        p = cdf(a) + u * (cdf(b) - cdf(a))
        rate = m["mu"] + m["std"] * math.sqrt(2) * float(torch.erfinv(torch.tensor(2 * p - 1, dtype=torch.float64)))
        noise = torch.rand(batch, NUM_TOKENS, generator=generator)
        return MaskDraw(min(max(rate, m["min"]), m["max"]), noise.to(device) if device is not None else noise,
                        m["min"])

    def draw_masks_keyed(self, keys, device=None) -> MaskDraw:
        """Per-sample draws keyed by integer tuples (e.g. (seed, identity, image)): a sample's mask ratio and
        noise do not depend on the batch it is generated in."""
        m = self.masking
        rates, noise = [], []
        for key in keys:
            rng = np.random.default_rng([26, *[int(k) for k in key]])
            g = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
            d = self.draw_masks(1, g, m)
            rates.append(d.mask_rate)
            noise.append(d.noise[0])
        return MaskDraw(torch.tensor(rates, dtype=torch.float64), torch.stack(noise).to(device), m["min"])

    def masks(self, draw: MaskDraw) -> tuple[torch.Tensor, torch.Tensor]:
        """(dropped, masked) boolean (B, 49) from the draws: the ceil(49 min) and ceil(49 rate) positions of
        lowest noise, chosen by rank. Without tied noise values this is exactly the public code's threshold rule;
        ties (float32 uniforms collide about once in 15,000 rows of 49) are broken by position instead of the
        public code's unbounded re-draw loop."""
        n_drop = int(np.ceil(NUM_TOKENS * (self.masking["min"] if draw.min_ratio is None else draw.min_ratio)))
        rate = torch.as_tensor(draw.mask_rate, dtype=torch.float64).expand(draw.noise.shape[0])
        # ceil(49 r) as the public code computes it (numpy, float64), per sample
        n_mask = torch.from_numpy(np.ceil(NUM_TOKENS * rate.numpy()).astype(np.int64)).to(draw.noise.device)
        rank = draw.noise.argsort(dim=1, stable=True).argsort(dim=1)  # 0 = lowest noise
        return rank < n_drop, rank < n_mask[:, None]

    def forward(self, rep: torch.Tensor, draw: MaskDraw | None = None,
                generator: torch.Generator | None = None) -> Vec2FaceOutput:
        if draw is None:
            draw = self.draw_masks(rep.shape[0], generator, device=rep.device)
        drop, mask = self.masks(draw)
        B = rep.shape[0]
        e = self.latent_prior_proj_f(rep)  # (B, D)
        tokens = e[:, None, :] * self.feature_token.weight[None, :, 0, None] + self.feature_token.bias[None, :, None]
        gt = torch.cat([e[:, None], tokens], 1)
        tokens = torch.where(mask[..., None], e[:, None, :], tokens)
        x = self.token_emb(torch.cat([e[:, None], tokens], 1))
        lead = torch.zeros(B, 1, dtype=torch.bool, device=rep.device)
        drop50, mask50 = torch.cat([lead, drop], 1), torch.cat([lead, mask], 1)
        keep = ~drop50
        x = x[keep].view(B, -1, x.shape[-1])  # kept positions in order, the leading token first
        for blk in self.blocks:
            x = blk(x)
        enc = self.norm(x)
        y = self.decoder_embed(enc)
        filled = y[:, :1].expand(B, NUM_TOKENS + 1, y.shape[-1]).clone()
        filled[keep] = y.reshape(-1, y.shape[-1])
        filled = torch.where(mask50[..., None], y[:, :1].expand_as(filled), filled)
        z = filled + self.decoder_pos_embed_learned
        for blk in self.decoder_blocks:
            z = blk(z)
        logits = self.decoder_norm(z)
        proj = self.im_decoder_proj(logits[:, 1:].reshape(B, 7, 7, -1)).permute(0, 3, 1, 2)
        return Vec2FaceOutput(self.im_decoder(proj), gt, enc, logits, proj, drop50.float(), mask50.float())

    def generate(self, rep: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Faces (B, 3, 112, 112) in [-1, 1] (clamped, as the public generation code) of features ``rep``."""
        return self.forward(rep, generator=generator).image.clamp(-1, 1)


def load_released(path, model: Vec2FaceGenerator | None = None, ckpt=None) -> Vec2FaceGenerator:
    """The released generator (``vec2face_generator.pth``: a dict with the state dict under
    ``model_vec2face``), read with ``weights_only=True`` (or ``ckpt``, the file already read) and loaded
    strictly."""
    from facebench.checkpoints import read_checkpoint
    from facebench.errors import DatasetError

    ckpt = read_checkpoint(path) if ckpt is None else ckpt
    state = ckpt.get("model_vec2face") if isinstance(ckpt, dict) else None
    if state is None:
        keys = ", ".join(list(ckpt)[:5]) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise DatasetError(f"{path}: no 'model_vec2face' entry (found: {keys}); expected the released "
                           "vec2face_generator.pth")
    model = model or Vec2FaceGenerator()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DatasetError(f"{path}: its weights do not fit the Vec2Face generator ({str(e).splitlines()[0]}; "
                           f"{str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else ''})") from e
    return model
