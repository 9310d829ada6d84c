// A session's state in parts, for the session store (engine/store): a header (token ids,
// self-decoder state, last hidden row, shapes, the model's fingerprint) and the global KV as f32
// rows [begin, end). Complements session::serialize() (one blob): the store writes only new KV
// rows at each checkpoint and rebuilds a session from rows it read back. Host layout as in
// engine/src/backend/backend.h (host_state); no SQLite here, errors are values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tome/engine.h"

namespace tome {

struct session_parts {
  std::string fingerprint;   // the model's, 32 hex digits
  std::string kv_precision;  // the backend's global-KV precision ("f32" on the CPU backend)
  self_decoder_kind self_kind = self_decoder_kind::gated_retention;
  int64_t n_tokens = 0;
  int64_t self_rows = 0;  // sliding window: rows per layer, min(n, W-1); retention: 0
  int64_t n_self_layers = 0;
  int64_t self_layer_floats = 0;  // floats per layer of self_state
  int64_t dim = 0;
  int64_t kv_dim = 0;
  std::vector<int32_t> tokens;                 // [n_tokens]
  std::vector<std::vector<float>> self_state;  // [n_self_layers][self_layer_floats]
  std::vector<float> last_hidden;              // [dim] (empty when n_tokens == 0)
  int64_t kv_begin = 0, kv_end = 0;            // the KV rows held below
  std::vector<float> k, v;                     // [kv_end - kv_begin, kv_dim] each; K post-RoPE
};

// The precision in which `m`'s backend holds the global KV ("f32" on the CPU backend). Sessions
// made on a backend of another precision are not bit-compatible.
std::string kv_precision(const model& m);
// Self-decoder state size for a session of n tokens on config c.
int64_t self_rows_for(const model_config& c, int64_t n_tokens);
int64_t self_layer_floats_for(const model_config& c, int64_t n_tokens);

// Exports the header and the KV rows [kv_begin, kv_end) (0 <= kv_begin <= kv_end <= n_tokens).
// The backend exports its whole state once per call (host_state), so the cost is O(n_tokens).
result<session_parts> export_session_parts(const session& s, int64_t kv_begin, int64_t kv_end);

// Builds a session on m's backend from parts holding the complete KV (kv_begin 0, kv_end
// n_tokens). Checks the fingerprint, the KV precision, every shape and size, and the token ids.
// The result continues bit-identically to the session that was exported.
result<std::unique_ptr<session>> session_from_parts(std::shared_ptr<const model> m,
                                                    session_parts parts);

}  // namespace tome
