// The Transformer baseline on the CPU (model_config kind transformer), the f32 reference of
// cuda/transformer.cpp: L standard pre-norm decoder layers of the same shapes as YOCO's, each
//   x += Wo · attn(RoPE(Wq·norm(x)), RoPE(Wk·norm(x)), Wv·norm(x)),  x += FFN(norm(x)),
// attention causal GQA over the layer's own KV cache (cpu::cross_attn), then the final norm and
// the output head. Same embedding scale, RMSNorm, interleaved RoPE and SwiGLU as the YOCO layers:
// only where K/V come from differs. Unlike YOCO every prompt row goes through every layer (no
// early exit). For benchmarks: sessions of this kind cannot be saved, restored or rewound.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <cblas.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/weight_layout.h"
#include "model/safetensors.h"
#include "util/parallel.h"

namespace tome {
namespace {

using fvec = std::vector<float>;

const char* const kNoSaving =
    "the Transformer baseline is for benchmarks: its sessions cannot be saved, restored, rewound "
    "or inspected";

struct layer_w {
  fvec mixer_norm, ffn_norm, wq, wk, wv, wo, w1, w3, w2;
};

struct tf_state final : backend_state {
  int64_t n = 0, capacity = 0, kv_dim = 0;
  std::vector<fvec> k, v;  // per layer [capacity, kv_dim]: K post-RoPE, V plain
  fvec last_hidden;        // [D]: the last layer's output for the last token (before the final norm)
  int64_t n_tokens() const override { return n; }
  memory_breakdown memory() const override {
    memory_breakdown m;
    for (size_t l = 0; l < k.size(); ++l)
      m.global_kv += static_cast<int64_t>((k[l].capacity() + v[l].capacity()) * sizeof(float));
    return m;
  }
};

class cpu_transformer final : public backend {
 public:
  explicit cpu_transformer(const model_config& c) : c_(c) {}

  status load(const safetensors_index& idx, const std::string& source) {
    TOME_TRY(visit_transformer_weights(c_, g_, layers_, [&](const std::string& name, fvec& out) -> status {
      TOME_TRY(dequantize_to_f32(idx, name, source, out));
      weight_bytes_ += static_cast<int64_t>(out.size() * sizeof(float));
      if (name == kEmbeddingTensor) embedding_bytes_ = static_cast<int64_t>(out.size() * sizeof(float));
      return {};
    }));
    freq_ = cpu::rope_inv_freq(c_.head_dim(), c_.rope_theta);
    return {};
  }

  backend_kind kind() const override { return backend_kind::cpu; }
  std::string description() const override {
    return "CPU (" + std::to_string(cpu_threads()) + " threads, OpenBLAS; Transformer baseline)";
  }
  int64_t weight_bytes() const override { return weight_bytes_; }
  int64_t kv_bytes_per_token() const override { return c_.n_layers() * 2 * c_.kv_dim() * 4; }
  int64_t self_state_bytes() const override { return 0; }
  int64_t workspace_bytes(int64_t chunk) const override {
    return chunk * (5 * c_.dim + 2 * c_.ffn_dim) * 4 + c_.vocab_size * 4;
  }
  int64_t available_memory() const override { return host_available_memory(); }

  std::unique_ptr<backend_state> new_state() const override {
    auto st = std::make_unique<tf_state>();
    st->kv_dim = c_.kv_dim();
    st->k.resize(layers_.size());
    st->v.resize(layers_.size());
    st->last_hidden.assign(static_cast<size_t>(c_.dim), 0.0f);
    return st;
  }

  status reserve(backend_state& base, int64_t n_tokens) const override {
    auto& st = static_cast<tf_state&>(base);
    if (n_tokens <= st.capacity) return {};
    const size_t elems = static_cast<size_t>(n_tokens * st.kv_dim);
    try {
      for (size_t l = 0; l < st.k.size(); ++l) {
        for (fvec* b : {&st.k[l], &st.v[l]}) {
          b->reserve(elems);  // exact: resize alone would double the allocation
          b->resize(elems);
        }
      }
    } catch (const std::bad_alloc&) {
      return error("out of memory: the KV caches of " + std::to_string(st.k.size()) + " layers for " +
                   std::to_string(n_tokens) + " tokens need " +
                   std::to_string(2 * st.k.size() * elems * sizeof(float) >> 20) + " MiB");
    }
    st.capacity = n_tokens;
    return {};
  }

  status prefill(backend_state& base, std::span<const int32_t> tokens,
                 const std::atomic<bool>* cancel) const override {
    fvec x;
    return layers_pass(static_cast<tf_state&>(base), tokens, cancel, x);
  }

  status last_logits(backend_state& base, std::span<float> logits) const override {
    auto& st = static_cast<tf_state&>(base);
    if (st.n == 0) return error("no tokens in the session: nothing to predict from");
    head(st.last_hidden.data(), 1, logits.data());
    return {};
  }

  status decode(backend_state& base, int32_t token, std::span<float> logits) const override {
    auto& st = static_cast<tf_state&>(base);
    fvec x;
    TOME_TRY(layers_pass(st, std::span<const int32_t>(&token, 1), nullptr, x));
    head(x.data(), 1, logits.data());
    return {};
  }

  status forward_all(backend_state& base, std::span<const int32_t> tokens, fvec& logits,
                     fvec* x_s) const override {
    auto& st = static_cast<tf_state&>(base);
    const int64_t T = static_cast<int64_t>(tokens.size());
    fvec x;
    TOME_TRY(layers_pass(st, tokens, nullptr, x));
    if (x_s) *x_s = x;  // no self-decoder: the last layer's output
    logits.assign(static_cast<size_t>(T * c_.vocab_size), 0.0f);
    if (T) head(x.data(), T, logits.data());
    return {};
  }

  status attention_mass(backend_state&, std::span<float>, std::span<const attention_head>) const override {
    return error(kNoSaving);
  }
  status export_state(const backend_state&, host_state&) const override { return error(kNoSaving); }
  status import_state(backend_state&, const host_state&) const override { return error(kNoSaving); }
  status export_self(const backend_state&, host_state&) const override { return error(kNoSaving); }
  status rewind(backend_state&, const host_state&) const override { return error(kNoSaving); }
  kv_wire native_kv_wire() const override { return kv_wire::f32; }
  status begin_kv_import(backend_state&, const host_state&) const override { return error(kNoSaving); }
  status import_kv_rows(backend_state&, int64_t, int64_t, kv_wire, const void*, const void*) const override {
    return error(kNoSaving);
  }
  status finish_kv_import(backend_state&) const override { return error(kNoSaving); }
  status export_kv_rows(const backend_state&, int64_t, int64_t, kv_wire, void*, void*) const override {
    return error(kNoSaving);
  }

 private:
  // Every layer over `tokens` at positions st.n..; each layer's K/V rows written in place; x
  // receives the last layer's output [T, D]. Committed (n, last hidden row) at the end only: a
  // cancelled call leaves the session as it was (rows past n are overwritten later).
  status layers_pass(tf_state& st, std::span<const int32_t> tokens, const std::atomic<bool>* cancel,
                     fvec& x) const {
    const int64_t T = static_cast<int64_t>(tokens.size());
    if (T == 0) return {};
    for (int32_t t : tokens)
      if (t < 0 || t >= c_.vocab_size)
        return error("token id " + std::to_string(t) + " is outside the vocabulary (size " +
                     std::to_string(c_.vocab_size) + ")");
    const int64_t D = c_.dim, F = c_.ffn_dim, Hq = c_.n_heads, Hkv = c_.n_kv_heads, hd = c_.head_dim();
    const int64_t kvd = c_.kv_dim(), pos0 = st.n;
    if (pos0 + T > st.capacity) TOME_TRY(reserve(st, std::max(pos0 + T, st.capacity + st.capacity / 8 + 4096)));
    const float eps = static_cast<float>(c_.norm_eps);
    x.assign(static_cast<size_t>(T * D), 0.0f);
    cpu::embedding(tokens.data(), T, g_.embed.data(), D, std::sqrt(static_cast<float>(D)), x.data());
    fvec xn(x.size()), q(x.size()), o(x.size()), a(static_cast<size_t>(T * F)), b(a.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      if (cancel && cancel->load(std::memory_order_relaxed)) return {};
      const layer_w& w = layers_[l];
      float* k = st.k[l].data() + pos0 * kvd;
      float* v = st.v[l].data() + pos0 * kvd;
      cpu::rms_norm(x.data(), w.mixer_norm.data(), xn.data(), T, D, eps);
      cpu::linear(xn.data(), T, w.wq.data(), D, D, q.data());
      cpu::linear(xn.data(), T, w.wk.data(), kvd, D, k);
      cpu::linear(xn.data(), T, w.wv.data(), kvd, D, v);
      cpu::rope(q.data(), T, Hq, hd, pos0, freq_.data());
      cpu::rope(k, T, Hkv, hd, pos0, freq_.data());
      cpu::cross_attn(q.data(), st.k[l].data(), st.v[l].data(), o.data(), T, pos0, Hq, Hkv, hd);
      cpu::linear(o.data(), T, w.wo.data(), D, D, q.data());
      cpu::add(x.data(), q.data(), T * D);
      cpu::rms_norm(x.data(), w.ffn_norm.data(), xn.data(), T, D, eps);
      cpu::linear(xn.data(), T, w.w1.data(), F, D, a.data());
      cpu::linear(xn.data(), T, w.w3.data(), F, D, b.data());
      cpu::swiglu(a.data(), b.data(), a.data(), T * F);
      cpu::linear(a.data(), T, w.w2.data(), D, F, q.data());
      cpu::add(x.data(), q.data(), T * D);
    }
    if (cancel && cancel->load(std::memory_order_relaxed)) return {};
    std::copy_n(x.data() + (T - 1) * D, D, st.last_hidden.data());
    st.n = pos0 + T;
    return {};
  }

  // logits [rows, V] = W_out · RMSNorm_final(x) for x [rows, D].
  void head(const float* x, int64_t rows, float* logits) const {
    fvec xn(static_cast<size_t>(rows * c_.dim));
    cpu::rms_norm(x, g_.norm.data(), xn.data(), rows, c_.dim, static_cast<float>(c_.norm_eps));
    cpu::linear(xn.data(), rows, g_.out.data(), c_.vocab_size, c_.dim, logits);
  }

  model_config c_;
  int64_t weight_bytes_ = 0;
  global_weights<fvec> g_;  // embed, norm, out (no shared KV)
  std::vector<layer_w> layers_;
  fvec freq_;
};

}  // namespace

result<std::unique_ptr<backend>> make_cpu_transformer_backend(const model_config& config,
                                                              const safetensors_index& weights,
                                                              const std::string& source, int n_threads) {
  set_cpu_threads(n_threads);
  openblas_set_num_threads(1);  // threads are split by cpu::linear, not inside BLAS
  auto be = std::make_unique<cpu_transformer>(config);
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
