// The hyper-parameters of a YOCO model, as read from a model directory's config.json
// (docs/model-format.md is the reference for every field). Pure data plus derived sizes; parsing
// and validation live in engine/src/model/config.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tome/status.h"

namespace tome {

// transformer: not a YOCO. The Transformer baseline of the same shape for `tome bench`: L =
// n_self_layers + n_cross_layers standard pre-norm decoder layers, each with full causal GQA
// attention (n_heads query heads, n_kv_heads KV heads, head dim D / n_heads) over its own KV cache;
// built-in configurations with random weights only (builtin_config "transformer-3b").
enum class self_decoder_kind { gated_retention, sliding_window, transformer };

const char* to_string(self_decoder_kind kind);

// One special token: its id in the vocabulary and its SentencePiece piece (e.g. "<|question|>").
struct special_token {
  int32_t id = -1;
  std::string piece;
};

// A cross-decoder attention head: layer (0 = the first cross-decoder layer) and head.
struct attention_head {
  int32_t layer = 0;
  int32_t head = 0;
  bool operator==(const attention_head&) const = default;
};

struct model_config {
  std::string name;                  // free text, e.g. "tome-tiny-25m"
  int64_t dim = 0;                   // D
  int64_t n_self_layers = 0;         // L/2
  int64_t n_cross_layers = 0;        // L/2
  int64_t n_self_heads = 0;          // H_s (head dim D / H_s)
  int64_t n_heads = 0;               // H_q, cross-decoder query heads (head dim D / H_q)
  int64_t n_kv_heads = 0;            // H_kv, heads of the one global KV
  int64_t ffn_dim = 0;               // F
  int64_t vocab_size = 0;            // V
  self_decoder_kind self_kind = self_decoder_kind::gated_retention;
  int64_t window = 0;                // SWA keys per query, including itself (sliding_window only)
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  double retention_gate_temperature = 16.0;  // log gamma = logsigmoid(gt) / temperature
  int64_t max_context = 1 << 20;     // longest session the model is meant for (tokens)
  // Special tokens by role: bos, eos, pad, doc_start, doc_end, file_start, question, answer,
  // fim_prefix, fim_suffix, fim_middle (eos is required; the others are optional).
  std::map<std::string, special_token> special_tokens;
  // Prompt templates by use: "document", "question", "completion" … Placeholders are {name};
  // special tokens appear as their piece text and are matched only in the template, never in
  // user text (tome::tokenizer::encode_template).
  std::map<std::string, std::string> templates;
  // A repository's file header ("<|file|>{path}\n", the "file" template before {text}) stated
  // again inside a file once this many of its tokens have passed since the last header, after a
  // token that ends a line (0: once, before the file). The layout the model was trained on
  // (training/data/tasks.py restate_headers); ingest::tokenize_params::restate_header_every.
  int64_t file_header_every = 0;
  // Cross-decoder heads that, at a question's symbol, attend to where the context holds that
  // symbol (config.json "pointer_heads": [[layer, head], ...]; empty: none). The which-file answer
  // reads them through the files' spans (tome::pointer_mass); they were chosen on the validation
  // split by training/results/pointer/select_heads.py.
  std::vector<attention_head> pointer_heads;

  int64_t self_head_dim() const { return dim / n_self_heads; }
  int64_t head_dim() const { return dim / n_heads; }
  int64_t kv_dim() const { return n_kv_heads * head_dim(); }
  bool is_transformer() const { return self_kind == self_decoder_kind::transformer; }
  int64_t n_layers() const { return n_self_layers + n_cross_layers; }
  int32_t special_id(const std::string& role) const {
    auto it = special_tokens.find(role);
    return it == special_tokens.end() ? -1 : it->second.id;
  }
};

// Parses and validates config.json text. `source` names the file in error messages.
result<model_config> parse_model_config(const std::string& json_text, const std::string& source);
result<model_config> load_model_config(const std::filesystem::path& path);

// Built-in configurations for benchmarks and tests with random weights ("tiny", "tome-25m",
// "tome-25m-swa", "yoco-3b"); builtin_config_names() lists them.
result<model_config> builtin_config(const std::string& name);
std::vector<std::string> builtin_config_names();

}  // namespace tome
