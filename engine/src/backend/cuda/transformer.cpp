// The Transformer baseline on the GPU (model_config kind transformer): the same model as
// cpu/transformer.cpp (L pre-norm layers of causal GQA attention over each layer's own KV cache,
// SwiGLU FFN) in bf16 activations with f32 accumulation, on the same kernels as the YOCO backend
// (cuda_backend.cpp): cuBLAS GemmEx, kernels::cross_attn for prefill (the FlashAttention-style
// kernel over the layer's KV, bottom-right causal with the chunk's offset) and
// kernels::cross_attn_decode for decode steps (split-KV), which are captured as a CUDA graph.
// The KV of every layer is bf16 [capacity, kv_dim], preallocated by reserve() and written in
// place. For tome bench only: sessions cannot be saved, restored, rewound or inspected.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cuda/cublas_loader.h"
#include "backend/cuda/cuda_util.h"
#include "backend/weight_layout.h"
#include "model/dtype.h"
#include "model/safetensors.h"
#include "tome/kernels.h"

namespace tome {
namespace {

using cuda::dbuf;
using cuda::g_device_bytes;
using cuda::g_device_peak;
using cuda::gib;
using cuda::u16;

const char* const kNoSaving =
    "the Transformer baseline is for benchmarks: its sessions cannot be saved, restored, rewound "
    "or inspected";

struct layer_w {
  dbuf mixer_norm, ffn_norm, wq, wk, wv, wo, w1, w3, w2;
};

struct tf_state final : backend_state {
  int64_t n = 0, capacity = 0;
  std::vector<dbuf> k, v;  // per layer bf16 [capacity, kv_dim]: K post-RoPE, V plain
  dbuf last_hidden;        // bf16 [D]: the last layer's output for the last token (pre final norm)
  status alloc_status;     // a failed allocation in new_state, reported by every later call
  cudaGraphExec_t graph = nullptr;  // the decode step, valid while graph_key matches the buffers
  uint64_t graph_key = 0;
  ~tf_state() override {
    if (graph) cudaGraphExecDestroy(graph);
  }
  int64_t n_tokens() const override { return n; }
  memory_breakdown memory() const override {
    memory_breakdown m;
    for (size_t l = 0; l < k.size(); ++l) m.global_kv += static_cast<int64_t>(k[l].bytes() + v[l].bytes());
    return m;
  }
};

class cuda_transformer final : public backend {
 public:
  cuda_transformer(const model_config& c, const cuda::cublas_api* api) : c_(c), api_(api) {}
  ~cuda_transformer() override {
    if (host_io_) cudaFreeHost(host_io_);
    if (host_logits_) cudaFreeHost(host_logits_);
    if (handle_) api_->destroy(handle_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  status init(const safetensors_index& idx, const std::string& source) {
    TOME_TRY(cuda::init_stream_and_cublas(*api_, stream_, handle_, cublas_ws_, kCublasWorkspaceBytes, name_));
    TOME_TRY(visit_transformer_weights(c_, g_, layers_, [&](const std::string& name, dbuf& out) -> status {
      const int64_t before = weight_bytes_;
      TOME_TRY(cuda::upload_weight_bf16(idx, name, source, out, weight_bytes_));
      if (name == kEmbeddingTensor) embedding_bytes_ = weight_bytes_ - before;
      return {};
    }));
    const std::vector<float> freq = cpu::rope_inv_freq(c_.head_dim(), c_.rope_theta);
    TOME_TRY(freq_.ensure(freq.size() * 4));
    CUDA_TRY(cudaMemcpy(freq_.as<float>(), freq.data(), freq.size() * 4, cudaMemcpyHostToDevice));
    // Those were plain copies on the legacy default stream, which stream_ (non-blocking) does not
    // wait for; a pageable copy may return before its DMA is done.
    CUDA_TRY(cudaDeviceSynchronize());
    return {};
  }

  backend_kind kind() const override { return backend_kind::cuda; }
  std::string description() const override { return "CUDA (" + name_ + ", bf16; Transformer baseline)"; }
  int64_t weight_bytes() const override { return weight_bytes_; }
  int64_t kv_bytes_per_token() const override { return c_.n_layers() * 2 * c_.kv_dim() * 2; }  // bf16
  int64_t kv_rows_reserved(int64_t n_tokens) const override {  // + room for an answer
    return n_tokens + std::clamp<int64_t>(c_.max_context - n_tokens, 0, kAnswerRoom);
  }
  int64_t self_state_bytes() const override { return 0; }
  int64_t workspace_bytes(int64_t chunk) const override {
    const int64_t splits = kernels::cross_attn_splits(chunk, 0, c_.n_heads, c_.n_kv_heads, c_.head_dim());
    return chunk * (5 * c_.dim + 2 * c_.ffn_dim) * 2 +
           kernels::cross_attn_workspace_floats(chunk, c_.n_heads, c_.head_dim(), static_cast<int>(splits)) * 4 +
           c_.vocab_size * 4;
  }
  device_memory_usage device_memory() const override {
    device_memory_usage u;
    u.current = g_device_bytes.load();
    u.peak = g_device_peak.load();
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) u.device_used = static_cast<int64_t>(total_b - free_b);
    return u;
  }
  void reset_peak_memory() const override { g_device_peak.store(g_device_bytes.load()); }
  int64_t available_memory() const override {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return -1;
    return static_cast<int64_t>(free_b);
  }

  std::unique_ptr<backend_state> new_state() const override {
    auto st = std::make_unique<tf_state>();
    st->k.resize(layers_.size());
    st->v.resize(layers_.size());
    st->alloc_status = st->last_hidden.ensure(static_cast<size_t>(c_.dim) * 2);
    return st;
  }

  // Grows every layer's KV to n_tokens (+ room for an answer), one layer at a time: the copy of a
  // longer cache holds at most one old layer besides the new ones.
  status reserve(backend_state& base, int64_t n_tokens) const override {
    auto& st = static_cast<tf_state&>(base);
    TOME_TRY(st.alloc_status);
    if (n_tokens <= st.capacity) return {};
    n_tokens = kv_rows_reserved(n_tokens);
    const size_t row = static_cast<size_t>(c_.kv_dim()) * 2, layer = static_cast<size_t>(n_tokens) * row;
    const size_t need = 2 * layers_.size() * layer;
    size_t free_b = 0, total_b = 0, held = 0;
    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    for (size_t l = 0; l < st.k.size(); ++l) held += st.k[l].bytes() + st.v[l].bytes();
    if (need > free_b + held)
      return error("the KV caches of " + std::to_string(layers_.size()) + " layers for " + std::to_string(n_tokens) +
                   " tokens need " + gib(static_cast<int64_t>(need)) + ", " + gib(static_cast<int64_t>(free_b)) +
                   " GPU memory free");
    std::lock_guard lk(m_);
    for (size_t l = 0; l < layers_.size(); ++l) {
      for (std::vector<dbuf>* kv : {&st.k, &st.v}) {
        dbuf grown;
        TOME_TRY(grown.ensure(layer));
        if (st.n > 0)
          CUDA_TRY(cudaMemcpyAsync(grown.as(), (*kv)[l].as(), static_cast<size_t>(st.n) * row,
                                   cudaMemcpyDeviceToDevice, stream_));
        CUDA_TRY(cudaStreamSynchronize(stream_));
        (*kv)[l] = std::move(grown);
      }
    }
    st.capacity = n_tokens;
    return {};
  }

  status prefill(backend_state& base, std::span<const int32_t> tokens,
                 const std::atomic<bool>* cancel) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<tf_state&>(base);
    TOME_TRY(layers_pass(st, tokens, cancel));
    return {};
  }

  status last_logits(backend_state& base, std::span<float> logits) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<tf_state&>(base);
    TOME_TRY(st.alloc_status);
    if (st.n == 0) return error("no tokens in the session: nothing to predict from");
    TOME_TRY(ensure_workspace(1));
    KTRY(kernels::rms_norm(st.last_hidden.as(), g_.norm.as(), ws_.xn.as(), 1, c_.dim,
                           static_cast<float>(c_.norm_eps), stream_));
    return head(1, logits.data());
  }

  status decode(backend_state& base, int32_t token, std::span<float> logits) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<tf_state&>(base);
    TOME_TRY(st.alloc_status);
    if (token < 0 || token >= c_.vocab_size) return error("token id " + std::to_string(token) + " is outside the vocabulary");
    if (static_cast<int64_t>(logits.size()) != c_.vocab_size) return error("decode: wrong logits size");
    if (st.n + 1 > st.capacity) TOME_TRY(reserve(st, std::max(st.n + 1, st.capacity + st.capacity / 8 + 4096)));
    TOME_TRY(ensure_decode_buffers());
    host_io_->token = token;
    host_io_->pos = st.n;
    if (graphs_enabled()) {
      if (!st.graph || st.graph_key != graph_key(st)) TOME_TRY(capture_decode(st));
      CUDA_TRY(cudaGraphLaunch(st.graph, stream_));
    } else {
      TOME_TRY(enqueue_decode_step(st, false));
    }
    CUDA_TRY(cudaStreamSynchronize(stream_));
    std::memcpy(logits.data(), host_logits_, logits.size() * 4);
    st.n += 1;
    return {};
  }

  status forward_all(backend_state& base, std::span<const int32_t> tokens, std::vector<float>& logits,
                     std::vector<float>* x_s) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<tf_state&>(base);
    const int64_t T = static_cast<int64_t>(tokens.size());
    TOME_TRY(layers_pass(st, tokens, nullptr));
    logits.assign(static_cast<size_t>(T * c_.vocab_size), 0.0f);
    if (T == 0) return {};
    if (x_s) {  // no self-decoder: the last layer's output
      std::vector<u16> h(static_cast<size_t>(T * c_.dim));
      CUDA_TRY(cudaMemcpyAsync(h.data(), ws_.x.as(), h.size() * 2, cudaMemcpyDeviceToHost, stream_));
      CUDA_TRY(cudaStreamSynchronize(stream_));
      x_s->resize(h.size());
      for (size_t i = 0; i < h.size(); ++i) (*x_s)[i] = bf16_to_f32(h[i]);
    }
    return head(T, logits.data());
  }

  status attention_mass(backend_state&, std::span<float>, std::span<const attention_head>) const override {
    return error(kNoSaving);
  }
  status export_state(const backend_state&, host_state&) const override { return error(kNoSaving); }
  status import_state(backend_state&, const host_state&) const override { return error(kNoSaving); }
  status export_self(const backend_state&, host_state&) const override { return error(kNoSaving); }
  status rewind(backend_state&, const host_state&) const override { return error(kNoSaving); }
  kv_wire native_kv_wire() const override { return kv_wire::bf16; }
  status begin_kv_import(backend_state&, const host_state&) const override { return error(kNoSaving); }
  status import_kv_rows(backend_state&, int64_t, int64_t, kv_wire, const void*, const void*) const override {
    return error(kNoSaving);
  }
  status finish_kv_import(backend_state&) const override { return error(kNoSaving); }
  status export_kv_rows(const backend_state&, int64_t, int64_t, kv_wire, void*, void*) const override {
    return error(kNoSaving);
  }

 private:
  struct workspace {
    dbuf tokens, x, xn, q, k, v, o, tmp, a, b, attn, logits;
  };
  struct decode_io {  // pinned host block and its device twin (dws_.tokens)
    int32_t token;
    int32_t pad;
    int64_t pos;
  };

  // y[rows, out] = x[rows, in] · Wᵀ (bf16 in, f32 accumulate; y bf16, or f32 when y_f32).
  status gemm(const u16* x, int64_t rows, const dbuf& w, int64_t out, int64_t in, void* y, bool y_f32 = false) const {
    const float alpha = 1.0f, beta = 0.0f;
    const cublasStatus_t s = api_->gemm_ex(
        handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(rows), static_cast<int>(in),
        &alpha, w.as(), CUDA_R_16BF, static_cast<int>(in), x, CUDA_R_16BF, static_cast<int>(in), &beta, y,
        y_f32 ? CUDA_R_32F : CUDA_R_16BF, static_cast<int>(out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) return error("cuBLAS GemmEx failed (status " + std::to_string(static_cast<int>(s)) + ")");
    return {};
  }

  // x += tmp (the attention's output projection); xn = ffn_norm(x); x += FFN(xn); xn = next_norm(x).
  status ffn(const workspace& w, int64_t T, const layer_w& lw, const dbuf& next_norm) const {
    const int64_t D = c_.dim, F = c_.ffn_dim;
    const float eps = static_cast<float>(c_.norm_eps);
    KTRY(kernels::add_rms_norm(w.x.as(), w.tmp.as(), lw.ffn_norm.as(), w.xn.as(), T, D, eps, stream_));
    if (T > kernels::kGemvMaxRows && kernels::gemm_swiglu_supported(w.xn.as(), lw.w1.as(), lw.w3.as(), w.a.as(), T, F, D)) {
      KTRY(kernels::gemm_swiglu(w.xn.as(), lw.w1.as(), lw.w3.as(), w.a.as(), T, F, D, stream_));  // as the YOCO backend
    } else {
      TOME_TRY(gemm(w.xn.as(), T, lw.w1, F, D, w.a.as()));
      TOME_TRY(gemm(w.xn.as(), T, lw.w3, F, D, w.b.as()));
      KTRY(kernels::swiglu(w.a.as(), w.b.as(), w.a.as(), T * F, stream_));
    }
    TOME_TRY(gemm(w.a.as(), T, lw.w2, D, F, w.tmp.as()));
    KTRY(kernels::add_rms_norm(w.x.as(), w.tmp.as(), next_norm.as(), w.xn.as(), T, D, eps, stream_));
    return {};
  }

  status ensure_workspace(int64_t T) const {
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim), t = static_cast<size_t>(T);
    for (dbuf* b : {&ws_.x, &ws_.xn, &ws_.q, &ws_.o, &ws_.tmp}) TOME_TRY(b->ensure(t * D * 2));
    TOME_TRY(ws_.a.ensure(t * F * 2));
    TOME_TRY(ws_.b.ensure(t * F * 2));
    TOME_TRY(ws_.tokens.ensure(t * 4));
    return {};
  }

  // Every layer over `tokens` at positions st.n..: K/V rows of each layer written in place, ws_.x
  // = the last layer's output [T, D], ws_.xn = its final norm. The token count and last hidden row
  // are committed at the end (a cancelled call leaves the session as it was).
  status layers_pass(tf_state& st, std::span<const int32_t> tokens, const std::atomic<bool>* cancel) const {
    const int64_t T = static_cast<int64_t>(tokens.size());
    TOME_TRY(st.alloc_status);
    if (T == 0) return {};
    for (int32_t t : tokens)
      if (t < 0 || t >= c_.vocab_size) return error("token id " + std::to_string(t) + " is outside the vocabulary");
    const int64_t D = c_.dim, Hq = c_.n_heads, Hkv = c_.n_kv_heads, hd = c_.head_dim(), kvd = c_.kv_dim();
    const int64_t pos0 = st.n;
    if (pos0 + T > st.capacity) TOME_TRY(reserve(st, std::max(pos0 + T, st.capacity + st.capacity / 8 + 4096)));
    TOME_TRY(ensure_workspace(T));
    const int splits = kernels::cross_attn_splits(T, pos0, Hq, Hkv, hd);
    const int64_t wsf = kernels::cross_attn_workspace_floats(T, Hq, hd, splits);
    if (wsf) TOME_TRY(ws_.attn.ensure(static_cast<size_t>(wsf) * 4));
    const float eps = static_cast<float>(c_.norm_eps);
    CUDA_TRY(cudaMemcpyAsync(ws_.tokens.as(), tokens.data(), static_cast<size_t>(T) * 4, cudaMemcpyHostToDevice, stream_));
    KTRY(kernels::embedding(ws_.tokens.as<int32_t>(), T, g_.embed.as(), c_.vocab_size, D,
                            std::sqrt(static_cast<float>(D)), ws_.x.as(), stream_));
    KTRY(kernels::rms_norm(ws_.x.as(), layers_[0].mixer_norm.as(), ws_.xn.as(), T, D, eps, stream_));
    for (size_t l = 0; l < layers_.size(); ++l) {  // ws_.xn = the layer's mixer norm of x on entry
      if (cancel && cancel->load(std::memory_order_relaxed)) return {};
      const layer_w& w = layers_[l];
      u16* k = st.k[l].as() + pos0 * kvd;
      u16* v = st.v[l].as() + pos0 * kvd;
      TOME_TRY(gemm(ws_.xn.as(), T, w.wq, D, D, ws_.q.as()));
      TOME_TRY(gemm(ws_.xn.as(), T, w.wk, kvd, D, k));
      TOME_TRY(gemm(ws_.xn.as(), T, w.wv, kvd, D, v));
      KTRY(kernels::rope(ws_.q.as(), T, Hq, hd, pos0, freq_.as<float>(), stream_));
      KTRY(kernels::rope(k, T, Hkv, hd, pos0, freq_.as<float>(), stream_));
      KTRY(kernels::cross_attn(ws_.q.as(), st.k[l].as(), st.v[l].as(), ws_.o.as(), T, pos0, Hq, Hkv, hd, splits,
                               ws_.attn.as<float>(), stream_));
      TOME_TRY(gemm(ws_.o.as(), T, w.wo, D, D, ws_.tmp.as()));
      TOME_TRY(ffn(ws_, T, w, l + 1 < layers_.size() ? layers_[l + 1].mixer_norm : g_.norm));
    }
    if (cancel && cancel->load(std::memory_order_relaxed)) return {};
    CUDA_TRY(cudaMemcpyAsync(st.last_hidden.as(), ws_.x.as() + (T - 1) * D, static_cast<size_t>(D) * 2,
                             cudaMemcpyDeviceToDevice, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    st.n = pos0 + T;
    return {};
  }

  // logits f32 [rows, V] (to the host) = W_out · ws_.xn (the final norm of the rows).
  status head(int64_t rows, float* logits) const {
    const int64_t V = c_.vocab_size;
    TOME_TRY(ws_.logits.ensure(static_cast<size_t>(rows * V) * 4));
    TOME_TRY(gemm(ws_.xn.as(), rows, g_.out, V, c_.dim, ws_.logits.as<float>(), true));
    CUDA_TRY(cudaMemcpyAsync(logits, ws_.logits.as<float>(), static_cast<size_t>(rows * V) * 4, cudaMemcpyDeviceToHost,
                             stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    return {};
  }

  // ---- Decode steps ----
  // One token through every layer; its position is read from device memory (dws_.tokens, copied
  // from the pinned host_io_ by the first node), so the same step is replayed from a CUDA graph
  // (captured again when the KV buffers move). TOME_CUDA_GRAPHS=0, or a head dim the fixed-grid
  // decode attention lacks, runs it eagerly with the split count chosen for the current length.
  bool graphs_enabled() const {
    const int64_t hd = c_.head_dim();
    if (!api_->set_workspace || (hd != 16 && hd != 32 && hd != 64 && hd != 128) || c_.n_heads / c_.n_kv_heads > 16)
      return false;
    const char* e = std::getenv("TOME_CUDA_GRAPHS");
    return !(e && e[0] == '0');
  }

  status ensure_decode_buffers() const {
    if (host_io_) return {};
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim), kvd = static_cast<size_t>(c_.kv_dim());
    for (dbuf* b : {&dws_.x, &dws_.xn, &dws_.q, &dws_.o, &dws_.tmp}) TOME_TRY(b->ensure(D * 2));
    TOME_TRY(dws_.k.ensure(kvd * 2));
    TOME_TRY(dws_.v.ensure(kvd * 2));
    TOME_TRY(dws_.a.ensure(F * 2));
    TOME_TRY(dws_.b.ensure(F * 2));
    TOME_TRY(dws_.tokens.ensure(sizeof(decode_io)));
    TOME_TRY(dws_.attn.ensure(static_cast<size_t>(
                                  kernels::cross_attn_decode_workspace_floats(c_.n_heads, c_.head_dim(), kDecodeSplits)) * 4));
    TOME_TRY(dws_.logits.ensure(static_cast<size_t>(c_.vocab_size) * 4));
    void* io = nullptr;
    TOME_TRY(cuda::alloc_pinned_decode(sizeof(decode_io), static_cast<size_t>(c_.vocab_size), &io, &host_logits_));
    host_io_ = static_cast<decode_io*>(io);
    return {};
  }

  uint64_t graph_key(const tf_state& st) const {
    cuda::address_hash a;
    auto mix = [&](const void* p) { a.mix(p); };
    for (size_t l = 0; l < st.k.size(); ++l) mix(st.k[l].as()), mix(st.v[l].as());
    mix(st.last_hidden.as());
    return a.h;
  }

  // The whole step on stream_: the token and position (host_io_), every layer's K/V row at *pos,
  // attention over keys 0..*pos, the last hidden row, logits into host_logits_. `graph`: only
  // position-independent launches (fixed-grid decode attention); eager: cross_attn at st.n.
  status enqueue_decode_step(tf_state& st, bool graph) const {
    const int64_t D = c_.dim, Hq = c_.n_heads, Hkv = c_.n_kv_heads, hd = c_.head_dim(), kvd = c_.kv_dim();
    const int64_t V = c_.vocab_size;
    const float eps = static_cast<float>(c_.norm_eps);
    const workspace& w = dws_;
    const int64_t* pos = reinterpret_cast<const int64_t*>(w.tokens.as<char>() + offsetof(decode_io, pos));
    int splits = 1;
    if (!graph) {
      splits = kernels::cross_attn_splits(1, st.n, Hq, Hkv, hd);
      const int64_t wsf = kernels::cross_attn_workspace_floats(1, Hq, hd, splits);
      if (wsf) TOME_TRY(ws_.attn.ensure(static_cast<size_t>(wsf) * 4));
    }
    CUDA_TRY(cudaMemcpyAsync(w.tokens.as(), host_io_, sizeof(decode_io), cudaMemcpyHostToDevice, stream_));
    KTRY(kernels::embedding(w.tokens.as<int32_t>(), 1, g_.embed.as(), V, D, std::sqrt(static_cast<float>(D)), w.x.as(),
                            stream_));
    KTRY(kernels::rms_norm(w.x.as(), layers_[0].mixer_norm.as(), w.xn.as(), 1, D, eps, stream_));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const layer_w& lw = layers_[l];
      TOME_TRY(gemm(w.xn.as(), 1, lw.wq, D, D, w.q.as()));
      TOME_TRY(gemm(w.xn.as(), 1, lw.wk, kvd, D, w.k.as()));
      TOME_TRY(gemm(w.xn.as(), 1, lw.wv, kvd, D, w.v.as()));
      KTRY(kernels::rope_at(w.q.as(), 1, Hq, hd, pos, freq_.as<float>(), stream_));
      KTRY(kernels::rope_store_kv(w.k.as(), w.v.as(), st.k[l].as(), st.v[l].as(), Hkv, hd, pos, freq_.as<float>(),
                                  stream_));
      if (graph) {
        KTRY(kernels::cross_attn_decode(w.q.as(), st.k[l].as(), st.v[l].as(), w.o.as(), pos, Hq, Hkv, hd, kDecodeSplits,
                                        w.attn.as<float>(), stream_));
      } else {
        KTRY(kernels::cross_attn(w.q.as(), st.k[l].as(), st.v[l].as(), w.o.as(), 1, st.n, Hq, Hkv, hd, splits,
                                 ws_.attn.as<float>(), stream_));
      }
      TOME_TRY(gemm(w.o.as(), 1, lw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn(w, 1, lw, l + 1 < layers_.size() ? layers_[l + 1].mixer_norm : g_.norm));
    }
    CUDA_TRY(cudaMemcpyAsync(st.last_hidden.as(), w.x.as(), static_cast<size_t>(D) * 2, cudaMemcpyDeviceToDevice, stream_));
    TOME_TRY(gemm(w.xn.as(), 1, g_.out, V, D, w.logits.as<float>(), true));
    CUDA_TRY(cudaMemcpyAsync(host_logits_, w.logits.as<float>(), static_cast<size_t>(V) * 4, cudaMemcpyDeviceToHost,
                             stream_));
    return {};
  }

  status capture_decode(tf_state& st) const {
    TOME_TRY(cuda::capture_graph(stream_, st.graph, [&] { return enqueue_decode_step(st, true); }));
    st.graph_key = graph_key(st);
    return {};
  }

  static constexpr int64_t kAnswerRoom = 4096;  // tokens reserved beyond a prefill
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
  static constexpr int kDecodeSplits = 128;  // key splits of the decode attention (fixed: graphs)
  model_config c_;
  const cuda::cublas_api* api_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  std::string name_ = "GPU";
  int64_t weight_bytes_ = 0;
  global_weights<dbuf> g_;  // embed, norm, out (no shared KV)
  std::vector<layer_w> layers_;
  dbuf freq_, cublas_ws_;
  mutable std::recursive_mutex m_;
  mutable workspace ws_;   // prefill / forward rows
  mutable workspace dws_;  // decode (one row), allocated once: graphs name these buffers
  mutable decode_io* host_io_ = nullptr;
  mutable float* host_logits_ = nullptr;
};

}  // namespace

result<std::unique_ptr<backend>> make_cuda_transformer_backend(const model_config& config,
                                                               const safetensors_index& weights,
                                                               const std::string& source) {
  std::string why;
  if (!cuda_backend_available(&why)) return error("the CUDA backend is unavailable: " + why);
  auto be = std::make_unique<cuda_transformer>(config, cuda::load_cublas(nullptr));
  status s = be->init(weights, source);
  if (!s.ok()) return s;
  return std::unique_ptr<backend>(std::move(be));
}

}  // namespace tome
