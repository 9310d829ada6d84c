# A deliberately naive second implementation of YOCO in numpy float64: per-token loops written
# straight from the formulas of /work/shared/YOCO.md (explicit products of gamma, explicit window
# and causal ranges, the doc's RoPE formula in float64). Slow; for tiny test models only. It shares
# no code with yoco/, so agreement checks the vectorised model's semantics, not just its algebra.
import numpy as np


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _rms(x, w, eps):
    y = x / np.sqrt(np.mean(x * x) + eps)
    return y if w is None else y * w


def _rope(vec, p, theta):
    """vec [hd] at position p: inv_freq[i] = theta^(-i/(hd/2-1)), pairs (2i, 2i+1)."""
    hd = vec.shape[0]
    n = hd // 2
    out = np.empty_like(vec)
    for i in range(n):
        inv = theta ** (-(i / (n - 1))) if n > 1 else 1.0
        c, s = np.cos(p * inv), np.sin(p * inv)
        out[2 * i] = vec[2 * i] * c - vec[2 * i + 1] * s
        out[2 * i + 1] = vec[2 * i + 1] * c + vec[2 * i] * s
    return out


def _ffn(x, W, pre):
    return W[pre + "w2.weight"] @ (_silu(W[pre + "w1.weight"] @ x) * (W[pre + "w3.weight"] @ x))


def _softmax(s):
    e = np.exp(s - s.max())
    return e / e.sum()


def _gret(xs, W, pre, cfg):
    """xs [T, D] (normed) -> [T, D]."""
    T, H, hd = xs.shape[0], cfg.n_self_heads, cfg.self_head_dim
    q = [(W[pre + "wq.weight"] @ x).reshape(H, hd) for x in xs]
    k = [(W[pre + "wk.weight"] @ x).reshape(H, hd) for x in xs]
    v = [(W[pre + "wv.weight"] @ x).reshape(H, hd) for x in xs]
    gt = [W[pre + "wgt.weight"] @ x for x in xs]                           # [H] per token
    gamma = [np.exp(-np.log1p(np.exp(-g)) / cfg.gate_temperature) for g in gt]  # sigmoid^(1/temp)
    out = []
    for t in range(T):
        o = np.zeros((H, hd))
        for h in range(H):
            qt = _rope(q[t][h], t, cfg.rope_theta)
            for j in range(t + 1):
                kj = _rope(k[j][h], j, cfg.rope_theta) / np.sqrt(hd)
                decay = np.prod([gamma[s][h] for s in range(j + 1, t + 1)])
                o[h] += (qt @ kj) * decay * v[j][h]
            o[h] = _rms(o[h], None, cfg.norm_eps)
        g = W[pre + "wg.weight"] @ xs[t]
        out.append(W[pre + "wo.weight"] @ (o.reshape(-1) * _silu(g)))
    return np.array(out)


def _swa(xs, W, pre, cfg):
    T, H, hd = xs.shape[0], cfg.n_self_heads, cfg.self_head_dim
    q = [(W[pre + "wq.weight"] @ x).reshape(H, hd) for x in xs]
    k = [(W[pre + "wk.weight"] @ x).reshape(H, hd) for x in xs]
    v = [(W[pre + "wv.weight"] @ x).reshape(H, hd) for x in xs]
    out = []
    for t in range(T):
        o = np.zeros((H, hd))
        js = range(max(0, t - (cfg.window - 1)), t + 1)                    # W keys incl. itself
        for h in range(H):
            qt = _rope(q[t][h], t, cfg.rope_theta)
            s = np.array([qt @ _rope(k[j][h], j, cfg.rope_theta) / np.sqrt(hd) for j in js])
            o[h] = sum(p * v[j][h] for p, j in zip(_softmax(s), js))
        out.append(W[pre + "wo.weight"] @ o.reshape(-1))
    return np.array(out)


def naive_forward(cfg, W, tokens):
    """W: name -> float64 numpy array (table names). Returns dict of [T, ...] arrays."""
    D, T = cfg.dim, len(tokens)
    x = np.array([np.sqrt(D) * W["tok_embeddings.weight"][t] for t in tokens])
    emb = x.copy()
    for i in range(cfg.n_self_layers):
        pre = f"self.{i}."
        xn = np.array([_rms(r, W[pre + "mixer_norm.weight"], cfg.norm_eps) for r in x])
        if cfg.self_decoder == "gated_retention":
            x = x + _gret(xn, W, pre + "retention.", cfg)
        else:
            x = x + _swa(xn, W, pre + "attn.", cfg)
        x = np.array([r + _ffn(_rms(r, W[pre + "ffn_norm.weight"], cfg.norm_eps), W, pre + "ffn.")
                      for r in x])
    x_s = x.copy()
    Hq, Hkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    z = [_rms(r, W["kv_norm.weight"], cfg.norm_eps) for r in x_s]
    K = [np.array([_rope(kh, p, cfg.rope_theta)
                   for kh in (W["kv.wk.weight"] @ zp).reshape(Hkv, hd)])
         for p, zp in enumerate(z)]                                         # [T][Hkv, hd]
    V = [(W["kv.wv.weight"] @ zp).reshape(Hkv, hd) for zp in z]
    for i in range(cfg.n_cross_layers):
        pre = f"cross.{i}."
        new = []
        for t in range(T):
            qn = _rms(x[t], W[pre + "mixer_norm.weight"], cfg.norm_eps)
            q = (W[pre + "attn.wq.weight"] @ qn).reshape(Hq, hd)
            o = np.zeros((Hq, hd))
            for h in range(Hq):
                kvh = h // (Hq // Hkv)
                qh = _rope(q[h], t, cfg.rope_theta)
                s = np.array([qh @ K[j][kvh] / np.sqrt(hd) for j in range(t + 1)])
                o[h] = sum(p * V[j][kvh] for j, p in enumerate(_softmax(s)))
            h1 = x[t] + W[pre + "attn.wo.weight"] @ o.reshape(-1)
            h1n = _rms(h1, W[pre + "ffn_norm.weight"], cfg.norm_eps)
            new.append(h1 + _ffn(h1n, W, pre + "ffn."))
        x = np.array(new)
    logits = np.array([W["output.weight"] @ _rms(r, W["norm.weight"], cfg.norm_eps) for r in x])
    return {"embedding": emb, "x_s": x_s, "global_k": np.array([k.reshape(-1) for k in K]),
            "global_v": np.array([v.reshape(-1) for v in V]), "logits": logits}
