# Writes the golden files of tests/golden/: for a tiny random YOCO of each self-decoder kind
# (gret, swa) and each stored dtype (f32, bf16, f16, int8), a complete model directory plus
# golden.json (logits and intermediates at chosen positions, computed in float64 from the weights
# AS STORED, i.e. dequantized). Deterministic: numpy's legacy RandomState, fixed seeds.
# Usage (from the repo root): /usr/bin/python3 training/make_golden.py [--out tests/golden]
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import export_model, load_model_dir  # noqa: E402
from yoco.config import YocoConfig  # noqa: E402
from yoco.model import Yoco  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = REPO / "tests" / "data" / "tokenizer" / "tiny.model"
COMMAND = "/usr/bin/python3 training/make_golden.py"
KINDS = {"gret": "gated_retention", "swa": "sliding_window"}
DTYPES = ("f32", "bf16", "f16", "int8")
SEEDS = {"gret": 1001, "swa": 2002}
TOKEN_SEED, N_TOKENS = 7, 64
POSITIONS = [0, 1, 7, 8, 9, 33, 63]  # 7, 8, 9: the window boundary (W = 8); 63: the last
NOTES = ("float64 forward over all tokens from the weights as stored (F16/BF16 widened, I8 "
         "dequantized as scale[r] * q[r, c]); RoPE angles fp32(p) * fp32 inv_freq with inv_freq = "
         "1 / theta ** linspace(0, 1, hd/2) in fp32, cos/sin in float64; values rounded to 9 "
         "significant digits. embedding = sqrt(D) E[token]; x_s = self-decoder output; global_k = "
         "RoPE(RMSNorm_kv(x_s) Wk) and global_v = RMSNorm_kv(x_s) Wv, [H_kv * hd] head-major.")


def golden_config(kind):
    """D 32, 2 + 2 layers, H_s 2 (hd_s 16), H_q 4 / H_kv 2 (hd 8, GQA 2:1, kv_dim 16), F 48."""
    return YocoConfig(
        dim=32, n_self_layers=2, n_cross_layers=2, n_self_heads=2, n_heads=4, n_kv_heads=2,
        ffn_dim=48, vocab_size=512, self_decoder=KINDS[kind], window=8, gate_temperature=16.0,
        rope_theta=10000.0, norm_eps=1e-5, max_context=4096, name=f"tome-golden-{kind}",
        training={"comment": f"random weights for the golden tests ({COMMAND})"}).validate()


def golden_model(kind):
    """Random fp32 weights scaled for well-conditioned activations: embedding N(0, 1/D) (so the
    sqrt(D)-scaled input is unit scale), matrices N(0, gain^2/fan_in), norm weights U(0.6, 1.4)
    (so a skipped weight shows), gate logits of std ~6 in head 0 (short memory: gamma down to
    ~0.4) and ~2 in head 1 (long memory: gamma ~0.93-1) at temperature 16, query/key gains 1.5
    (peaked attention), output gain 2.5 (logit std ~2-3)."""
    cfg = golden_config(kind)
    model = Yoco(cfg)
    rng = np.random.RandomState(SEEDS[kind])
    gate_gains = np.array([6.0, 2.0])[:, None]  # one per self head (row of wgt)
    gains = {"output.weight": 2.5, "attn.wq.weight": 1.5, "kv.wk.weight": 1.5,
             "retention.wq.weight": 1.5, "retention.wk.weight": 1.5}
    with torch.no_grad():
        for name, p in model.named_parameters():  # table order: deterministic
            if name.endswith("norm.weight"):
                w = rng.uniform(0.6, 1.4, size=p.shape)
            elif name.endswith("wgt.weight"):
                w = rng.standard_normal(p.shape) * gate_gains / np.sqrt(cfg.dim)
            elif name == "tok_embeddings.weight":
                w = rng.standard_normal(p.shape) / np.sqrt(cfg.dim)
            else:
                gain = next((g for suffix, g in gains.items() if name.endswith(suffix)), 1.0)
                w = rng.standard_normal(p.shape) * gain / np.sqrt(p.shape[1])
            p.copy_(torch.from_numpy(w))
    return model


def golden_tokens():
    return np.random.RandomState(TOKEN_SEED).randint(12, 512, size=N_TOKENS).tolist()


def _r9(x):
    return float(f"{x:.9g}")  # 9 significant digits


def _rows(t, positions):
    return [[_r9(x) for x in t[p].tolist()] for p in positions]


def retention_gammas(model, tokens):
    """gamma per (self layer, head, token) of a gRet model, for the record: [layers][heads][T]."""
    out, x = [], model.embed(tokens)
    positions = torch.arange(tokens.shape[1])
    for layer in model.self_layers:
        _, _, _, lg, _ = layer.retention.project(layer.mixer_norm(x), positions)
        out.append(lg[0].exp())                                   # [H, T]
        x, _ = layer(x, positions)
    return out


def compute_record(model_dir, dtype, tokens):
    """golden.json content (without the vs-f32 field) for a model directory."""
    model = load_model_dir(model_dir, torch.float64)
    t = torch.tensor([tokens])
    with torch.no_grad():
        im = {k: v[0] for k, v in model.intermediates(t).items()}
    rec = {"version": 1, "command": COMMAND, "dtype": dtype, "notes": NOTES, "tokens": tokens,
           "positions": POSITIONS, "logits": _rows(im["logits"], POSITIONS),
           "intermediates": {k: {"positions": POSITIONS, "values": _rows(im[k], POSITIONS)}
                             for k in ("embedding", "x_s", "global_k", "global_v")}}
    if model.cfg.self_decoder == "gated_retention":
        with torch.no_grad():
            g = retention_gammas(model, t)
        rec["retention_gamma"] = {
            "comment": "informational: per self layer and head, min / mean / max of gamma over "
                       "the tokens and the product of gamma over all of them",
            "layers": [[[_r9(h.min().item()), _r9(h.mean().item()), _r9(h.max().item()),
                         _r9(h.prod().item())] for h in layer] for layer in g]}
    return rec, im["logits"]


def build_kind(kind, out_root):
    """Writes the four dtype cases of one kind under out_root; returns {case: golden dict}."""
    model = golden_model(kind)
    tokens = golden_tokens()
    records, f32_logits = {}, None
    for dtype in DTYPES:
        case_dir = Path(out_root) / f"{kind}-{dtype}"
        export_model(model, case_dir, dtype, TOKENIZER)
        rec, logits = compute_record(case_dir, dtype, tokens)
        if dtype == "f32":
            f32_logits = logits
        diff = (logits[POSITIONS] - f32_logits[POSITIONS]).abs().max().item()
        rec["max_abs_logit_diff_vs_f32"] = _r9(diff)
        (case_dir / "golden.json").write_text(dumps_golden(rec), encoding="utf-8")
        records[f"{kind}-{dtype}"] = rec
    return records


def dumps_golden(rec):
    """JSON with one row of floats per line (readable diffs, small files)."""
    def enc(v, indent):
        pad = " " * indent
        if isinstance(v, dict):
            items = [f'{pad}  {json.dumps(k)}: {enc(x, indent + 2)}' for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list) and v and isinstance(v[0], list):
            return "[\n" + ",\n".join(f"{pad}  {enc(x, indent + 2)}" for x in v) + f"\n{pad}]"
        return json.dumps(v, separators=(", ", ": "))
    return enc(rec, 0) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "tests" / "golden"))
    args = ap.parse_args(argv)
    for kind in KINDS:
        for case, rec in build_kind(kind, args.out).items():
            logits = np.array(rec["logits"])
            print(f"{case}: logit std {logits.std():.3f}, max |logit| {np.abs(logits).max():.3f}, "
                  f"max diff vs f32 {rec['max_abs_logit_diff_vs_f32']:.3g}")


if __name__ == "__main__":
    main()
