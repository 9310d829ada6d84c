#!/usr/bin/env python3
"""Writes the fuzz seed corpus (tests/fuzz/corpus/<target>/): a few valid and broken inputs each.

Run from the repository root: python3 tests/fuzz/make_seeds.py
Standard library only. The small model files match fuzz_common.h's config (D 4, 1+1 layers,
H_s 2, H_q 2, H_kv 1, F 4, V 8) so that fuzz_safetensors reaches check_tensors' deeper rules.
"""
import copy
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
TABLE = json.load(open(os.path.join(ROOT, "engine", "tensor_names.json")))
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1}
SMALL = dict(dim=4, ffn_dim=4, vocab_size=8, n_self_heads=2, kv_dim=2)


def table_entries(kind="gated_retention", n_self=1, n_cross=1):
    out = [(e["name"], e["shape"], e["kind"]) for e in TABLE["global"]]
    for i in range(n_self):
        for e in TABLE["self_layer"]["common"] + TABLE["self_layer"][kind]:
            out.append((e["name"].replace("{i}", str(i)), e["shape"], e["kind"]))
    for i in range(n_cross):
        for e in TABLE["cross_layer"]:
            out.append((e["name"].replace("{i}", str(i)), e["shape"], e["kind"]))
    return out


def image(tensors, meta=None, pad=0):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        if dtype == "F32":
            blob = b"".join(struct.pack("<f", ((i % 7) - 3) / 4) for i in range(n))
        else:
            blob = bytes((i * 37 + len(name)) & 0xFF for i in range(n * SIZES[dtype]))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + data


def raw(header_text, data_len):
    return struct.pack("<Q", len(header_text)) + header_text + bytes(data_len)


def write(target, name, content):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(os.path.join(CORPUS, target, name), mode) as f:
        f.write(content)


def safetensors_seeds():
    f32 = [(n, "F32", [SMALL[s] for s in shape]) for n, shape, _ in table_entries()]
    write("safetensors", "small_model_f32.safetensors", image(f32, {"format": "pt"}))
    i8 = []
    for n, shape, kind in table_entries():
        dims = [SMALL[s] for s in shape]
        if kind == "matrix":
            i8 += [(n, "I8", dims), (n + "_scale", "BF16", [dims[0]])]
        else:
            i8.append((n, "F16", dims))
    write("safetensors", "small_model_i8.safetensors", image(i8))
    write("safetensors", "three_tensors.safetensors",
          image([("a", "F32", [2, 3]), ("b", "BF16", [3]), ("c", "I8", [5]), ("e", "F16", [0])], {"k": "v"}, pad=5))
    write("safetensors", "empty_header.safetensors", image([]))
    good = image([("a", "F32", [2, 2])])
    write("safetensors", "length_past_end.safetensors", struct.pack("<Q", 10**6) + good[8:])
    write("safetensors", "truncated.safetensors", good[:-3])
    write("safetensors", "overlap.safetensors", raw(
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 16))
    write("safetensors", "negative_shape.safetensors", raw(b'{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', 8))
    write("safetensors", "bad_dtype.safetensors", raw(b'{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', 8))
    write("safetensors", "short.safetensors", b"\x05\x00\x00")


def between(path, start, end):
    text = open(os.path.join(ROOT, path)).read()
    return text.split(start, 1)[1].split(end, 1)[0]


def config_seeds():
    base = json.loads(between("tests/model/model_test_util.h", 'R"(', ')"'))
    small = json.loads(between("tests/fuzz/fuzz_common.h", 'R"(', ')"'))
    dump = lambda o: json.dumps(o, indent=1)
    write("config", "golden_gret.json", dump(base))
    swa = copy.deepcopy(base)
    swa["self_decoder"] = {"kind": "sliding_window", "window": 8}
    swa["n_self_layers"] = 3
    write("config", "golden_swa.json", dump(swa))
    write("config", "small.json", dump(small))
    for name, edit in [
        ("newer_version.json", lambda c: c.update(format_version=2)),
        ("no_eos.json", lambda c: c["special_tokens"].pop("eos")),
        ("bad_template.json", lambda c: c["templates"].update(question="<|question|>{question<|answer|>")),
        ("bad_kv_heads.json", lambda c: c.update(n_kv_heads=3)),
    ]:
        c = copy.deepcopy(base)
        edit(c)
        write("config", name, dump(c))
    write("config", "truncated.json", json.dumps(base)[:200])
    write("config", "nested.json", '{"training": ' + "[" * 70 + "]" * 70 + "}")


def tokenizer_seeds():
    # First byte even: the rest is text. Odd: the rest is big-endian 16-bit ids (+4, see the target).
    write("tokenizer", "text_code.bin",
          b"\x00#include <stdio.h>\n\tint main() {\n    return 0; // caf\xc3\xa9 \xe4\xb8\xad\n}\n")
    write("tokenizer", "text_specials.bin", b"\x00<|question|>hi<|answer|></s>\xf0\x9f\x99\x82")
    write("tokenizer", "text_invalid.bin", b"\x00a\xffb\xe4\xb8 \xed\xa0\x80")
    ids = [1, 4, 12 + 0xE4, 12 + 0xB8, 7, 12 + 0xAD, 300, 2, 0x2000, 511]
    write("tokenizer", "ids.bin", b"\x01" + b"".join(struct.pack(">H", i + 4) for i in ids))


if __name__ == "__main__":
    safetensors_seeds()
    config_seeds()
    tokenizer_seeds()
