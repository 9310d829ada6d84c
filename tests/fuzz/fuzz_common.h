// Shared by the fuzz targets: a small config (D 4, 1+1 layers) whose complete weight files fit
// in a seed of a few kilobytes, and a trap that works the same under libFuzzer and the driver.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tome/model_config.h"

namespace tome::fuzz {

// A broken invariant: report and crash, so libFuzzer (or the driver) saves the input.
[[noreturn]] inline void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz invariant broken: %s %s\n", what, detail.c_str());
  std::abort();
}

inline const char* k_small_config_json = R"({
  "format": "tome-yoco", "format_version": 1, "name": "fuzz-small",
  "dim": 4, "n_self_layers": 1, "n_cross_layers": 1, "n_self_heads": 2, "n_heads": 2,
  "n_kv_heads": 1, "ffn_dim": 4, "vocab_size": 8,
  "self_decoder": {"kind": "gated_retention", "gate_temperature": 16.0},
  "rope_theta": 10000.0, "norm_eps": 1e-5, "max_context": 64,
  "special_tokens": {"eos": {"id": 2, "piece": "</s>"}},
  "templates": {}
})";

inline const model_config& small_config() {
  static const model_config c = [] {
    auto r = parse_model_config(k_small_config_json, "fuzz-small");
    if (!r) fail("small config", r.message());
    return *r;
  }();
  return c;
}

}  // namespace tome::fuzz
