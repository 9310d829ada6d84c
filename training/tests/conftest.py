# pytest setup for training/: puts training/ on sys.path (for `yoco`, `export`, `make_golden`) and
# provides tiny configs of both self-decoder kinds.
# Run from the repo root: /usr/bin/python3 -m pytest training/tests -q
import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from yoco.config import YocoConfig  # noqa: E402

torch.set_num_threads(2)
KINDS = ("gated_retention", "sliding_window")


def tiny_config(kind, **over):
    """D 32, 2 + 2 layers, H_s 2 (hd_s 16), H_q 4 / H_kv 2 (hd 8), F 48, V 512, W 5."""
    args = dict(dim=32, n_self_layers=2, n_cross_layers=2, n_self_heads=2, n_heads=4,
                n_kv_heads=2, ffn_dim=48, vocab_size=512, self_decoder=kind, window=5,
                gate_temperature=4.0)  # a low temperature: strong decays within a few tokens
    args.update(over)
    return YocoConfig(**args).validate()


@pytest.fixture(params=KINDS, ids=("gret", "swa"))
def kind(request):
    return request.param


def enliven(model, seed, dtype=torch.float64, gains=None):
    """Lively random weights for a model (Yoco or the Transformer baseline): unit-scale matrices
    (residual writers included), norm weights in 0.6..1.4, `gains` {name suffix: factor}."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.6 + 0.8 * torch.rand(p.shape, generator=gen))
            else:
                gain = next((g for suffix, g in (gains or {}).items() if name.endswith(suffix)), 1.0)
                p.copy_(torch.randn(p.shape, generator=gen) * gain / p.shape[1] ** 0.5)
    return model.to(dtype)


def random_model(kind, seed=0, dtype=torch.float64, **over):
    """A Yoco with lively random weights (enliven; the retention gate's logits 3x livelier)."""
    from yoco.model import Yoco
    return enliven(Yoco(tiny_config(kind, **over)), seed, dtype, gains={"wgt.weight": 3.0})


def check_positions_and_checkpoint(model, T, cut):
    """The training path with explicit positions: a constant shift of every position changes
    (almost) nothing (RoPE is relative; its angles are fp32 even in float64 mode: ~6e-5 rad at
    p ~ 1000); a jump at `cut` keeps the logits before it and changes those after; activation
    checkpointing gives the same gradients."""
    tokens = torch.randint(12, 512, (2, T), generator=torch.Generator().manual_seed(6))
    pos = torch.arange(T)
    with torch.no_grad():
        ref = model(tokens)
        assert (model(tokens, pos) - ref).abs().max() < 1e-10
        assert (model(tokens, pos + 1000) - ref).abs().max() < 1e-3
        jump = pos + (pos >= cut) * 5000
        got = model(tokens, jump)
    assert (got[:, :cut] - ref[:, :cut]).abs().max() < 1e-10
    assert (got[:, cut:] - ref[:, cut:]).abs().max() > 1e-4
    grads = []
    for ck in (False, True):
        model.zero_grad()
        model(tokens, jump, checkpoint=ck).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        assert (grads[0][n] - grads[1][n]).abs().max() < 1e-10, n


def check_causality(model, T, t):
    """Changing token t leaves the logits before t bit-identical and changes those at t."""
    tokens = torch.randint(12, 512, (1, T), generator=torch.Generator().manual_seed(4))
    other = tokens.clone()
    other[0, t] = 12 + (tokens[0, t] - 12 + 1) % 500
    with torch.no_grad():
        a, b = model(tokens), model(other)
    assert torch.equal(a[:, :t], b[:, :t])
    assert (a[:, t] - b[:, t]).abs().max() > 1e-3  # and the change does reach position t
