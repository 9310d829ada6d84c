# A plain decoder-only Transformer of the same size as a YOCO config, for comparisons only (the
# paper's claim: YOCO matches a Transformer of the same size, data and budget). It is NOT a Tome
# model: nothing exports it, the engine does not load it (the engine's `transformer` bench kind
# is a shape for timing, not this module), and it never goes into resources/.
#
# Same pieces as yoco/model.py: sqrt(D)-scaled embedding, RMSNorm, RoPE (ops.rope_cos_sin,
# interleaved pairs), SwiGLU FFN, untied head, and the same training init. Every one of its
# n_self_layers + n_cross_layers layers is full causal GQA attention (n_heads query heads,
# n_kv_heads K/V heads of hd = D / n_heads) with its OWN K/V projections (wq [D, D], wk/wv
# [kv_dim, D], wo [D, D]); YOCO's self layers (gated retention, 5 D^2 + D H_s each) and the one
# global K/V are replaced by these. Attention is ops.cross_attention (the kernel YOCO's
# cross-decoder trains with: SDPA is_causal on torch >= 2, the plain masked softmax in float64).
import math

import torch
import torch.nn as nn
import torch.utils.checkpoint

from . import ops
from .model import FeedForward, RMSNorm, _linear

ARCHS = ("yoco", "transformer")


class Attention(nn.Module):
    """Causal GQA self-attention: q [B, H, T, hd], k/v [B, H_kv, T, hd], RoPE on q and k."""

    def __init__(self, cfg):
        super().__init__()
        self.H, self.Hkv, self.hd, self.theta = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim,
                                                 cfg.rope_theta)
        self.wq, self.wo = _linear(cfg.dim, cfg.dim), _linear(cfg.dim, cfg.dim)
        self.wk, self.wv = _linear(cfg.dim, cfg.kv_dim), _linear(cfg.dim, cfg.kv_dim)

    def forward(self, x, positions):  # [B, T, D] -> [B, T, D]; positions [T] increasing
        B, T, _ = x.shape
        cos, sin = ops.rope_cos_sin(positions, self.hd, self.theta, x.dtype)
        q = ops.apply_rope(self.wq(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        k = ops.apply_rope(self.wk(x).view(B, T, self.Hkv, self.hd), cos, sin).transpose(1, 2)
        v = self.wv(x).view(B, T, self.Hkv, self.hd).transpose(1, 2)
        o = ops.cross_attention(q, k, v)  # causal by index (Tq == Tk)
        return self.wo(o.transpose(1, 2).reshape(B, T, self.H * self.hd))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mixer_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg.dim, cfg.ffn_dim)

    def forward(self, x, positions):
        h = x + self.attn(self.mixer_norm(x), positions)
        return h + self.ffn(self.ffn_norm(h))


class Transformer(nn.Module):
    """The same-size baseline. cfg: a YocoConfig (dim, n_heads, n_kv_heads, ffn_dim, vocab_size,
    rope_theta, norm_eps are used; layers = n_self_layers + n_cross_layers; the self-decoder
    fields are ignored). Training interface of Yoco: forward(tokens, positions, checkpoint),
    trunk, head, reset_parameters(seed), set_retention (no-op)."""

    arch = "transformer"

    def __init__(self, cfg):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.n_layers = cfg.n_self_layers + cfg.n_cross_layers
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(self.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = _linear(cfg.dim, cfg.vocab_size)
        self.reset_parameters()

    @staticmethod
    def n_params(cfg):
        """The parameter count, from the shape alone."""
        D, kv, F_, V = cfg.dim, cfg.kv_dim, cfg.ffn_dim, cfg.vocab_size
        layer = 2 * D * D + 2 * D * kv + 3 * D * F_ + 2 * D
        return (cfg.n_self_layers + cfg.n_cross_layers) * layer + 2 * V * D + D

    def set_retention(self, **_):
        """Yoco's gRet knobs; a Transformer has no retention layers."""

    @torch.no_grad()
    def reset_parameters(self, seed=None):
        """Yoco's init: embedding N(0, 1/D), matrices N(0, 1/fan_in), residual writers (wo, w2)
        also / sqrt(2 L), norms 1."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
                continue
            std = p.shape[1] ** -0.5
            if name.endswith(("wo.weight", "w2.weight")):
                std /= math.sqrt(2 * self.n_layers)
            p.copy_(torch.randn(p.shape, generator=gen) * std)

    def head(self, x):  # [B, T, D] -> logits [B, T, V]
        return self.output(self.norm(x))

    def trunk(self, tokens, positions=None, checkpoint=False):
        """[B, T] -> the residual stream entering the final norm [B, T, D]. positions [T]: RoPE
        positions (default 0..T-1; a jump inside the row as in Yoco.trunk); attention stays causal
        by index. checkpoint: recompute each layer in backward."""
        if positions is None:
            positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tok_embeddings(tokens) * math.sqrt(self.cfg.dim)
        for layer in self.layers:
            if checkpoint:
                x = torch.utils.checkpoint.checkpoint(layer, x, positions, use_reentrant=False)
            else:
                x = layer(x, positions)
        return x

    def forward(self, tokens, positions=None, checkpoint=False):  # [B, T] -> logits [B, T, V]
        return self.head(self.trunk(tokens, positions, checkpoint))


def make_model(cfg, arch="yoco"):
    """A training model of either architecture for a config."""
    if arch == "yoco":
        from .model import Yoco
        return Yoco(cfg)
    if arch == "transformer":
        return Transformer(cfg)
    raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
