# The YOCO reference model in PyTorch (the training model too), from /work/shared/YOCO.md:
# sqrt(D)-scaled embedding, a self-decoder (gated retention or sliding-window attention), one
# global KV from RMSNorm_kv(X_s), a cross-decoder of query-only attention layers, final norm and an
# untied head. state_dict keys ARE the names of engine/tensor_names.json (no mapping table).
# Three ways to run it: forward (all logits, training), intermediates (golden values), and the
# cached inference path (prefill with early exit + decode step) that mirrors the engine.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from . import ops
from .config import YocoConfig

__all__ = ["Yoco", "YocoCache", "YocoConfig"]  # YocoConfig re-exported for convenience


def _linear(n_in, n_out):
    return nn.Linear(n_in, n_out, bias=False)  # weight [out, in]: y = x W^T


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):  # [..., dim] -> [..., dim]
        return ops.rms_norm(x, self.weight, self.eps)


class FeedForward(nn.Module):
    """SwiGLU: w2( silu(w1 x) * (w3 x) ). w1 is the SiLU branch (official `fc1`), w3 the linear
    branch (official `gate`), w2 the down projection (official `fc2`)."""

    def __init__(self, dim, ffn_dim):
        super().__init__()
        self.w1, self.w3 = _linear(dim, ffn_dim), _linear(dim, ffn_dim)
        self.w2 = _linear(ffn_dim, dim)

    def forward(self, x):  # [B, T, D] -> [B, T, D]
        return self.w2(F.silu(self.w1(x)) * self.w3(x))  # [B, T, F] inside


class GatedRetention(nn.Module):
    """Self-decoder mixer, kind a. H = H_s heads of dk = dv = D/H. State per head [dk, dv]."""

    def __init__(self, cfg):
        super().__init__()
        D, self.H = cfg.dim, cfg.n_self_heads
        self.hd, self.eps, self.temperature = cfg.self_head_dim, cfg.norm_eps, cfg.gate_temperature
        self.theta = cfg.rope_theta
        self.wq, self.wk, self.wv, self.wg = (_linear(D, D) for _ in range(4))
        self.wgt = _linear(D, self.H)  # ONE gate logit per head per token
        self.wo = _linear(D, D)
        self.chunk_size, self.inter = 64, "matmul"  # implementation choices, not model config
        self.form = "chunkwise"                      # or "parallel" (the definition), for tests

    def project(self, x, positions):
        """x [B, T, D] -> q, k' [B, H, T, hd] (RoPE'd, k' = k dk^-0.5), v [B, H, T, hd],
        log_gamma [B, H, T] (fp32/fp64), g [B, T, D]."""
        B, T, _ = x.shape
        cos, sin = ops.rope_cos_sin(positions, self.hd, self.theta, x.dtype)
        q = ops.apply_rope(self.wq(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        k = ops.apply_rope(self.wk(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        k = k * self.hd ** -0.5                                   # k is scaled, q is not
        v = self.wv(x).view(B, T, self.H, self.hd).transpose(1, 2)
        gt = self.wgt(x)                                          # [B, T, H]
        lg = F.logsigmoid(gt.to(ops.compute_dtype(gt.dtype))) / self.temperature
        return q, k, v, lg.transpose(1, 2), self.wg(x)

    def output(self, o, g):
        """o [B, H, T, hd], g [B, T, D] -> [B, T, D]: per-head RMSNorm (no weight), times
        silu(g), then wo."""
        B, H, T, hd = o.shape
        o = ops.rms_norm(o, None, self.eps).transpose(1, 2).reshape(B, T, H * hd)
        return self.wo(o * F.silu(g))

    def forward(self, x, positions, state=None, mode="train"):
        """x [B, T, D] -> (out [B, T, D], state [B, H, hd, hd]). mode "train" | "prefill"
        (chunkwise, state carried) | "step" (recurrent form, T == 1)."""
        q, k, v, lg, g = self.project(x, positions)
        if mode == "step":
            o, state = ops.retention_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], lg[:, :, 0], state)
            o = o[:, :, None]                                     # [B, H, 1, hd]
        elif self.form == "parallel" and mode == "train":
            o = ops.retention_parallel(q, k, v, lg)
        else:
            o, state = ops.retention_chunkwise(q, k, v, lg, self.chunk_size, state, self.inter)
        return self.output(o, g), state


class SlidingWindowAttention(nn.Module):
    """Self-decoder mixer, kind b: H_s heads, RoPE on q and k, W keys including itself.
    Decode state: a ring of the last W post-RoPE keys/values (slot = position % W)."""

    def __init__(self, cfg):
        super().__init__()
        D, self.H, self.hd = cfg.dim, cfg.n_self_heads, cfg.self_head_dim
        self.window, self.theta = cfg.window, cfg.rope_theta
        self.wq, self.wk, self.wv, self.wo = (_linear(D, D) for _ in range(4))

    def new_ring(self, B, dtype, device):
        W = self.window
        return {"k": torch.zeros(B, self.H, W, self.hd, dtype=dtype, device=device),
                "v": torch.zeros(B, self.H, W, self.hd, dtype=dtype, device=device),
                "pos": torch.full((W,), -1, dtype=torch.long, device=device)}

    def forward(self, x, positions, state=None, mode="train"):
        """x [B, T, D] -> (out [B, T, D], ring or None). mode "train": banded, no ring;
        "prefill": the new keys are attended together with the ring's, then written into it;
        "step": the one new key is written into the ring, then the ring is attended."""
        B, T, _ = x.shape
        cos, sin = ops.rope_cos_sin(positions, self.hd, self.theta, x.dtype)
        q = ops.apply_rope(self.wq(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        k = ops.apply_rope(self.wk(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        v = self.wv(x).view(B, T, self.H, self.hd).transpose(1, 2)  # [B, H, T, hd]
        if mode == "train":
            o = ops.sliding_window_attention(q, k, v, self.window)
        else:
            ring = state if state is not None else self.new_ring(B, k.dtype, x.device)
            if mode == "step":  # write first, then attend over the ring (the last W positions)
                self._write(ring, k, v, positions)
                o = ops.window_attention_positions(q, ring["k"], ring["v"], positions,
                                                   ring["pos"], self.window)
            elif state is None:  # first prefill chunk: banded, then keep the last W in the ring
                o = ops.sliding_window_attention(q, k, v, self.window)
                self._write(ring, k, v, positions)
            else:  # prefill continuing from the ring: ring keys + new keys (dense), then write
                kk, vv = torch.cat((ring["k"], k), 2), torch.cat((ring["v"], v), 2)
                kpos = torch.cat((ring["pos"], positions))
                o = ops.window_attention_positions(q, kk, vv, positions, kpos, self.window)
                self._write(ring, k, v, positions)
            state = ring
        o = o.transpose(1, 2).reshape(B, T, self.H * self.hd)
        return self.wo(o), state

    def _write(self, ring, k, v, positions):
        """Writes the last min(T, W) keys/values [B, H, T, hd] into their slots."""
        keep = min(k.shape[2], self.window)
        pos = positions[-keep:]
        slots = pos % self.window
        ring["k"][:, :, slots] = k[:, :, -keep:].to(ring["k"].dtype)
        ring["v"][:, :, slots] = v[:, :, -keep:].to(ring["v"].dtype)
        ring["pos"][slots] = pos


class SelfLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mixer_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        if cfg.self_decoder == "gated_retention":
            self.retention = GatedRetention(cfg)
        else:
            self.attn = SlidingWindowAttention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg.dim, cfg.ffn_dim)

    @property
    def mixer(self):
        return self.retention if hasattr(self, "retention") else self.attn

    def forward(self, x, positions, state=None, mode="train"):  # [B, T, D] -> [B, T, D], state
        h, state = self.mixer(self.mixer_norm(x), positions, state, mode)
        h = x + h
        return h + self.ffn(self.ffn_norm(h)), state


class GlobalKV(nn.Module):
    """K = RoPE(z Wk), V = z Wv with z = RMSNorm_kv(X_s); each [B, T, H_kv, hd]. Computed once."""

    def __init__(self, cfg):
        super().__init__()
        self.Hkv, self.hd, self.theta = cfg.n_kv_heads, cfg.head_dim, cfg.rope_theta
        self.wk, self.wv = _linear(cfg.dim, cfg.kv_dim), _linear(cfg.dim, cfg.kv_dim)

    def forward(self, z, positions):  # z [B, T, D] (already kv-normed) -> K, V [B, H_kv, T, hd]
        B, T, _ = z.shape
        cos, sin = ops.rope_cos_sin(positions, self.hd, self.theta, z.dtype)
        k = ops.apply_rope(self.wk(z).view(B, T, self.Hkv, self.hd), cos, sin)  # RoPE once
        v = self.wv(z).view(B, T, self.Hkv, self.hd)                            # V never rotated
        return k.transpose(1, 2), v.transpose(1, 2)


class CrossAttention(nn.Module):
    """Owns only wq [D, D] and wo [D, D]; attends over the global K/V (GQA)."""

    def __init__(self, cfg):
        super().__init__()
        self.H, self.hd, self.theta = cfg.n_heads, cfg.head_dim, cfg.rope_theta
        self.wq, self.wo = _linear(cfg.dim, cfg.dim), _linear(cfg.dim, cfg.dim)

    def forward(self, x, k, v, positions, k_pos=None):
        """x [B, Tq, D], k/v [B, H_kv, Tk, hd] -> [B, Tq, D]. k_pos None: training (Tq == Tk)."""
        B, T, _ = x.shape
        cos, sin = ops.rope_cos_sin(positions, self.hd, self.theta, x.dtype)
        q = ops.apply_rope(self.wq(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        o = ops.cross_attention(q, k, v, None if k_pos is None else positions, k_pos)
        return self.wo(o.transpose(1, 2).reshape(B, T, self.H * self.hd))


class CrossLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mixer_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = CrossAttention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg.dim, cfg.ffn_dim)

    def forward(self, x, k, v, positions, k_pos=None):  # [B, T, D] -> [B, T, D]
        h = x + self.attn(self.mixer_norm(x), k, v, positions, k_pos)
        return h + self.ffn(self.ffn_norm(h))


class YocoCache:
    """Inference memory of a batch of sequences of equal length: one state per self layer (gRet
    [B, H, hd, hd] in fp32/fp64, or an SWA ring) and the global K (post-RoPE) and V
    [B, H_kv, N, hd]."""

    def __init__(self, n_self_layers):
        self.pos = 0
        self.states = [None] * n_self_layers
        self.k = self.v = None

    def append_kv(self, k, v):
        self.k = k if self.k is None else torch.cat((self.k, k), 2)
        self.v = v if self.v is None else torch.cat((self.v, v), 2)


class Yoco(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.add_module("self", nn.ModuleList(SelfLayer(cfg) for _ in range(cfg.n_self_layers)))
        self.kv_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.kv = GlobalKV(cfg)
        self.cross = nn.ModuleList(CrossLayer(cfg) for _ in range(cfg.n_cross_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = _linear(cfg.dim, cfg.vocab_size)
        self.reset_parameters()

    @property
    def self_layers(self):  # "self" is the table's name; this is the readable handle
        return self._modules["self"]

    def set_retention(self, chunk_size=None, inter=None, form=None):
        """Implementation knobs of every gRet layer: chunk size, inter-chunk method
        ('matmul' | 'scan'), training form ('chunkwise' | 'parallel')."""
        for layer in self.self_layers:
            if hasattr(layer, "retention"):
                r = layer.retention
                r.chunk_size = chunk_size or r.chunk_size
                r.inter, r.form = inter or r.inter, form or r.form

    @torch.no_grad()
    def reset_parameters(self, seed=None):
        """Training init: embedding N(0, 1/D) (so sqrt(D) E is unit scale), matrices
        N(0, 1/fan_in), the residual writers (wo, w2) further / sqrt(2 L), norms 1."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        L = self.cfg.n_self_layers + self.cfg.n_cross_layers
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
                continue
            std = p.shape[1] ** -0.5
            if name.endswith(("wo.weight", "w2.weight")):
                std /= math.sqrt(2 * L)
            p.copy_(torch.randn(p.shape, generator=gen) * std)

    def embed(self, tokens):  # [B, T] -> [B, T, D]
        return self.tok_embeddings(tokens) * math.sqrt(self.cfg.dim)

    def global_kv(self, x_s, positions):  # X_s [B, T, D] -> K, V [B, H_kv, T, hd]
        return self.kv(self.kv_norm(x_s), positions)

    def head(self, x):  # [B, T, D] -> logits [B, T, V]
        return self.output(self.norm(x))

    def intermediates(self, tokens):
        """Full causal pass keeping what the golden files record: embedding, x_s [B, T, D],
        global_k (post-RoPE), global_v [B, T, kv_dim], logits [B, T, V]."""
        B, T = tokens.shape
        positions = torch.arange(T, device=tokens.device)
        x = emb = self.embed(tokens)
        for layer in self.self_layers:
            x, _ = layer(x, positions)
        x_s = x
        k, v = self.global_kv(x_s, positions)
        for layer in self.cross:  # the residual stream starts from X_s, not from kv_norm(X_s)
            x = layer(x, k, v, positions)
        flat = lambda t: t.transpose(1, 2).reshape(B, T, -1)  # noqa: E731
        return {"embedding": emb, "x_s": x_s, "global_k": flat(k), "global_v": flat(v),
                "logits": self.head(x)}

    def forward(self, tokens, positions=None, checkpoint=False):  # [B, T] -> logits [B, T, V]
        if positions is None and not checkpoint:
            return self.intermediates(tokens)["logits"]
        return self.head(self.trunk(tokens, positions, checkpoint))

    def trunk(self, tokens, positions=None, checkpoint=False):
        """Training path: the residual stream entering the final norm, [B, T, D]. positions [T]
        int (default 0..T-1): any increasing positions, e.g. with a skip between two runs so that
        a row of T tokens spans relative distances up to positions[-1] (long-distance training;
        the math is the forward's, only the RoPE angles change). checkpoint: recompute each layer
        in backward (saved activations ~ the layer inputs, for very long rows)."""
        T = tokens.shape[1]
        if positions is None:
            positions = torch.arange(T, device=tokens.device)
        if checkpoint:
            def run(f, *a):
                return torch.utils.checkpoint.checkpoint(f, *a, use_reentrant=False)
        else:
            def run(f, *a):
                return f(*a)
        x = self.embed(tokens)
        for layer in self.self_layers:
            x = run(lambda x_, layer=layer: layer(x_, positions)[0], x)
        k, v = run(self.global_kv, x, positions)
        for layer in self.cross:  # the residual stream starts from X_s, not from kv_norm(X_s)
            x = run(layer, x, k, v, positions)
        return x

    # ---- cached inference (what the engine does) ------------------------------------------------

    def new_cache(self):
        return YocoCache(self.cfg.n_self_layers)

    def _self_decoder(self, tokens, cache, mode):
        """Runs the self-decoder over new tokens [B, T] at cache.pos.., updating the states,
        and appends their K/V. Returns X_s [B, T, D] and the positions [T]."""
        T = tokens.shape[1]
        positions = torch.arange(cache.pos, cache.pos + T, device=tokens.device)
        x = self.embed(tokens)
        for i, layer in enumerate(self.self_layers):
            x, cache.states[i] = layer(x, positions, cache.states[i], mode)
        cache.append_kv(*self.global_kv(x, positions))
        cache.pos += T
        return x, positions

    def _cross_decoder_last(self, x_s, positions, cache):
        """Cross-decoder for the last new position only: [B, V] logits."""
        k_pos = torch.arange(cache.pos, device=x_s.device)
        x = x_s[:, -1:]
        for layer in self.cross:
            x = layer(x, cache.k, cache.v, positions[-1:], k_pos)
        return self.head(x)[:, 0]

    @torch.no_grad()
    def prefill(self, tokens, cache, logits=True):
        """Prefill with early exit: the self-decoder (chunkwise gRet / windowed SWA, states
        carried in `cache`) and global K/V for every token; the cross-decoder runs only for the
        last token, when its logits are wanted. May be called repeatedly (chunked prefill).
        tokens [B, T] -> logits [B, V] of the last token, or None."""
        x_s, positions = self._self_decoder(tokens, cache, "prefill")
        return self._cross_decoder_last(x_s, positions, cache) if logits else None

    @torch.no_grad()
    def decode_step(self, token, cache):
        """One token [B] at position cache.pos: recurrent gRet / ring SWA, K/V appended, all
        cross layers over K/V[0..p] -> logits [B, V]."""
        x_s, positions = self._self_decoder(token[:, None], cache, "step")
        return self._cross_decoder_last(x_s, positions, cache)
