# The YOCO hyper-parameters, mirroring a model directory's config.json (docs/model-format.md is the
# reference for every field and rule). Pure data: parsing, validation and the JSON form; the
# tokenizer check of special tokens lives in export.py (it needs sentencepiece).
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

FORMAT = "tome-yoco"
FORMAT_VERSION = 1
SELF_KINDS = ("gated_retention", "sliding_window")

# Tome's special tokens (ids 0-11 of every Tome tokenizer) and prompt templates.
DEFAULT_SPECIAL_TOKENS = {
    "unk": {"id": 0, "piece": "<unk>"},
    "bos": {"id": 1, "piece": "<s>"},
    "eos": {"id": 2, "piece": "</s>"},
    "pad": {"id": 3, "piece": "<pad>"},
    "doc_start": {"id": 4, "piece": "<|doc|>"},
    "doc_end": {"id": 5, "piece": "<|/doc|>"},
    "file_start": {"id": 6, "piece": "<|file|>"},
    "question": {"id": 7, "piece": "<|question|>"},
    "answer": {"id": 8, "piece": "<|answer|>"},
    "fim_prefix": {"id": 9, "piece": "<|fim_prefix|>"},
    "fim_suffix": {"id": 10, "piece": "<|fim_suffix|>"},
    "fim_middle": {"id": 11, "piece": "<|fim_middle|>"},
}
DEFAULT_TEMPLATES = {
    "document": "<s><|doc|>{text}<|/doc|>",
    "file": "<|file|>{path}\n{text}",
    "question": "<|question|>{question}<|answer|>",
    "completion": "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
}

_TOP_FIELDS = ("format", "format_version", "name", "dim", "n_self_layers", "n_cross_layers",
               "n_self_heads", "n_heads", "n_kv_heads", "ffn_dim", "vocab_size", "self_decoder",
               "rope_theta", "norm_eps", "max_context", "special_tokens", "templates",
               "file_header_every", "training", "pointer_heads")


@dataclass
class YocoConfig:
    dim: int                      # D
    n_self_layers: int            # L/2, self-decoder layers
    n_cross_layers: int           # L/2, cross-decoder layers
    n_self_heads: int             # H_s (self head dim D / H_s)
    n_heads: int                  # H_q, cross query heads (head dim hd = D / H_q)
    n_kv_heads: int               # H_kv, heads of the one global KV (kv_dim = H_kv * hd)
    ffn_dim: int                  # F
    vocab_size: int               # V
    self_decoder: str = "gated_retention"  # or "sliding_window"
    window: int = 0               # SWA: keys per query including itself
    gate_temperature: float = 16.0  # gRet: log gamma = logsigmoid(gate logit) / temperature
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    max_context: int = 1 << 20
    name: str = "tome-yoco"
    special_tokens: Dict[str, Dict] = field(default_factory=lambda: json.loads(
        json.dumps(DEFAULT_SPECIAL_TOKENS)))
    templates: Dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    # A repository's file header ("<|file|>{path}\n") stated again inside a file every this many
    # of its tokens, at a line end (0: once, before the file; data/tasks.py restate_headers)
    file_header_every: int = 0
    training: Optional[Dict] = None  # free-form metadata for config.json; the engine ignores it
    # Cross-decoder (layer, head) pairs that attend to a question's symbol where the context holds
    # it: the which-file pointer (results/pointer/select_heads.py); [] none
    pointer_heads: List = field(default_factory=list)

    # Derived sizes (same names as tome::model_config).
    @property
    def self_head_dim(self):
        return self.dim // self.n_self_heads

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @property
    def kv_dim(self):
        return self.n_kv_heads * self.head_dim

    def validate(self):
        """Raises ValueError on anything docs/model-format.md refuses; returns self."""
        def need(ok, msg):
            if not ok:
                raise ValueError(f"config: {msg}")
        for f in ("dim", "n_self_layers", "n_cross_layers", "n_self_heads", "n_heads",
                  "n_kv_heads", "ffn_dim", "vocab_size", "max_context"):
            need(isinstance(getattr(self, f), int) and getattr(self, f) > 0, f"{f} must be > 0")
        need(self.dim % self.n_self_heads == 0, "dim not divisible by n_self_heads")
        need(self.dim % self.n_heads == 0, "dim not divisible by n_heads")
        need(self.self_head_dim % 2 == 0, "self head dim must be even (RoPE pairs)")
        need(self.head_dim % 2 == 0, "cross head dim must be even (RoPE pairs)")
        need(self.n_heads % self.n_kv_heads == 0, "n_heads not divisible by n_kv_heads")
        need(self.self_decoder in SELF_KINDS, f"self_decoder.kind {self.self_decoder!r} unknown")
        if self.self_decoder == "sliding_window":
            need(self.window >= 1, "sliding_window needs window >= 1")
        else:
            need(self.gate_temperature > 0, "gate_temperature must be > 0")
        need(self.rope_theta > 0 and self.norm_eps > 0, "rope_theta and norm_eps must be > 0")
        need(isinstance(self.file_header_every, int) and self.file_header_every >= 0,
             "file_header_every must be an integer >= 0")
        for h in self.pointer_heads:
            need(isinstance(h, (list, tuple)) and len(h) == 2
                 and 0 <= h[0] < self.n_cross_layers and 0 <= h[1] < self.n_heads,
                 f"pointer_heads entry {h!r} is not a [cross layer, head] pair of this shape")
        need(len({tuple(h) for h in self.pointer_heads}) == len(self.pointer_heads),
             "pointer_heads repeats a head")
        need("eos" in self.special_tokens, "special_tokens needs eos")
        for role, tok in self.special_tokens.items():
            need(set(tok) == {"id", "piece"}, f"special token {role} needs exactly id and piece")
            need(0 <= tok["id"] < self.vocab_size, f"special token {role} id out of range")
        return self

    def self_decoder_json(self):
        if self.self_decoder == "sliding_window":
            return {"kind": "sliding_window", "window": self.window}
        return {"kind": "gated_retention", "gate_temperature": float(self.gate_temperature)}

    def to_json_dict(self):
        """The config.json object, fields in the order of docs/model-format.md."""
        d = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name}
        for f in ("dim", "n_self_layers", "n_cross_layers", "n_self_heads", "n_heads",
                  "n_kv_heads", "ffn_dim", "vocab_size"):
            d[f] = getattr(self, f)
        d["self_decoder"] = self.self_decoder_json()
        d["rope_theta"] = float(self.rope_theta)
        d["norm_eps"] = float(self.norm_eps)
        d["max_context"] = self.max_context
        d["special_tokens"] = {r: {"id": t["id"], "piece": t["piece"]}
                               for r, t in self.special_tokens.items()}
        d["templates"] = dict(self.templates)
        if self.file_header_every:
            d["file_header_every"] = self.file_header_every
        if self.training is not None:
            d["training"] = self.training
        if self.pointer_heads:
            d["pointer_heads"] = [list(h) for h in self.pointer_heads]
        return d

    def to_json(self):
        return json.dumps(self.to_json_dict(), indent=2, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json_dict(d, source="config.json"):
        unknown = set(d) - set(_TOP_FIELDS)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {sorted(unknown)}")
        if d.get("format") != FORMAT:
            raise ValueError(f"{source}: format must be {FORMAT!r}")
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{source}: format_version {d.get('format_version')} not supported")
        sd = d["self_decoder"]
        cfg = YocoConfig(
            dim=d["dim"], n_self_layers=d["n_self_layers"], n_cross_layers=d["n_cross_layers"],
            n_self_heads=d["n_self_heads"], n_heads=d["n_heads"], n_kv_heads=d["n_kv_heads"],
            ffn_dim=d["ffn_dim"], vocab_size=d["vocab_size"], self_decoder=sd["kind"],
            window=int(sd.get("window", 0)),
            gate_temperature=float(sd.get("gate_temperature", 16.0)),
            rope_theta=float(d.get("rope_theta", 10000.0)), norm_eps=float(d.get("norm_eps", 1e-5)),
            max_context=d.get("max_context", 1 << 20), name=d.get("name", "tome-yoco"),
            special_tokens=d["special_tokens"], templates=d.get("templates", {}),
            file_header_every=d.get("file_header_every", 0), training=d.get("training"),
            pointer_heads=[list(h) for h in d.get("pointer_heads", [])])
        try:
            return cfg.validate()
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            return YocoConfig.from_json_dict(json.load(f), str(path))
