# CUDA checks of the reference model (skipped without a GPU): fp32 on the GPU matches float64 on
# the CPU; bf16 autocast training step is finite and close to fp32; the cached inference path on
# the GPU matches the full forward; the SDPA cross-attention path matches the plain one.
import pytest
import torch

from conftest import random_model
from yoco import ops

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _tokens(B, T, seed=0):
    return torch.randint(12, 512, (B, T), generator=torch.Generator().manual_seed(seed))


def test_cuda_fp32_matches_cpu_float64(kind):
    ref_model = random_model(kind, seed=1)
    model = random_model(kind, seed=1, dtype=torch.float32).cuda()
    model.set_retention(chunk_size=16)
    tokens = _tokens(2, 100)
    with torch.no_grad():
        ref = ref_model(tokens)
        got = model(tokens.cuda()).cpu().double()
    assert (got - ref).abs().max() < 2e-3


def test_cuda_bf16_autocast_step(kind):
    model = random_model(kind, seed=2, dtype=torch.float32).cuda()
    model.set_retention(chunk_size=64)
    tokens = _tokens(2, 300).cuda()
    with torch.no_grad():
        ref = model(tokens)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(tokens)
    rel = ((logits.float() - ref).pow(2).mean() / ref.pow(2).mean()).sqrt().item()
    assert rel < 0.05, rel
    loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), tokens.flatten())
    loss.backward()
    for name, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_cuda_cached_path(kind):
    model = random_model(kind, seed=3, dtype=torch.float32).cuda()
    model.set_retention(chunk_size=8)
    tokens = _tokens(1, 40).cuda()
    with torch.no_grad():
        full = model(tokens)
    cache = model.new_cache()
    got = [model.prefill(tokens[:, :29], cache)]
    got += [model.decode_step(tokens[:, p], cache) for p in range(29, 40)]
    assert (torch.stack(got, 1) - full[:, 28:]).abs().max() < 1e-3


def test_sdpa_cross_attention_matches_plain():
    if not ops._has_sdpa():
        pytest.skip("no scaled_dot_product_attention in this torch")
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(2, 4, 77, 16, device="cuda", generator=g)
    k, v = (torch.randn(2, 2, 77, 16, device="cuda", generator=g) for _ in range(2))
    pos = torch.arange(77, device="cuda")
    plain = ops.cross_attention(q, k, v, pos, pos)
    assert (ops.cross_attention(q, k, v) - plain).abs().max() < 1e-4
