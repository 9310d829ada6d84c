// Session state in parts (tome/session_parts.h): export the header and a range of global-KV rows
// through the backend's canonical host_state, and rebuild a session from parts with every shape
// checked. Used by the session store; session::serialize() stays the one-blob form.
#include "tome/session_parts.h"

#include <algorithm>

#include "backend/backend.h"
#include "memory/session_state.h"

namespace tome {

std::string kv_precision(const model& m) {
  // Every backend exchanges f32 host state; the CPU backend keeps the global KV in f32, the CUDA
  // backend in bf16 (cuda/cuda_backend.cpp). A new backend must be named here.
  return m.backend_in_use() == backend_kind::cuda ? "bf16" : "f32";
}

int64_t self_rows_for(const model_config& c, int64_t n_tokens) {
  if (c.self_kind != self_decoder_kind::sliding_window) return 0;
  return std::min<int64_t>(n_tokens, std::max<int64_t>(c.window - 1, 0));
}

int64_t self_layer_floats_for(const model_config& c, int64_t n_tokens) {
  if (c.self_kind == self_decoder_kind::gated_retention)
    return c.n_self_heads * c.self_head_dim() * c.self_head_dim();
  return 2 * self_rows_for(c, n_tokens) * c.dim;
}

result<session_parts> export_session_parts(const session& s, int64_t kv_begin, int64_t kv_end) {
  const model& m = s.get_model();
  const model_config& c = m.config();
  const int64_t n = s.n_tokens();
  if (kv_begin < 0 || kv_end < kv_begin || kv_end > n)
    return error("KV rows [" + std::to_string(kv_begin) + ", " + std::to_string(kv_end) +
                 ") are outside the session's " + std::to_string(n) + " tokens");
  host_state hs;
  TOME_TRY(m.be().export_state(*s.state().dev, hs));
  if (hs.n_tokens != n) return error("the backend's state and the session's tokens disagree");
  session_parts p;
  p.fingerprint = m.fingerprint();
  p.kv_precision = kv_precision(m);
  p.self_kind = c.self_kind;
  p.n_tokens = n;
  p.self_rows = hs.self_rows;
  p.n_self_layers = c.n_self_layers;
  p.self_layer_floats = self_layer_floats_for(c, n);
  p.dim = c.dim;
  p.kv_dim = c.kv_dim();
  p.tokens = s.tokens();
  p.self_state = std::move(hs.self_state);
  p.last_hidden = std::move(hs.last_hidden);
  p.kv_begin = kv_begin;
  p.kv_end = kv_end;
  const auto b = static_cast<std::ptrdiff_t>(kv_begin * p.kv_dim);
  const auto e = static_cast<std::ptrdiff_t>(kv_end * p.kv_dim);
  if (kv_begin == 0 && kv_end == n) {
    p.k = std::move(hs.global_k);
    p.v = std::move(hs.global_v);
  } else {
    p.k.assign(hs.global_k.begin() + b, hs.global_k.begin() + e);
    p.v.assign(hs.global_v.begin() + b, hs.global_v.begin() + e);
  }
  return p;
}

result<std::unique_ptr<session>> session_from_parts(std::shared_ptr<const model> m,
                                                    session_parts parts) {
  if (!m) return error("no model");
  const model_config& c = m->config();
  const session_parts& p = parts;
  if (p.fingerprint != m->fingerprint())
    return error("the session state was made by a different model (fingerprint " + p.fingerprint +
                 ", this model " + m->fingerprint() + ")");
  if (p.kv_precision != kv_precision(*m))
    return error("the session's global KV is " + p.kv_precision + ", this backend keeps it in " +
                 kv_precision(*m));
  const int64_t n = p.n_tokens;
  if (n < 0 || n > c.max_context)
    return error("session token count " + std::to_string(n) + " is invalid for this model");
  if (p.self_kind != c.self_kind || p.n_self_layers != c.n_self_layers || p.dim != c.dim ||
      p.kv_dim != c.kv_dim())
    return error("session shapes do not match the model (self-decoder kind, layers or widths)");
  if (p.self_rows != self_rows_for(c, n) || p.self_layer_floats != self_layer_floats_for(c, n))
    return error("session self-decoder state has the wrong size");
  if (static_cast<int64_t>(p.tokens.size()) != n)
    return error("session token list has the wrong length");
  for (int32_t t : p.tokens)
    if (t < 0 || t >= c.vocab_size)
      return error("session holds token id " + std::to_string(t) + " outside the vocabulary");
  if (static_cast<int64_t>(p.self_state.size()) != p.n_self_layers)
    return error("session self-decoder state has the wrong number of layers");
  for (const auto& layer : p.self_state)
    if (static_cast<int64_t>(layer.size()) != p.self_layer_floats)
      return error("session self-decoder state has the wrong size");
  if (p.kv_begin != 0 || p.kv_end != n)
    return error("building a session needs the whole global KV (rows 0.." + std::to_string(n) +
                 ")");
  const auto kv = static_cast<size_t>(n * p.kv_dim);
  if (p.k.size() != kv || p.v.size() != kv) return error("session global KV has the wrong size");
  if (!p.last_hidden.empty() && static_cast<int64_t>(p.last_hidden.size()) != p.dim)
    return error("session last hidden row has the wrong size");

  auto s = session::create(m);
  if (!s) return s;
  host_state hs;
  hs.n_tokens = n;
  hs.self_rows = p.self_rows;
  hs.self_state = std::move(parts.self_state);
  hs.global_k = std::move(parts.k);
  hs.global_v = std::move(parts.v);
  hs.last_hidden = std::move(parts.last_hidden);
  if (hs.last_hidden.empty()) hs.last_hidden.assign(static_cast<size_t>(c.dim), 0.0f);
  TOME_TRY(m->be().import_state(*(*s)->state().dev, hs));
  (*s)->state().tokens = std::move(parts.tokens);
  (*s)->state().logits_valid = false;
  return s;
}

}  // namespace tome
