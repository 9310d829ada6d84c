// Session state in parts (tome/session_parts.h): export the header and a range of global-KV rows
// through the backend's ranged KV exchange (backend.h: export_kv_rows, begin_kv_import,
// import_kv_rows), and rebuild a session from parts or row by row (session_builder) with every
// shape checked. Used by the session store; session::serialize() stays the one-blob form.
#include "tome/session_parts.h"

#include <algorithm>
#include <cstring>

#include "backend/backend.h"
#include "model/dtype.h"
#include "memory/session_state.h"

namespace tome {

std::string kv_precision(const model& m) {
  // Every backend exchanges f32 host state; the CPU backend keeps the global KV in f32, the CUDA
  // backend in bf16 or fp8 e4m3 (cuda/cuda_backend.cpp; backend::kv_precision).
  return m.be().kv_precision();
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
  TOME_TRY(m.be().export_self(*s.state().dev, hs));
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
  const size_t len = static_cast<size_t>((kv_end - kv_begin) * p.kv_dim);
  p.k.resize(len);
  p.v.resize(len);
  TOME_TRY(export_kv_rows(s, kv_begin, kv_end - kv_begin, kv_wire::f32, p.k.data(), p.v.data()));
  return p;
}

// backend.h's default batched decode: one decode() per session.
status backend::decode_batch(std::span<backend_state* const> states, std::span<const int32_t> tokens,
                             std::span<const std::span<float>> logits) const {
  if (tokens.size() != states.size() || logits.size() != states.size())
    return error("decode_batch: " + std::to_string(states.size()) + " sessions, " + std::to_string(tokens.size()) +
                 " tokens, " + std::to_string(logits.size()) + " logits rows");
  for (size_t i = 0; i < states.size(); ++i) TOME_TRY(decode(*states[i], tokens[i], logits[i]));
  return {};
}

// backend.h's default pre-selecting decode: on the host, with the CPU twin.
status backend::decode_select(backend_state& st, int32_t token, std::span<float> logits,
                              std::span<const int32_t> penalized, float penalty, int k,
                              candidate_set& out, bool& logits_kept) const {
  logits_kept = false;
  TOME_TRY(decode(st, token, logits));
  select_candidates(logits, penalized, penalty, k, out);
  return {};
}
status backend::step_logits(backend_state&, std::span<float>) const {
  return error(description() + " keeps no logits on its side");
}

// backend.h's defaults for backends without a ranged KV exchange.
status backend::begin_kv_import(backend_state&, const host_state&) const {
  return error(description() + " has no ranged KV import");
}
status backend::import_kv_rows(backend_state&, int64_t, int64_t, kv_wire, const void*,
                               const void*) const {
  return error(description() + " has no ranged KV import");
}
status backend::finish_kv_import(backend_state&) const { return {}; }
status backend::export_kv_rows(const backend_state& st, int64_t row0, int64_t n, kv_wire w,
                               void* k, void* v) const {
  host_state hs;
  TOME_TRY(export_state(st, hs));
  const size_t kvd = hs.n_tokens > 0 ? hs.global_k.size() / static_cast<size_t>(hs.n_tokens) : 0;
  if (row0 < 0 || n < 0 || row0 + n > hs.n_tokens) return error("export_kv_rows: rows outside the session");
  const size_t at = static_cast<size_t>(row0) * kvd, cnt = static_cast<size_t>(n) * kvd;
  for (int i = 0; i < 2; ++i) {
    const float* src = (i ? hs.global_v.data() : hs.global_k.data()) + at;
    if (w == kv_wire::f32) {
      std::memcpy(i ? v : k, src, cnt * 4);
    } else {
      auto* h = static_cast<uint16_t*>(i ? v : k);
      for (size_t j = 0; j < cnt; ++j) h[j] = f32_to_bf16(src[j]);
    }
  }
  return {};
}

kv_wire native_kv_wire(const model& m) { return m.be().native_kv_wire(); }

status export_kv_rows(const session& s, int64_t row0, int64_t n, kv_wire w, void* k, void* v) {
  if (row0 < 0 || n < 0 || row0 + n > s.n_tokens())
    return error("KV rows [" + std::to_string(row0) + ", " + std::to_string(row0 + n) +
                 ") are outside the session's " + std::to_string(s.n_tokens()) + " tokens");
  if (n == 0) return {};
  if (!k || !v) return error("export_kv_rows: no output buffer");
  return s.get_model().be().export_kv_rows(*s.state().dev, row0, n, w, k, v);
}

namespace {

// Everything of a header but the KV (session_from_parts and session_builder::begin).
status check_header(const model& m, const session_parts& p) {
  const model_config& c = m.config();
  if (p.fingerprint != m.fingerprint())
    return error("the session state was made by a different model (fingerprint " + p.fingerprint +
                 ", this model " + m.fingerprint() + ")");
  if (p.kv_precision != kv_precision(m))
    return error("the session's global KV is " + p.kv_precision + ", this backend keeps it in " +
                 kv_precision(m));
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
  if (!p.last_hidden.empty() && static_cast<int64_t>(p.last_hidden.size()) != p.dim)
    return error("session last hidden row has the wrong size");
  return {};
}

}  // namespace

result<std::unique_ptr<session_builder>> session_builder::begin(std::shared_ptr<const model> m,
                                                                session_parts header) {
  if (!m) return error("no model");
  TOME_TRY(check_header(*m, header));
  if (header.kv_begin != 0 || header.kv_end != 0 || !header.k.empty() || !header.v.empty())
    return error("a session_builder header holds no KV rows");
  auto s = session::create(m);
  if (!s) return s.error_status();
  host_state hs;
  hs.n_tokens = header.n_tokens;
  hs.self_rows = header.self_rows;
  hs.self_state = std::move(header.self_state);
  hs.last_hidden = std::move(header.last_hidden);
  if (hs.last_hidden.empty()) hs.last_hidden.assign(static_cast<size_t>(m->config().dim), 0.0f);
  TOME_TRY(m->be().begin_kv_import(*(*s)->state().dev, hs));
  (*s)->state().tokens = std::move(header.tokens);
  (*s)->state().logits_valid = false;
  (*s)->state().logits_kept = false;
  std::unique_ptr<session_builder> b(new session_builder());
  b->m_ = std::move(m);
  b->s_ = std::move(*s);
  b->n_tokens_ = hs.n_tokens;
  return b;
}

session_builder::~session_builder() {
  // Uploads still in flight read the backend's own staging, never the caller's buffers; wait
  // for them before the state they write is freed.
  if (s_) (void)m_->be().finish_kv_import(*s_->state().dev);
}

kv_wire session_builder::native_wire() const { return m_->be().native_kv_wire(); }

status session_builder::put_kv_rows(int64_t row0, int64_t n, kv_wire w, const void* k,
                                    const void* v) {
  if (!s_) return error("session_builder: the session was already finished");
  if (row0 < 0 || n < 0 || row0 + n > n_tokens_)
    return error("KV rows [" + std::to_string(row0) + ", " + std::to_string(row0 + n) +
                 ") are outside the session's " + std::to_string(n_tokens_) + " tokens");
  if (n == 0) return {};
  if (!k || !v) return error("put_kv_rows: no input buffer");
  TOME_TRY(m_->be().import_kv_rows(*s_->state().dev, row0, n, w, k, v));
  rows_put_.fetch_add(n, std::memory_order_relaxed);
  return {};
}

result<std::unique_ptr<session>> session_builder::finish() {
  if (!s_) return error("session_builder: the session was already finished");
  const int64_t put = rows_put_.load();
  if (put != n_tokens_)
    return error("the session's global KV is incomplete (" + std::to_string(put) + " of " +
                 std::to_string(n_tokens_) + " rows were put)");
  TOME_TRY(m_->be().finish_kv_import(*s_->state().dev));
  return std::move(s_);
}

result<std::unique_ptr<session>> session_from_parts(std::shared_ptr<const model> m,
                                                    session_parts parts) {
  if (!m) return error("no model");
  TOME_TRY(check_header(*m, parts));
  const int64_t n = parts.n_tokens;
  if (parts.kv_begin != 0 || parts.kv_end != n)
    return error("building a session needs the whole global KV (rows 0.." + std::to_string(n) +
                 ")");
  const auto kv = static_cast<size_t>(n * parts.kv_dim);
  if (parts.k.size() != kv || parts.v.size() != kv)
    return error("session global KV has the wrong size");
  auto s = session::create(m);
  if (!s) return s;
  host_state hs;
  hs.n_tokens = n;
  hs.self_rows = parts.self_rows;
  hs.self_state = std::move(parts.self_state);
  hs.global_k = std::move(parts.k);
  hs.global_v = std::move(parts.v);
  hs.last_hidden = std::move(parts.last_hidden);
  if (hs.last_hidden.empty()) hs.last_hidden.assign(static_cast<size_t>(m->config().dim), 0.0f);
  TOME_TRY(m->be().import_state(*(*s)->state().dev, hs));
  (*s)->state().tokens = std::move(parts.tokens);
  (*s)->state().logits_valid = false;
  (*s)->state().logits_kept = false;
  return s;
}

}  // namespace tome
