# Model-level checks on tiny random models of both kinds: names == the tensor table; agreement
# with the naive loop implementation of YOCO.md; training step (finite grads, loss decreases);
# cached prefill with early exit + decode == full forward; causality (bit-identical prefix logits).
import numpy as np
import pytest
import torch

from conftest import check_causality, check_positions_and_checkpoint, random_model, tiny_config
from naive import naive_forward
from yoco.model import Yoco
from yoco.tensor_table import expected_tensors


def test_state_dict_keys_are_the_table(kind):
    model = Yoco(tiny_config(kind))
    table = {n: s for n, s, _ in expected_tensors(model.cfg)}
    sd = model.state_dict()
    assert sorted(sd) == sorted(table)  # exactly the names of engine/tensor_names.json
    assert all(tuple(sd[n].shape) == s for n, s in table.items())


def test_matches_naive_loops(kind):
    model = random_model(kind, seed=3, window=4)
    tokens = torch.randint(12, 512, (1, 13), generator=torch.Generator().manual_seed(5))
    W = {n: t.numpy() for n, t in model.state_dict().items()}
    ref = naive_forward(model.cfg, W, tokens[0].tolist())
    model.set_retention(chunk_size=5)
    with torch.no_grad():
        got = model.intermediates(tokens)
    for key in ("embedding", "x_s", "global_k", "global_v", "logits"):
        # the naive RoPE uses float64 frequencies; the model fp32 angles (YOCO.md): ~1e-7
        np.testing.assert_allclose(got[key][0].numpy(), ref[key], rtol=1e-5, atol=1e-5,
                                   err_msg=key)


def test_forward_backward_and_loss_decreases(kind):
    torch.manual_seed(0)
    model = Yoco(tiny_config(kind))
    model.set_retention(chunk_size=8)
    tokens = torch.randint(12, 512, (2, 33))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(8):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 512), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            if step == 0:
                assert p.grad.abs().max() > 0, f"{name} gets no gradient"
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def test_gret_forms_give_same_logits():
    model = random_model("gated_retention", seed=4)
    tokens = torch.randint(12, 512, (2, 37), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.set_retention(form="parallel")
        ref = model(tokens)
        for chunk, inter in [(1, "scan"), (8, "matmul"), (10, "scan"), (64, "matmul")]:
            model.set_retention(chunk_size=chunk, inter=inter, form="chunkwise")
            assert (model(tokens) - ref).abs().max() < 1e-10


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
@pytest.mark.parametrize("splits", [[17], [1, 4, 12], [5, 6]])
def test_cached_prefill_and_decode_equal_forward(kind, dtype, tol, splits):
    model = random_model(kind, seed=7, dtype=dtype)
    model.set_retention(chunk_size=4)
    T = 27
    tokens = torch.randint(12, 512, (2, T), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(tokens)
    cache, start, got = model.new_cache(), 0, {}
    for n in splits:  # chunked prefill; only the last token of each chunk gets logits
        got[start + n - 1] = model.prefill(tokens[:, start:start + n], cache)
        start += n
    for p in range(start, T):  # decode steps
        got[p] = model.decode_step(tokens[:, p], cache)
    assert cache.k.shape == (2, model.cfg.n_kv_heads, T, model.cfg.head_dim)
    for p, logits in got.items():
        assert (logits - full[:, p]).abs().max() < tol, p
    # the cache holds exactly the full pass's global K (post-RoPE) and V
    with torch.no_grad():
        im = model.intermediates(tokens)
    k = cache.k.transpose(1, 2).reshape(2, T, -1)
    assert (k - im["global_k"]).abs().max() < tol


@pytest.mark.parametrize("inter", ["matmul", "scan"])
@pytest.mark.parametrize("t", [0, 6, 9, 21])
def test_causality_bit_identical(kind, t, inter):
    model = random_model(kind, seed=9)
    model.set_retention(chunk_size=8, inter=inter)
    check_causality(model, T=30, t=t)


def test_trunk_positions_and_checkpoint(kind):
    """The training path (Yoco.trunk): default positions == forward; a constant shift of every
    position changes nothing (RoPE is relative, gRet decays are position-free); a jump inside the
    row keeps the logits before it and changes those after; checkpointing gives the same grads."""
    model = random_model(kind, seed=11)
    model.set_retention(chunk_size=4)
    check_positions_and_checkpoint(model, T=23, cut=9)
