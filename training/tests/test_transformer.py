# The same-size Transformer baseline (yoco/transformer.py): parameter count from the shape and
# against YOCO's, shapes and names, agreement with a naive numpy loop implementation (GQA head
# mapping, RoPE, causal softmax), causality (bit-identical prefix logits), relative positions and
# checkpointing, and a tiny overfit.
import math

import numpy as np
import pytest
import torch

from conftest import check_causality, check_positions_and_checkpoint, enliven, tiny_config
from naive import _ffn, _rms, _rope, _softmax
from yoco.config import YocoConfig
from yoco.model import Yoco
from yoco.transformer import Transformer, make_model


def tome_25m():
    return YocoConfig(dim=384, n_self_layers=6, n_cross_layers=6, n_self_heads=6, n_heads=6,
                      n_kv_heads=2, ffn_dim=1024, vocab_size=8192, rope_theta=500000.0).validate()


def lively(cfg, seed, dtype=torch.float64):
    """A Transformer with lively random weights (conftest.enliven), so that every piece visibly
    changes the logits."""
    return enliven(Transformer(cfg), seed, dtype)


def test_parameter_count_next_to_yoco():
    cfg = tome_25m()
    tr, yo = Transformer(cfg), Yoco(cfg)
    n_tr = sum(p.numel() for p in tr.parameters())
    n_yo = sum(p.numel() for p in yo.parameters())
    assert n_tr == Transformer.n_params(cfg) == 25_175_424
    assert n_yo == 26_762_496                     # tome-25m's card figure
    # The difference, exactly: YOCO's 6 gRet layers have full-width K/V, an output gate wg and
    # the per-head gate logit wgt (5 D^2 + D H_s) where the Transformer's first 6 layers have
    # GQA K/V (2 D^2 + 2 D kv_dim), and YOCO's one global K/V (2 D kv_dim + kv norm D) is
    # instead in each of the 6 cross layers.
    D, kv = cfg.dim, cfg.kv_dim
    gret_minus_attn = 6 * ((5 * D * D + D * cfg.n_self_heads) - (2 * D * D + 2 * D * kv))
    cross_kv = 6 * 2 * D * kv - (2 * D * kv + D)
    assert n_yo - n_tr == gret_minus_attn - cross_kv


def test_shapes_and_names():
    cfg = tiny_config("gated_retention")
    model = Transformer(cfg)
    L = cfg.n_self_layers + cfg.n_cross_layers
    sd = model.state_dict()
    assert len(model.layers) == L
    for i in range(L):
        assert sd[f"layers.{i}.attn.wq.weight"].shape == (cfg.dim, cfg.dim)
        assert sd[f"layers.{i}.attn.wk.weight"].shape == (cfg.kv_dim, cfg.dim)
        assert sd[f"layers.{i}.attn.wv.weight"].shape == (cfg.kv_dim, cfg.dim)
        assert sd[f"layers.{i}.ffn.w1.weight"].shape == (cfg.ffn_dim, cfg.dim)
    assert sd["output.weight"].shape == (cfg.vocab_size, cfg.dim)
    tokens = torch.randint(12, 512, (3, 19))
    assert model(tokens).shape == (3, 19, cfg.vocab_size)
    assert make_model(cfg, "transformer").arch == "transformer"
    assert isinstance(make_model(cfg, "yoco"), Yoco)
    with pytest.raises(ValueError):
        make_model(cfg, "rnn")


def naive_transformer(cfg, W, tokens):
    """Per-token loops in float64: layer l, query head h reads K/V head h // (H / H_kv)."""
    T, D, H, Hkv, hd = len(tokens), cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    x = np.array([W["tok_embeddings.weight"][t] * math.sqrt(D) for t in tokens])
    for li in range(cfg.n_self_layers + cfg.n_cross_layers):
        pre = f"layers.{li}."
        xs = [_rms(r, W[pre + "mixer_norm.weight"], cfg.norm_eps) for r in x]
        q = [(W[pre + "attn.wq.weight"] @ r).reshape(H, hd) for r in xs]
        k = [(W[pre + "attn.wk.weight"] @ r).reshape(Hkv, hd) for r in xs]
        v = [(W[pre + "attn.wv.weight"] @ r).reshape(Hkv, hd) for r in xs]
        h = []
        for t in range(T):
            o = np.zeros((H, hd))
            for hh in range(H):
                g = hh // (H // Hkv)
                qt = _rope(q[t][hh], t, cfg.rope_theta)
                s = np.array([qt @ _rope(k[j][g], j, cfg.rope_theta) / np.sqrt(hd)
                              for j in range(t + 1)])
                p = _softmax(s)
                o[hh] = sum(p[j] * v[j][g] for j in range(t + 1))
            h.append(x[t] + W[pre + "attn.wo.weight"] @ o.reshape(-1))
        x = np.array([r + _ffn(_rms(r, W[pre + "ffn_norm.weight"], cfg.norm_eps), W, pre + "ffn.")
                      for r in h])
    return np.array([W["output.weight"] @ _rms(r, W["norm.weight"], cfg.norm_eps) for r in x])


def test_matches_naive_loops():
    cfg = tiny_config("gated_retention", rope_theta=100.0)  # fast-turning RoPE: visible
    model = lively(cfg, seed=3)
    tokens = torch.randint(12, 512, (1, 11), generator=torch.Generator().manual_seed(5))
    W = {n: t.numpy() for n, t in model.state_dict().items()}
    ref = naive_transformer(cfg, W, tokens[0].tolist())
    with torch.no_grad():
        got = model(tokens)[0].numpy()
    # the naive RoPE uses float64 frequencies; the model fp32 angles (YOCO.md): ~1e-7
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # and the kv-head mapping matters: swapping K/V heads changes logits
        wk = model.layers[0].attn.wk.weight
        hd = cfg.head_dim
        wk.copy_(torch.cat((wk[hd:], wk[:hd])))
        assert np.abs(model(tokens)[0].numpy() - ref).max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("t", [0, 7, 20])
def test_causality_bit_identical(dtype, t):
    check_causality(lively(tiny_config("gated_retention"), seed=9, dtype=dtype), T=26, t=t)


def test_positions_and_checkpoint():
    check_positions_and_checkpoint(lively(tiny_config("gated_retention"), seed=11), T=21, cut=8)


def test_tiny_overfit():
    """The training init + Adam memorise one small batch: every parameter gets a gradient and
    the loss falls from ~ln(512) to well under 1 nat."""
    torch.manual_seed(0)
    model = Transformer(tiny_config("gated_retention"))
    model.reset_parameters(seed=0)
    tokens = torch.randint(12, 512, (2, 33))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(120):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 512),
                                                 tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for name, p in model.named_parameters():
                assert p.grad is not None and p.grad.abs().max() > 0, name
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 5.5 and losses[-1] < 0.3, (losses[0], losses[-1])
