// tome::session: chunked prefill with progress and cancel, decode, generation with the sampler
// chain and stop strings, and snapshots. What runs where is the backend's business
// (backend/backend.h); this file decides what runs and in which order.
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "backend/backend.h"
#include "memory/session_state.h"
#include "tome/engine.h"

namespace tome {
namespace {

// What decode() checks before a step: the token is in the vocabulary and the context has room.
status check_decode_token(const model_config& c, int64_t n_tokens, int32_t token) {
  if (token < 0 || token >= c.vocab_size)
    return error("token id " + std::to_string(token) + " is outside the vocabulary");
  if (n_tokens + 1 > c.max_context)
    return error("the session is at the model's maximum context of " + std::to_string(c.max_context) + " tokens");
  return {};
}

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string: those bytes
// are held back from streaming until it is clear they do not start a stop string.
size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

struct session_mark_data {
  std::string fingerprint;  // the model's
  int64_t n_tokens = 0;
  uint64_t tokens_hash = 0;  // XXH3-64 of the token ids up to n_tokens
  host_state self;           // export_self: no global KV
  std::vector<float> logits;  // empty when the logits were not computed at the mark
};

namespace {
uint64_t hash_tokens(const std::vector<int32_t>& t, int64_t n) {
  return XXH3_64bits(t.data(), static_cast<size_t>(n) * sizeof(int32_t));
}
}  // namespace

session_mark::session_mark() = default;
session_mark::~session_mark() = default;
session_mark::session_mark(const session_mark&) = default;
session_mark& session_mark::operator=(const session_mark&) = default;
int64_t session_mark::n_tokens() const { return d_ ? d_->n_tokens : 0; }
int64_t session_mark::bytes() const {
  if (!d_) return 0;
  int64_t b = static_cast<int64_t>((d_->self.last_hidden.size() + d_->logits.size()) * 4);
  for (const auto& l : d_->self.self_state) b += static_cast<int64_t>(l.size() * 4);
  return b;
}

result<session_mark> session::mark() const {
  auto d = std::make_shared<session_mark_data>();
  d->fingerprint = model_->fingerprint();
  d->n_tokens = n_tokens();
  d->tokens_hash = hash_tokens(state_->tokens, d->n_tokens);
  TOME_TRY(model_->be().export_self(*state_->dev, d->self));
  if (state_->logits_valid) {
    d->logits.assign(state_->logits.begin(), state_->logits.end());
  } else if (state_->logits_kept) {  // the backend's, exactly
    d->logits.resize(state_->logits.size());
    if (!model_->be().step_logits(*state_->dev, d->logits).ok()) d->logits.clear();
  }
  session_mark m;
  m.d_ = std::move(d);
  return m;
}

status session::rewind(const session_mark& m) {
  if (!m.d_) return error("rewind: an empty mark");
  const session_mark_data& d = *m.d_;
  if (d.fingerprint != model_->fingerprint())
    return error("rewind: the mark was taken on a session of another model");
  if (d.n_tokens > n_tokens())
    return error("rewind: the mark is at token " + std::to_string(d.n_tokens) +
                 ", beyond the session's " + std::to_string(n_tokens()));
  if (hash_tokens(state_->tokens, d.n_tokens) != d.tokens_hash)
    return error("rewind: the session's tokens before the mark changed since it was taken");
  TOME_TRY(model_->be().rewind(*state_->dev, d.self));
  state_->tokens.resize(static_cast<size_t>(d.n_tokens));
  state_->logits_valid = !d.logits.empty();
  state_->logits_kept = false;
  if (state_->logits_valid) {
    if (d.logits.size() != state_->logits.size()) return error("rewind: the mark's logits have the wrong size");
    std::copy(d.logits.begin(), d.logits.end(), state_->logits.begin());
  }
  return {};
}

session::~session() = default;

result<std::unique_ptr<session>> session::create(std::shared_ptr<const model> m) {
  if (!m) return error("no model");
  std::unique_ptr<session> s(new session());
  s->model_ = std::move(m);
  s->state_ = std::make_unique<session_state>();
  s->state_->dev = s->model_->be().new_state();
  const size_t V = static_cast<size_t>(s->model_->config().vocab_size);
  s->state_->logits = s->state_->dev->host_logits();
  if (s->state_->logits.size() != V) {
    s->state_->logits_store.assign(V, 0.0f);
    s->state_->logits = s->state_->logits_store;
  }
  return s;
}

int64_t session::n_tokens() const { return static_cast<int64_t>(state_->tokens.size()); }
const std::vector<int32_t>& session::tokens() const { return state_->tokens; }

memory_breakdown session::memory() const {
  memory_breakdown m = state_->dev->memory();  // workspace: what the backend keeps for this session
  m.workspace += static_cast<int64_t>(state_->logits.size() * sizeof(float));  // + the host logits
  return m;
}

// Before appending tokens: the context limit, the vocabulary, and (when the KV grows) the memory,
// refused now with the numbers rather than midway; then the KV rows are reserved.
status session::check_append(std::span<const int32_t> tokens, int64_t chunk_tokens) {
  const backend& be = model_->be();
  const model_config& c = model_->config();
  const int64_t total = static_cast<int64_t>(tokens.size());
  if (n_tokens() + total > c.max_context)
    return error("the session would hold " + std::to_string(n_tokens() + total) +
                 " tokens, more than the model's maximum context of " + std::to_string(c.max_context));
  for (int32_t t : tokens)
    if (t < 0 || t >= c.vocab_size)
      return error("token id " + std::to_string(t) + " is outside the vocabulary");
  if (total > 0 && n_tokens() + total > state_->dev->memory().global_kv / std::max<int64_t>(1, be.kv_bytes_per_token())) {
    memory_plan plan = model_->plan_memory(n_tokens() + total, chunk_tokens);
    plan.need.global_kv -= state_->dev->memory().global_kv;  // already held
    plan.need.self_state = 0;
    if (!plan.fits())
      return error("not enough memory on " + model_->backend_description() + ": " + plan.describe());
  }
  return be.reserve(*state_->dev, n_tokens() + total);
}

status session::logits_for(std::span<const int32_t> tokens, std::vector<float>& out) {
  out.clear();
  if (tokens.empty()) return {};
  TOME_TRY(check_append(tokens, static_cast<int64_t>(tokens.size())));
  const int64_t V = model_->config().vocab_size;
  state_->logits_valid = false;
  state_->logits_kept = false;
  const int64_t before = state_->dev->n_tokens();
  const status st = model_->be().forward_all(*state_->dev, tokens, out);
  // The tokens list follows the device state, also when the backend failed after committing the
  // self-decoder (then the tokens are in the session, their logits are not).
  if (state_->dev->n_tokens() == before + static_cast<int64_t>(tokens.size()))
    state_->tokens.insert(state_->tokens.end(), tokens.begin(), tokens.end());
  if (!st.ok()) return st;
  if (out.size() != tokens.size() * static_cast<size_t>(V))
    return error("logits_for: the backend returned " + std::to_string(out.size()) + " logits for " +
                 std::to_string(tokens.size()) + " positions");
  std::copy(out.end() - V, out.end(), state_->logits.begin());
  state_->logits_valid = true;
  state_->logits_kept = false;
  return {};
}

result<prefill_result> session::prefill(std::span<const int32_t> tokens, const prefill_params& p) {
  const backend& be = model_->be();
  prefill_result r;
  const auto t0 = clock_type::now();
  const int64_t total = static_cast<int64_t>(tokens.size());
  TOME_TRY(check_append(tokens, p.chunk_tokens));
  const int64_t chunk = std::max<int64_t>(1, p.chunk_tokens);
  for (int64_t off = 0; off < total; off += chunk) {
    if (p.cancel && p.cancel->load()) {
      r.cancelled = true;
      break;
    }
    const int64_t len = std::min(chunk, total - off);
    const int64_t before = state_->dev->n_tokens();
    TOME_TRY(be.prefill(*state_->dev, tokens.subspan(static_cast<size_t>(off), static_cast<size_t>(len)),
                        p.cancel));
    if (state_->dev->n_tokens() == before) {  // cancelled inside the chunk: nothing committed
      r.cancelled = true;
      break;
    }
    state_->tokens.insert(state_->tokens.end(), tokens.begin() + off, tokens.begin() + off + len);
    state_->logits_valid = false;
    state_->logits_kept = false;
    r.tokens_done += len;
    if (p.on_progress) {
      prefill_progress pr;
      pr.done = r.tokens_done;
      pr.total = total;
      pr.elapsed_seconds = seconds_since(t0);
      pr.tokens_per_second = pr.elapsed_seconds > 0 ? r.tokens_done / pr.elapsed_seconds : 0;
      p.on_progress(pr);
    }
  }
  if (p.compute_logits && !r.cancelled && n_tokens() > 0 && !state_->logits_valid) {
    auto lg = logits();
    if (!lg) return lg.error_status();
  }
  r.seconds = seconds_since(t0);
  return r;
}

result<std::span<const float>> session::logits() {
  if (!state_->logits_valid) {
    // The logits a sampled step kept on the backend's side, else the cross-decoder again.
    if (!state_->logits_kept || !model_->be().step_logits(*state_->dev, state_->logits).ok())
      TOME_TRY(model_->be().last_logits(*state_->dev, state_->logits));
    state_->logits_valid = true;
    state_->logits_kept = false;
  }
  return std::span<const float>(state_->logits);
}

result<std::span<const float>> session::decode(int32_t token) {
  TOME_TRY(check_decode_token(model_->config(), n_tokens(), token));
  state_->logits_valid = false;
  state_->logits_kept = false;
  TOME_TRY(model_->be().decode(*state_->dev, token, state_->logits));
  state_->tokens.push_back(token);
  state_->logits_valid = true;
  state_->logits_kept = false;
  return std::span<const float>(state_->logits);
}

status session::decode_batch(std::span<session* const> sessions, std::span<const int32_t> tokens) {
  return decode_batch_impl(sessions, tokens, {});
}

status session::decode_batch_greedy(std::span<session* const> sessions, std::span<const int32_t> tokens,
                                    std::span<int32_t> next) {
  if (next.size() != sessions.size())
    return error("decode_batch_greedy: " + std::to_string(sessions.size()) + " sessions but room for " +
                 std::to_string(next.size()) + " next tokens");
  if (sessions.empty()) return {};
  return decode_batch_impl(sessions, tokens, next);
}

// Both batched steps: checks everything first, then runs groups of at most the backend's batch.
// With `next` (greedy): on the device where the backend can (the logits stay there: logits()
// computes them again on demand), else from the logits with the greedy sampler.
status session::decode_batch_impl(std::span<session* const> sessions, std::span<const int32_t> tokens,
                                  std::span<int32_t> next) {
  if (sessions.size() != tokens.size())
    return error("decode_batch: " + std::to_string(sessions.size()) + " sessions but " +
                 std::to_string(tokens.size()) + " tokens");
  if (sessions.empty()) return {};
  std::vector<const session*> seen;
  for (size_t i = 0; i < sessions.size(); ++i) {
    const session* s = sessions[i];
    if (!s) return error("decode_batch: session " + std::to_string(i) + " is null");
    if (s->model_ != sessions[0]->model_) return error("decode_batch: the sessions belong to different models");
    const model_config& c = s->model_->config();
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      return error("token id " + std::to_string(tokens[i]) + " is outside the vocabulary");
    if (s->n_tokens() + 1 > c.max_context)
      return error("session " + std::to_string(i) + " is at the model's maximum context of " +
                   std::to_string(c.max_context) + " tokens");
    seen.push_back(s);
  }
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
    return error("decode_batch: a session appears twice in the batch");
  const backend& be = sessions[0]->model_->be();
  const bool greedy = !next.empty(), on_device = greedy && be.device_greedy();
  const size_t group = static_cast<size_t>(std::max(1, be.max_decode_batch()));
  std::vector<backend_state*> states;
  std::vector<std::span<float>> logits;
  for (size_t off = 0; off < sessions.size(); off += group) {
    const size_t n = std::min(group, sessions.size() - off);
    states.clear();
    logits.clear();
    for (size_t i = off; i < off + n; ++i) {
      session_state& st = *sessions[i]->state_;
      st.logits_valid = false;
      st.logits_kept = false;
      states.push_back(st.dev.get());
      logits.emplace_back(st.logits);
    }
    if (on_device) TOME_TRY(be.decode_batch_greedy(states, tokens.subspan(off, n), next.subspan(off, n)));
    else TOME_TRY(be.decode_batch(states, tokens.subspan(off, n), logits));
    for (size_t i = off; i < off + n; ++i) {
      session_state& st = *sessions[i]->state_;
      st.tokens.push_back(tokens[i]);
      st.logits_valid = !on_device;
      st.logits_kept = false;
      if (greedy && !on_device) next[i] = sampler(sampling_params{}).sample(st.logits, {});
    }
  }
  return {};
}

result<generate_result> session::generate(const generate_params& p, const token_fn& on_token) {
  generate_result out;
  const auto t0 = clock_type::now();
  if (n_tokens() == 0) return error("the session is empty: prefill a prompt before generating");
  sampler smp(p.sampling);
  // Pre-selection (generate_params::preselect_k): after the first step, each decode also selects
  // the candidates; sample_candidates decides from them when it provably can. Greedy needs the
  // first entry only; with top-k on, the chain sees only the top_k first entries.
  int pre_k = preselect_applies(p.sampling, p.preselect_k) ? p.preselect_k : 0;
  if (pre_k > 0 && !(p.sampling.temperature > 0.0f)) pre_k = 1;
  else if (pre_k > 0 && p.sampling.top_k >= 1) pre_k = std::min(pre_k, p.sampling.top_k);
  candidate_set cands;
  bool have_cands = false;
  // decode() with the pre-selection: the same checks; the logits come back, or stay with the
  // backend until logits() needs them (only when the candidates cannot decide).
  const auto decode_select = [&](int32_t token) -> status {
    const model_config& c = model_->config();
    TOME_TRY(check_decode_token(c, n_tokens(), token));
    state_->tokens.push_back(token);  // the penalty of the next step looks at the token too
    const std::vector<int32_t> pen = penalized_tokens(state_->tokens, p.sampling, c.vocab_size);
    state_->tokens.pop_back();
    state_->logits_valid = false;
    state_->logits_kept = false;
    bool kept = false;
    TOME_TRY(model_->be().decode_select(*state_->dev, token, state_->logits, pen,
                                        p.sampling.repetition_penalty, pre_k, cands, kept));
    state_->tokens.push_back(token);
    state_->logits_valid = !kept;
    state_->logits_kept = kept;
    return {};
  };
  // A model without a tokenizer (random weights for benchmarks) generates token ids only.
  std::optional<detokenizer> detok;
  if (model_->has_tokenizer()) detok.emplace(model_->tok());
  const int32_t eos = model_->config().special_id("eos");
  std::string text;      // everything decoded so far
  size_t emitted = 0;    // bytes of text already passed to on_token
  out.reason = stop_reason::max_tokens;
  bool stopped = false;
  for (int i = 0; i < p.max_tokens && !stopped; ++i) {
    if (p.cancel && p.cancel->load()) {
      out.reason = stop_reason::cancelled;
      break;
    }
    if (p.attention) {  // where this prediction looks, summed over the answer
      auto am = attention_mass();
      if (!am) return am.error_status();
      p.attention->resize(am->size(), 0.0f);
      for (size_t j = 0; j < am->size(); ++j) (*p.attention)[j] += (*am)[j];
    }
    std::optional<int32_t> picked;
    if (have_cands) picked = smp.sample_candidates(cands);  // draws nothing when it cannot decide
    if (!picked) {  // the full logits
      auto lg = logits();
      if (!lg) return lg.error_status();
      picked = smp.sample(*lg, state_->tokens);
    }
    const int32_t id = *picked;
    have_cands = false;
    if (pre_k > 0) {
      TOME_TRY(decode_select(id));
      have_cands = true;
    } else {
      auto next = decode(id);
      if (!next) return next.error_status();
    }
    out.tokens.push_back(id);
    if (p.stop_at_eos && id == eos) {
      out.reason = stop_reason::eos;
      break;
    }
    if (detok) text += detok->push(id);
    size_t end = text.size();
    for (const std::string& s : p.stop) {
      if (s.empty()) continue;
      const size_t from = emitted >= s.size() ? emitted - s.size() + 1 : 0;
      const size_t at = text.find(s, from);
      if (at != std::string::npos && at < end) {
        end = at;
        stopped = true;
        out.reason = stop_reason::stop_string;
      }
    }
    if (!stopped) end = text.size() - stop_holdback(text, p.stop);
    std::string_view piece;
    if (end > emitted) piece = std::string_view(text).substr(emitted, end - emitted);
    emitted = std::max(emitted, end);
    if (stopped) text.resize(end);
    if (on_token && !on_token(id, piece)) {
      if (!stopped) out.reason = stop_reason::callback;
      stopped = true;
    }
  }
  if (out.reason != stop_reason::stop_string) {
    if (detok) text += detok->flush();
    if (on_token && text.size() > emitted) on_token(-1, std::string_view(text).substr(emitted));
  }
  out.text = std::move(text);
  out.seconds = seconds_since(t0);
  return out;
}

result<std::vector<float>> session::attention_mass() { return attention_mass({}); }

result<std::vector<float>> session::attention_mass(std::span<const attention_head> heads) {
  std::vector<float> mass(static_cast<size_t>(n_tokens()));
  TOME_TRY(model_->be().attention_mass(*state_->dev, mass, heads));
  return mass;
}

std::vector<uint8_t> session::serialize() const {
  host_state hs;
  status s = model_->be().export_state(*state_->dev, hs);
  if (!s.ok()) return {};
  return encode_snapshot(model_->config(), model_->fingerprint(), state_->tokens, hs);
}

result<std::unique_ptr<session>> session::deserialize(std::shared_ptr<const model> m,
                                                      std::span<const uint8_t> bytes) {
  auto s = create(m);
  if (!s) return s;
  host_state hs;
  std::vector<int32_t> tokens;
  TOME_TRY(decode_snapshot(bytes, m->config(), m->fingerprint(), tokens, hs));
  TOME_TRY(m->be().import_state(*(*s)->state_->dev, hs));
  (*s)->state_->tokens = std::move(tokens);
  (*s)->state_->logits_valid = false;
  (*s)->state_->logits_kept = false;
  return s;
}

}  // namespace tome
