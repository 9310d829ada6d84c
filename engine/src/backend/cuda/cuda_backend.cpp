// The CUDA backend: the YOCO forward pass on the GPU in bf16 activations with f32 accumulation
// (cuBLAS GemmEx for the matrix products, tome_kernels for the rest), the same structure as the
// CPU reference (cpu_backend.cpp): prefill runs the self-decoder only and writes the global KV
// (bf16) in place; the cross-decoder runs only where logits are needed. Weights are converted to
// bf16 at load (int8 dequantised). One stream per model; calls are serialised by a mutex.
// First version: correctness and structure; the fused / tensor-core kernels, CUDA graphs and
// batching of issue 3 build on it.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/kv_fp8.h"
#include "backend/cuda/cublas_loader.h"
#include "backend/cuda/cuda_util.h"
#include "backend/weight_layout.h"
#include "model/dtype.h"
#include "model/safetensors.h"
#include "tome/kernels.h"

namespace tome {
namespace {

// Shared with cuda/transformer.cpp (backend/cuda/cuda_util.h): bf16 storage type, CUDA_TRY/KTRY,
// the RAII device buffer and the process-wide device byte counters.
using cuda::cuda_error;
using cuda::dbuf;
using cuda::g_device_bytes;
using cuda::g_device_peak;
using cuda::gib;
using cuda::u16;

// Loaded one tensor per member (weight_layout.h), then the weights a step reads together are
// stored together (concat_weights): qkv = wq|wk|wv(|wg|wgt) [3D or 4D + H, D] and w13 = w1|w3
// [2F, D]; the parts are freed. A decode step reads each with one GEMV; prefill GEMMs take the
// sub-blocks (self_parts).
struct self_w {
  dbuf mixer_norm, ffn_norm, w1, w3, w2, wq, wk, wv, wo, wg, wgt;
  dbuf qkv, w13;
};
struct cross_w {
  dbuf mixer_norm, ffn_norm, wq, wo, w1, w3, w2;
  dbuf w13;
};

struct cuda_state final : backend_state {
  int64_t n = 0, capacity = 0, kv_dim = 0, dim = 0;
  dbuf k, v;                    // global KV bf16 [capacity, kv_dim] (fp8: e4m3 bytes [capacity, kv_dim])
  bool fp8 = false;             // the fp8 KV (cuda_backend::fp8_): k, v e4m3 with scales ks, vs
  dbuf ks, vs;                  // fp8: f32 [capacity, Hkv], one per (token, KV head)
  std::vector<dbuf> ret;        // gated retention f32 [H, hd, hd] per layer
  std::vector<dbuf> ring_k, ring_v;  // SWA bf16 [W-1, D] per layer, oldest first
  int64_t ring_rows = 0;
  dbuf last_hidden;             // bf16 [D]
  int64_t self_bytes = 0;
  status alloc_status;          // a failed allocation in new_state, reported by every later call
  // The decode step captured as a CUDA graph (gated retention), valid while the buffers it names
  // are the ones it was captured with (graph_key: a hash of their addresses).
  cudaGraphExec_t graph = nullptr;
  uint64_t graph_key = 0;
  ~cuda_state() override {
    if (graph) cudaGraphExecDestroy(graph);
  }
  int64_t n_tokens() const override { return n; }
  memory_breakdown memory() const override {
    memory_breakdown m;
    m.global_kv = static_cast<int64_t>(k.bytes() + v.bytes() + ks.bytes() + vs.bytes());
    m.self_state = self_bytes;
    return m;
  }
};

class cuda_backend final : public backend {
 public:
  cuda_backend(const model_config& c, const cuda::cublas_api* api, bool fp8_kv)
      : c_(c), api_(api), fp8_(fp8_kv) {}
  ~cuda_backend() override {
    free_staging();
    if (host_io_) cudaFreeHost(host_io_);
    if (host_logits_) cudaFreeHost(host_logits_);
    if (handle_) api_->destroy(handle_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  status init(const safetensors_index& idx, const std::string& source) {
    TOME_TRY(cuda::init_stream_and_cublas(*api_, stream_, handle_, cublas_ws_, kCublasWorkspaceBytes, name_));
    TOME_TRY(visit_weights(c_, g_, self_, cross_, [&](const std::string& name, dbuf& out) {
      return cuda::upload_weight_bf16(idx, name, source, out, weight_bytes_);
    }));
    auto upload_f32 = [&](const std::vector<float>& h, dbuf& d) -> status {
      TOME_TRY(d.ensure(h.size() * 4));
      CUDA_TRY(cudaMemcpy(d.as<float>(), h.data(), h.size() * 4, cudaMemcpyHostToDevice));
      return {};
    };
    TOME_TRY(upload_f32(cpu::rope_inv_freq(c_.self_head_dim(), c_.rope_theta), self_freq_));
    TOME_TRY(upload_f32(cpu::rope_inv_freq(c_.head_dim(), c_.rope_theta), freq_));
    TOME_TRY(concat_weights());
    const char* e = std::getenv("TOME_GEMV");  // TOME_GEMV=0: cuBLAS for every product (A/B runs)
    use_gemv_ = !(e && e[0] == '0');
    return {};
  }

  // One buffer from several (in order), the parts freed: one extra part's size at a time.
  static status concat(std::initializer_list<dbuf*> parts, dbuf& out) {
    size_t total = 0;
    for (dbuf* p : parts) total += p->bytes();
    TOME_TRY(out.ensure(total));
    size_t at = 0;
    for (dbuf* p : parts) {
      CUDA_TRY(cudaMemcpy(out.as<char>() + at, p->as(), p->bytes(), cudaMemcpyDeviceToDevice));
      at += p->bytes();
      p->reset();
    }
    return {};
  }
  status concat_weights() {
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    for (self_w& w : self_) {
      if (gret) TOME_TRY(concat({&w.wq, &w.wk, &w.wv, &w.wg, &w.wgt}, w.qkv));
      else TOME_TRY(concat({&w.wq, &w.wk, &w.wv}, w.qkv));
      TOME_TRY(concat({&w.w1, &w.w3}, w.w13));
    }
    for (cross_w& w : cross_) TOME_TRY(concat({&w.w1, &w.w3}, w.w13));
    return {};
  }
  // Sub-blocks of a self layer's qkv: wq, wk, wv [D, D], then wg [D, D] and wgt [H, D].
  struct self_parts {
    const u16 *wq, *wk, *wv, *wg, *wgt;
  };
  self_parts parts(const self_w& w) const {
    const int64_t DD = c_.dim * c_.dim;
    const u16* b = w.qkv.as();
    return {b, b + DD, b + 2 * DD, b + 3 * DD, b + 4 * DD};
  }

  backend_kind kind() const override { return backend_kind::cuda; }
  std::string description() const override { return "CUDA (" + name_ + (fp8_ ? ", bf16, fp8 e4m3 KV)" : ", bf16)"); }
  int64_t weight_bytes() const override { return weight_bytes_; }

  int64_t kv_bytes_per_token() const override {  // bf16, or fp8 e4m3 + an f32 scale per KV head
    return fp8_ ? 2 * (c_.kv_dim() + c_.n_kv_heads * 4) : 2 * c_.kv_dim() * 2;
  }
  int64_t self_state_bytes() const override {
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      const int64_t hd = c_.self_head_dim();
      return c_.n_self_layers * c_.n_self_heads * hd * hd * 4;
    }
    return 2 * c_.n_self_layers * std::max<int64_t>(c_.window - 1, 1) * c_.dim * 2;
  }
  int64_t workspace_bytes(int64_t chunk) const override {
    // bf16 activations of one chunk, the f32 scratch (gated retention: log γ and the chunkwise
    // kernel's per-segment states, a few MiB), the logits.
    const int64_t scratch =
        c_.self_kind == self_decoder_kind::gated_retention
            ? chunk * c_.n_self_heads * 4 +
                  kernels::gated_retention_chunked_workspace_floats(chunk, c_.n_self_heads, c_.self_head_dim()) * 4
            : chunk * c_.dim * 4;
    return chunk * (8 * c_.dim + 2 * c_.ffn_dim + 2 * c_.kv_dim()) * 2 + scratch + c_.vocab_size * 4;
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
    auto st = std::make_unique<cuda_state>();
    st->kv_dim = c_.kv_dim();
    st->dim = c_.dim;
    st->fp8 = fp8_;
    const size_t L = static_cast<size_t>(c_.n_self_layers);
    // new_state cannot return an error: a failed allocation is kept and refused by every call.
    auto keep = [&](status s) {
      if (st->alloc_status.ok() && !s.ok()) st->alloc_status = s;
    };
    keep(st->last_hidden.ensure(static_cast<size_t>(c_.dim) * 2));
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      const size_t bytes = static_cast<size_t>(c_.n_self_heads * c_.self_head_dim() * c_.self_head_dim()) * 4;
      st->ret.resize(L);
      for (auto& b : st->ret) {
        keep(b.ensure(bytes));
        if (b.bytes() >= bytes) cudaMemset(b.as(), 0, bytes);
      }
      st->self_bytes = static_cast<int64_t>(L * bytes);
    } else {
      const size_t bytes = static_cast<size_t>(std::max<int64_t>(c_.window - 1, 1) * c_.dim) * 2;
      st->ring_k.resize(L);
      st->ring_v.resize(L);
      for (size_t l = 0; l < L; ++l) {
        keep(st->ring_k[l].ensure(bytes));
        keep(st->ring_v[l].ensure(bytes));
      }
      st->self_bytes = static_cast<int64_t>(2 * L * bytes);
    }
    return st;
  }

  status reserve(backend_state& base, int64_t n_tokens) const override {
    auto& st = static_cast<cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    if (n_tokens <= st.capacity) return {};
    // Room for an answer after a prefill: growing later copies the KV (twice its size for a moment).
    n_tokens += std::clamp<int64_t>(c_.max_context - n_tokens, 0, kAnswerRoom);
    const size_t row = static_cast<size_t>(st.kv_dim) * (st.fp8 ? 1 : 2);
    const size_t srow = st.fp8 ? static_cast<size_t>(c_.n_kv_heads) * 4 : 0;  // fp8 scales
    const size_t need = 2 * static_cast<size_t>(n_tokens) * (row + srow);
    size_t free_b = 0, total_b = 0;
    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    if (need > free_b + st.k.bytes() + st.v.bytes() + st.ks.bytes() + st.vs.bytes())
      return error("the global KV for " + std::to_string(n_tokens) + " tokens needs " +
                   gib(static_cast<int64_t>(need)) + ", " + gib(static_cast<int64_t>(free_b)) + " GPU memory free");
    dbuf k2, v2, ks2, vs2;
    TOME_TRY(k2.ensure(static_cast<size_t>(n_tokens) * row));
    TOME_TRY(v2.ensure(static_cast<size_t>(n_tokens) * row));
    if (st.fp8) {
      TOME_TRY(ks2.ensure(static_cast<size_t>(n_tokens) * srow));
      TOME_TRY(vs2.ensure(static_cast<size_t>(n_tokens) * srow));
    }
    if (st.n > 0) {
      CUDA_TRY(cudaMemcpyAsync(k2.as(), st.k.as(), static_cast<size_t>(st.n) * row, cudaMemcpyDeviceToDevice, stream_));
      CUDA_TRY(cudaMemcpyAsync(v2.as(), st.v.as(), static_cast<size_t>(st.n) * row, cudaMemcpyDeviceToDevice, stream_));
      if (st.fp8) {
        CUDA_TRY(cudaMemcpyAsync(ks2.as(), st.ks.as(), static_cast<size_t>(st.n) * srow, cudaMemcpyDeviceToDevice, stream_));
        CUDA_TRY(cudaMemcpyAsync(vs2.as(), st.vs.as(), static_cast<size_t>(st.n) * srow, cudaMemcpyDeviceToDevice, stream_));
      }
      CUDA_TRY(cudaStreamSynchronize(stream_));
    }
    st.k = std::move(k2);
    st.v = std::move(v2);
    st.ks = std::move(ks2);
    st.vs = std::move(vs2);
    st.capacity = n_tokens;
    return {};
  }

  status prefill(backend_state& base, std::span<const int32_t> tokens,
                 const std::atomic<bool>* cancel) const override {
    std::lock_guard lk(m_);
    return self_pass(static_cast<cuda_state&>(base), tokens, cancel);
  }

  status last_logits(backend_state& base, std::span<float> logits) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    if (st.n == 0) return error("no tokens in the session: nothing to predict from");
    TOME_TRY(ws_.x.ensure(static_cast<size_t>(c_.dim) * 2));
    CUDA_TRY(cudaMemcpyAsync(ws_.x.as(), st.last_hidden.as(), static_cast<size_t>(c_.dim) * 2,
                             cudaMemcpyDeviceToDevice, stream_));
    return cross_pass(st, st.n - 1, 1, logits.data());
  }

  status decode(backend_state& base, int32_t token, std::span<float> logits) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    if (graphs_enabled()) return decode_graph(st, token, logits);
    TOME_TRY(self_pass(st, std::span<const int32_t>(&token, 1), nullptr));
    return cross_pass(st, st.n - 1, 1, logits.data());  // ws_.x holds X_s of the token
  }

  status forward_all(backend_state& base, std::span<const int32_t> tokens, std::vector<float>& logits,
                     std::vector<float>* x_s) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    const int64_t pos0 = st.n, T = static_cast<int64_t>(tokens.size());
    TOME_TRY(self_pass(st, tokens, nullptr));
    if (x_s) TOME_TRY(download_f32(ws_.x.as(), static_cast<size_t>(T * c_.dim), *x_s));
    logits.assign(static_cast<size_t>(T * c_.vocab_size), 0.0f);
    return cross_pass(st, pos0, T, logits.data());
  }

  status attention_mass(backend_state& base, std::span<float> mass) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    if (st.n == 0) return error("no tokens in the session: no attention to report");
    if (static_cast<int64_t>(mass.size()) != st.n) return error("attention_mass: wrong output size");
    TOME_TRY(ws_.x.ensure(static_cast<size_t>(c_.dim) * 2));
    CUDA_TRY(cudaMemcpyAsync(ws_.x.as(), st.last_hidden.as(), static_cast<size_t>(c_.dim) * 2,
                             cudaMemcpyDeviceToDevice, stream_));
    return cross_pass(st, st.n - 1, 1, nullptr, mass.data());
  }

  status export_state(const backend_state& base, host_state& out) const override {
    TOME_TRY(export_self(base, out));
    std::lock_guard lk(m_);
    const auto& st = static_cast<const cuda_state&>(base);
    const size_t kv = static_cast<size_t>(st.n * st.kv_dim);
    if (st.fp8) {
      out.global_k.resize(kv);
      out.global_v.resize(kv);
      return download_fp8(st, 0, st.n, out.global_k.data(), out.global_v.data());
    }
    TOME_TRY(download_f32(st.k.as(), kv, out.global_k));
    TOME_TRY(download_f32(st.v.as(), kv, out.global_v));
    return {};
  }

  status export_self(const backend_state& base, host_state& out) const override {
    std::lock_guard lk(m_);
    const auto& st = static_cast<const cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    out.n_tokens = st.n;
    out.self_rows = st.ring_rows;
    out.self_state.clear();
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      for (const dbuf& b : st.ret) {
        std::vector<float> h(b.bytes() / 4);
        CUDA_TRY(cudaMemcpy(h.data(), b.as(), b.bytes(), cudaMemcpyDeviceToHost));
        out.self_state.push_back(std::move(h));
      }
    } else {
      const size_t used = static_cast<size_t>(st.ring_rows * c_.dim);
      for (size_t l = 0; l < st.ring_k.size(); ++l) {
        std::vector<float> kk, vv;
        TOME_TRY(download_f32(st.ring_k[l].as(), used, kk));
        TOME_TRY(download_f32(st.ring_v[l].as(), used, vv));
        kk.insert(kk.end(), vv.begin(), vv.end());
        out.self_state.push_back(std::move(kk));
      }
    }
    out.global_k.clear();
    out.global_v.clear();
    TOME_TRY(download_f32(st.last_hidden.as(), static_cast<size_t>(c_.dim), out.last_hidden));
    return {};
  }

  status import_state(backend_state& base, const host_state& in) const override {
    auto& st = static_cast<cuda_state&>(base);
    const size_t kv = static_cast<size_t>(in.n_tokens * c_.kv_dim());
    if (in.n_tokens < 0 || in.global_k.size() != kv || in.global_v.size() != kv)
      return error("session state does not match the model's shapes");
    TOME_TRY(reserve(st, in.n_tokens));
    std::lock_guard lk(m_);
    TOME_TRY(import_self(st, in));
    if (st.fp8) {
      fp8_rows q;
      quantise_fp8(in.global_k.data(), in.global_v.data(), in.n_tokens, q);
      TOME_TRY(upload_fp8(st, 0, q));
    } else {
      TOME_TRY(upload_bf16(in.global_k.data(), kv, st.k.as()));
      TOME_TRY(upload_bf16(in.global_v.data(), kv, st.v.as()));
    }
    st.n = in.n_tokens;
    return {};
  }

  status rewind(backend_state& base, const host_state& in) const override {
    auto& st = static_cast<cuda_state&>(base);
    std::lock_guard lk(m_);
    TOME_TRY(st.alloc_status);
    if (in.n_tokens < 0 || in.n_tokens > st.n)
      return error("cannot rewind to token " + std::to_string(in.n_tokens) + ": the session holds " +
                   std::to_string(st.n));
    TOME_TRY(import_self(st, in));
    st.n = in.n_tokens;  // the KV rows beyond are overwritten by what comes next
    return {};
  }

  // fp8: rows cross as f32, the exact dequantised values (they quantise back to the same codes).
  kv_wire native_kv_wire() const override { return fp8_ ? kv_wire::f32 : kv_wire::bf16; }
  std::string kv_precision() const override { return fp8_ ? "fp8-e4m3" : "bf16"; }

  status begin_kv_import(backend_state& base, const host_state& self) const override {
    auto& st = static_cast<cuda_state&>(base);
    if (self.n_tokens < 0) return error("session state does not match the model's shapes");
    TOME_TRY(reserve(st, self.n_tokens));
    std::lock_guard lk(m_);
    TOME_TRY(import_self(st, self));
    st.n = self.n_tokens;
    return {};
  }

  // Rows go through pinned staging slots (bf16 copied, f32 narrowed on the calling thread, outside
  // the stream's lock, so several callers fill slots at once) and up with cudaMemcpyAsync; a slot
  // is reused once its event says the copy finished. finish_kv_import waits for the last ones.
  status import_kv_rows(backend_state& base, int64_t row0, int64_t n, kv_wire w, const void* k,
                        const void* v) const override {
    auto& st = static_cast<cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    if (row0 < 0 || n < 0 || row0 + n > st.n) return error("import_kv_rows: rows outside the session");
    if (st.fp8) {  // quantised on the calling thread, uploaded under the stream's lock
      const size_t elems = static_cast<size_t>(n * st.kv_dim);
      std::vector<float> fk, fv;
      const float *kf = static_cast<const float*>(k), *vf = static_cast<const float*>(v);
      if (w == kv_wire::bf16) {
        fk.resize(elems);
        fv.resize(elems);
        for (size_t j = 0; j < elems; ++j) {
          fk[j] = bf16_to_f32(static_cast<const u16*>(k)[j]);
          fv[j] = bf16_to_f32(static_cast<const u16*>(v)[j]);
        }
        kf = fk.data();
        vf = fv.data();
      }
      fp8_rows q;
      quantise_fp8(kf, vf, n, q);
      std::lock_guard lk(m_);
      return upload_fp8(st, row0, q);
    }
    const size_t kvd = static_cast<size_t>(st.kv_dim), row_bytes = kvd * 2;
    const int64_t per = std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / (2 * row_bytes)));
    const size_t in_row = kvd * kv_wire_bytes(w);
    for (int64_t r = 0; r < n; r += per) {
      const int64_t c = std::min(per, n - r);
      const size_t elems = static_cast<size_t>(c) * kvd, bytes = elems * 2;
      int slot = -1;
      TOME_TRY(acquire_staging(2 * bytes, slot));
      u16* h = static_cast<u16*>(staging_[static_cast<size_t>(slot)].host);
      for (int i = 0; i < 2; ++i) {
        const char* src = static_cast<const char*>(i ? v : k) + static_cast<size_t>(r) * in_row;
        u16* dst = h + static_cast<size_t>(i) * elems;
        if (w == kv_wire::bf16) {
          std::memcpy(dst, src, bytes);
        } else {
          const auto* f = reinterpret_cast<const float*>(src);
          for (size_t j = 0; j < elems; ++j) dst[j] = f32_to_bf16(f[j]);
        }
      }
      status up = [&]() -> status {
        std::lock_guard lk(m_);
        const size_t at = static_cast<size_t>(row0 + r) * kvd;
        CUDA_TRY(cudaMemcpyAsync(st.k.as() + at, h, bytes, cudaMemcpyHostToDevice, stream_));
        CUDA_TRY(cudaMemcpyAsync(st.v.as() + at, h + elems, bytes, cudaMemcpyHostToDevice, stream_));
        CUDA_TRY(cudaEventRecord(staging_[static_cast<size_t>(slot)].done, stream_));
        return {};
      }();
      release_staging(slot);
      TOME_TRY(up);
    }
    return {};
  }

  status finish_kv_import(backend_state&) const override {
    std::lock_guard lk(m_);
    CUDA_TRY(cudaStreamSynchronize(stream_));
    return {};
  }

  status export_kv_rows(const backend_state& base, int64_t row0, int64_t n, kv_wire w, void* k,
                        void* v) const override {
    const auto& st = static_cast<const cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    if (row0 < 0 || n < 0 || row0 + n > st.n) return error("export_kv_rows: rows outside the session");
    const size_t at = static_cast<size_t>(row0 * st.kv_dim), elems = static_cast<size_t>(n * st.kv_dim);
    if (st.fp8) {  // dequantised (exact in f32; bf16 rounds to nearest even)
      std::vector<float> fk, fv;
      float *kf = static_cast<float*>(k), *vf = static_cast<float*>(v);
      if (w == kv_wire::bf16) {
        fk.resize(elems);
        fv.resize(elems);
        kf = fk.data();
        vf = fv.data();
      }
      {
        std::lock_guard lk(m_);
        TOME_TRY(download_fp8(st, row0, n, kf, vf));
      }
      if (w == kv_wire::bf16)
        for (size_t j = 0; j < elems; ++j) {
          static_cast<u16*>(k)[j] = f32_to_bf16(fk[j]);
          static_cast<u16*>(v)[j] = f32_to_bf16(fv[j]);
        }
      return {};
    }
    std::vector<float> f;
    for (int i = 0; i < 2; ++i) {
      const u16* src = (i ? st.v.as() : st.k.as()) + at;
      void* dst = i ? v : k;
      std::lock_guard lk(m_);
      if (w == kv_wire::bf16) {
        CUDA_TRY(cudaMemcpyAsync(dst, src, elems * 2, cudaMemcpyDeviceToHost, stream_));
        CUDA_TRY(cudaStreamSynchronize(stream_));
      } else {
        TOME_TRY(download_f32(src, elems, f));
        std::memcpy(dst, f.data(), elems * 4);
      }
    }
    return {};
  }

 private:
  // Pinned host buffers for import_kv_rows, made on first use and kept (kStagingSlots of
  // kStagingBytes); `done` is recorded after a slot's upload, `busy` while a caller fills it.
  struct staging_slot {
    void* host = nullptr;
    cudaEvent_t done = nullptr;
    bool busy = false;
  };
  static constexpr size_t kStagingBytes = size_t{16} << 20;
  static constexpr int kStagingSlots = 4;

  status acquire_staging(size_t bytes, int& slot) const {
    if (bytes > kStagingBytes) return error("import_kv_rows: a row is larger than the staging buffer");
    std::unique_lock lk(staging_m_);
    if (staging_.empty()) {
      staging_.resize(kStagingSlots);
      for (auto& s : staging_) {
        if (cudaHostAlloc(&s.host, kStagingBytes, cudaHostAllocDefault) != cudaSuccess ||
            cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming) != cudaSuccess) {
          cudaGetLastError();
          lk.unlock();
          free_staging();
          return error("cannot allocate " + gib(static_cast<int64_t>(kStagingSlots * kStagingBytes)) +
                       " of pinned host memory for the KV upload");
        }
      }
    }
    staging_cv_.wait(lk, [&] {
      for (const auto& s : staging_)
        if (!s.busy) return true;
      return false;
    });
    for (size_t i = 0; i < staging_.size(); ++i)
      if (!staging_[i].busy) {
        staging_[i].busy = true;
        slot = static_cast<int>(i);
        break;
      }
    lk.unlock();
    CUDA_TRY(cudaEventSynchronize(staging_[static_cast<size_t>(slot)].done));  // its last upload
    return {};
  }
  void release_staging(int slot) const {
    {
      std::lock_guard lk(staging_m_);
      staging_[static_cast<size_t>(slot)].busy = false;
    }
    staging_cv_.notify_one();
  }
  void free_staging() const {
    std::lock_guard lk(staging_m_);
    if (!staging_.empty() && stream_) cudaStreamSynchronize(stream_);
    for (auto& s : staging_) {
      if (s.host) cudaFreeHost(s.host);
      if (s.done) cudaEventDestroy(s.done);
    }
    staging_.clear();
  }
  struct workspace {
    dbuf tokens, x, xn, q, k, v, o, g, tmp, a, b, lg, logits, attn, catk, catv, ret_ws, mass;
    std::vector<dbuf> ret_next, ring_k_next, ring_v_next;
  };

  // Self-decoder state and last hidden row from `in` (shapes checked first); m_ held.
  status import_self(cuda_state& st, const host_state& in) const {
    TOME_TRY(st.alloc_status);
    const size_t L = static_cast<size_t>(c_.n_self_layers);
    if (in.self_state.size() != L || in.last_hidden.size() != static_cast<size_t>(c_.dim))
      return error("session state does not match the model's shapes");
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      for (size_t l = 0; l < L; ++l)
        if (in.self_state[l].size() * 4 != st.ret[l].bytes())
          return error("retention state of layer " + std::to_string(l) + " has the wrong size");
      for (size_t l = 0; l < L; ++l)
        CUDA_TRY(cudaMemcpy(st.ret[l].as(), in.self_state[l].data(), st.ret[l].bytes(), cudaMemcpyHostToDevice));
    } else {
      const int64_t want = std::min<int64_t>(in.n_tokens, std::max<int64_t>(c_.window - 1, 0));
      if (in.self_rows != want) return error("sliding-window state holds the wrong number of rows");
      const size_t used = static_cast<size_t>(want * c_.dim);
      for (size_t l = 0; l < L; ++l)
        if (in.self_state[l].size() != 2 * used)
          return error("sliding-window state of layer " + std::to_string(l) + " has the wrong size");
      for (size_t l = 0; l < L; ++l) {
        TOME_TRY(upload_bf16(in.self_state[l].data(), used, st.ring_k[l].as()));
        TOME_TRY(upload_bf16(in.self_state[l].data() + used, used, st.ring_v[l].as()));
      }
      st.ring_rows = want;
    }
    TOME_TRY(upload_bf16(in.last_hidden.data(), in.last_hidden.size(), st.last_hidden.as()));
    return {};
  }

  // fp8 KV rows in host form: codes [n, kv_dim] and scales [n, Hkv] for K and V.
  struct fp8_rows {
    int64_t n = 0;
    std::vector<uint8_t> k, v;
    std::vector<float> ks, vs;
  };
  void quantise_fp8(const float* k, const float* v, int64_t n, fp8_rows& q) const {
    const int64_t H = c_.n_kv_heads, hd = c_.head_dim();
    const size_t e = static_cast<size_t>(n * H * hd), hs = static_cast<size_t>(n * H);
    q.n = n;
    q.k.resize(e);
    q.v.resize(e);
    q.ks.resize(hs);
    q.vs.resize(hs);
    cpu::kv_quantize_fp8(k, n, H, hd, q.k.data(), q.ks.data());
    cpu::kv_quantize_fp8(v, n, H, hd, q.v.data(), q.vs.data());
  }
  // Rows [row0, row0 + q.n) of st's fp8 KV from q; m_ held.
  status upload_fp8(cuda_state& st, int64_t row0, const fp8_rows& q) const {
    const size_t kvd = static_cast<size_t>(st.kv_dim), H = static_cast<size_t>(c_.n_kv_heads);
    const size_t r0 = static_cast<size_t>(row0), e = q.k.size(), hs = q.ks.size();
    if (!e) return {};
    CUDA_TRY(cudaMemcpyAsync(st.k.as<uint8_t>() + r0 * kvd, q.k.data(), e, cudaMemcpyHostToDevice, stream_));
    CUDA_TRY(cudaMemcpyAsync(st.v.as<uint8_t>() + r0 * kvd, q.v.data(), e, cudaMemcpyHostToDevice, stream_));
    CUDA_TRY(cudaMemcpyAsync(st.ks.as<float>() + r0 * H, q.ks.data(), hs * 4, cudaMemcpyHostToDevice, stream_));
    CUDA_TRY(cudaMemcpyAsync(st.vs.as<float>() + r0 * H, q.vs.data(), hs * 4, cudaMemcpyHostToDevice, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    return {};
  }
  // Rows [row0, row0 + n) of st's fp8 KV dequantised to f32 into k, v ([n, kv_dim] each); m_ held.
  status download_fp8(const cuda_state& st, int64_t row0, int64_t n, float* k, float* v) const {
    const int64_t H = c_.n_kv_heads, hd = c_.head_dim();
    const size_t e = static_cast<size_t>(n * H * hd), hs = static_cast<size_t>(n * H);
    const size_t r0 = static_cast<size_t>(row0);
    if (!e) return {};
    std::vector<uint8_t> q(e);
    std::vector<float> s(hs);
    for (int i = 0; i < 2; ++i) {
      CUDA_TRY(cudaMemcpyAsync(q.data(), (i ? st.v : st.k).as<uint8_t>() + r0 * static_cast<size_t>(st.kv_dim), e,
                               cudaMemcpyDeviceToHost, stream_));
      CUDA_TRY(cudaMemcpyAsync(s.data(), (i ? st.vs : st.ks).as<float>() + r0 * static_cast<size_t>(H), hs * 4,
                               cudaMemcpyDeviceToHost, stream_));
      CUDA_TRY(cudaStreamSynchronize(stream_));
      cpu::kv_dequantize_fp8(q.data(), s.data(), n, H, hd, i ? v : k);
    }
    return {};
  }
  kernels::kv_fp8 fp8_view(const cuda_state& st) const {
    return kernels::kv_fp8{st.k.as<uint8_t>(), st.v.as<uint8_t>(), st.ks.as<float>(), st.vs.as<float>()};
  }

  status download_f32(const u16* src, size_t n, std::vector<float>& out) const {
    std::vector<u16> h(n);
    if (n) CUDA_TRY(cudaMemcpyAsync(h.data(), src, n * 2, cudaMemcpyDeviceToHost, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    out.resize(n);
    for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(h[i]);
    return {};
  }
  status upload_bf16(const float* src, size_t n, u16* dst) const {
    std::vector<u16> h(n);
    for (size_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
    if (n) CUDA_TRY(cudaMemcpy(dst, h.data(), n * 2, cudaMemcpyHostToDevice));
    return {};
  }

  // y[rows, out] = x[rows, in] · Wᵀ (bf16 in, f32 accumulate; y bf16, or f32 when y_f32).
  // Up to kGemvMaxRows rows (decode steps) take Tome's GEMV, which streams W at HBM speed and
  // gives the same bits for a row of W whichever block of rows it is computed in; more rows cuBLAS.
  status gemm(const u16* x, int64_t rows, const dbuf& w, int64_t out, int64_t in, void* y,
              bool y_f32 = false) const {
    return gemm(x, rows, w.as(), out, in, y, y_f32);
  }
  status gemm(const u16* x, int64_t rows, const u16* w, int64_t out, int64_t in, void* y,
              bool y_f32 = false) const {
    if (use_gemv_ && kernels::gemv_supported(w, x, rows, in)) {
      KTRY(kernels::gemv(w, x, y, y_f32, rows, out, in, stream_));
      return {};
    }
    const float alpha = 1.0f, beta = 0.0f;
    const cublasStatus_t s = api_->gemm_ex(
        handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(rows), static_cast<int>(in),
        &alpha, w, CUDA_R_16BF, static_cast<int>(in), x, CUDA_R_16BF, static_cast<int>(in), &beta, y,
        y_f32 ? CUDA_R_32F : CUDA_R_16BF, static_cast<int>(out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) return error("cuBLAS GemmEx failed (status " + std::to_string(static_cast<int>(s)) + ")");
    return {};
  }

  // The mixer's residual (w.tmp) and the FFN sublayer, each residual add fused with the norm after
  // it: x += tmp; xn = norm_w(x); tmp = FFN(xn); x += tmp; xn = next_norm(x) (the next layer's
  // mixer norm, or the norm that follows the stack).
  // w13 = w1|w3 [2F, D]. Decode rows: one GEMV for both into w.a [T, 2F], the SwiGLU computed
  // inside the down projection's GEMV (== swiglu then GEMV, same bits); else cuBLAS on the halves.
  status ffn(const workspace& w, int64_t T, const dbuf& norm_w, const dbuf& w13, const dbuf& w2,
             const dbuf& next_norm) const {
    const int64_t D = c_.dim, F = c_.ffn_dim;
    const float eps = static_cast<float>(c_.norm_eps);
    KTRY(kernels::add_rms_norm(w.x.as(), w.tmp.as(), norm_w.as(), w.xn.as(), T, D, eps, stream_));
    if (use_gemv_ && kernels::gemv_supported(w13.as(), w.xn.as(), T, D) && kernels::gemv_supported(w2.as(), w.a.as(), T, F) &&
        F % 8 == 0) {
      KTRY(kernels::gemv(w13.as(), w.xn.as(), w.a.as(), false, T, 2 * F, D, stream_));
      KTRY(kernels::gemv_swiglu(w2.as(), w.a.as(), w.a.as() + F, 2 * F, w.tmp.as(), false, T, D, F, stream_));
    } else {
      TOME_TRY(gemm(w.xn.as(), T, w13.as(), F, D, w.a.as()));
      TOME_TRY(gemm(w.xn.as(), T, w13.as() + F * D, F, D, w.b.as()));
      KTRY(kernels::swiglu(w.a.as(), w.b.as(), w.a.as(), T * F, stream_));
      TOME_TRY(gemm(w.a.as(), T, w2, D, F, w.tmp.as()));
    }
    KTRY(kernels::add_rms_norm(w.x.as(), w.tmp.as(), next_norm.as(), w.xn.as(), T, D, eps, stream_));
    return {};
  }

  status ensure_workspace(int64_t T) const {
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim), t = static_cast<size_t>(T);
    for (dbuf* b : {&ws_.x, &ws_.xn, &ws_.q, &ws_.k, &ws_.v, &ws_.o, &ws_.g, &ws_.tmp}) TOME_TRY(b->ensure(t * D * 2));
    TOME_TRY(ws_.a.ensure(t * F * 2 * (T <= kernels::kGemvMaxRows ? 2 : 1)));  // [T, 2F] for the GEMV FFN
    TOME_TRY(ws_.b.ensure(t * F * 2));
    TOME_TRY(ws_.tokens.ensure(t * 4));
    TOME_TRY(ws_.lg.ensure(t * static_cast<size_t>(c_.n_self_heads) * 4));
    return {};
  }

  // Self-decoder over tokens at positions st.n.., global K/V written; ws_.x holds X_s [T, D] after.
  status self_pass(cuda_state& st, std::span<const int32_t> tokens, const std::atomic<bool>* cancel) const {
    const int64_t T = static_cast<int64_t>(tokens.size());
    TOME_TRY(st.alloc_status);
    if (T == 0) return {};
    const int64_t D = c_.dim, H = c_.n_self_heads, hd = c_.self_head_dim(), pos0 = st.n;
    for (int32_t t : tokens)
      if (t < 0 || t >= c_.vocab_size) return error("token id " + std::to_string(t) + " is outside the vocabulary");
    if (pos0 + T > st.capacity) TOME_TRY(reserve(st, std::max(pos0 + T, st.capacity + st.capacity / 8 + 4096)));
    TOME_TRY(ensure_workspace(T));
    const float eps = static_cast<float>(c_.norm_eps);
    CUDA_TRY(cudaMemcpyAsync(ws_.tokens.as(), tokens.data(), static_cast<size_t>(T) * 4, cudaMemcpyHostToDevice, stream_));
    KTRY(kernels::embedding(ws_.tokens.as<int32_t>(), T, g_.embed.as(), c_.vocab_size, D,
                            std::sqrt(static_cast<float>(D)), ws_.x.as(), stream_));
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    const size_t L = static_cast<size_t>(c_.n_self_layers);
    int64_t new_ring_rows = 0;
    if (gret) {
      ws_.ret_next.resize(L);
      for (size_t l = 0; l < L; ++l) {
        TOME_TRY(ws_.ret_next[l].ensure(st.ret[l].bytes()));
        CUDA_TRY(cudaMemcpyAsync(ws_.ret_next[l].as(), st.ret[l].as(), st.ret[l].bytes(), cudaMemcpyDeviceToDevice, stream_));
      }
    } else {
      new_ring_rows = std::min<int64_t>(pos0 + T, std::max<int64_t>(c_.window - 1, 0));
      ws_.ring_k_next.resize(L);
      ws_.ring_v_next.resize(L);
      const size_t cat = static_cast<size_t>((st.ring_rows + T) * D) * 2;
      TOME_TRY(ws_.catk.ensure(cat));
      TOME_TRY(ws_.catv.ensure(cat));
      for (size_t l = 0; l < L; ++l) {
        TOME_TRY(ws_.ring_k_next[l].ensure(st.ring_k[l].bytes()));
        TOME_TRY(ws_.ring_v_next[l].ensure(st.ring_v[l].bytes()));
      }
    }
    KTRY(kernels::rms_norm(ws_.x.as(), self_[0].mixer_norm.as(), ws_.xn.as(), T, D, eps, stream_));
    for (size_t l = 0; l < L; ++l) {  // ws_.xn = the layer's mixer norm of x on entry
      if (cancel && cancel->load(std::memory_order_relaxed)) return {};
      const self_w& w = self_[l];
      const self_parts p = parts(w);
      TOME_TRY(gemm(ws_.xn.as(), T, p.wq, D, D, ws_.q.as()));
      TOME_TRY(gemm(ws_.xn.as(), T, p.wk, D, D, ws_.k.as()));
      TOME_TRY(gemm(ws_.xn.as(), T, p.wv, D, D, ws_.v.as()));
      // RoPE on q and k, k scaled by hd^-0.5 for retention (== rope, rope, scale: same bits).
      KTRY(kernels::rope_qk(ws_.q.as(), ws_.k.as(), T, H, hd, pos0, self_freq_.as<float>(),
                            gret ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f, stream_));
      if (gret) {
        TOME_TRY(gemm(ws_.xn.as(), T, p.wg, D, D, ws_.g.as()));
        TOME_TRY(gemm(ws_.xn.as(), T, p.wgt, H, D, ws_.tmp.as()));
        if (T == 1 && kernels::retention_decode_supported(hd)) {  // the decode graph's kernel: same bits
          KTRY(kernels::retention_decode(ws_.q.as(), ws_.k.as(), ws_.v.as(), ws_.g.as(), ws_.tmp.as(),
                                         ws_.ret_next[l].as<float>(), ws_.o.as(), H, hd,
                                         static_cast<float>(c_.retention_gate_temperature), eps, stream_));
        } else {
        KTRY(kernels::retention_log_gamma(ws_.tmp.as(), ws_.lg.as<float>(), T * H,
                                          static_cast<float>(c_.retention_gate_temperature), stream_));
        if (T >= kChunkedRetentionMinRows && hd <= 128) {  // chunkwise: parallel over chunks
          const int64_t wsf = kernels::gated_retention_chunked_workspace_floats(T, H, hd);
          TOME_TRY(ws_.ret_ws.ensure(static_cast<size_t>(wsf) * 4));
          KTRY(kernels::gated_retention_chunked(ws_.q.as(), ws_.k.as(), ws_.v.as(), ws_.lg.as<float>(),
                                                ws_.ret_next[l].as<float>(), ws_.o.as(), T, H, hd,
                                                ws_.ret_ws.as<float>(), stream_));
        } else {  // recurrent: decode steps and short appends
          KTRY(kernels::gated_retention(ws_.q.as(), ws_.k.as(), ws_.v.as(), ws_.lg.as<float>(),
                                        ws_.ret_next[l].as<float>(), ws_.o.as(), T, H, hd, stream_));
        }
        KTRY(kernels::retention_output(ws_.o.as(), ws_.g.as(), T, H, hd, eps, stream_));
        }
      } else {
        const size_t row = static_cast<size_t>(D) * 2, rr = static_cast<size_t>(st.ring_rows);
        if (rr) {
          CUDA_TRY(cudaMemcpyAsync(ws_.catk.as(), st.ring_k[l].as(), rr * row, cudaMemcpyDeviceToDevice, stream_));
          CUDA_TRY(cudaMemcpyAsync(ws_.catv.as(), st.ring_v[l].as(), rr * row, cudaMemcpyDeviceToDevice, stream_));
        }
        CUDA_TRY(cudaMemcpyAsync(ws_.catk.as<char>() + rr * row, ws_.k.as(), static_cast<size_t>(T) * row, cudaMemcpyDeviceToDevice, stream_));
        CUDA_TRY(cudaMemcpyAsync(ws_.catv.as<char>() + rr * row, ws_.v.as(), static_cast<size_t>(T) * row, cudaMemcpyDeviceToDevice, stream_));
        // Split the window's keys over CTAs when few rows (decode steps) would leave the GPU idle.
        const int swa_splits = kernels::attention_splits(T, st.ring_rows, H, H, hd, c_.window);
        if (swa_splits > 1)
          TOME_TRY(ws_.attn.ensure(static_cast<size_t>(kernels::cross_attn_workspace_floats(T, H, hd, swa_splits)) * 4));
        KTRY(kernels::attention(ws_.q.as(), ws_.catk.as(), ws_.catv.as(), ws_.o.as(), T, st.ring_rows, H, H, hd,
                                c_.window, swa_splits, ws_.attn.as<float>(), stream_));
        const size_t total = rr + static_cast<size_t>(T), keep = static_cast<size_t>(new_ring_rows);
        if (keep) {
          CUDA_TRY(cudaMemcpyAsync(ws_.ring_k_next[l].as(), ws_.catk.as<char>() + (total - keep) * row, keep * row,
                                   cudaMemcpyDeviceToDevice, stream_));
          CUDA_TRY(cudaMemcpyAsync(ws_.ring_v_next[l].as(), ws_.catv.as<char>() + (total - keep) * row, keep * row,
                                   cudaMemcpyDeviceToDevice, stream_));
        }
      }
      TOME_TRY(gemm(ws_.o.as(), T, w.wo, D, D, ws_.tmp.as()));
      TOME_TRY(ffn(ws_, T, w.ffn_norm, w.w13, w.w2, l + 1 < L ? self_[l + 1].mixer_norm : g_.kv_norm));
    }
    if (cancel && cancel->load(std::memory_order_relaxed)) return {};
    // The global KV, once: z = RMSNorm_kv(X_s); K = RoPE(z Wk), V = z Wv, written in place.
    const int64_t kvd = c_.kv_dim();  // ws_.xn = RMSNorm_kv(X_s) (fused into the last layer's residual)
    if (st.fp8) {  // bf16 rows in the (free) q/k/v scratch, then quantised into the fp8 KV
      const int64_t Hkv = c_.n_kv_heads;
      TOME_TRY(ws_.k.ensure(static_cast<size_t>(T * kvd) * 2));
      TOME_TRY(ws_.v.ensure(static_cast<size_t>(T * kvd) * 2));
      TOME_TRY(gemm(ws_.xn.as(), T, g_.kv_wk, kvd, D, ws_.k.as()));
      TOME_TRY(gemm(ws_.xn.as(), T, g_.kv_wv, kvd, D, ws_.v.as()));
      KTRY(kernels::rope(ws_.k.as(), T, Hkv, c_.head_dim(), pos0, freq_.as<float>(), stream_));
      KTRY(kernels::kv_quantize_fp8(ws_.k.as(), T, Hkv, c_.head_dim(), st.k.as<uint8_t>() + pos0 * kvd,
                                    st.ks.as<float>() + pos0 * Hkv, stream_));
      KTRY(kernels::kv_quantize_fp8(ws_.v.as(), T, Hkv, c_.head_dim(), st.v.as<uint8_t>() + pos0 * kvd,
                                    st.vs.as<float>() + pos0 * Hkv, stream_));
    } else {
      u16* kdst = st.k.as() + pos0 * kvd;
      u16* vdst = st.v.as() + pos0 * kvd;
      TOME_TRY(gemm(ws_.xn.as(), T, g_.kv_wk, kvd, D, kdst));
      TOME_TRY(gemm(ws_.xn.as(), T, g_.kv_wv, kvd, D, vdst));
      KTRY(kernels::rope(kdst, T, c_.n_kv_heads, c_.head_dim(), pos0, freq_.as<float>(), stream_));
    }
    CUDA_TRY(cudaMemcpyAsync(st.last_hidden.as(), ws_.x.as() + (T - 1) * D, static_cast<size_t>(D) * 2,
                             cudaMemcpyDeviceToDevice, stream_));
    if (gret) {
      std::swap(st.ret, ws_.ret_next);
    } else {
      std::swap(st.ring_k, ws_.ring_k_next);
      std::swap(st.ring_v, ws_.ring_v_next);
      st.ring_rows = new_ring_rows;
    }
    CUDA_TRY(cudaStreamSynchronize(stream_));
    st.n = pos0 + T;
    return {};
  }

  // Cross-decoder + head over rows of ws_.x (X_s) at positions pos0..; logits f32 [rows, V] to host.
  // With `mass` (rows == 1, host [pos0 + 1]): stops at the last layer's query and writes its
  // attention mass over keys 0..pos0 instead of logits.
  status cross_pass(const cuda_state& st, int64_t pos0, int64_t rows, float* logits,
                    float* mass = nullptr) const {
    const int64_t D = c_.dim, Hq = c_.n_heads, hd = c_.head_dim(), V = c_.vocab_size;
    const float eps = static_cast<float>(c_.norm_eps);
    TOME_TRY(ensure_workspace(rows));
    const int splits = kernels::cross_attn_splits(rows, pos0, Hq, c_.n_kv_heads, hd);  // fills the GPU
    const int64_t ws_floats = kernels::cross_attn_workspace_floats(rows, Hq, hd, splits);
    if (ws_floats) TOME_TRY(ws_.attn.ensure(static_cast<size_t>(ws_floats) * 4));
    KTRY(kernels::rms_norm(ws_.x.as(), cross_[0].mixer_norm.as(), ws_.xn.as(), rows, D, eps, stream_));
    for (const cross_w& w : cross_) {  // ws_.xn = the layer's mixer norm of x on entry
      TOME_TRY(gemm(ws_.xn.as(), rows, w.wq, D, D, ws_.q.as()));
      KTRY(kernels::rope(ws_.q.as(), rows, Hq, hd, pos0, freq_.as<float>(), stream_));
      if (mass && &w == &cross_.back()) {
        const int64_t n = pos0 + 1;
        TOME_TRY(ws_.mass.ensure(static_cast<size_t>(n + kernels::attention_mass_workspace_floats(n, Hq)) * 4));
        float* out = ws_.mass.as<float>();
        if (st.fp8)
          KTRY(kernels::attention_mass_fp8(ws_.q.as(), st.k.as<uint8_t>(), st.ks.as<float>(), n, Hq, c_.n_kv_heads, hd,
                                           out, out + n, stream_));
        else
          KTRY(kernels::attention_mass(ws_.q.as(), st.k.as(), n, Hq, c_.n_kv_heads, hd, out, out + n, stream_));
        CUDA_TRY(cudaMemcpyAsync(mass, out, static_cast<size_t>(n) * 4, cudaMemcpyDeviceToHost, stream_));
        CUDA_TRY(cudaStreamSynchronize(stream_));
        return {};
      }
      if (st.fp8)
        KTRY(kernels::cross_attn_fp8(ws_.q.as(), fp8_view(st), ws_.o.as(), rows, pos0, Hq, c_.n_kv_heads, hd, splits,
                                     ws_.attn.as<float>(), stream_));
      else
        KTRY(kernels::cross_attn(ws_.q.as(), st.k.as(), st.v.as(), ws_.o.as(), rows, pos0, Hq, c_.n_kv_heads, hd, splits,
                                 ws_.attn.as<float>(), stream_));
      TOME_TRY(gemm(ws_.o.as(), rows, w.wo, D, D, ws_.tmp.as()));
      TOME_TRY(ffn(ws_, rows, w.ffn_norm, w.w13, w.w2, &w == &cross_.back() ? g_.norm : (&w)[1].mixer_norm));
    }  // ws_.xn = the final norm of x
    TOME_TRY(ws_.logits.ensure(static_cast<size_t>(rows * V) * 4));
    TOME_TRY(gemm(ws_.xn.as(), rows, g_.out, V, D, ws_.logits.as<float>(), true));
    CUDA_TRY(cudaMemcpyAsync(logits, ws_.logits.as<float>(), static_cast<size_t>(rows * V) * 4, cudaMemcpyDeviceToHost,
                             stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    return {};
  }

  // ---- Decode steps as CUDA graphs (gated retention) ----
  // A decode step launches ~25 kernels per layer; at batch 1 the GPU finishes each faster than the
  // host can launch the next. The step is captured once per session (and again when its buffers
  // move: KV growth, a prefill swapping the retention states, an import) and replayed with one
  // launch; the token and position travel in a 16-byte pinned block read by the graph's first
  // node, so nothing in the graph depends on the step. The retention state is updated in place
  // (decode is not cancellable). TOME_CUDA_GRAPHS=0 turns graphs off (the eager path below).
  bool graphs_enabled() const {
#ifndef TOME_KERNELS_HAVE_CROSS_ATTN_DECODE  // (until the fixed-grid decode attention lands)
    return false;
#endif
    if (c_.self_kind != self_decoder_kind::gated_retention || !api_->set_workspace) return false;
    const int64_t hd = c_.head_dim();  // what the fixed-grid decode attention supports
    if ((hd != 16 && hd != 32 && hd != 64 && hd != 128) || c_.n_heads / c_.n_kv_heads > 16) return false;
    const char* e = std::getenv("TOME_CUDA_GRAPHS");
    return !(e && e[0] == '0');
  }

  struct decode_io {  // pinned host block and its device twin
    int32_t token;
    int32_t pad;
    int64_t pos;
  };

  status ensure_decode_buffers() const {
    if (host_io_) return {};
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim);
    for (dbuf* b : {&dws_.x, &dws_.xn, &dws_.q, &dws_.k, &dws_.v, &dws_.o, &dws_.g, &dws_.tmp}) TOME_TRY(b->ensure(D * 2));
    TOME_TRY(dws_.q.ensure((4 * D + static_cast<size_t>(c_.n_self_heads)) * 2));  // q|k|v|g|gate of one GEMV
    TOME_TRY(dws_.a.ensure(2 * F * 2));                                            // w1|w3 of one GEMV
    TOME_TRY(dws_.b.ensure(F * 2));
    TOME_TRY(dws_.lg.ensure(static_cast<size_t>(std::max(c_.n_self_heads, c_.n_heads)) * 4));
    TOME_TRY(dws_.tokens.ensure(sizeof(decode_io)));
#ifdef TOME_KERNELS_HAVE_CROSS_ATTN_DECODE
    decode_splits_ = kernels::attn_decode_max_splits(c_.n_kv_heads, c_.head_dim());
    TOME_TRY(dws_.attn.ensure(static_cast<size_t>(kernels::cross_attn_decode_workspace_floats(
                                  c_.n_heads, c_.head_dim(), decode_splits_)) * 4));
#endif
    TOME_TRY(dws_.logits.ensure(static_cast<size_t>(c_.vocab_size) * 4));
    void* io = nullptr;
    TOME_TRY(cuda::alloc_pinned_decode(sizeof(decode_io), static_cast<size_t>(c_.vocab_size), &io, &host_logits_));
    host_io_ = static_cast<decode_io*>(io);
    return {};
  }

  uint64_t graph_key(const cuda_state& st) const {
    cuda::address_hash a;
    auto mix = [&](const void* p) { a.mix(p); };
    mix(st.k.as());
    mix(st.v.as());
    mix(st.ks.as());
    mix(st.vs.as());
    mix(st.last_hidden.as());
    for (const dbuf& b : st.ret) mix(b.as());
    return a.h;
  }

  // The whole step on stream_, no host work: token/pos from dws_.tokens (copied from host_io_ by
  // the first node), X_s and the global KV row at *pos, the cross-decoder, logits into host_logits_.
  status enqueue_decode_step(cuda_state& st) const {
    const int64_t D = c_.dim, H = c_.n_self_heads, hd = c_.self_head_dim(), V = c_.vocab_size;
    const float eps = static_cast<float>(c_.norm_eps);
    const workspace& w = dws_;
    const int64_t* pos = reinterpret_cast<const int64_t*>(w.tokens.as<char>() + offsetof(decode_io, pos));
    CUDA_TRY(cudaMemcpyAsync(w.tokens.as(), host_io_, sizeof(decode_io), cudaMemcpyHostToDevice, stream_));
    KTRY(kernels::embedding(w.tokens.as<int32_t>(), 1, g_.embed.as(), V, D, std::sqrt(static_cast<float>(D)), w.x.as(),
                            stream_));
    KTRY(kernels::rms_norm(w.x.as(), self_[0].mixer_norm.as(), w.xn.as(), 1, D, eps, stream_));
    const size_t L = self_.size();
    for (size_t l = 0; l < L; ++l) {
      const self_w& sw = self_[l];
      // q|k|v|g|gate logits in one product over the concatenated weight (the eager path's five
      // products give the same bits: a row's GEMV result does not depend on its neighbours).
      u16 *q = w.q.as(), *k = q + D, *v = q + 2 * D, *g = q + 3 * D, *gt = q + 4 * D;
      TOME_TRY(gemm(w.xn.as(), 1, sw.qkv, 4 * D + H, D, q));
      const float temp = static_cast<float>(c_.retention_gate_temperature);
      KTRY(kernels::rope_qk_at(q, k, 1, H, hd, pos, self_freq_.as<float>(), 1.0f / std::sqrt(static_cast<float>(hd)),
                               stream_));
      if (kernels::retention_decode_supported(hd)) {  // gate, state step and output stage in one kernel
        KTRY(kernels::retention_decode(q, k, v, g, gt, st.ret[l].as<float>(), w.o.as(), H, hd, temp, eps, stream_));
      } else {
        KTRY(kernels::retention_log_gamma(gt, w.lg.as<float>(), H, temp, stream_));
        KTRY(kernels::gated_retention(q, k, v, w.lg.as<float>(), st.ret[l].as<float>(), w.o.as(), 1, H, hd, stream_));
        KTRY(kernels::retention_output(w.o.as(), g, 1, H, hd, eps, stream_));
      }
      TOME_TRY(gemm(w.o.as(), 1, sw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn(w, 1, sw.ffn_norm, sw.w13, sw.w2, l + 1 < L ? self_[l + 1].mixer_norm : g_.kv_norm));
    }
    // w.xn = RMSNorm_kv(X_s): the token's global K/V row at *pos; X_s is the last hidden row.
    const int64_t kvd = c_.kv_dim(), Hq = c_.n_heads, chd = c_.head_dim();
    TOME_TRY(gemm(w.xn.as(), 1, g_.kv_wk, kvd, D, w.k.as()));
    TOME_TRY(gemm(w.xn.as(), 1, g_.kv_wv, kvd, D, w.v.as()));
    if (st.fp8)
      KTRY(kernels::rope_store_kv_fp8(w.k.as(), w.v.as(), st.k.as<uint8_t>(), st.v.as<uint8_t>(), st.ks.as<float>(),
                                      st.vs.as<float>(), c_.n_kv_heads, chd, pos, freq_.as<float>(), stream_));
    else
      KTRY(kernels::rope_store_kv(w.k.as(), w.v.as(), st.k.as(), st.v.as(), c_.n_kv_heads, chd, pos, freq_.as<float>(),
                                  stream_));
    CUDA_TRY(cudaMemcpyAsync(st.last_hidden.as(), w.x.as(), static_cast<size_t>(D) * 2, cudaMemcpyDeviceToDevice, stream_));
    KTRY(kernels::rms_norm(w.x.as(), cross_[0].mixer_norm.as(), w.xn.as(), 1, D, eps, stream_));
    for (size_t l = 0; l < cross_.size(); ++l) {
      const cross_w& cw = cross_[l];
      TOME_TRY(gemm(w.xn.as(), 1, cw.wq, D, D, w.q.as()));
      KTRY(kernels::rope_at(w.q.as(), 1, Hq, chd, pos, freq_.as<float>(), stream_));
#ifdef TOME_KERNELS_HAVE_CROSS_ATTN_DECODE
      if (st.fp8)
        KTRY(kernels::cross_attn_decode_fp8(w.q.as(), fp8_view(st), w.o.as(), pos, Hq, c_.n_kv_heads, chd,
                                            decode_splits_, w.attn.as<float>(), stream_));
      else
        KTRY(kernels::cross_attn_decode(w.q.as(), st.k.as(), st.v.as(), w.o.as(), pos, Hq, c_.n_kv_heads, chd,
                                        decode_splits_, w.attn.as<float>(), stream_));
#else
      return error("decode graphs need the fixed-grid decode attention kernel");
#endif
      TOME_TRY(gemm(w.o.as(), 1, cw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn(w, 1, cw.ffn_norm, cw.w13, cw.w2, l + 1 < cross_.size() ? cross_[l + 1].mixer_norm : g_.norm));
    }
    TOME_TRY(gemm(w.xn.as(), 1, g_.out, V, D, w.logits.as<float>(), true));
    CUDA_TRY(cudaMemcpyAsync(host_logits_, w.logits.as<float>(), static_cast<size_t>(V) * 4, cudaMemcpyDeviceToHost,
                             stream_));
    return {};
  }

  status capture_decode(cuda_state& st) const {
    TOME_TRY(cuda::capture_graph(stream_, st.graph, [&] { return enqueue_decode_step(st); }));
    st.graph_key = graph_key(st);
    return {};
  }

  status decode_graph(cuda_state& st, int32_t token, std::span<float> logits) const {
    TOME_TRY(st.alloc_status);
    if (token < 0 || token >= c_.vocab_size) return error("token id " + std::to_string(token) + " is outside the vocabulary");
    if (static_cast<int64_t>(logits.size()) != c_.vocab_size) return error("decode: wrong logits size");
    if (st.n + 1 > st.capacity) TOME_TRY(reserve(st, std::max(st.n + 1, st.capacity + st.capacity / 8 + 4096)));
    TOME_TRY(ensure_decode_buffers());
    if (!st.graph || st.graph_key != graph_key(st)) TOME_TRY(capture_decode(st));
    host_io_->token = token;
    host_io_->pos = st.n;
    CUDA_TRY(cudaGraphLaunch(st.graph, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    std::memcpy(logits.data(), host_logits_, logits.size() * 4);
    st.n += 1;
    return {};
  }

  static constexpr int64_t kAnswerRoom = 4096;  // tokens reserved beyond a prefill
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
  static constexpr int64_t kChunkedRetentionMinRows = 64;
  model_config c_;
  const cuda::cublas_api* api_;
  bool fp8_ = false;  // the global KV in fp8 e4m3 (load_params::kv)
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  std::string name_ = "GPU";
  int64_t weight_bytes_ = 0;
  global_weights<dbuf> g_;
  dbuf self_freq_, freq_;
  std::vector<self_w> self_;
  std::vector<cross_w> cross_;
  mutable std::recursive_mutex m_;
  mutable workspace ws_;
  mutable std::mutex staging_m_;  // import_kv_rows' pinned slots (not the stream: m_)
  mutable std::condition_variable staging_cv_;
  mutable std::vector<staging_slot> staging_;
  mutable workspace dws_;  // decode-graph buffers (one row), allocated once: graphs name them
  mutable decode_io* host_io_ = nullptr;
  mutable float* host_logits_ = nullptr;
  mutable int decode_splits_ = 1;  // key splits of the decode attention: fixed, one wave of CTAs
  bool use_gemv_ = true;           // Tome's GEMV for products of <= kGemvMaxRows rows (TOME_GEMV=0: cuBLAS)
  dbuf cublas_ws_;
};

}  // namespace

bool cuda_backend_available(std::string* why) {
  if (kernels::device_count() == 0) {
    if (why) *why = kernels::no_device_reason();
    return false;
  }
  kernels::device_info info;
  if (kernels::get_device_info(0, &info).ok() && info.major < 8) {  // bf16 tensor cores, cp.async
    if (why)
      *why = std::string(info.name) + " has compute capability " + std::to_string(info.major) + "." +
             std::to_string(info.minor) + "; the CUDA backend needs 8.0 or newer (Ampere and later)";
    return false;
  }
  return cuda::load_cublas(why) != nullptr;
}

result<std::unique_ptr<backend>> make_cuda_backend(const model_config& config, const safetensors_index& weights,
                                                   const std::string& source, kv_format kv) {
  std::string why;
  if (!cuda_backend_available(&why)) return error("the CUDA backend is unavailable: " + why);
  const bool fp8 = kv == kv_format::fp8;
  if (fp8 && config.is_transformer())
    return error("the fp8 global KV is implemented for YOCO models only, not the Transformer baseline");
  if (config.is_transformer()) return make_cuda_transformer_backend(config, weights, source);
  const int64_t hd = config.head_dim();
  if (fp8 && hd != 16 && hd != 32 && hd != 64 && hd != 128)
    return error("the fp8 global KV needs a cross-decoder head dim of 16, 32, 64 or 128 (this model: " +
                 std::to_string(hd) + ")");
  const cuda::cublas_api* api = cuda::load_cublas(nullptr);
  auto be = std::make_unique<cuda_backend>(config, api, fp8);
  status s = be->init(weights, source);
  if (!s.ok()) return s;
  return std::unique_ptr<backend>(std::move(be));
}

}  // namespace tome
