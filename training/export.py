# Export: a YOCO model (or a training checkpoint) -> a Tome model directory (config.json,
# model.safetensors, tokenizer.model; docs/model-format.md), and the way back (load_model_dir).
# Tensor names, shapes and kinds come from engine/tensor_names.json via yoco.tensor_table.
# Usage: python3 training/export.py --checkpoint CKPT.pt --tokenizer TOK.model --out DIR \
#            --dtype bf16
import argparse
import json
import shutil
import sys
from collections import OrderedDict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yoco import safetensors_io  # noqa: E402
from yoco.config import YocoConfig  # noqa: E402
from yoco.model import Yoco  # noqa: E402
from yoco.tensor_table import expected_tensors  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "int8": torch.int8}


def quantize_int8(w):
    """Symmetric per-output-row int8: w [rows, cols] -> (q int8 [rows, cols], scale f32 [rows]),
    scale = max|row| / 127 (fp32), q = round-half-even(w / scale) clamped to -127..127 (fp32
    division). W ~= scale[r] * q[r, c]. An all-zero row gets scale 0 and q 0."""
    w = w.detach().to(torch.float32)
    scale = w.abs().amax(dim=1) / 127.0                                  # [rows] fp32
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(w / safe[:, None]).clamp(-127, 127).to(torch.int8)  # [rows, cols]
    return q, scale


def stored_tensors(model, dtype):
    """OrderedDict name -> tensor as written to model.safetensors, in table order; an I8 matrix
    is followed by its "<name>_scale". dtype: f32 | bf16 | f16 | int8 (norms f32 then)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
    sd = model.state_dict()
    table = expected_tensors(model.cfg)
    names = [n for n, _, _ in table]
    if set(sd) != set(names):
        missing, extra = sorted(set(names) - set(sd)), sorted(set(sd) - set(names))
        raise ValueError(f"state_dict does not match the tensor table: missing {missing}, "
                         f"extra {extra}")
    out = OrderedDict()
    for name, shape, kind in table:
        w = sd[name].detach().cpu()
        if tuple(w.shape) != shape:
            raise ValueError(f"{name}: shape {tuple(w.shape)} but the table says {shape}")
        if dtype == "int8" and kind == "matrix":
            out[name], out[name + "_scale"] = quantize_int8(w)
        elif dtype == "int8":
            out[name] = w.to(torch.float32)                              # norms stay float
        else:
            out[name] = w.to(torch.float32).to(DTYPES[dtype])            # RNE rounding
    return out


def check_tokenizer(cfg, tokenizer_path):
    """vocab_size equals the tokenizer's; every special token's piece is the piece at its id."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_path))
    if sp.get_piece_size() != cfg.vocab_size:
        raise ValueError(f"{tokenizer_path}: {sp.get_piece_size()} pieces, config vocab_size "
                         f"{cfg.vocab_size}")
    for role, tok in cfg.special_tokens.items():
        piece = sp.id_to_piece(tok["id"])
        if piece != tok["piece"]:
            raise ValueError(f"{tokenizer_path}: special token {role} id {tok['id']} is "
                             f"{piece!r}, config says {tok['piece']!r}")


def export_model(model, out_dir, dtype, tokenizer_path):
    """Writes config.json, model.safetensors (dtype f32|bf16|f16|int8) and tokenizer.model."""
    cfg = model.cfg.validate()
    check_tokenizer(cfg, tokenizer_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(cfg.to_json(), encoding="utf-8")
    safetensors_io.save(out_dir / "model.safetensors", stored_tensors(model, dtype),
                        {"format": "pt"})
    if Path(tokenizer_path).resolve() != (out_dir / "tokenizer.model").resolve():
        shutil.copyfile(tokenizer_path, out_dir / "tokenizer.model")
    return out_dir


def read_weights(path, cfg):
    """model.safetensors -> (OrderedDict name -> float64 tensor (I8 dequantized), stored dtype
    name per tensor). Checks names, shapes and dtypes as the C++ loader does."""
    tensors, _ = safetensors_io.load(path)
    expected = {n: (s, k) for n, s, k in expected_tensors(cfg)}
    allowed = set(expected) | {n + "_scale" for n, (_, k) in expected.items()
                               if tensors.get(n) is not None and tensors[n].dtype == torch.int8}
    extra = set(tensors) - allowed
    if extra:
        raise ValueError(f"{path}: unexpected tensor(s) {sorted(extra)}")
    weights, stored = OrderedDict(), {}
    for name, (shape, kind) in expected.items():
        if name not in tensors:
            raise ValueError(f"{path}: missing tensor {name}")
        t = tensors[name]
        if tuple(t.shape) != shape:
            raise ValueError(f"{path}: {name} has shape {tuple(t.shape)}, expected {shape}")
        stored[name] = safetensors_io.dtype_name(t.dtype)
        if t.dtype == torch.int8:
            scale = tensors.get(name + "_scale")
            if kind != "matrix" or scale is None or tuple(scale.shape) != (shape[0],) \
                    or not scale.is_floating_point():
                raise ValueError(f"{path}: {name} is I8 but not a matrix with a float [rows] scale")
            weights[name] = scale.to(torch.float64)[:, None] * t.to(torch.float64)
        elif t.is_floating_point():
            weights[name] = t.to(torch.float64)
        else:
            raise ValueError(f"{path}: {name} has dtype {stored[name]}")
    return weights, stored


def load_model_dir(model_dir, dtype=torch.float32):
    """A Tome model directory -> Yoco module (weights dequantized, then cast to dtype)."""
    model_dir = Path(model_dir)
    cfg = YocoConfig.load(model_dir / "config.json")
    check_tokenizer(cfg, model_dir / "tokenizer.model")
    weights, _ = read_weights(model_dir / "model.safetensors", cfg)
    model = Yoco(cfg).to(dtype)
    model.load_state_dict({n: w.to(dtype) for n, w in weights.items()}, strict=True)
    return model


def save_checkpoint(model, path, extra=None):
    """A training checkpoint: {"config": config.json dict, "model": state_dict, ...extra}."""
    torch.save({"config": model.cfg.to_json_dict(), "model": model.state_dict(), **(extra or {})},
               path)


def load_checkpoint(path):
    ckpt = torch.load(path, map_location="cpu")
    if ckpt.get("arch", "yoco") != "yoco":
        raise SystemExit(f"{path}: a {ckpt['arch']} checkpoint (train.py --arch), not a YOCO: "
                         "only YOCO models export to a Tome model directory")
    model = Yoco(YocoConfig.from_json_dict(ckpt["config"], str(path)))
    model.load_state_dict({n: t.to(torch.float32) for n, t in ckpt["model"].items()}, strict=True)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", required=True, help="a .pt file written by save_checkpoint")
    ap.add_argument("--tokenizer", required=True, help="SentencePiece tokenizer.model")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--name", help="overrides the config's name")
    ap.add_argument("--check", action="store_true", help="reload and compare logits on 32 tokens")
    args = ap.parse_args(argv)
    model = load_checkpoint(args.checkpoint)
    if args.name:
        model.cfg.name = args.name
    export_model(model, args.out, args.dtype, args.tokenizer)
    print(f"wrote {args.out} ({args.dtype})")
    if args.check:
        tokens = torch.arange(32)[None] % model.cfg.vocab_size
        back = load_model_dir(args.out)
        with torch.no_grad():
            diff = (model(tokens) - back(tokens)).abs().max().item()
        print(json.dumps({"max_abs_logit_diff_after_roundtrip": diff}))


if __name__ == "__main__":
    main()
