# Operator-level checks in float64: RoPE as YOCO.md defines it; the three gated-retention forms
# agree (1e-10) at lengths that are not multiples of the chunk, with and without a carried state;
# sliding-window prefill (banded and dense) == the ring-buffer step form across window boundaries;
# GQA mapping of cross attention.
import math

import pytest
import torch

from yoco import ops

torch.manual_seed(0)
F64 = torch.float64


def test_rope_frequencies_and_interleaved_pairs():
    hd, theta = 16, 10000.0
    inv = ops.rope_inv_freq(hd, theta)
    expect = torch.tensor([theta ** (-i / (hd // 2 - 1)) for i in range(hd // 2)])
    assert torch.allclose(inv.double(), expect.double(), rtol=1e-6)   # linspace, not 2i/hd
    x = torch.randn(1, 3, 2, hd, dtype=F64)
    pos = torch.tensor([0, 5, 11])
    cos, sin = ops.rope_cos_sin(pos, hd, theta, F64)
    y = ops.apply_rope(x, cos, sin)
    for ti, p in enumerate(pos.tolist()):
        for i in range(hd // 2):
            a = p * float(inv[i])
            x0, x1 = x[0, ti, :, 2 * i], x[0, ti, :, 2 * i + 1]
            c, s = math.cos(a), math.sin(a)
            assert torch.allclose(y[0, ti, :, 2 * i], x0 * c - x1 * s, atol=1e-12)
            assert torch.allclose(y[0, ti, :, 2 * i + 1], x1 * c + x0 * s, atol=1e-12)
    assert torch.equal(y[0, 0], x[0, 0])  # position 0 is the identity


def _retention_inputs(B=2, H=3, T=45, dk=8, dv=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, dk, generator=g, dtype=F64)
    k = torch.randn(B, H, T, dk, generator=g, dtype=F64) * dk ** -0.5
    v = torch.randn(B, H, T, dv, generator=g, dtype=F64)
    lg = torch.nn.functional.logsigmoid(3 * torch.randn(B, H, T, generator=g, dtype=F64)) / 4
    return q, k, v, lg


def _recurrent(q, k, v, lg, state=None):
    outs = []
    for t in range(q.shape[2]):
        o, state = ops.retention_step(q[:, :, t], k[:, :, t], v[:, :, t], lg[:, :, t], state)
        outs.append(o)
    return torch.stack(outs, 2), state


@pytest.mark.parametrize("T", [1, 13, 45])
@pytest.mark.parametrize("chunk", [1, 4, 7, 16, 64])
@pytest.mark.parametrize("inter", ["matmul", "scan"])
def test_retention_forms_agree(T, chunk, inter):
    q, k, v, lg = _retention_inputs(T=T)
    par = ops.retention_parallel(q, k, v, lg)
    rec, s_rec = _recurrent(q, k, v, lg)
    chk, s_chk = ops.retention_chunkwise(q, k, v, lg, chunk, inter=inter)
    assert (par - rec).abs().max() < 1e-10
    assert (chk - rec).abs().max() < 1e-10
    assert (s_chk - s_rec).abs().max() < 1e-10


@pytest.mark.parametrize("inter", ["matmul", "scan"])
def test_retention_chunkwise_carries_state(inter):
    q, k, v, lg = _retention_inputs(T=45)
    full, s_full = ops.retention_chunkwise(q, k, v, lg, 8, inter=inter)
    a, s = ops.retention_chunkwise(q[:, :, :19], k[:, :, :19], v[:, :, :19], lg[:, :, :19], 8,
                                   inter=inter)
    b, s = ops.retention_chunkwise(q[:, :, 19:], k[:, :, 19:], v[:, :, 19:], lg[:, :, 19:], 5,
                                   state=s, inter=inter)
    assert (torch.cat((a, b), 2) - full).abs().max() < 1e-10
    assert (s - s_full).abs().max() < 1e-10


def test_retention_decay_is_over_j_plus_1_to_t():
    """o_1 = (q1.k0) gamma_1 v0 + (q1.k1) v1: gamma_0 never multiplies anything."""
    q, k, v, lg = _retention_inputs(B=1, H=1, T=2)
    o = ops.retention_parallel(q, k, v, lg)
    qk = lambda t, j: (q[0, 0, t] @ k[0, 0, j])  # noqa: E731
    expect = qk(1, 0) * lg[0, 0, 1].exp() * v[0, 0, 0] + qk(1, 1) * v[0, 0, 1]
    assert torch.allclose(o[0, 0, 1], expect, atol=1e-12)


def test_retention_chunkwise_gradients_finite_with_strong_decay():
    q, k, v, _ = _retention_inputs(T=40)
    lg = torch.full((2, 3, 40), -30.0, dtype=F64, requires_grad=True)  # exp(+G) would overflow
    q.requires_grad_(True)
    o, _ = ops.retention_chunkwise(q, k, v, lg, 16)
    o.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(lg.grad).all()


def _ring_steps(q, k, v, W):
    """Token by token through a ring of W slots (slot = p % W) -> [B, H, T, hd]."""
    B, H, T, hd = q.shape
    rk, rv = torch.zeros(B, H, W, hd, dtype=F64), torch.zeros(B, H, W, hd, dtype=F64)
    rpos = torch.full((W,), -1)
    outs = []
    for p in range(T):
        rk[:, :, p % W], rv[:, :, p % W], rpos[p % W] = k[:, :, p], v[:, :, p], p
        outs.append(ops.window_attention_positions(q[:, :, p:p + 1], rk, rv, torch.tensor([p]),
                                                   rpos, W))
    return torch.cat(outs, 2)


@pytest.mark.parametrize("W,T", [(1, 9), (4, 4), (4, 17), (8, 8), (8, 9), (8, 30), (8, 5),
                                 (16, 50)])
def test_swa_prefill_equals_ring_steps(W, T):
    g = torch.Generator().manual_seed(W * 100 + T)
    q, k, v = (torch.randn(2, 3, T, 8, generator=g, dtype=F64) for _ in range(3))
    pre = ops.sliding_window_attention(q, k, v, W)
    ring = _ring_steps(q, k, v, W)
    dense = ops.window_attention_positions(q, k, v, torch.arange(T), torch.arange(T), W)
    assert (pre - ring).abs().max() < 1e-12
    assert (dense - ring).abs().max() < 1e-12


def test_swa_window_has_w_keys_including_itself():
    """With W = 3, query 5 must depend on keys 3, 4, 5 and not on key 2."""
    q, k, v = (torch.randn(1, 1, 8, 4, dtype=F64) for _ in range(3))
    base = ops.sliding_window_attention(q, k, v, 3)
    for j, matters in [(2, False), (3, True), (5, True)]:
        v2 = v.clone()
        v2[0, 0, j] += 1.0
        changed = (ops.sliding_window_attention(q, k, v2, 3)[0, 0, 5] - base[0, 0, 5]).abs().max()
        assert (changed > 1e-6) == matters


def test_cross_attention_gqa_and_bottom_right():
    B, Hq, Hkv, T, hd = 1, 4, 2, 6, 8
    q = torch.randn(B, Hq, T, hd, dtype=F64)
    k, v = torch.randn(B, Hkv, T, hd, dtype=F64), torch.randn(B, Hkv, T, hd, dtype=F64)
    o = ops.cross_attention(q, k, v)
    for h in range(Hq):
        kv = h // (Hq // Hkv)
        for t in range(T):
            p = torch.softmax((k[0, kv, :t + 1] @ q[0, h, t]) / hd ** 0.5, 0)
            assert torch.allclose(o[0, h, t], p @ v[0, kv, :t + 1], atol=1e-12)
    # Two queries at positions 4, 5 over keys 0..5 (bottom-right): same as the last two rows.
    o2 = ops.cross_attention(q[:, :, 4:], k, v, torch.tensor([4, 5]), torch.arange(T))
    assert torch.allclose(o2, o[:, :, 4:], atol=1e-12)
