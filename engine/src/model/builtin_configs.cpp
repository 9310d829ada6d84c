// Built-in model configurations for `tome bench --config NAME --random-weights` and tests.
#include <functional>
#include <map>

#include "tome/model_config.h"

namespace tome {
namespace {

model_config base(const std::string& name, int64_t dim, int64_t layers, int64_t heads,
                  int64_t kv_heads, int64_t ffn, int64_t vocab, self_decoder_kind kind,
                  int64_t window) {
  model_config c;
  c.name = name;
  c.dim = dim;
  c.n_self_layers = layers;
  c.n_cross_layers = layers;
  c.n_self_heads = heads;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.ffn_dim = ffn;
  c.vocab_size = vocab;
  c.self_kind = kind;
  c.window = window;
  c.special_tokens["eos"] = {2, "</s>"};
  return c;
}

const std::map<std::string, std::function<model_config()>>& table() {
  using k = self_decoder_kind;
  static const std::map<std::string, std::function<model_config()>> t = {
      {"tiny", [] { return base("tiny", 64, 2, 4, 2, 96, 512, k::gated_retention, 0); }},
      {"tiny-swa", [] { return base("tiny-swa", 64, 2, 4, 2, 96, 512, k::sliding_window, 8); }},
      // ~26M parameters: the shape of Tome's default model (resources/models/tome-25m, RoPE theta
      // 1e10 since its long-context training; 500000 before).
      {"tome-25m",
       [] {
         auto c = base("tome-25m", 384, 6, 6, 2, 1024, 8192, k::gated_retention, 0);
         c.rope_theta = 1e10;
         return c;
       }},
      {"tome-25m-swa",
       [] { return base("tome-25m-swa", 384, 6, 6, 2, 1024, 8192, k::sliding_window, 1024); }},
      // The paper's YOCO-3B shape (tiktoken cl100k vocabulary + specials).
      // max_context 2M: a 1M-token prefill (the benchmark's longest) leaves room to decode after it.
      {"yoco-3b",
       [] {
         auto c = base("yoco-3b", 3072, 13, 24, 8, 8192, 100288, k::gated_retention, 0);
         c.max_context = 1 << 21;
         return c;
       }},
      {"yoco-3b-swa",
       [] {
         auto c = base("yoco-3b-swa", 3072, 13, 24, 8, 8192, 100288, k::sliding_window, 1024);
         c.max_context = 1 << 21;
         return c;
       }},
      // The Transformer baseline of the same shapes (model_config.h: kind transformer; L = 2 x 13
      // layers of causal GQA attention, each with its own KV): tome bench side by side with YOCO.
      {"tiny-transformer", [] { return base("tiny-transformer", 64, 2, 4, 2, 96, 512, k::transformer, 0); }},
      {"transformer-3b", [] { return base("transformer-3b", 3072, 13, 24, 8, 8192, 100288, k::transformer, 0); }},
  };
  return t;
}

}  // namespace

result<model_config> builtin_config(const std::string& name) {
  auto it = table().find(name);
  if (it == table().end()) {
    std::string names;
    for (const auto& [n, f] : table()) names += (names.empty() ? "" : ", ") + n;
    return error("unknown built-in configuration '" + name + "' (known: " + names + ")");
  }
  return it->second();
}

std::vector<std::string> builtin_config_names() {
  std::vector<std::string> names;
  for (const auto& [n, f] : table()) names.push_back(n);
  return names;
}

}  // namespace tome
