// A session's state in parts, for the session store (engine/store): a header (token ids,
// self-decoder state, last hidden row, shapes, the model's fingerprint) and the global KV as f32
// rows [begin, end). Complements session::serialize() (one blob): the store writes only new KV
// rows at each checkpoint and rebuilds a session from rows it read back. Host layout as in
// engine/src/backend/backend.h (host_state); no SQLite here, errors are values. Ranged KV rows
// (export_kv_rows, session_builder) move straight between the caller's buffers and the backend's
// memory, in f32 or bf16, on several threads at once, without an f32 copy of the whole KV.
#pragma once

#include <atomic>
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

// Exports the header and the KV rows [kv_begin, kv_end) (0 <= kv_begin <= kv_end <= n_tokens):
// the self-decoder state (constant size) and only the rows asked for.
result<session_parts> export_session_parts(const session& s, int64_t kv_begin, int64_t kv_end);

// Element type of global-KV rows exchanged in ranges: f32, or bf16 (the upper 16 bits of an f32,
// rounded to nearest even: tome::store::f32_to_bf16 and the CUDA backend round alike).
enum class kv_wire { f32 = 0, bf16 = 1 };
inline size_t kv_wire_bytes(kv_wire w) { return w == kv_wire::bf16 ? 2 : 4; }
// The wire format m's backend keeps its global KV in (f32 on the CPU, bf16 on CUDA): rows in it
// cross without conversion.
kv_wire native_kv_wire(const model& m);

// Copies the global-KV rows [row0, row0 + n) of s into k and v ([n, kv_dim] each, in w). Safe to
// call from several threads at once on one session (nothing else may change it meanwhile).
status export_kv_rows(const session& s, int64_t row0, int64_t n, kv_wire w, void* k, void* v);

// Builds a session from a header and its KV rows put in any order, from several threads: the
// session store's restore (rows decoded and imported while the next ones are read). The header is
// checked like session_from_parts (fingerprint, precision, shapes, sizes, token ids); it holds no
// KV (kv_begin == kv_end == 0, k and v empty). finish() refuses unless n_tokens rows were put.
class session_builder {
 public:
  static result<std::unique_ptr<session_builder>> begin(std::shared_ptr<const model> m,
                                                        session_parts header);
  ~session_builder();
  session_builder(const session_builder&) = delete;
  session_builder& operator=(const session_builder&) = delete;

  int64_t n_tokens() const { return n_tokens_; }
  kv_wire native_wire() const;
  // Rows [row0, row0 + n) of K and V ([n, kv_dim] each, in w), inside [0, n_tokens()). Thread-safe
  // for disjoint ranges; each row must be put exactly once. The buffers may be reused on return.
  status put_kv_rows(int64_t row0, int64_t n, kv_wire w, const void* k, const void* v);
  // Waits for the rows to land on the device and returns the session (once).
  result<std::unique_ptr<session>> finish();

 private:
  session_builder() = default;
  std::shared_ptr<const model> m_;
  std::unique_ptr<session> s_;
  int64_t n_tokens_ = 0;
  std::atomic<int64_t> rows_put_{0};
};

// Builds a session on m's backend from parts holding the complete KV (kv_begin 0, kv_end
// n_tokens). Checks the fingerprint, the KV precision, every shape and size, and the token ids.
// The result continues bit-identically to the session that was exported.
result<std::unique_ptr<session>> session_from_parts(std::shared_ptr<const model> m,
                                                    session_parts parts);

}  // namespace tome
