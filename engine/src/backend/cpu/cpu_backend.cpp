// The CPU backend: the YOCO forward pass read top to bottom, in f32 on the CPU twins of the
// kernels (cpu_ops.h). Weights are converted to f32 at load (bf16/f16 widened, int8 dequantised
// with its per-row scales). Prefill runs the self-decoder only and writes the global KV in place;
// the cross-decoder runs only where logits are needed (YOCO's early exit).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <cblas.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/weight_layout.h"
#include "model/dtype.h"
#include "model/safetensors.h"
#include "model/tensor_table.h"
#include "util/parallel.h"

namespace tome {
namespace {

using fvec = std::vector<float>;

struct self_layer_w {
  fvec mixer_norm, ffn_norm, w1, w3, w2;
  fvec wq, wk, wv, wo, wg, wgt;  // wg, wgt: gated retention only
};
struct cross_layer_w {
  fvec mixer_norm, ffn_norm, wq, wo, w1, w3, w2;
};

struct cpu_state final : backend_state {
  int64_t n = 0;         // tokens held
  int64_t capacity = 0;  // rows allocated in k, v
  fvec k, v;             // global KV [capacity, kv_dim]
  std::vector<fvec> ret;  // gated retention: per layer [H, hd, hd]
  // sliding window: per layer, K and V of the last ring_rows positions, oldest first [W-1, D]
  std::vector<fvec> ring_k, ring_v;
  int64_t ring_rows = 0;
  fvec last_hidden;  // [D]
  int64_t kv_dim = 0;
  int64_t self_bytes = 0;
  int64_t n_tokens() const override { return n; }
  memory_breakdown memory() const override {
    memory_breakdown m;
    m.global_kv = static_cast<int64_t>((k.capacity() + v.capacity()) * sizeof(float));
    m.self_state = self_bytes;
    return m;
  }
};

class cpu_backend final : public backend {
 public:
  cpu_backend(const model_config& c, int n_threads) : c_(c), threads_(n_threads) {}

  status load(const safetensors_index& idx, const std::string& source) {
    TOME_TRY(visit_weights(c_, g_, self_, cross_, [&](const std::string& name, fvec& out) -> status {
      TOME_TRY(dequantize_to_f32(idx, name, source, out));
      weight_bytes_ += static_cast<int64_t>(out.size() * sizeof(float));
      if (name == kEmbeddingTensor) embedding_bytes_ = static_cast<int64_t>(out.size() * sizeof(float));
      return {};
    }));
    self_freq_ = cpu::rope_inv_freq(c_.self_head_dim(), c_.rope_theta);
    freq_ = cpu::rope_inv_freq(c_.head_dim(), c_.rope_theta);
    return {};
  }

  backend_kind kind() const override { return backend_kind::cpu; }
  std::string description() const override {
    return "CPU (" + std::to_string(cpu_threads()) + " threads, OpenBLAS)";
  }
  int64_t weight_bytes() const override { return weight_bytes_; }

  int64_t kv_bytes_per_token() const override { return 2 * c_.kv_dim() * 4; }
  int64_t self_state_bytes() const override { return new_state()->memory().self_state; }
  int64_t workspace_bytes(int64_t chunk) const override {
    // The self-decoder's f32 activations of one chunk (x, norms, q/k/v/g, attention output,
    // FFN pair) and one row of logits.
    return chunk * (8 * c_.dim + 2 * c_.ffn_dim + 2 * c_.kv_dim()) * 4 + c_.vocab_size * 4;
  }
  int64_t available_memory() const override { return host_available_memory(); }

  std::unique_ptr<backend_state> new_state() const override {
    auto st = std::make_unique<cpu_state>();
    st->kv_dim = c_.kv_dim();
    st->last_hidden.assign(static_cast<size_t>(c_.dim), 0.0f);
    const size_t L = static_cast<size_t>(c_.n_self_layers);
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      const int64_t hd = c_.self_head_dim();
      st->ret.assign(L, fvec(static_cast<size_t>(c_.n_self_heads * hd * hd), 0.0f));
      st->self_bytes = static_cast<int64_t>(L * st->ret[0].size() * sizeof(float));
    } else {
      const size_t cap = static_cast<size_t>(std::max<int64_t>(c_.window - 1, 0) * c_.dim);
      st->ring_k.assign(L, fvec(cap, 0.0f));
      st->ring_v.assign(L, fvec(cap, 0.0f));
      st->self_bytes = static_cast<int64_t>(2 * L * cap * sizeof(float));
    }
    return st;
  }

  status reserve(backend_state& base, int64_t n_tokens) const override {
    auto& st = static_cast<cpu_state&>(base);
    if (n_tokens <= st.capacity) return {};
    const size_t elems = static_cast<size_t>(n_tokens * st.kv_dim);
    try {
      st.k.reserve(elems);  // exact: resize alone would double the allocation
      st.v.reserve(elems);
      st.k.resize(elems);
      st.v.resize(elems);
    } catch (const std::bad_alloc&) {
      return error("out of memory: the global KV for " + std::to_string(n_tokens) + " tokens needs " +
                   std::to_string(2 * elems * sizeof(float) >> 20) + " MiB");
    }
    st.capacity = n_tokens;
    return {};
  }

  status prefill(backend_state& base, std::span<const int32_t> tokens,
                 const std::atomic<bool>* cancel) const override {
    fvec xs;
    return self_pass(static_cast<cpu_state&>(base), tokens, cancel, xs);
  }

  status last_logits(backend_state& base, std::span<float> logits) const override {
    auto& st = static_cast<cpu_state&>(base);
    if (st.n == 0) return error("no tokens in the session: nothing to predict from");
    fvec x(st.last_hidden);
    return cross_pass(st, x, st.n - 1, 1, logits.data());
  }

  status decode(backend_state& base, int32_t token, std::span<float> logits) const override {
    auto& st = static_cast<cpu_state&>(base);
    fvec xs;
    TOME_TRY(self_pass(st, std::span<const int32_t>(&token, 1), nullptr, xs));
    return cross_pass(st, xs, st.n - 1, 1, logits.data());
  }

  status forward_all(backend_state& base, std::span<const int32_t> tokens, fvec& logits,
                     fvec* x_s) const override {
    auto& st = static_cast<cpu_state&>(base);
    const int64_t pos0 = st.n, T = static_cast<int64_t>(tokens.size());
    fvec xs;
    TOME_TRY(self_pass(st, tokens, nullptr, xs));
    if (x_s) *x_s = xs;
    logits.assign(static_cast<size_t>(T * c_.vocab_size), 0.0f);
    return cross_pass(st, xs, pos0, T, logits.data());
  }

  status attention_mass(backend_state& base, std::span<float> mass,
                        std::span<const attention_head> heads) const override {
    auto& st = static_cast<cpu_state&>(base);
    if (st.n == 0) return error("no tokens in the session: no attention to report");
    if (static_cast<int64_t>(mass.size()) != st.n) return error("attention_mass: wrong output size");
    TOME_TRY(check_heads(c_, heads));
    fvec x(st.last_hidden);
    return cross_pass(st, x, st.n - 1, 1, nullptr, mass.data(), heads);
  }

  status export_state(const backend_state& base, host_state& out) const override {
    const auto& st = static_cast<const cpu_state&>(base);
    TOME_TRY(export_self(base, out));
    const size_t kv = static_cast<size_t>(st.n * st.kv_dim);
    out.global_k.assign(st.k.begin(), st.k.begin() + static_cast<std::ptrdiff_t>(kv));
    out.global_v.assign(st.v.begin(), st.v.begin() + static_cast<std::ptrdiff_t>(kv));
    return {};
  }

  status export_self(const backend_state& base, host_state& out) const override {
    const auto& st = static_cast<const cpu_state&>(base);
    out.n_tokens = st.n;
    out.self_rows = st.ring_rows;
    out.self_state.clear();
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      out.self_state = st.ret;
    } else {
      const size_t used = static_cast<size_t>(st.ring_rows * c_.dim);
      for (size_t l = 0; l < st.ring_k.size(); ++l) {
        fvec both(2 * used);
        std::copy_n(st.ring_k[l].begin(), used, both.begin());
        std::copy_n(st.ring_v[l].begin(), used, both.begin() + static_cast<std::ptrdiff_t>(used));
        out.self_state.push_back(std::move(both));
      }
    }
    out.global_k.clear();
    out.global_v.clear();
    out.last_hidden = st.last_hidden;
    return {};
  }

  status import_state(backend_state& base, const host_state& in) const override {
    auto& st = static_cast<cpu_state&>(base);
    const size_t kv = static_cast<size_t>(in.n_tokens * c_.kv_dim());
    if (in.n_tokens < 0 || in.global_k.size() != kv || in.global_v.size() != kv)
      return error("session state does not match the model's shapes");
    TOME_TRY(reserve(st, in.n_tokens));
    TOME_TRY(import_self(st, in));
    std::copy(in.global_k.begin(), in.global_k.end(), st.k.begin());
    std::copy(in.global_v.begin(), in.global_v.end(), st.v.begin());
    st.n = in.n_tokens;
    return {};
  }

  kv_wire native_kv_wire() const override { return kv_wire::f32; }

  status begin_kv_import(backend_state& base, const host_state& self) const override {
    auto& st = static_cast<cpu_state&>(base);
    if (self.n_tokens < 0) return error("session state does not match the model's shapes");
    TOME_TRY(reserve(st, self.n_tokens));
    TOME_TRY(import_self(st, self));
    st.n = self.n_tokens;
    return {};
  }

  // Rows straight into st.k / st.v (f32 copied, bf16 widened exactly). Disjoint ranges from
  // several threads touch disjoint memory: no lock.
  status import_kv_rows(backend_state& base, int64_t row0, int64_t n, kv_wire w, const void* k,
                        const void* v) const override {
    auto& st = static_cast<cpu_state&>(base);
    if (row0 < 0 || n < 0 || row0 + n > st.n) return error("import_kv_rows: rows outside the session");
    const size_t off = static_cast<size_t>(row0 * st.kv_dim), cnt = static_cast<size_t>(n * st.kv_dim);
    for (int i = 0; i < 2; ++i) {
      const void* src = i ? v : k;
      float* dst = (i ? st.v.data() : st.k.data()) + off;
      if (w == kv_wire::f32) {
        std::memcpy(dst, src, cnt * 4);
      } else {
        const auto* h = static_cast<const uint16_t*>(src);
        for (size_t j = 0; j < cnt; ++j) dst[j] = std::bit_cast<float>(static_cast<uint32_t>(h[j]) << 16);
      }
    }
    return {};
  }

  status finish_kv_import(backend_state&) const override { return {}; }

  status export_kv_rows(const backend_state& base, int64_t row0, int64_t n, kv_wire w, void* k,
                        void* v) const override {
    const auto& st = static_cast<const cpu_state&>(base);
    if (row0 < 0 || n < 0 || row0 + n > st.n) return error("export_kv_rows: rows outside the session");
    const size_t off = static_cast<size_t>(row0 * st.kv_dim), cnt = static_cast<size_t>(n * st.kv_dim);
    for (int i = 0; i < 2; ++i) {
      const float* src = (i ? st.v.data() : st.k.data()) + off;
      void* dst = i ? v : k;
      if (w == kv_wire::f32) {
        std::memcpy(dst, src, cnt * 4);
      } else {
        auto* h = static_cast<uint16_t*>(dst);
        for (size_t j = 0; j < cnt; ++j) h[j] = f32_to_bf16(src[j]);
      }
    }
    return {};
  }

  status rewind(backend_state& base, const host_state& in) const override {
    auto& st = static_cast<cpu_state&>(base);
    if (in.n_tokens < 0 || in.n_tokens > st.n)
      return error("cannot rewind to token " + std::to_string(in.n_tokens) + ": the session holds " +
                   std::to_string(st.n));
    TOME_TRY(import_self(st, in));
    st.n = in.n_tokens;  // the KV rows beyond are overwritten by what comes next
    return {};
  }

 private:
  // Self-decoder state and last hidden row from `in` (checked first: st is unchanged on error).
  status import_self(cpu_state& st, const host_state& in) const {
    const size_t L = static_cast<size_t>(c_.n_self_layers);
    if (in.self_state.size() != L || in.last_hidden.size() != static_cast<size_t>(c_.dim))
      return error("session state does not match the model's shapes");
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      for (size_t l = 0; l < L; ++l)
        if (in.self_state[l].size() != st.ret[l].size())
          return error("retention state of layer " + std::to_string(l) + " has the wrong size");
      st.ret = in.self_state;
    } else {
      const int64_t want = std::min<int64_t>(in.n_tokens, std::max<int64_t>(c_.window - 1, 0));
      if (in.self_rows != want) return error("sliding-window state holds the wrong number of rows");
      const size_t used = static_cast<size_t>(want * c_.dim);
      for (size_t l = 0; l < L; ++l)
        if (in.self_state[l].size() != 2 * used)
          return error("sliding-window state of layer " + std::to_string(l) + " has the wrong size");
      for (size_t l = 0; l < L; ++l) {
        std::copy_n(in.self_state[l].begin(), used, st.ring_k[l].begin());
        std::copy_n(in.self_state[l].begin() + static_cast<std::ptrdiff_t>(used), used, st.ring_v[l].begin());
      }
      st.ring_rows = want;
    }
    st.last_hidden = in.last_hidden;
    return {};
  }

  static bool cancelled(const std::atomic<bool>* c) {
    return c && c->load(std::memory_order_relaxed);
  }

  // x [T, D] += FFN(rms_norm(x)) with the given weights.
  void ffn(fvec& x, int64_t T, const fvec& norm_w, const fvec& w1, const fvec& w3, const fvec& w2) const {
    const int64_t D = c_.dim, F = c_.ffn_dim;
    const float eps = static_cast<float>(c_.norm_eps);
    fvec h(static_cast<size_t>(T * D)), a(static_cast<size_t>(T * F)), b(static_cast<size_t>(T * F));
    cpu::rms_norm(x.data(), norm_w.data(), h.data(), T, D, eps);
    cpu::linear(h.data(), T, w1.data(), F, D, a.data());
    cpu::linear(h.data(), T, w3.data(), F, D, b.data());
    cpu::swiglu(a.data(), b.data(), a.data(), T * F);
    cpu::linear(a.data(), T, w2.data(), D, F, h.data());
    cpu::add(x.data(), h.data(), T * D);
  }

  // Self-decoder over `tokens` (positions st.n ..), global K/V written, state committed at the
  // end. xs receives X_s [T, D]. On cancel nothing is committed.
  status self_pass(cpu_state& st, std::span<const int32_t> tokens, const std::atomic<bool>* cancel,
                   fvec& xs) const {
    const int64_t T = static_cast<int64_t>(tokens.size());
    if (T == 0) return {};
    const int64_t D = c_.dim, H = c_.n_self_heads, hd = c_.self_head_dim(), pos0 = st.n;
    for (int32_t t : tokens)
      if (t < 0 || t >= c_.vocab_size)
        return error("token id " + std::to_string(t) + " is outside the vocabulary (size " +
                     std::to_string(c_.vocab_size) + ")");
    // Grow by an eighth (at least 4096 rows): decode after a long prefill must not double it.
    if (pos0 + T > st.capacity) TOME_TRY(reserve(st, std::max(pos0 + T, st.capacity + st.capacity / 8 + 4096)));
    const float eps = static_cast<float>(c_.norm_eps);
    xs.assign(static_cast<size_t>(T * D), 0.0f);
    cpu::embedding(tokens.data(), T, g_.embed.data(), D, std::sqrt(static_cast<float>(D)), xs.data());

    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    std::vector<fvec> new_ret;
    std::vector<fvec> new_ring_k, new_ring_v;
    int64_t new_ring_rows = 0;
    fvec xn(static_cast<size_t>(T * D)), q(xn.size()), k(xn.size()), v(xn.size()), o(xn.size());
    fvec g, gt;
    if (gret) {
      new_ret = st.ret;
      g.resize(xn.size());
      gt.resize(static_cast<size_t>(T * H));
    } else {
      new_ring_rows = std::min<int64_t>(pos0 + T, std::max<int64_t>(c_.window - 1, 0));
    }
    for (int64_t l = 0; l < c_.n_self_layers; ++l) {
      if (cancelled(cancel)) return {};
      const self_layer_w& w = self_[static_cast<size_t>(l)];
      cpu::rms_norm(xs.data(), w.mixer_norm.data(), xn.data(), T, D, eps);
      cpu::linear(xn.data(), T, w.wq.data(), D, D, q.data());
      cpu::linear(xn.data(), T, w.wk.data(), D, D, k.data());
      cpu::linear(xn.data(), T, w.wv.data(), D, D, v.data());
      cpu::rope(q.data(), T, H, hd, pos0, self_freq_.data());
      cpu::rope(k.data(), T, H, hd, pos0, self_freq_.data());
      if (gret) {
        cpu::linear(xn.data(), T, w.wg.data(), D, D, g.data());
        cpu::linear(xn.data(), T, w.wgt.data(), H, D, gt.data());
        const float ks = 1.0f / std::sqrt(static_cast<float>(hd));
        for (float& e : k) e *= ks;
        cpu::retention_log_gamma(gt.data(), T * H, static_cast<float>(c_.retention_gate_temperature));
        cpu::gated_retention(q.data(), k.data(), v.data(), gt.data(), new_ret[static_cast<size_t>(l)].data(),
                             o.data(), T, H, hd, kRetentionChunk);
        cpu::retention_output(o.data(), g.data(), T, H, hd, eps);
      } else {
        const size_t L = static_cast<size_t>(l);
        cpu::sliding_window_attn(q.data(), k.data(), v.data(), st.ring_k[L].data(), st.ring_v[L].data(),
                                 st.ring_rows, o.data(), T, H, hd, c_.window);
        // New ring: the last new_ring_rows rows of (old ring ++ this chunk's K/V).
        fvec rk(st.ring_k[L].size()), rv(st.ring_v[L].size());
        const int64_t total = st.ring_rows + T;
        for (int64_t r = 0; r < new_ring_rows; ++r) {
          const int64_t idx = total - new_ring_rows + r;
          const float* sk = idx < st.ring_rows ? st.ring_k[L].data() + idx * D : k.data() + (idx - st.ring_rows) * D;
          const float* sv = idx < st.ring_rows ? st.ring_v[L].data() + idx * D : v.data() + (idx - st.ring_rows) * D;
          std::copy_n(sk, D, rk.data() + r * D);
          std::copy_n(sv, D, rv.data() + r * D);
        }
        new_ring_k.push_back(std::move(rk));
        new_ring_v.push_back(std::move(rv));
      }
      cpu::linear(o.data(), T, w.wo.data(), D, D, q.data());
      cpu::add(xs.data(), q.data(), T * D);
      ffn(xs, T, w.ffn_norm, w.w1, w.w3, w.w2);
    }
    if (cancelled(cancel)) return {};
    // The global KV, once: z = RMSNorm_kv(X_s); K = RoPE(z Wk), V = z Wv.
    const int64_t kvd = c_.kv_dim();
    cpu::rms_norm(xs.data(), g_.kv_norm.data(), xn.data(), T, D, eps);
    float* kdst = st.k.data() + pos0 * kvd;
    float* vdst = st.v.data() + pos0 * kvd;
    cpu::linear(xn.data(), T, g_.kv_wk.data(), kvd, D, kdst);
    cpu::linear(xn.data(), T, g_.kv_wv.data(), kvd, D, vdst);
    cpu::rope(kdst, T, c_.n_kv_heads, c_.head_dim(), pos0, freq_.data());
    // Commit.
    if (gret) {
      st.ret = std::move(new_ret);
    } else {
      st.ring_k = std::move(new_ring_k);
      st.ring_v = std::move(new_ring_v);
      st.ring_rows = new_ring_rows;
    }
    std::copy_n(xs.data() + (T - 1) * D, D, st.last_hidden.data());
    st.n = pos0 + T;
    return {};
  }

  // Cross-decoder + head over rows of X_s at positions pos0..pos0+rows-1 (keys 0..pos in st).
  // With `mass` (rows == 1): stops at the last layer's query and writes its attention mass over
  // keys 0..pos0 instead of logits.
  // With `heads` too: the mass of those heads at their layers (head_weights), the pass stopping at
  // the last layer that has one.
  status cross_pass(const cpu_state& st, fvec& x, int64_t pos0, int64_t rows, float* logits,
                    float* mass = nullptr, std::span<const attention_head> heads = {}) const {
    const int64_t D = c_.dim, Hq = c_.n_heads, hd = c_.head_dim();
    const float eps = static_cast<float>(c_.norm_eps);
    fvec xn(static_cast<size_t>(rows * D)), q(xn.size()), o(xn.size());
    const auto hw = head_weights(c_, heads);
    bool first_mass = true;
    for (size_t l = 0; l < cross_.size(); ++l) {
      const cross_layer_w& w = cross_[l];
      cpu::rms_norm(x.data(), w.mixer_norm.data(), xn.data(), rows, D, eps);
      cpu::linear(xn.data(), rows, w.wq.data(), D, D, q.data());
      cpu::rope(q.data(), rows, Hq, hd, pos0, freq_.data());
      if (mass && heads.empty() && l + 1 == cross_.size()) {
        cpu::attention_mass(q.data(), st.k.data(), pos0 + 1, Hq, c_.n_kv_heads, hd, mass);
        return {};
      }
      if (mass && !heads.empty() && hw.any[l]) {
        cpu::attention_mass(q.data(), st.k.data(), pos0 + 1, Hq, c_.n_kv_heads, hd, mass,
                            hw.w.data() + l * static_cast<size_t>(Hq), !first_mass);
        first_mass = false;
        if (static_cast<int64_t>(l) == hw.last) return {};
      }
      cpu::cross_attn(q.data(), st.k.data(), st.v.data(), o.data(), rows, pos0, Hq, c_.n_kv_heads, hd);
      cpu::linear(o.data(), rows, w.wo.data(), D, D, q.data());
      cpu::add(x.data(), q.data(), rows * D);
      ffn(x, rows, w.ffn_norm, w.w1, w.w3, w.w2);
    }
    cpu::rms_norm(x.data(), g_.norm.data(), xn.data(), rows, D, eps);
    cpu::linear(xn.data(), rows, g_.out.data(), c_.vocab_size, D, logits);
    return {};
  }

  static constexpr int64_t kRetentionChunk = 64;
  model_config c_;
  int threads_;
  int64_t weight_bytes_ = 0;
  global_weights<fvec> g_;
  std::vector<self_layer_w> self_;
  std::vector<cross_layer_w> cross_;
  fvec self_freq_, freq_;
};

}  // namespace

result<std::unique_ptr<backend>> make_cpu_backend(const model_config& config,
                                                  const safetensors_index& weights,
                                                  const std::string& source, int n_threads) {
  if (config.is_transformer()) return make_cpu_transformer_backend(config, weights, source, n_threads);
  set_cpu_threads(n_threads);
  openblas_set_num_threads(1);  // threads are split by cpu::linear, not inside BLAS
  auto be = std::make_unique<cpu_backend>(config, n_threads);
  status s;
  try {
    s = be->load(weights, source);
  } catch (const std::bad_alloc&) {
    s = error(source + ": not enough memory to load the weights");
  }
  if (!s.ok()) return s;
  return std::unique_ptr<backend>(std::move(be));
}

}  // namespace tome
