# Reads THE tensor-name table, engine/tensor_names.json (shared with the C++ loader), and resolves
# it for a config: every tensor's name, shape and kind, in table order. Names are never written
# down anywhere else on the Python side; the model's state_dict keys are these names.
import json
from pathlib import Path

TABLE_PATH = Path(__file__).resolve().parents[2] / "engine" / "tensor_names.json"


def load_table(path=TABLE_PATH):
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    if table.get("version") != 1:
        raise ValueError(f"{path}: table version {table.get('version')} not supported")
    return table


def expected_tensors(cfg, table=None):
    """[(name, shape tuple, kind)] for this config, in table order: global, self layers, cross."""
    table = table or load_table()
    sym = {"dim": cfg.dim, "ffn_dim": cfg.ffn_dim, "vocab_size": cfg.vocab_size,
           "n_self_heads": cfg.n_self_heads, "kv_dim": cfg.kv_dim}

    def resolve(entry, i=None):
        name = entry["name"] if i is None else entry["name"].replace("{i}", str(i))
        return name, tuple(sym[s] for s in entry["shape"]), entry["kind"]

    out = [resolve(e) for e in table["global"]]
    for i in range(cfg.n_self_layers):
        for e in table["self_layer"]["common"] + table["self_layer"][cfg.self_decoder]:
            out.append(resolve(e, i))
    for i in range(cfg.n_cross_layers):
        out.extend(resolve(e, i) for e in table["cross_layer"])
    return out
