// Fuzz target: parse_model_config on arbitrary text. No crash, no exception, and when it
// accepts, the documented rules hold (heads divide, head dims even, ids < V, templates parse)
// and expected_tensors lists exactly the table's count for the config.
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "model/prompt_template.h"
#include "model/tensor_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome;
  auto r = parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
  if (!r) {
    if (r.message().rfind("fuzz.json: ", 0) != 0)
      fuzz::fail("message without file name", r.message());
    return 0;
  }
  const model_config& c = *r;
  if (c.dim <= 0 || c.n_self_heads <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.ffn_dim <= 0 ||
      c.vocab_size <= 0 || c.n_self_layers <= 0 || c.n_cross_layers <= 0 || c.max_context <= 0) {
    fuzz::fail("a size is not positive");
  }
  if (c.dim % c.n_self_heads || c.dim % c.n_heads || c.n_heads % c.n_kv_heads)
    fuzz::fail("divisibility");
  if (c.self_head_dim() % 2 || c.head_dim() % 2) fuzz::fail("odd head dim");
  if (c.self_kind == self_decoder_kind::sliding_window && c.window < 1) fuzz::fail("window");
  if (!(c.rope_theta > 0) || !(c.norm_eps > 0) || !(c.retention_gate_temperature > 0))
    fuzz::fail("floats");
  if (c.special_id("eos") < 0) fuzz::fail("no eos");
  for (const auto& [role, t] : c.special_tokens) {
    if (t.id < 0 || t.id >= c.vocab_size || t.piece.empty()) fuzz::fail("special token", role);
  }
  for (const auto& [name, text] : c.templates) {
    if (!parse_template(text, c.special_tokens, name))
      fuzz::fail("template accepted, then refused", name);
  }
  const size_t per_self = c.self_kind == self_decoder_kind::gated_retention ? 11 : 9;
  const auto expected = expected_tensors(c);
  if (expected.size() != 6 + per_self * static_cast<size_t>(c.n_self_layers) +
                             7 * static_cast<size_t>(c.n_cross_layers)) {
    fuzz::fail("expected tensor count");
  }
  for (const auto& t : expected) {
    for (int64_t d : t.shape) {
      if (d <= 0) fuzz::fail("non-positive expected dim", t.name);
    }
  }
  return 0;
}
