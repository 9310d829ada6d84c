# The YOCO operators as plain functions on tensors, written from /work/shared/YOCO.md: RMSNorm,
# RoPE (linspace frequencies, interleaved pairs), gated retention in its three forms (parallel =
# the definition, chunkwise = training/prefill, recurrent = decode step), sliding-window attention
# (banded prefill, dense with a ring, ring step) and cross attention (GQA, bottom-right causal).
# No parameters here (model.py owns them). Precision: reductions, softmax and decays run in
# promote(activation dtype, fp32), so float64 inputs stay float64 end to end.
import functools

import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


def compute_dtype(dtype):
    """fp32 for half types, the dtype itself for fp32/fp64: where norms, softmax, decays run."""
    return torch.promote_types(dtype, torch.float32)


def rms_norm(x, weight, eps):
    """x [..., n] -> [..., n]: normalise in fp32 (fp64 stays fp64), cast back, times weight."""
    xf = x.to(compute_dtype(x.dtype))
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)  # [..., n]
    y = y.to(x.dtype)
    return y if weight is None else y * weight


# ---- RoPE ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def rope_inv_freq(head_dim, theta, device="cpu"):
    """[hd/2] fp32: theta ** -linspace(0, 1, hd/2), computed as the official code does
    (1 / theta ** linspace, in fp32, on the CPU so every device gets the same bits).
    NOT LLaMA's theta^(-2i/hd). Cached: do not modify the result."""
    inv = 1.0 / (theta ** torch.linspace(0, 1, head_dim // 2, dtype=torch.float32))
    return inv.to(device)


def rope_cos_sin(positions, head_dim, theta, dtype):
    """positions [T] int -> cos, sin [T, hd/2]. Angles fp32(p) * inv_freq in fp32 (YOCO.md);
    cos/sin evaluated in promote(dtype, fp32) and cast to dtype (bf16 for a bf16 model, as the
    reference does)."""
    inv_freq = rope_inv_freq(head_dim, float(theta), str(positions.device))
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]
    angles = angles.to(device=positions.device, dtype=compute_dtype(dtype))  # [T, hd/2]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x, cos, sin):
    """x [B, T, H, hd], cos/sin [T, hd/2] -> [B, T, H, hd]. Interleaved (GPT-J) pairs:
    out[2i] = x[2i] cos - x[2i+1] sin ; out[2i+1] = x[2i+1] cos + x[2i] sin."""
    cos = cos.to(x.dtype)[None, :, None, :]  # [1, T, 1, hd/2]
    sin = sin.to(x.dtype)[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]      # [B, T, H, hd/2] each
    out = torch.stack((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1)  # [B, T, H, hd/2, 2]
    return out.flatten(-2)


# ---- Gated retention ----------------------------------------------------------------------------
# q, k: [B, H, T, dk] with k ALREADY scaled by dk^-0.5; v: [B, H, T, dv];
# log_gamma: [B, H, T] in fp32 (fp64 in float64 mode), log_gamma = logsigmoid(gate) / temperature.
# state: [B, H, dk, dv], the S_{t-1} entering the first position (None = zeros).

def _causal(n, device, diagonal=0):
    return torch.ones(n, n, dtype=torch.bool, device=device).tril(diagonal)


def retention_parallel(q, k, v, log_gamma):
    """The definition: o_t = sum_{j<=t} (q_t . k_j) prod_{s=j+1..t} gamma_s v_j -> [B, H, T, dv]."""
    T = q.shape[2]
    G = log_gamma.cumsum(-1)                                      # [B, H, T] inclusive
    diff = G[..., :, None] - G[..., None, :]                      # [B, H, T, T] = sum_{s=j+1..t}
    decay = diff.masked_fill(~_causal(T, q.device), NEG_INF).exp()  # mask BEFORE exp
    scores = (q @ k.transpose(-1, -2)) * decay.to(q.dtype)         # [B, H, T, T]
    return scores @ v                                              # [B, H, T, dv]


def retention_step(q, k, v, log_gamma, state):
    """One decode step. q, k [B, H, dk], v [B, H, dv], log_gamma [B, H], state [B, H, dk, dv]
    (None = zeros) -> o [B, H, dv], new state. S_t = gamma_t S_{t-1} + k_t^T v_t ; o_t = q_t S_t."""
    kv = k[..., :, None].to(log_gamma.dtype) * v[..., None, :].to(log_gamma.dtype)  # [B, H, dk, dv]
    if state is not None:
        kv = kv + log_gamma.exp()[..., None, None] * state
    o = (q[..., None, :].to(kv.dtype) @ kv).squeeze(-2)           # [B, H, dv]
    return o.to(q.dtype), kv


def _exclusive_cumsum(x):
    """[..., n] -> [..., n + 1]: e[0] = 0, e[c] = sum_{c' < c} x[c'] (no subtraction)."""
    return torch.cat((torch.zeros_like(x[..., :1]), x.cumsum(-1)), dim=-1)


def retention_chunkwise(q, k, v, log_gamma, chunk_size, state=None, inter="matmul"):
    """Chunkwise form -> (o [B, H, T, dv], final state [B, H, dk, dv] in the decay dtype).
    Inside a chunk: o_i = sum_{j<=i} (q_i.k_j) exp(G_i - G_j) v_j + exp(G_i) q_i S_c, G the
    inclusive in-chunk cumsum. Between chunks: S_{c+1} = exp(G_last) S_c + sum_j
    exp(G_last - G_j) k_j^T v_j, computed either by a scan over chunks (inter="scan") or by one
    [N+1, N] decay matmul (inter="matmul", decays from an EXCLUSIVE cumsum of chunk totals).
    T need not be a multiple of chunk_size (padded with gamma = 1, k = v = 0: no effect)."""
    B, H, T, dk = q.shape
    dv = v.shape[-1]
    C = chunk_size
    pad = (-T) % C
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        log_gamma = F.pad(log_gamma, (0, pad))
    N = (T + pad) // C
    qc, kc, vc = q.view(B, H, N, C, dk), k.view(B, H, N, C, dk), v.view(B, H, N, C, dv)
    lg = log_gamma.view(B, H, N, C)
    G = lg.cumsum(-1)                                             # [B, H, N, C] inclusive

    # Intra-chunk: decay exp(G_i - G_j) for j <= i, exact zeros above the diagonal.
    diff = G[..., :, None] - G[..., None, :]                      # [B, H, N, C, C]
    decay = diff.masked_fill(~_causal(C, q.device), NEG_INF).exp()
    scores = (qc @ kc.transpose(-1, -2)) * decay.to(q.dtype)      # [B, H, N, C, C]
    o = scores @ vc                                               # [B, H, N, C, dv]

    # Each chunk's own contribution to the state at its end: sum_j exp(sum_{s>j} lg_s) k_j^T v_j.
    # The suffix sum is a reversed cumsum shifted by one (no G_last - G_j subtraction).
    suffix = lg.flip(-1).cumsum(-1).flip(-1)                      # [B, H, N, C] sum_{s>=j}
    to_end = torch.cat((suffix[..., 1:], torch.zeros_like(suffix[..., :1])), dim=-1)
    kv_chunk = (kc * to_end.exp().to(k.dtype)[..., None]).transpose(-1, -2) @ vc  # [B,H,N,dk,dv]
    total = G[..., -1]                                            # [B, H, N] log decay of a chunk

    if inter == "scan":
        s = state if state is not None else torch.zeros(B, H, dk, dv, dtype=G.dtype,
                                                        device=q.device)
        states = []
        for c in range(N):
            states.append(s)                                      # S_c entering chunk c
            s = total[..., c, None, None].exp() * s + kv_chunk[:, :, c].to(s.dtype)
        states_in, final = torch.stack(states, dim=2), s          # [B, H, N, dk, dv]
    elif inter == "matmul":
        E = _exclusive_cumsum(total)                              # [B, H, N+1], E[c] = sum_{c'<c}
        # Decay from the end of chunk c' to the start of chunk c (c' < c): E[c] - E[c'+1].
        w = E[..., :, None] - E[..., None, 1:]                    # [B, H, N+1, N]
        w = w.masked_fill(~_causal(N + 1, q.device, -1)[:, :N], NEG_INF).exp()
        s_all = w.to(kv_chunk.dtype) @ kv_chunk.reshape(B, H, N, dk * dv)  # [B, H, N+1, dk*dv]
        s_all = s_all.view(B, H, N + 1, dk, dv).to(G.dtype)
        if state is not None:
            s_all = s_all + E.exp()[..., None, None] * state[:, :, None]
        states_in, final = s_all[:, :, :N], s_all[:, :, N]
    else:
        raise ValueError(f"inter must be 'scan' or 'matmul', not {inter!r}")

    # Inter-chunk: exp(G_i) q_i S_c.
    o = o + (qc * G.exp().to(q.dtype)[..., None]) @ states_in.to(q.dtype)  # [B, H, N, C, dv]
    return o.reshape(B, H, N * C, dv)[:, :, :T], final


# ---- Sliding-window attention -------------------------------------------------------------------
# q, k, v: [B, H, T, hd] post-RoPE; query i sees keys j with i-(W-1) <= j <= i: W keys including
# itself.

def _softmax_attend(scores, allowed, v):
    """scores [..., Tq, Tk] (already scaled), allowed [Tq, Tk] bool, v [..., Tk, hd]."""
    s = scores.to(compute_dtype(scores.dtype)).masked_fill(~allowed, NEG_INF)
    p = torch.softmax(s, dim=-1).to(v.dtype)
    return p @ v


def sliding_window_attention(q, k, v, window):
    """Training / prefill from position 0 -> [B, H, T, hd]. Banded: queries in blocks of W see
    their own block and the previous one (memory O(T * 2W)); dense when T <= W."""
    B, H, T, hd = q.shape
    W, scale = window, hd ** -0.5
    if T <= W:
        return _softmax_attend((q @ k.transpose(-1, -2)) * scale, _causal(T, q.device), v)
    pad = (-T) % W
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    N = (T + pad) // W
    qb = q.view(B, H, N, W, hd)
    kb, vb = k.view(B, H, N, W, hd), v.view(B, H, N, W, hd)
    k2 = torch.cat((F.pad(kb, (0, 0, 0, 0, 1, 0))[:, :, :N], kb), dim=3)  # [B, H, N, 2W, hd]
    v2 = torch.cat((F.pad(vb, (0, 0, 0, 0, 1, 0))[:, :, :N], vb), dim=3)
    # Query a of block c is position cW+a; key m of k2 is position (c-1)W+m: allowed iff
    # a+1 <= m <= a+W. Block 0 has no previous block: its first W keys are masked.
    a = torch.arange(W, device=q.device)[:, None]
    m = torch.arange(2 * W, device=q.device)[None, :]
    band = (m >= a + 1) & (m <= a + W)                            # [W, 2W]
    allowed = band[None].repeat(N, 1, 1)                          # [N, W, 2W]
    allowed[0, :, :W] = False
    o = _softmax_attend((qb @ k2.transpose(-1, -2)) * scale, allowed, v2)  # [B, H, N, W, hd]
    return o.reshape(B, H, N * W, hd)[:, :, :T]


def window_attention_positions(q, k, v, q_pos, k_pos, window):
    """Dense SWA with explicit positions (prefill continuing from a ring): q [B, H, Tq, hd],
    k/v [B, H, Tk, hd], q_pos [Tq], k_pos [Tk] (negative = empty slot) -> [B, H, Tq, hd]."""
    d = q_pos[:, None] - k_pos[None, :]                           # [Tq, Tk]
    allowed = (k_pos[None, :] >= 0) & (d >= 0) & (d <= window - 1)
    return _softmax_attend((q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5, allowed, v)


# ---- Cross attention over the global KV ---------------------------------------------------------

def _has_sdpa():
    return hasattr(F, "scaled_dot_product_attention")


def cross_attention(q, k, v, q_pos=None, k_pos=None):
    """q [B, Hq, Tq, hd], k/v [B, Hkv, Tk, hd] -> [B, Hq, Tq, hd]. Query head h reads KV head
    h // (Hq/Hkv). Causal aligned bottom-right by positions: a query at p sees keys at <= p.
    Without positions Tq == Tk (training); then torch>=2's SDPA (is_causal) is used when present,
    except in float64 (kept on the plain path so golden values do not depend on a kernel)."""
    B, Hq, Tq, hd = q.shape
    Hkv, Tk = k.shape[1], k.shape[2]
    G = Hq // Hkv
    if q_pos is None:
        assert Tq == Tk, "training path needs Tq == Tk; pass positions otherwise"
        if _has_sdpa() and q.dtype != torch.float64:
            kr, vr = k.repeat_interleave(G, dim=1), v.repeat_interleave(G, dim=1)
            return F.scaled_dot_product_attention(q, kr, vr, is_causal=True)
        q_pos = k_pos = torch.arange(Tq, device=q.device)
    allowed = k_pos[None, :] <= q_pos[:, None]                    # [Tq, Tk] bottom-right causal
    qg = q.view(B, Hkv, G, Tq, hd)                                # head h = kv * G + g
    scores = (qg @ k[:, :, None].transpose(-1, -2)) * hd ** -0.5  # [B, Hkv, G, Tq, Tk]
    o = _softmax_attend(scores, allowed, v[:, :, None])           # [B, Hkv, G, Tq, hd]
    return o.reshape(B, Hq, Tq, hd)
