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


def random_model(kind, seed=0, dtype=torch.float64, **over):
    """A Yoco with lively random weights (unit-scale residual writers, norm weights in 0.6..1.4)."""
    from yoco.model import Yoco
    model = Yoco(tiny_config(kind, **over))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.6 + 0.8 * torch.rand(p.shape, generator=gen))
            else:
                gain = 3.0 if name.endswith("wgt.weight") else 1.0
                p.copy_(torch.randn(p.shape, generator=gen) * gain / p.shape[1] ** 0.5)
    return model.to(dtype)
