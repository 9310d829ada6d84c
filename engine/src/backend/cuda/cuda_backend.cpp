// The CUDA backend: the YOCO forward pass on the GPU in bf16 activations with f32 accumulation
// (cuBLAS GemmEx for the matrix products, tome_kernels for the rest), the same structure as the
// CPU reference (cpu_backend.cpp): prefill runs the self-decoder only and writes the global KV
// (bf16) in place; the cross-decoder runs only where logits are needed. Matrices are held in bf16
// or as int8 weight-only (int8 + an f32 scale per row, load_params::weights; decode products in
// kernels::gemv_i8, many-row products from blocks of W dequantised to bf16 for cuBLAS); norms in
// bf16. One stream per model; calls are serialised by a mutex.
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
#include <string_view>
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
using cuda::dweight;
using cuda::wref;
using cuda::g_device_bytes;
using cuda::g_device_peak;
using cuda::gib;
using cuda::u16;

// Loaded one tensor per member (weight_layout.h), then the weights a step reads together are
// stored together (concat_weights): qkv = wq|wk|wv(|wg|wgt) [3D or 4D + H, D] and w13 = w1|w3
// [2F, D]; the parts are freed. A decode step reads each with one GEMV; prefill GEMMs take the
// sub-blocks (self_parts). Every member is a dweight: bf16, or (matrices) int8 with row scales.
struct self_w {
  dweight mixer_norm, ffn_norm, w1, w3, w2, wq, wk, wv, wo, wg, wgt;
  dweight qkv, w13;
};
struct cross_w {
  dweight mixer_norm, ffn_norm, wq, wo, w1, w3, w2;
  dweight w13;
};

struct cuda_state final : backend_state {
  int64_t n = 0, capacity = 0, kv_dim = 0, dim = 0;
  dbuf k, v;                    // global KV bf16 [capacity, kv_dim] (fp8: e4m3 bytes [capacity, kv_dim])
  bool fp8 = false;             // the fp8 KV (cuda_backend::fp8_): k, v e4m3 with scales ks, vs
  dbuf ks, vs;                  // fp8: f32 [capacity, Hkv], one per (token, KV head)
  std::vector<dbuf> ret;        // gated retention f32 [H, hd, hd] per layer
  // SWA bf16 [W, D] per layer: the last ring_rows (<= W-1) keys and values. In order (oldest
  // first, rows 0..ring_rows-1) for prefill, the batched step and export; "slotted" (position p at
  // row p mod W) while decode graphs run, so a step writes one row instead of shifting the window.
  std::vector<dbuf> ring_k, ring_v;
  int64_t ring_rows = 0;
  bool ring_slotted = false;
  dbuf last_hidden;             // bf16 [D]
  int64_t self_bytes = 0;
  status alloc_status;          // a failed allocation in new_state, reported by every later call
  // The decode step captured as a CUDA graph (gated retention), valid while the buffers it names
  // are the ones it was captured with (graph_key: a hash of their addresses). [0] copies the
  // logits to the host; [1] leaves them on the device (decode_select).
  cudaGraphExec_t graph[2] = {};
  uint64_t graph_key[2] = {};
  // decode_select's logits, kept on the device for step_logits while n == step_logits_n.
  dbuf step_logits;
  int64_t step_logits_n = -1;
  // The session's logits on the host (host_logits): page-locked, so graph[0] copies into them
  // directly; null where cudaHostAlloc failed (the step then copies through the backend's buffer).
  float* pinned_logits = nullptr;
  size_t pinned_n = 0;
  ~cuda_state() override {
    for (cudaGraphExec_t g : graph)
      if (g) cudaGraphExecDestroy(g);
    if (pinned_logits) cudaFreeHost(pinned_logits);
  }
  std::span<float> host_logits() override { return {pinned_logits, pinned_logits ? pinned_n : 0}; }
  int64_t n_tokens() const override { return n; }
  memory_breakdown memory() const override {
    memory_breakdown m;
    m.global_kv = static_cast<int64_t>(k.bytes() + v.bytes() + ks.bytes() + vs.bytes());
    m.self_state = self_bytes;
    m.workspace = static_cast<int64_t>(step_logits.bytes() + last_hidden.bytes());  // decode_select's kept logits
    return m;
  }
};

class cuda_backend final : public backend {
 public:
  cuda_backend(const model_config& c, const cuda::cublas_api* api, bool fp8_kv, bool int8_weights)
      : c_(c), api_(api), fp8_(fp8_kv), int8_(int8_weights) {}
  ~cuda_backend() override {
    for (auto& row : batch_graphs_)
      for (cudaGraphExec_t& g : row)
        if (g) cudaGraphExecDestroy(g);
    if (host_bio_) cudaFreeHost(host_bio_);
    if (host_blogits_) cudaFreeHost(host_blogits_);
    free_staging();
    if (host_io_) cudaFreeHost(host_io_);
    if (host_logits_) cudaFreeHost(host_logits_);
    if (handle_) api_->destroy(handle_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  status init(const safetensors_index& idx, const std::string& source) {
    TOME_TRY(cuda::init_stream_and_cublas(*api_, stream_, handle_, cublas_ws_, kCublasWorkspaceBytes, name_));
    TOME_TRY(visit_weights(c_, g_, self_, cross_, [&](const std::string& name, dweight& out) -> status {
      const tensor_view* t = idx.find(name);
      const int64_t before = weight_bytes_;
      if (int8_ && t && t->shape.size() == 2) TOME_TRY(cuda::upload_weight_i8(idx, name, source, out, weight_bytes_));
      else TOME_TRY(cuda::upload_weight_bf16(idx, name, source, out, weight_bytes_));
      if (name == kEmbeddingTensor) embedding_bytes_ = weight_bytes_ - before;
      return {};
    }));
    auto upload_f32 = [&](const std::vector<float>& h, dbuf& d) -> status {
      TOME_TRY(d.ensure(h.size() * 4));
      CUDA_TRY(cudaMemcpy(d.as<float>(), h.data(), h.size() * 4, cudaMemcpyHostToDevice));
      return {};
    };
    TOME_TRY(upload_f32(cpu::rope_inv_freq(c_.self_head_dim(), c_.rope_theta), self_freq_));
    TOME_TRY(upload_f32(cpu::rope_inv_freq(c_.head_dim(), c_.rope_theta), freq_));
    TOME_TRY(concat_weights());
    if (int8_) {  // the prefill products' dequantisation buffer, allocated once (graphs name it)
      int64_t biggest = 0;
      for (const self_w& w : self_)
        for (const dweight* m : {&w.qkv, &w.w13, &w.w2, &w.wo}) biggest = std::max<int64_t>(biggest, m->bytes());
      for (const cross_w& w : cross_)
        for (const dweight* m : {&w.wq, &w.wo, &w.w13, &w.w2}) biggest = std::max<int64_t>(biggest, m->bytes());
      for (const dweight* m : {&kv_w_, &g_.out}) biggest = std::max<int64_t>(biggest, m->bytes());
      dequant_elems_ = std::min(biggest, kDequantElems);  // int8: bytes == elements
      TOME_TRY(dequant_ws_.ensure(static_cast<size_t>(dequant_elems_) * 2));
    }
    const char* e = std::getenv("TOME_GEMV");  // TOME_GEMV=0: cuBLAS for every product (A/B runs)
    use_gemv_ = !(e && e[0] == '0');
    const char* f = std::getenv("TOME_FUSED_NORMS");  // 0: the decode step's norms as their own kernels
    fuse_norms_ = use_gemv_ && !(f && f[0] == '0');
    // The global KV is final once the step's K/V row is stored (a memcpy node, or a plain launch,
    // stands between): the cross layers' attention requests its first K/V tile before the q
    // product finishes (TOME_KV_EARLY=0: after it).
    const char* ke = std::getenv("TOME_KV_EARLY");
    kv_early_ = !(ke && ke[0] == '0');
    const char* g = std::getenv("TOME_ROPE_EPILOGUE");  // 0: the decode step's RoPE as its own kernel
    rope_epilogue_ = !(g && g[0] == '0');
    const char* sg = std::getenv("TOME_SWIGLU_EPILOGUE");  // 0: the SwiGLU in the down projection's prologue
    swiglu_epilogue_ = !(sg && sg[0] == '0');
    // The fused norms in their exact form (the bits of the norm kernel followed by the GEMV, as
    // the eager step and the prefill round them). TOME_NORM_EPILOGUE=1: the scaled form
    // (kernels::norm_form::scaled), whose 1/rms multiplies the products' sums so they need not wait
    // for it: +1.6-3% decode tokens/s at YOCO-3B 32K, but one rounding fewer moves the decode
    // logits off the eager / prefill path's (tome-25m: 2.7e-2 relative over 80 graph steps against
    // 4.5e-3; docs/performance.md, session 23), beyond what the tests allow. Not the default.
    const char* ne = std::getenv("TOME_NORM_EPILOGUE");
    norm_form_ = ne && ne[0] == '1' ? kernels::norm_form::scaled : kernels::norm_form::exact;
    // Prefill rows (more than the GEMV's): the residual adds in the cuBLAS products (beta 1,
    // residual_in_product). TOME_PREFILL_RESID=0: the products into r, then add_rms_norm.
    const char* pr = std::getenv("TOME_PREFILL_RESID");
    resid_in_product_ = !(pr && pr[0] == '0');
    // The uploads above are plain cudaMemcpy calls on the legacy default stream, which stream_
    // (non-blocking) does not wait for, and a pageable copy may return before its DMA is done.
    CUDA_TRY(cudaDeviceSynchronize());
    return {};
  }

  // One buffer from several (in order), the parts freed: one extra part's size at a time.
  // The values, and the row scales of int8 weights (the parts are all bf16 or all int8).
  static status concat(std::initializer_list<dweight*> parts, dweight& out) {
    const bool i8 = (*parts.begin())->int8();
    std::vector<dbuf*> scales;
    for (dweight* p : parts) scales.push_back(&p->scale);
    if (i8) {
      size_t total = 0, at = 0;
      for (dbuf* p : scales) total += p->bytes();
      TOME_TRY(out.scale.ensure(total));
      for (dbuf* p : scales) {
        CUDA_TRY(cudaMemcpy(out.scale.as<char>() + at, p->as(), p->bytes(), cudaMemcpyDeviceToDevice));
        at += p->bytes();
        p->reset();
      }
    }
    size_t total = 0, at = 0;
    for (dweight* p : parts) total += p->bytes();
    TOME_TRY(out.ensure(total));
    for (dweight* p : parts) {
      CUDA_TRY(cudaMemcpy(out.as<char>() + at, p->as(), p->bytes(), cudaMemcpyDeviceToDevice));
      at += p->bytes();
      p->dbuf::reset();
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
    TOME_TRY(concat({&g_.kv_wk, &g_.kv_wv}, kv_w_));
    return {};
  }
  // Sub-blocks of a self layer's qkv: wq, wk, wv [D, D], then wg [D, D] and wgt [H, D].
  struct self_parts {
    wref wq, wk, wv, wg, wgt;
  };
  self_parts parts(const self_w& w) const {
    const int64_t D = c_.dim;
    return {cuda::rows_of(w.qkv, 0, D), cuda::rows_of(w.qkv, D, D), cuda::rows_of(w.qkv, 2 * D, D),
            cuda::rows_of(w.qkv, 3 * D, D), cuda::rows_of(w.qkv, 4 * D, D)};
  }

  wref kv_wk() const { return cuda::rows_of(kv_w_, 0, c_.dim); }
  wref kv_wv() const { return cuda::rows_of(kv_w_, c_.kv_dim(), c_.dim); }

  backend_kind kind() const override { return backend_kind::cuda; }
  std::string description() const override {
    return "CUDA (" + name_ + (int8_ ? ", bf16, int8 weights" : ", bf16") + (fp8_ ? ", fp8 e4m3 KV)" : ")");
  }
  int64_t weight_bytes() const override { return weight_bytes_; }

  int64_t kv_bytes_per_token() const override {  // bf16, or fp8 e4m3 + an f32 scale per KV head
    return fp8_ ? 2 * (c_.kv_dim() + c_.n_kv_heads * 4) : 2 * c_.kv_dim() * 2;
  }
  // Room for an answer after a prefill: growing later copies the KV (twice its size for a moment).
  int64_t kv_rows_reserved(int64_t n_tokens) const override {
    return n_tokens + std::clamp<int64_t>(c_.max_context - n_tokens, 0, kAnswerRoom);
  }
  int64_t self_state_bytes() const override {
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      const int64_t hd = c_.self_head_dim();
      return c_.n_self_layers * c_.n_self_heads * hd * hd * 4;
    }
    return 2 * c_.n_self_layers * std::max<int64_t>(c_.window, 1) * c_.dim * 2;
  }
  int64_t workspace_bytes(int64_t chunk) const override {
    // bf16 activations of one chunk (ensure_workspace: x, xn, q, o, and k, v, which also hold the
    // FFN's hidden rows), the f32 scratch (gated retention: g, the gate, log γ and the chunkwise
    // kernel's per-segment states, a few MiB; sliding window: the window's keys and values joined to
    // the chunk's), the logits.
    const int64_t D = c_.dim, F = c_.ffn_dim;
    const int64_t kv = std::max(chunk * D, std::min(chunk, ffn_block_rows(chunk)) * F);
    const int64_t acts = (4 * chunk * D + 2 * kv + (chunk <= kernels::kGemvMaxRows ? 2 * chunk * F : 0)) * 2;
    const int64_t scratch =
        c_.self_kind == self_decoder_kind::gated_retention
            ? chunk * D * 2 + chunk * c_.n_self_heads * 6 +
                  kernels::gated_retention_chunked_workspace_floats(chunk, c_.n_self_heads, c_.self_head_dim()) * 4
            : (chunk + std::max<int64_t>(c_.window, 1)) * D * 4;
    // The chunk's RoPE cos/sin table where the projection runs as gemm_rope (self_pass). int8
    // weights: the buffer that blocks of a matrix are dequantised into for cuBLAS (allocated at
    // load, counted here). The self-decoder's next state (self_pass writes a copy and swaps).
    const int64_t rope_cs =
        chunk > kernels::kGemvMaxRows && !int8_ && kernels::gemm_rope_enabled() ? chunk * c_.self_head_dim() * 4 : 0;
    return acts + scratch + rope_cs + c_.vocab_size * 4 + dequant_elems_ * 2 + self_state_bytes();
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
    // The session's logits, page-locked (ordinary memory where this fails, or with
    // TOME_PINNED_LOGITS=0 for comparisons).
    void* pl = nullptr;
    const char* pe = std::getenv("TOME_PINNED_LOGITS");
    if (!(pe && pe[0] == '0') &&
        cudaHostAlloc(&pl, static_cast<size_t>(c_.vocab_size) * 4, cudaHostAllocDefault) == cudaSuccess) {
      st->pinned_logits = static_cast<float*>(pl);
      st->pinned_n = static_cast<size_t>(c_.vocab_size);
    } else {
      cudaGetLastError();
    }
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      const size_t bytes = static_cast<size_t>(c_.n_self_heads * c_.self_head_dim() * c_.self_head_dim()) * 4;
      st->ret.resize(L);
      // Zeroed on stream_, which every later use of the state is ordered after. (A plain
      // cudaMemset runs on the legacy default stream, which a non-blocking stream does not wait
      // for: a prefill could copy the state before it was zeroed, and start from a freed
      // session's state that the allocator handed back.) Under m_, as all work on stream_: not
      // into another session's decode graph while it is being captured.
      std::lock_guard lk(m_);
      for (auto& b : st->ret) {
        keep(b.ensure(bytes));
        if (b.bytes() < bytes) continue;
        if (const cudaError_t e = cudaMemsetAsync(b.as(), 0, bytes, stream_); e != cudaSuccess)
          keep(cuda::cuda_error(e, "cudaMemsetAsync (the retention state)"));
      }
      st->self_bytes = static_cast<int64_t>(L * bytes);
    } else {
      const size_t bytes = static_cast<size_t>(std::max<int64_t>(c_.window, 1) * c_.dim) * 2;  // W slots
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
    n_tokens = kv_rows_reserved(n_tokens);
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

  // The step, then the pre-selection on the device over the logits it leaves there (dws_.logits
  // after a graph step, which then skips its copy to the host; ws_.logits after an eager one):
  // kernels::select_candidates_rows, k (value, id) pairs back. The logits stay on the device, in
  // the session's own buffer, for step_logits (the exact fallback when the candidates cannot
  // decide). Beyond kSelectMaxPenalized penalised ids or kSelectMaxK candidates: the host's
  // selection.
  status decode_select(backend_state& base, int32_t token, std::span<float> logits,
                       std::span<const int32_t> penalized, float penalty, int k, candidate_set& out,
                       bool& logits_kept) const override {
    // The device pre-selection (kernels::select_candidates_rows, op-tested against its CPU twin on
    // the H100). TOME_GPU_PRESELECT=0: the host twin selects from the logits decode() copied back,
    // as the CPU backend does (exact either way; read per call so a benchmark can compare both).
    const char* e = std::getenv("TOME_GPU_PRESELECT");
    const bool device_select = !(e && std::string_view(e) == "0");
    if (!device_select || k < 1 || k > kernels::kSelectMaxK ||
        penalized.size() > static_cast<size_t>(kernels::kSelectMaxPenalized))
      return backend::decode_select(base, token, logits, penalized, penalty, k, out, logits_kept);
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    logits_kept = false;
    st.step_logits_n = -1;
    const int64_t V = c_.vocab_size;
    TOME_TRY(st.step_logits.ensure(static_cast<size_t>(V) * 4));
    const size_t np = penalized.size(), kk = static_cast<size_t>(k);
    const size_t ws_bytes = kernels::select_candidates_workspace_bytes(1, V, k);
    TOME_TRY(sel_ws_.ensure(std::max<size_t>(ws_bytes, 16)));
    // One buffer: penalised ids, offsets {0, np}, values [k], ids [k], count, valid.
    TOME_TRY(sel_.ensure((np + 2 + 2 * kk + 2) * 4));
    const float* dev_logits = nullptr;
    if (graphs_enabled()) {
      TOME_TRY(decode_graph(st, token, {}, false));
      dev_logits = dws_.logits.as<float>();
    } else {  // as decode() steps eagerly (self_pass checks the token)
      TOME_TRY(self_pass(st, std::span<const int32_t>(&token, 1), nullptr));
      TOME_TRY(cross_pass(st, st.n - 1, 1, nullptr));  // no copy: the logits stay in ws_.logits
      dev_logits = ws_.logits.as<float>();
    }
    CUDA_TRY(cudaMemcpyAsync(st.step_logits.as(), dev_logits, static_cast<size_t>(V) * 4, cudaMemcpyDeviceToDevice,
                             stream_));
    std::vector<int32_t> in(np + 2);
    std::copy(penalized.begin(), penalized.end(), in.begin());
    in[np] = 0;
    in[np + 1] = static_cast<int32_t>(np);
    int32_t* d = sel_.as<int32_t>();
    CUDA_TRY(cudaMemcpyAsync(d, in.data(), in.size() * 4, cudaMemcpyHostToDevice, stream_));
    int32_t* d_out = d + np + 2;
    KTRY(kernels::select_candidates_rows(dev_logits, 1, V, np ? d : nullptr, np ? d + np : nullptr, penalty, k,
                                         reinterpret_cast<float*>(d_out), d_out + kk, d_out + 2 * kk,
                                         d_out + 2 * kk + 1, sel_ws_.as(), ws_bytes, stream_));
    std::vector<int32_t> res(2 * kk + 2);
    CUDA_TRY(cudaMemcpyAsync(res.data(), d_out, res.size() * 4, cudaMemcpyDeviceToHost, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    const size_t count = std::min(static_cast<size_t>(std::max(res[2 * kk], 0)), kk);
    out.items.resize(count);
    for (size_t i = 0; i < count; ++i) {
      float v;
      std::memcpy(&v, &res[i], 4);
      out.items[i] = {v, res[kk + i]};
    }
    out.n_valid = res[2 * kk + 1];
    st.step_logits_n = st.n;
    logits_kept = true;
    return {};
  }

  status step_logits(backend_state& base, std::span<float> logits) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    if (st.step_logits_n != st.n || static_cast<int64_t>(logits.size()) != c_.vocab_size)
      return error("step_logits: no logits kept for this position");
    CUDA_TRY(cudaMemcpyAsync(logits.data(), st.step_logits.as(), logits.size() * 4, cudaMemcpyDeviceToHost, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));
    return {};
  }

  // Batched decode: one step of B sessions as one pass over the weights (decode_batch_step below).
  int max_decode_batch() const override { return kMaxBatch; }
  status decode_batch(std::span<backend_state* const> states, std::span<const int32_t> tokens,
                      std::span<const std::span<float>> logits) const override {
    if (!batch_supported()) return backend::decode_batch(states, tokens, logits);
    const int64_t B = static_cast<int64_t>(states.size());
    if (tokens.size() != states.size() || logits.size() != states.size())
      return error("decode_batch: " + std::to_string(B) + " sessions, " + std::to_string(tokens.size()) + " tokens, " +
                   std::to_string(logits.size()) + " logits rows");
    if (B == 0) return {};
    if (B > kMaxBatch) return error("decode_batch: at most " + std::to_string(kMaxBatch) + " sessions per step");
    std::lock_guard lk(m_);
    return decode_batch_step(states, tokens, logits, {});
  }
  bool device_greedy() const override { return batch_supported(); }
  status decode_batch_greedy(std::span<backend_state* const> states, std::span<const int32_t> tokens,
                             std::span<int32_t> next) const override {
    if (!batch_supported()) return backend::decode_batch_greedy(states, tokens, next);
    if (tokens.size() != states.size() || next.size() != states.size())
      return error("decode_batch_greedy: " + std::to_string(states.size()) + " sessions, " +
                   std::to_string(tokens.size()) + " tokens, " + std::to_string(next.size()) + " outputs");
    if (states.empty()) return {};
    if (states.size() > static_cast<size_t>(kMaxBatch))
      return error("decode_batch: at most " + std::to_string(kMaxBatch) + " sessions per step");
    std::lock_guard lk(m_);
    return decode_batch_step(states, tokens, {}, next);
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

  status attention_mass(backend_state& base, std::span<float> mass,
                        std::span<const attention_head> heads) const override {
    std::lock_guard lk(m_);
    auto& st = static_cast<cuda_state&>(base);
    TOME_TRY(st.alloc_status);
    if (st.n == 0) return error("no tokens in the session: no attention to report");
    if (static_cast<int64_t>(mass.size()) != st.n) return error("attention_mass: wrong output size");
    TOME_TRY(check_heads(c_, heads));
    TOME_TRY(ws_.x.ensure(static_cast<size_t>(c_.dim) * 2));
    CUDA_TRY(cudaMemcpyAsync(ws_.x.as(), st.last_hidden.as(), static_cast<size_t>(c_.dim) * 2,
                             cudaMemcpyDeviceToDevice, stream_));
    return cross_pass(st, st.n - 1, 1, nullptr, mass.data(), heads);
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
      for (const dbuf& b : st.ret) {  // on stream_: after the steps that wrote it
        std::vector<float> h(b.bytes() / 4);
        CUDA_TRY(cudaMemcpyAsync(h.data(), b.as(), b.bytes(), cudaMemcpyDeviceToHost, stream_));
        CUDA_TRY(cudaStreamSynchronize(stream_));
        out.self_state.push_back(std::move(h));
      }
    } else {
      const size_t used = static_cast<size_t>(st.ring_rows * c_.dim);
      for (size_t l = 0; l < st.ring_k.size(); ++l) {
        std::vector<float> kk, vv;
        TOME_TRY(download_ring(st, st.ring_k[l], kk));
        TOME_TRY(download_ring(st, st.ring_v[l], vv));
        kk.resize(used);
        vv.resize(used);
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
    dbuf tokens, x, x2, xn, q, k, v, o, g, tmp, a, b, gate, lg, logits, attn, catk, catv, ret_ws, mass, rope_cs;
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
      for (size_t l = 0; l < L; ++l)  // on stream_: after the session's earlier steps, before its next
        CUDA_TRY(cudaMemcpyAsync(st.ret[l].as(), in.self_state[l].data(), st.ret[l].bytes(), cudaMemcpyHostToDevice,
                                 stream_));
      CUDA_TRY(cudaStreamSynchronize(stream_));  // `in` may go once this returns
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
      st.ring_slotted = false;
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
  // A sliding-window ring's ring_rows rows in order (oldest first) as f32, slotted or not; m_ held.
  status download_ring(const cuda_state& st, const dbuf& ring, std::vector<float>& out) const {
    const size_t D = static_cast<size_t>(c_.dim), rr = static_cast<size_t>(st.ring_rows);
    if (!st.ring_slotted) return download_f32(ring.as(), rr * D, out);
    const size_t W = static_cast<size_t>(c_.window);
    std::vector<float> all;
    TOME_TRY(download_f32(ring.as(), W * D, all));
    out.resize(rr * D);
    for (size_t i = 0; i < rr; ++i) {
      const size_t slot = (static_cast<size_t>(st.n) - rr + i) % W;
      std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(slot * D), D, out.begin() + static_cast<std::ptrdiff_t>(i * D));
    }
    return {};
  }
  // Puts a sliding-window state's rings in the slotted layout (decode graphs: the key of position
  // p at row p mod W) or back in order (rows 0..ring_rows-1, oldest first: prefill, the batched
  // step); a no-op when already so. Through ws_.catk; m_ held.
  status set_ring_layout(cuda_state& st, bool slotted) const {
    if (c_.self_kind == self_decoder_kind::gated_retention || st.ring_slotted == slotted) return {};
    const int64_t rr = st.ring_rows, W = c_.window;
    if (rr > 0) {
      if (rr > W - 1) return error("sliding-window state holds more rows than its window");
      const size_t row = static_cast<size_t>(c_.dim) * 2;
      TOME_TRY(ws_.catk.ensure(static_cast<size_t>(rr) * row));
      const int64_t s0 = (st.n - rr) % W, len1 = std::min(rr, W - s0);  // rows 0..len1-1 at slots s0..
      const size_t a = static_cast<size_t>(len1) * row, b = static_cast<size_t>(rr - len1) * row;
      char* tmp = ws_.catk.as<char>();
      for (size_t l = 0; l < st.ring_k.size(); ++l)
        for (dbuf* ring : {&st.ring_k[l], &st.ring_v[l]}) {
          char* r = ring->as<char>();
          char* at = r + static_cast<size_t>(s0) * row;
          if (slotted) {
            CUDA_TRY(cudaMemcpyAsync(tmp, r, a + b, cudaMemcpyDeviceToDevice, stream_));
            CUDA_TRY(cudaMemcpyAsync(at, tmp, a, cudaMemcpyDeviceToDevice, stream_));
            if (b) CUDA_TRY(cudaMemcpyAsync(r, tmp + a, b, cudaMemcpyDeviceToDevice, stream_));
          } else {
            CUDA_TRY(cudaMemcpyAsync(tmp, at, a, cudaMemcpyDeviceToDevice, stream_));
            if (b) CUDA_TRY(cudaMemcpyAsync(tmp + a, r, b, cudaMemcpyDeviceToDevice, stream_));
            CUDA_TRY(cudaMemcpyAsync(r, tmp, a + b, cudaMemcpyDeviceToDevice, stream_));
          }
        }
    }
    st.ring_slotted = slotted;
    return {};
  }
  status upload_bf16(const float* src, size_t n, u16* dst) const {
    std::vector<u16> h(n);
    for (size_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
    if (n) CUDA_TRY(cudaMemcpyAsync(dst, h.data(), n * 2, cudaMemcpyHostToDevice, stream_));
    CUDA_TRY(cudaStreamSynchronize(stream_));  // h is freed on return
    return {};
  }

  // y[rows, out] = x[rows, in] · Wᵀ (bf16 in, f32 accumulate; y bf16, or f32 when y_f32).
  // Up to kGemvMaxRows rows (decode steps) take Tome's GEMV, which streams W at HBM speed and
  // gives the same bits for a row of W whichever block of rows it is computed in; more rows cuBLAS.
  // Int8 weights (wref with scales): decode rows take Tome's int8 GEMV (half the bytes of bf16);
  // more rows dequantise blocks of W's rows (at most dequant_elems_ weights) to bf16 in dequant_ws_
  // and multiply each with cuBLAS into its columns of y (the dequantisation reads 1 and writes 2
  // bytes per weight: ~2% of a 32K-row GEMM's time).
  status gemm(const u16* x, int64_t rows, const dweight& w, int64_t out, int64_t in, void* y,
              bool y_f32 = false) const {
    return gemm(x, rows, cuda::rows_of(w), out, in, y, y_f32);
  }
  status gemm(const u16* x, int64_t rows, wref w, int64_t out, int64_t in, void* y, bool y_f32 = false) const {
    if (!w.scale) return gemm(x, rows, w.bf16(), out, in, y, y_f32);
    if (use_gemv_ && kernels::gemv_i8_supported(w.w, x, rows, in)) {
      KTRY(kernels::gemv_i8(w.i8(), w.scale, x, y, y_f32, rows, out, in, stream_));
      return {};
    }
    return dequant_gemm(x, rows, w, out, in, y, y_f32, 0.0f);
  }
  // Int8 weights by cuBLAS: blocks of W's rows dequantised to bf16 in turn, each block's columns of
  // y [rows, out] = x · blockᵀ (+ beta y).
  status dequant_gemm(const u16* x, int64_t rows, wref w, int64_t out, int64_t in, void* y, bool y_f32,
                      float beta) const {
    const int64_t block = std::clamp<int64_t>(dequant_elems_ / std::max<int64_t>(in, 1), 1, std::max<int64_t>(out, 1));
    if (block * in > dequant_elems_) return error("int8 weights: a matrix row is larger than the dequantisation buffer");
    const int64_t esize = y_f32 ? 4 : 2;
    for (int64_t r0 = 0; r0 < out; r0 += block) {
      const int64_t nb = std::min(block, out - r0);
      KTRY(kernels::dequant_i8(w.i8() + r0 * in, w.scale + r0, dequant_ws_.as(), nb, in, stream_));
      TOME_TRY(cublas_gemm(x, rows, dequant_ws_.as(), nb, in, static_cast<char*>(y) + r0 * esize, out, y_f32, beta));
    }
    return {};
  }
  status gemm(const u16* x, int64_t rows, const u16* w, int64_t out, int64_t in, void* y,
              bool y_f32 = false) const {
    if (use_gemv_ && kernels::gemv_supported(w, x, rows, in)) {
      KTRY(kernels::gemv(w, x, y, y_f32, rows, out, in, stream_));
      return {};
    }
    return cublas_gemm(x, rows, w, out, in, y, out, y_f32);
  }
  // The residual's product added in the prefill's products (resid_in_product_): x [rows, out] +=
  // a [rows, in] · Wᵀ by cuBLAS with beta 1, one bf16 rounding of the sum, where the product and
  // add_rms_norm round twice; the norm after it then reads x alone. Rows that Tome's GEMV serves
  // (decode steps; their graph and eager forms agree bit for bit) keep the product and the add.
  bool residual_in_product(int64_t rows) const { return resid_in_product_ && rows > kernels::kGemvMaxRows; }
  status gemm_add(const u16* a, int64_t rows, wref w, int64_t out, int64_t in, u16* x) const {
    if (!w.scale) return cublas_gemm(a, rows, w.bf16(), out, in, x, out, false, 1.0f);
    return dequant_gemm(a, rows, w, out, in, x, false, 1.0f);
  }
  // cuBLAS: columns 0..out of y [rows, ldy] = x[rows, in] · Wᵀ (+ beta y), W bf16 [out, in].
  status cublas_gemm(const u16* x, int64_t rows, const u16* w, int64_t out, int64_t in, void* y, int64_t ldy,
                     bool y_f32, float beta = 0.0f) const {
    const float alpha = 1.0f;
    const cublasStatus_t s = api_->gemm_ex(
        handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(rows), static_cast<int>(in),
        &alpha, w, CUDA_R_16BF, static_cast<int>(in), x, CUDA_R_16BF, static_cast<int>(in), &beta, y,
        y_f32 ? CUDA_R_32F : CUDA_R_16BF, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) return error("cuBLAS GemmEx failed (status " + std::to_string(static_cast<int>(s)) + ")");
    return {};
  }
  // Tome's GEMV on a bf16 or int8 weight (plain, or with the SwiGLU prologue: x = swiglu(x, b)).
  static bool gemv_ok(wref w, const void* x, int64_t rows, int64_t k) {
    return w.scale ? kernels::gemv_i8_supported(w.w, x, rows, k) : kernels::gemv_supported(w.w, x, rows, k);
  }
  status gemv(wref w, const u16* x, const u16* b, int64_t x_stride, void* y, int64_t rows, int64_t n, int64_t k) const {
    if (w.scale) {
      if (b) KTRY(kernels::gemv_i8_swiglu(w.i8(), w.scale, x, b, x_stride, y, false, rows, n, k, stream_));
      else KTRY(kernels::gemv_i8(w.i8(), w.scale, x, y, false, rows, n, k, stream_));
    } else {
      if (b) KTRY(kernels::gemv_swiglu(w.bf16(), x, b, x_stride, y, false, rows, n, k, stream_));
      else KTRY(kernels::gemv(w.bf16(), x, y, false, rows, n, k, stream_));
    }
    return {};
  }

  // The mixer's residual r and the FFN sublayer, each residual add fused with the norm after it:
  // x += r; xn = norm_w(x); r = FFN(xn); x += r; xn = next_norm(x) (the next layer's mixer norm,
  // or the norm that follows the stack). r [T, D] is the mixer's output (its q buffer, free by
  // then) and takes the FFN's output.
  // w13 = w1|w3 [2F, D]. Decode rows: one GEMV for both into w.a [T, 2F], the SwiGLU computed
  // inside the down projection's GEMV (== swiglu then GEMV, same bits). Else cuBLAS on the halves,
  // over blocks of rows whose w1 and w3 products live in w.k and w.v, free once the mixer has run:
  // the prefill's FFN needs no [T, F] buffers of its own (ffn_block_rows). On Hopper (bf16 weights,
  // kernels::gemm_swiglu_supported; TOME_WGMMA_GEMM=0 turns it off) one kernel computes both
  // products of a block with the SwiGLU in its epilogue, and the [rows, 2F] products are never stored.
  // With residual_in_product(T), the mixer's output projection has already added r into x
  // (mixer_out) and the down projection adds its product into x too.
  status ffn(const workspace& w, int64_t T, u16* r, const dbuf& norm_w, const dweight& w13, const dweight& w2,
             const dbuf& next_norm) const {
    const int64_t D = c_.dim, F = c_.ffn_dim;
    const float eps = static_cast<float>(c_.norm_eps);
    const bool in_product = residual_in_product(T);
    if (in_product) KTRY(kernels::rms_norm(w.x.as(), norm_w.as(), w.xn.as(), T, D, eps, stream_));
    else KTRY(kernels::add_rms_norm(w.x.as(), r, norm_w.as(), w.xn.as(), T, D, eps, stream_));
    const wref a13 = cuda::rows_of(w13), a2 = cuda::rows_of(w2);
    if (!in_product && use_gemv_ && gemv_ok(a13, w.xn.as(), T, D) && gemv_ok(a2, w.a.as(), T, F) && F % 8 == 0) {
      TOME_TRY(gemv(a13, w.xn.as(), nullptr, D, w.a.as(), T, 2 * F, D));
      TOME_TRY(gemv(a2, w.a.as(), w.a.as() + F, 2 * F, r, T, D, F));
    } else {
      // The block depends on T alone (not on what earlier calls left in the buffers): same bits.
      const int64_t S = std::min(T, ffn_block_rows(T));
      if (std::min(w.k.bytes(), w.v.bytes()) < static_cast<size_t>(S * F) * 2)
        return error("FFN: the workspace is smaller than a block of the hidden layer");
      u16* a = w.k.as();
      u16* b = w.v.as();
      for (int64_t r0 = 0; r0 < T; r0 += S) {
        const int64_t n = std::min(S, T - r0);
        const u16* xn = w.xn.as() + r0 * D;
        const u16 *w1 = a13.bf16(), *w3 = w1 + F * D;
        if (!a13.scale && n > kernels::kGemvMaxRows && kernels::gemm_swiglu_supported(xn, w1, w3, a, n, F, D)) {
          // Hopper: both products and the SwiGLU in one kernel, h straight into a.
          KTRY(kernels::gemm_swiglu(xn, w1, w3, a, n, F, D, stream_));
        } else {
          TOME_TRY(gemm(xn, n, cuda::rows_of(w13, 0, D), F, D, a));
          TOME_TRY(gemm(xn, n, cuda::rows_of(w13, F, D), F, D, b));
          KTRY(kernels::swiglu(a, b, a, n * F, stream_));
        }
        if (in_product) TOME_TRY(gemm_add(a, n, cuda::rows_of(w2), D, F, w.x.as() + r0 * D));
        else TOME_TRY(gemm(a, n, w2, D, F, r + r0 * D));
      }
    }
    if (in_product) KTRY(kernels::rms_norm(w.x.as(), next_norm.as(), w.xn.as(), T, D, eps, stream_));
    else KTRY(kernels::add_rms_norm(w.x.as(), r, next_norm.as(), w.xn.as(), T, D, eps, stream_));
    return {};
  }
  // A layer's mixer output projection: r = o · woᵀ for ffn, or (residual_in_product) x += o · woᵀ.
  status mixer_out(const workspace& w, int64_t T, const dweight& wo, u16* r) const {
    const int64_t D = c_.dim;
    if (residual_in_product(T)) return gemm_add(w.o.as(), T, cuda::rows_of(wo), D, D, w.x.as());
    return gemm(w.o.as(), T, wo, D, D, r);
  }
  // Rows of the FFN's hidden layer computed at once (ffn): at least min(T, 1024), so a chunk of
  // few rows still runs its FFN in one block, and as many as fit w.k and w.v at T x D elements.
  int64_t ffn_block_rows(int64_t T) const {
    return std::max(std::min<int64_t>(T, 1024), T * c_.dim / std::max<int64_t>(c_.ffn_dim, 1));
  }

  // ---- The decode step's norms as GEMV prologues ----
  // The residual stream of a decode step. Where a norm runs as the prologue of the GEMV that
  // reads it (kernels::gemv_norm: every CTA normalises x + r itself, in norm_form_: by default
  // the bits of add_rms_norm then the GEMV), x alternates between two buffers: the GEMV's CTAs
  // all read x while its first CTA writes x + r to the other. Where the norm is a kernel of its own, x is updated in place and
  // the norm goes to xn.
  struct resid {
    u16* cur;
    u16* alt;
  };
  // y [rows, n] = W · rms_norm(x (+ r)) * nw, and x becomes x + r. Fused where Tome's GEMV serves
  // the product and the CTAs' redundant norms stay small (at most 32 MiB of rows read in all:
  // YOCO-3B's output head, 12,536 CTAs, keeps its own kernel); else add_rms_norm / rms_norm into
  // xn, which `reuse` skips when xn already holds this norm of x.
  // With `rope`, the outputs are then rotated (q, or q|k at n = scale_from: kernels::gemv_rope): in
  // the GEMV's epilogue where fused, else by rope_qk_rows (the same bits).
  status norm_gemm(resid& x, const u16* r, const dbuf& nw, wref W, int64_t rows, int64_t n, int64_t k, void* y,
                   bool y_f32, u16* xn, bool reuse = false, const kernels::gemv_rope* rope = nullptr) const {
    const float eps = static_cast<float>(c_.norm_eps);
    const int64_t ctas = (n + 7) / 8, staged = ctas * rows * k * 2 * (r ? 2 : 1);
    if (fuse_norms_ && kernels::gemv_norm_supported(W.w, x.cur, rows, k, W.scale != nullptr) &&
        staged <= (int64_t{32} << 20)) {
      u16* out = r ? x.alt : nullptr;
      const kernels::gemv_rope* epi = rope_epilogue_ ? rope : nullptr;
      if (W.scale)
        KTRY(kernels::gemv_i8_norm(W.i8(), W.scale, x.cur, r, nw.as(), eps, out, y, y_f32, rows, n, k, stream_, epi,
                                   norm_form_));
      else
        KTRY(kernels::gemv_norm(W.bf16(), x.cur, r, nw.as(), eps, out, y, y_f32, rows, n, k, stream_, epi,
                                norm_form_));
      if (r) std::swap(x.cur, x.alt);
      if (epi) return {};
    } else {
      if (r) KTRY(kernels::add_rms_norm(x.cur, r, nw.as(), xn, rows, k, eps, stream_));
      else if (!reuse) KTRY(kernels::rms_norm(x.cur, nw.as(), xn, rows, k, eps, stream_));
      TOME_TRY(gemm(xn, rows, W, n, k, y, y_f32));
    }
    if (!rope) return {};
    if (y_f32 || rope->scale_from % rope->head_dim != 0 || (rope->rows != rope->scale_from && rope->rows != 2 * rope->scale_from))
      return error("decode step: a RoPE epilogue of an unsupported shape");
    u16* q = static_cast<u16*>(y);
    KTRY(kernels::rope_qk_rows(q, rope->rows > rope->scale_from ? q + rope->scale_from : nullptr, rows, n,
                               rope->scale_from / rope->head_dim, rope->head_dim, rope->pos, rope->inv_freq,
                               rope->k_scale, stream_));
    return {};
  }
  // The FFN sublayer of a decode step after its mixer left its output in w.tmp: x += tmp,
  // tmp = W2 · swiglu(W13 · norm(x)): bf16, one GEMV for w1|w3 with the SwiGLU in its epilogue,
  // then the down projection on h; int8 (or TOME_SWIGLU_EPILOGUE=0), the SwiGLU inside the down
  // projection's GEMV; where the GEMVs do not serve, the halves, swiglu, and the product.
  status ffn_step(const workspace& w, resid& x, int64_t T, const dbuf& norm_w, const dweight& w13,
                  const dweight& w2) const {
    const int64_t D = c_.dim, F = c_.ffn_dim;
    const wref a2 = cuda::rows_of(w2), a13 = cuda::rows_of(w13);
    // bf16: the SwiGLU in the up projection's epilogue (h into w.b), the down projection on h;
    // the bits of the form below (TOME_SWIGLU_EPILOGUE=0 takes it).
    if (use_gemv_ && fuse_norms_ && swiglu_epilogue_ && !a13.scale && gemv_ok(a2, w.b.as(), T, F) &&
        kernels::gemv_norm_supported(a13.w, x.cur, T, D, false) && (F + 3) / 4 * T * D * 4 <= (int64_t{32} << 20)) {
      KTRY(kernels::gemv_norm_swiglu(a13.bf16(), x.cur, w.tmp.as(), norm_w.as(), static_cast<float>(c_.norm_eps),
                                     x.alt, w.b.as(), T, 2 * F, D, stream_, norm_form_));
      std::swap(x.cur, x.alt);
      return gemv(a2, w.b.as(), nullptr, F, w.tmp.as(), T, D, F);
    }
    if (use_gemv_ && gemv_ok(a2, w.a.as(), T, F) && F % 8 == 0) {
      TOME_TRY(norm_gemm(x, w.tmp.as(), norm_w, cuda::rows_of(w13), T, 2 * F, D, w.a.as(), false, w.xn.as()));
      return gemv(a2, w.a.as(), w.a.as() + F, 2 * F, w.tmp.as(), T, D, F);
    }
    TOME_TRY(norm_gemm(x, w.tmp.as(), norm_w, cuda::rows_of(w13, 0, D), T, F, D, w.a.as(), false, w.xn.as()));
    TOME_TRY(norm_gemm(x, nullptr, norm_w, cuda::rows_of(w13, F, D), T, F, D, w.b.as(), false, w.xn.as(), true));
    KTRY(kernels::swiglu(w.a.as(), w.b.as(), w.a.as(), T * F, stream_));
    return gemm(w.a.as(), T, w2, D, F, w.tmp.as());
  }

  // y [n, D] = sqrt(D) * E[tokens] (device token ids), from the bf16 or the int8 table.
  status embed(const int32_t* tokens, int64_t n, u16* y) const {
    const int64_t D = c_.dim, V = c_.vocab_size;
    const float s = std::sqrt(static_cast<float>(D));
    if (g_.embed.int8())
      KTRY(kernels::embedding_i8(tokens, n, g_.embed.as<int8_t>(), g_.embed.scale.as<float>(), V, D, s, y, stream_));
    else
      KTRY(kernels::embedding(tokens, n, g_.embed.as(), V, D, s, y, stream_));
    return {};
  }

  status ensure_workspace(int64_t T) const {
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim), t = static_cast<size_t>(T);
    // No [T, F] buffers: the FFN's hidden rows live in k and v (ffn), the mixer's output in q.
    const size_t kv = std::max(t * D, std::min(t, static_cast<size_t>(ffn_block_rows(T))) * F);
    for (dbuf* b : {&ws_.x, &ws_.xn, &ws_.q, &ws_.o}) TOME_TRY(b->ensure(t * D * 2));
    for (dbuf* b : {&ws_.k, &ws_.v}) TOME_TRY(b->ensure(kv * 2));
    if (T <= kernels::kGemvMaxRows) TOME_TRY(ws_.a.ensure(t * F * 2 * 2));  // [T, 2F] for the GEMV FFN
    TOME_TRY(ws_.tokens.ensure(t * 4));
    if (c_.self_kind == self_decoder_kind::gated_retention) {
      const size_t H = static_cast<size_t>(c_.n_self_heads);
      TOME_TRY(ws_.g.ensure(t * D * 2));
      TOME_TRY(ws_.gate.ensure(t * H * 2));
      TOME_TRY(ws_.lg.ensure(t * H * 4));
    }
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
    TOME_TRY(embed(ws_.tokens.as<int32_t>(), T, ws_.x.as()));
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    const size_t L = static_cast<size_t>(c_.n_self_layers);
    int64_t new_ring_rows = 0;
    // A sliding-window decode token where decode graphs run takes their kernels (the slotted ring),
    // so the eager and the graph step agree bit for bit.
    const bool ring_step = !gret && T == 1 && decode_kernels_ok();
    if (gret) {
      ws_.ret_next.resize(L);
      for (size_t l = 0; l < L; ++l) {
        TOME_TRY(ws_.ret_next[l].ensure(st.ret[l].bytes()));
        CUDA_TRY(cudaMemcpyAsync(ws_.ret_next[l].as(), st.ret[l].as(), st.ret[l].bytes(), cudaMemcpyDeviceToDevice, stream_));
      }
    } else if (ring_step) {  // one token: the decode graph's ring step, in place (same bits)
      TOME_TRY(set_ring_layout(st, true));
      TOME_TRY(ensure_decode_buffers());  // ring_splits_ and the attention workspace
      TOME_TRY(ring_pos_.ensure(2 * sizeof(int64_t)));
      TOME_TRY(ws_.attn.ensure(dws_.attn.bytes()));
      CUDA_TRY(cudaMemcpyAsync(ring_pos_.as(), &pos0, sizeof(int64_t), cudaMemcpyHostToDevice, stream_));
      new_ring_rows = std::min<int64_t>(pos0 + T, std::max<int64_t>(c_.window - 1, 0));
    } else {
      TOME_TRY(set_ring_layout(st, false));
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
    // The prefill's projection on Hopper: q, k, v (and g) as one product of the packed weight with
    // RoPE in its epilogue (kernels::gemm_rope, where TOME_WGMMA_ROPE=1 turns it on: not yet faster),
    // the angles' cos/sin computed once for every layer. Else the products, then rope_qk.
    const float k_scale = gret ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f;
    const int proj_parts = gret ? 4 : 3;
    uint16_t* const proj_out[4] = {ws_.q.as(), ws_.k.as(), ws_.v.as(), gret ? ws_.g.as() : nullptr};
    bool fused_proj = false;
    if (T > kernels::kGemvMaxRows && !int8_ && kernels::gemm_rope_enabled()) {
      TOME_TRY(ws_.rope_cs.ensure(static_cast<size_t>(T * hd) * 4));
      fused_proj = true;
      for (size_t l = 0; l < L && fused_proj; ++l) {
        const self_parts p = parts(self_[l]);
        fused_proj = !p.wq.scale && kernels::gemm_rope_supported(ws_.xn.as(), p.wq.bf16(), proj_out, proj_parts, T, D,
                                                                 D, 2, hd, ws_.rope_cs.as<float>());
      }
      if (fused_proj)
        KTRY(kernels::rope_cos_sin(ws_.rope_cs.as<float>(), T, hd, pos0, self_freq_.as<float>(), stream_));
    }
    KTRY(kernels::rms_norm(ws_.x.as(), self_[0].mixer_norm.as(), ws_.xn.as(), T, D, eps, stream_));
    for (size_t l = 0; l < L; ++l) {  // ws_.xn = the layer's mixer norm of x on entry
      if (cancel && cancel->load(std::memory_order_relaxed)) return {};
      const self_w& w = self_[l];
      const self_parts p = parts(w);
      if (fused_proj) {  // Hopper: q|k|v(|g) in one product, RoPE on q and k in its epilogue
        KTRY(kernels::gemm_rope(ws_.xn.as(), p.wq.bf16(), proj_out, proj_parts, T, D, D, 2, hd,
                                ws_.rope_cs.as<float>(), k_scale, stream_));
      } else {
        TOME_TRY(gemm(ws_.xn.as(), T, p.wq, D, D, ws_.q.as()));
        TOME_TRY(gemm(ws_.xn.as(), T, p.wk, D, D, ws_.k.as()));
        TOME_TRY(gemm(ws_.xn.as(), T, p.wv, D, D, ws_.v.as()));
        // RoPE on q and k, k scaled by hd^-0.5 for retention (== rope, rope, scale: same bits).
        KTRY(kernels::rope_qk(ws_.q.as(), ws_.k.as(), T, H, hd, pos0, self_freq_.as<float>(), k_scale, stream_));
        if (gret) TOME_TRY(gemm(ws_.xn.as(), T, p.wg, D, D, ws_.g.as()));
      }
      if (gret) {
        TOME_TRY(gemm(ws_.xn.as(), T, p.wgt, H, D, ws_.gate.as()));
        if (T == 1 && kernels::retention_decode_supported(hd)) {  // the decode graph's kernel: same bits
          KTRY(kernels::retention_decode(ws_.q.as(), ws_.k.as(), ws_.v.as(), ws_.g.as(), ws_.gate.as(),
                                         ws_.ret_next[l].as<float>(), ws_.o.as(), H, hd,
                                         static_cast<float>(c_.retention_gate_temperature), eps, stream_));
        } else {
        KTRY(kernels::retention_log_gamma(ws_.gate.as(), ws_.lg.as<float>(), T * H,
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
      } else if (ring_step) {
        const int64_t* pos = ring_pos_.as<int64_t>();
        KTRY(kernels::ring_store(ws_.k.as(), ws_.v.as(), st.ring_k[l].as(), st.ring_v[l].as(), D, pos, c_.window,
                                 ring_pos_.as<int64_t>() + 1, stream_));
        KTRY(kernels::cross_attn_decode(ws_.q.as(), st.ring_k[l].as(), st.ring_v[l].as(), ws_.o.as(),
                                        ring_pos_.as<int64_t>() + 1, H, H, hd, ring_splits_, ws_.attn.as<float>(),
                                        stream_));
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
      TOME_TRY(mixer_out(ws_, T, w.wo, ws_.q.as()));  // q is free once the mixer has run
      TOME_TRY(ffn(ws_, T, ws_.q.as(), w.ffn_norm, w.w13, w.w2, l + 1 < L ? self_[l + 1].mixer_norm : g_.kv_norm));
    }
    if (cancel && cancel->load(std::memory_order_relaxed)) return {};
    // The global KV, once: z = RMSNorm_kv(X_s); K = RoPE(z Wk), V = z Wv, written in place.
    const int64_t kvd = c_.kv_dim();  // ws_.xn = RMSNorm_kv(X_s) (fused into the last layer's residual)
    if (st.fp8) {  // bf16 rows in the (free) q/k/v scratch, then quantised into the fp8 KV
      const int64_t Hkv = c_.n_kv_heads;
      TOME_TRY(ws_.k.ensure(static_cast<size_t>(T * kvd) * 2));
      TOME_TRY(ws_.v.ensure(static_cast<size_t>(T * kvd) * 2));
      TOME_TRY(gemm(ws_.xn.as(), T, kv_wk(), kvd, D, ws_.k.as()));
      TOME_TRY(gemm(ws_.xn.as(), T, kv_wv(), kvd, D, ws_.v.as()));
      KTRY(kernels::rope(ws_.k.as(), T, Hkv, c_.head_dim(), pos0, freq_.as<float>(), stream_));
      KTRY(kernels::kv_quantize_fp8(ws_.k.as(), T, Hkv, c_.head_dim(), st.k.as<uint8_t>() + pos0 * kvd,
                                    st.ks.as<float>() + pos0 * Hkv, stream_));
      KTRY(kernels::kv_quantize_fp8(ws_.v.as(), T, Hkv, c_.head_dim(), st.v.as<uint8_t>() + pos0 * kvd,
                                    st.vs.as<float>() + pos0 * Hkv, stream_));
    } else {
      u16* kdst = st.k.as() + pos0 * kvd;
      u16* vdst = st.v.as() + pos0 * kvd;
      TOME_TRY(gemm(ws_.xn.as(), T, kv_wk(), kvd, D, kdst));
      TOME_TRY(gemm(ws_.xn.as(), T, kv_wv(), kvd, D, vdst));
      KTRY(kernels::rope(kdst, T, c_.n_kv_heads, c_.head_dim(), pos0, freq_.as<float>(), stream_));
    }
    CUDA_TRY(cudaMemcpyAsync(st.last_hidden.as(), ws_.x.as() + (T - 1) * D, static_cast<size_t>(D) * 2,
                             cudaMemcpyDeviceToDevice, stream_));
    if (gret) {
      std::swap(st.ret, ws_.ret_next);
    } else if (ring_step) {  // the rings took the row in place
      st.ring_rows = new_ring_rows;
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
                    float* mass = nullptr, std::span<const attention_head> heads = {}) const {
    const int64_t D = c_.dim, Hq = c_.n_heads, hd = c_.head_dim(), V = c_.vocab_size;
    const float eps = static_cast<float>(c_.norm_eps);
    TOME_TRY(ensure_workspace(rows));
    // With `heads`: their weights (head_weights) after the mass and its workspace in ws_.mass, each
    // selected layer's mass added (the pass stops at the last such layer).
    const auto hw = head_weights(c_, heads);
    const int64_t n_mass = pos0 + 1;
    float* dev_w = nullptr;
    if (mass) {
      const int64_t mass_floats = n_mass + kernels::attention_mass_workspace_floats(n_mass, Hq);
      TOME_TRY(ws_.mass.ensure(static_cast<size_t>(mass_floats + static_cast<int64_t>(hw.w.size())) * 4));
      if (!heads.empty()) {
        dev_w = ws_.mass.as<float>() + mass_floats;
        CUDA_TRY(cudaMemcpyAsync(dev_w, hw.w.data(), hw.w.size() * 4, cudaMemcpyHostToDevice, stream_));
      }
    }
    bool first_mass = true;
    size_t layer = 0;
    const int splits = kernels::cross_attn_splits(rows, pos0, Hq, c_.n_kv_heads, hd, st.fp8);  // fills the GPU
    const int64_t ws_floats = kernels::cross_attn_workspace_floats(rows, Hq, hd, splits);
    if (ws_floats) TOME_TRY(ws_.attn.ensure(static_cast<size_t>(ws_floats) * 4));
    KTRY(kernels::rms_norm(ws_.x.as(), cross_[0].mixer_norm.as(), ws_.xn.as(), rows, D, eps, stream_));
    for (const cross_w& w : cross_) {  // ws_.xn = the layer's mixer norm of x on entry
      TOME_TRY(gemm(ws_.xn.as(), rows, w.wq, D, D, ws_.q.as()));
      KTRY(kernels::rope(ws_.q.as(), rows, Hq, hd, pos0, freq_.as<float>(), stream_));
      const size_t l = layer++;
      const bool all_heads_here = heads.empty() && &w == &cross_.back();
      if (mass && (all_heads_here || (!heads.empty() && hw.any[l]))) {
        const int64_t n = n_mass;
        float* out = ws_.mass.as<float>();
        const float* wl = dev_w ? dev_w + l * static_cast<size_t>(Hq) : nullptr;
        if (st.fp8)
          KTRY(kernels::attention_mass_fp8(ws_.q.as(), st.k.as<uint8_t>(), st.ks.as<float>(), n, Hq, c_.n_kv_heads, hd,
                                           out, out + n, stream_, wl, !first_mass));
        else
          KTRY(kernels::attention_mass(ws_.q.as(), st.k.as(), n, Hq, c_.n_kv_heads, hd, out, out + n, stream_, wl,
                                       !first_mass));
        first_mass = false;
        if (all_heads_here || static_cast<int64_t>(l) == hw.last) {
          CUDA_TRY(cudaMemcpyAsync(mass, out, static_cast<size_t>(n) * 4, cudaMemcpyDeviceToHost, stream_));
          CUDA_TRY(cudaStreamSynchronize(stream_));
          return {};
        }
      }
      if (st.fp8)
        KTRY(kernels::cross_attn_fp8(ws_.q.as(), fp8_view(st), ws_.o.as(), rows, pos0, Hq, c_.n_kv_heads, hd, splits,
                                     ws_.attn.as<float>(), stream_));
      else
        KTRY(kernels::cross_attn(ws_.q.as(), st.k.as(), st.v.as(), ws_.o.as(), rows, pos0, Hq, c_.n_kv_heads, hd, splits,
                                 ws_.attn.as<float>(), stream_));
      TOME_TRY(mixer_out(ws_, rows, w.wo, ws_.q.as()));  // q is free once the attention has run
      TOME_TRY(ffn(ws_, rows, ws_.q.as(), w.ffn_norm, w.w13, w.w2, &w == &cross_.back() ? g_.norm : (&w)[1].mixer_norm));
    }  // ws_.xn = the final norm of x
    TOME_TRY(ws_.logits.ensure(static_cast<size_t>(rows * V) * 4));
    TOME_TRY(gemm(ws_.xn.as(), rows, g_.out, V, D, ws_.logits.as<float>(), true));
    if (!logits) return {};  // decode_select: the logits stay in ws_.logits
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
  // Whether the decode-step kernels of the graphs serve this model: the fixed-grid decode attention
  // (cross layers, and the sliding window's ring) supports its head dims and grouping.
  bool decode_kernels_ok() const {
#ifndef TOME_KERNELS_HAVE_CROSS_ATTN_DECODE  // (until the fixed-grid decode attention lands)
    return false;
#endif
    if (c_.self_kind == self_decoder_kind::transformer) return false;
    auto decode_attn_ok = [](int64_t hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 128; };
    if (!decode_attn_ok(c_.head_dim()) || c_.n_heads / c_.n_kv_heads > 16) return false;
    if (c_.self_kind == self_decoder_kind::sliding_window &&
        (!decode_attn_ok(c_.self_head_dim()) || c_.window < 1 || c_.dim % 8 != 0))
      return false;
    return true;
  }
  bool graphs_enabled() const {
    if (!api_->set_workspace || !decode_kernels_ok()) return false;
    const char* e = std::getenv("TOME_CUDA_GRAPHS");
    return !(e && e[0] == '0');
  }

  struct decode_io {  // pinned host block and its device twin
    int32_t token;
    int32_t pad;
    int64_t pos;
    int64_t ring_last;  // device side only: the sliding-window ring's last key (kernels::ring_store)
  };

  status ensure_decode_buffers() const {
    if (host_io_) return {};
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim);
    for (dbuf* b : {&dws_.x, &dws_.x2, &dws_.xn, &dws_.q, &dws_.k, &dws_.v, &dws_.o, &dws_.g, &dws_.tmp})
      TOME_TRY(b->ensure(D * 2));
    TOME_TRY(dws_.q.ensure((4 * D + static_cast<size_t>(c_.n_self_heads)) * 2));  // q|k|v|g|gate of one GEMV
    TOME_TRY(dws_.a.ensure(2 * F * 2));                                            // w1|w3 of one GEMV
    TOME_TRY(dws_.b.ensure(F * 2));
    TOME_TRY(dws_.lg.ensure(static_cast<size_t>(std::max(c_.n_self_heads, c_.n_heads)) * 4));
    TOME_TRY(dws_.tokens.ensure(sizeof(decode_io)));
#ifdef TOME_KERNELS_HAVE_CROSS_ATTN_DECODE
    decode_splits_ = kernels::attn_decode_max_splits(c_.n_kv_heads, c_.head_dim());
    int64_t attn_floats = kernels::cross_attn_decode_workspace_floats(c_.n_heads, c_.head_dim(), decode_splits_);
    if (c_.self_kind != self_decoder_kind::gated_retention) {  // the window's ring attention (H query = KV heads)
      ring_splits_ = kernels::attn_decode_max_splits(c_.n_self_heads, c_.self_head_dim());
      attn_floats = std::max(attn_floats, kernels::cross_attn_decode_workspace_floats(
                                              c_.n_self_heads, c_.self_head_dim(), ring_splits_));
    }
    TOME_TRY(dws_.attn.ensure(static_cast<size_t>(attn_floats) * 4));
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
    mix(st.pinned_logits);
    for (const dbuf& b : st.ret) mix(b.as());
    for (const dbuf& b : st.ring_k) mix(b.as());
    for (const dbuf& b : st.ring_v) mix(b.as());
    return a.h;
  }

  // The whole step on stream_, no host work: token/pos from dws_.tokens (copied from host_io_ by
  // the first node), X_s and the global KV row at *pos, the cross-decoder, logits into
  // logits_dst(st) on the host (to_host) or left in dws_.logits.
  status enqueue_decode_step(cuda_state& st, bool to_host) const {
    const int64_t D = c_.dim, H = c_.n_self_heads, hd = c_.self_head_dim(), V = c_.vocab_size;
    const float eps = static_cast<float>(c_.norm_eps);
    const workspace& w = dws_;
    const int64_t* pos = reinterpret_cast<const int64_t*>(w.tokens.as<char>() + offsetof(decode_io, pos));
    CUDA_TRY(cudaMemcpyAsync(w.tokens.as(), host_io_, sizeof(decode_io), cudaMemcpyHostToDevice, stream_));
    TOME_TRY(embed(w.tokens.as<int32_t>(), 1, w.x.as()));
    resid x{w.x.as(), w.x2.as()};
    const u16* r = nullptr;  // the sublayer output not yet added to x (none after the embedding)
    u16* xn = w.xn.as();
    const size_t L = self_.size();
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    auto* ring_last = reinterpret_cast<int64_t*>(w.tokens.as<char>() + offsetof(decode_io, ring_last));
    for (size_t l = 0; l < L; ++l) {
      const self_w& sw = self_[l];
      if (!gret) {  // sliding window: q|k|v, RoPE, the new row into the ring, attention over the ring
        u16 *q = w.q.as(), *k = q + D, *v = q + 2 * D;
        const kernels::gemv_rope rq{pos, self_freq_.as<float>(), 2 * D, D, hd, 1.0f};
        TOME_TRY(norm_gemm(x, r, sw.mixer_norm, cuda::rows_of(sw.qkv), 1, 3 * D, D, q, false, xn, false, &rq));
        KTRY(kernels::ring_store(k, v, st.ring_k[l].as(), st.ring_v[l].as(), D, pos, c_.window, ring_last, stream_));
        KTRY(kernels::cross_attn_decode(q, st.ring_k[l].as(), st.ring_v[l].as(), w.o.as(), ring_last, H, H, hd,
                                        ring_splits_, w.attn.as<float>(), stream_));
      } else {
        // q|k|v|g|gate logits in one product over the concatenated weight (the eager path's five
        // products give the same bits: a row's GEMV result does not depend on its neighbours).
        u16 *q = w.q.as(), *k = q + D, *v = q + 2 * D, *g = q + 3 * D, *gt = q + 4 * D;
        // RoPE on q and k (k then scaled by hd^-0.5) in the product's epilogue
        const kernels::gemv_rope rq{pos, self_freq_.as<float>(), 2 * D, D, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
        TOME_TRY(norm_gemm(x, r, sw.mixer_norm, cuda::rows_of(sw.qkv), 1, 4 * D + H, D, q, false, xn, false, &rq));
        const float temp = static_cast<float>(c_.retention_gate_temperature);
        if (kernels::retention_decode_supported(hd)) {  // gate, state step and output stage in one kernel
          KTRY(kernels::retention_decode(q, k, v, g, gt, st.ret[l].as<float>(), w.o.as(), H, hd, temp, eps, stream_));
        } else {
          KTRY(kernels::retention_log_gamma(gt, w.lg.as<float>(), H, temp, stream_));
          KTRY(kernels::gated_retention(q, k, v, w.lg.as<float>(), st.ret[l].as<float>(), w.o.as(), 1, H, hd, stream_));
          KTRY(kernels::retention_output(w.o.as(), g, 1, H, hd, eps, stream_));
        }
      }
      TOME_TRY(gemm(w.o.as(), 1, sw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn_step(w, x, 1, sw.ffn_norm, sw.w13, sw.w2));
      r = w.tmp.as();
    }
    // RMSNorm_kv(X_s): the token's global K/V row at *pos; X_s is the last hidden row. k|v in one
    // product over wk|wv (w.k holds D >= 2 kv_dim elements).
    const int64_t kvd = c_.kv_dim(), Hq = c_.n_heads, chd = c_.head_dim();
    TOME_TRY(norm_gemm(x, r, g_.kv_norm, cuda::rows_of(kv_w_), 1, 2 * kvd, D, w.k.as(), false, xn));
    const u16 *k_row = w.k.as(), *v_row = w.k.as() + kvd;
    if (st.fp8)
      KTRY(kernels::rope_store_kv_fp8(k_row, v_row, st.k.as<uint8_t>(), st.v.as<uint8_t>(), st.ks.as<float>(),
                                      st.vs.as<float>(), c_.n_kv_heads, chd, pos, freq_.as<float>(), stream_));
    else
      KTRY(kernels::rope_store_kv(k_row, v_row, st.k.as(), st.v.as(), c_.n_kv_heads, chd, pos, freq_.as<float>(),
                                  stream_));
    CUDA_TRY(cudaMemcpyAsync(st.last_hidden.as(), x.cur, static_cast<size_t>(D) * 2, cudaMemcpyDeviceToDevice, stream_));
    r = nullptr;
    for (size_t l = 0; l < cross_.size(); ++l) {
      const cross_w& cw = cross_[l];
      const kernels::gemv_rope rc{pos, freq_.as<float>(), D, D, chd, 1.0f};
      TOME_TRY(norm_gemm(x, r, cw.mixer_norm, cuda::rows_of(cw.wq), 1, D, D, w.q.as(), false, xn, false, &rc));
#ifdef TOME_KERNELS_HAVE_CROSS_ATTN_DECODE
      if (st.fp8)
        KTRY(kernels::cross_attn_decode_fp8(w.q.as(), fp8_view(st), w.o.as(), pos, Hq, c_.n_kv_heads, chd,
                                            decode_splits_, w.attn.as<float>(), stream_, kv_early_));
      else
        KTRY(kernels::cross_attn_decode(w.q.as(), st.k.as(), st.v.as(), w.o.as(), pos, Hq, c_.n_kv_heads, chd,
                                        decode_splits_, w.attn.as<float>(), stream_, kv_early_));
#else
      return error("decode graphs need the fixed-grid decode attention kernel");
#endif
      TOME_TRY(gemm(w.o.as(), 1, cw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn_step(w, x, 1, cw.ffn_norm, cw.w13, cw.w2));
      r = w.tmp.as();
    }
    TOME_TRY(norm_gemm(x, r, g_.norm, cuda::rows_of(g_.out), 1, V, D, w.logits.as<float>(), true, xn));
    if (to_host)
      CUDA_TRY(cudaMemcpyAsync(logits_dst(st), w.logits.as<float>(), static_cast<size_t>(V) * 4, cudaMemcpyDeviceToHost,
                               stream_));
    return {};
  }
  // Where a graph step's logits land: the session's page-locked logits, else the backend's buffer.
  float* logits_dst(const cuda_state& st) const { return st.pinned_logits ? st.pinned_logits : host_logits_; }

  status capture_decode(cuda_state& st, bool to_host) const {
    const int g = to_host ? 0 : 1;
    TOME_TRY(cuda::capture_graph(stream_, st.graph[g], [&] { return enqueue_decode_step(st, to_host); }));
    st.graph_key[g] = graph_key(st);
    return {};
  }

  // One decode step by its graph. to_host: the logits into `logits` (V floats); else they stay in
  // dws_.logits and `logits` is not touched (the call returns without waiting for the step).
  status decode_graph(cuda_state& st, int32_t token, std::span<float> logits, bool to_host = true) const {
    TOME_TRY(st.alloc_status);
    if (token < 0 || token >= c_.vocab_size) return error("token id " + std::to_string(token) + " is outside the vocabulary");
    if (to_host && static_cast<int64_t>(logits.size()) != c_.vocab_size) return error("decode: wrong logits size");
    if (st.n + 1 > st.capacity) TOME_TRY(reserve(st, std::max(st.n + 1, st.capacity + st.capacity / 8 + 4096)));
    TOME_TRY(ensure_decode_buffers());
    TOME_TRY(set_ring_layout(st, true));  // sliding window: the step writes row n mod W
    const int g = to_host ? 0 : 1;
    if (!st.graph[g] || st.graph_key[g] != graph_key(st)) TOME_TRY(capture_decode(st, to_host));
    host_io_->token = token;
    host_io_->pos = st.n;
    CUDA_TRY(cudaGraphLaunch(st.graph[g], stream_));
    if (to_host) {
      CUDA_TRY(cudaStreamSynchronize(stream_));
      // The session's own logits (host_logits) need no copy: the step wrote them (a 400 KB
      // std::memcpy at YOCO-3B, ~1.3% of a step at 32K).
      if (const float* src = logits_dst(st); src != logits.data()) std::memcpy(logits.data(), src, logits.size() * 4);
    }
    st.n += 1;
    if (c_.self_kind != self_decoder_kind::gated_retention)
      st.ring_rows = std::min<int64_t>(st.n, std::max<int64_t>(c_.window - 1, 0));
    return {};
  }

  // ---- Batched decode (decode_batch) ----
  static constexpr int kMaxBatch = 32;  // sessions per step
  // B sessions step together: the products run with B rows (Tome's GEMV up to kGemvMaxRows rows,
  // cuBLAS beyond, each weight read once per step), RoPE / retention / K-V writes over B rows at
  // per-row positions, the cross attention of every session in one launch over its own KV
  // (cross_attn_decode_batch), the logits [B, V] in one copy. Every per-session address and
  // position travels in one pinned io block copied by the step's first node, so with gated
  // retention the step is captured once per batch size and output (logits, or greedy ids from
  // kernels::argmax_rows) and replayed for any sessions (after one eager run of that kind: cuBLAS
  // and the kernels' lazy set-up stay outside the capture). The sliding-window kind does the same
  // with its rings slotted, as in the single decode step (kernels::ring_store_rows, then the
  // batched decode attention over each session's ring); where those kernels do not serve the model
  // it runs eagerly, its window attention looping over the sessions in order.
  struct batch_io {
    int32_t tokens[kMaxBatch];
    int64_t pos[kMaxBatch];
    void* k[kMaxBatch];  // global K / V rows (bf16, or e4m3 codes)
    void* v[kMaxBatch];
    float* ks[kMaxBatch];  // fp8 scales
    float* vs[kMaxBatch];
    u16* last_hidden[kMaxBatch];
    int64_t ring_last[kMaxBatch];  // device side only: each sliding-window ring's last key
    // followed by float* ret[n_self_layers][kMaxBatch] (gated retention states), or (sliding
    // window, the ring step) u16* ring_k[n_self_layers][kMaxBatch], then ring_v likewise
  };

  bool batch_supported() const {
    const int64_t hd = c_.head_dim();  // what cross_attn_decode_batch supports
    if ((hd != 16 && hd != 32 && hd != 64 && hd != 128) || c_.n_heads / c_.n_kv_heads > 16) return false;
    if (c_.self_kind == self_decoder_kind::gated_retention) return kernels::retention_decode_supported(c_.self_head_dim());
    return true;
  }

  status ensure_batch_buffers() const {
    if (host_bio_) return {};
    const size_t D = static_cast<size_t>(c_.dim), F = static_cast<size_t>(c_.ffn_dim), B = kMaxBatch;
    const size_t H = static_cast<size_t>(c_.n_self_heads), kvd = static_cast<size_t>(c_.kv_dim());
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    for (dbuf* b : {&bws_.x, &bws_.x2, &bws_.xn, &bws_.o, &bws_.tmp}) TOME_TRY(b->ensure(B * D * 2));
    TOME_TRY(bws_.q.ensure(B * (gret ? 4 * D + H : 3 * D) * 2));  // a row's q|k|v(|g|gate) product
    TOME_TRY(bws_.k.ensure(B * kvd * 2));
    TOME_TRY(bws_.v.ensure(B * kvd * 2));
    TOME_TRY(bws_.a.ensure(B * 2 * F * 2));
    TOME_TRY(bws_.b.ensure(B * F * 2));
    TOME_TRY(bws_.logits.ensure(B * static_cast<size_t>(c_.vocab_size) * 4));
    TOME_TRY(bws_.lg.ensure(B * 4));  // the greedy step's token ids
    int64_t attn_floats = 0;
    for (int b = 1; b <= kMaxBatch; ++b) {  // (also initialises the attention's occupancy query outside any capture)
      batch_attn_splits_[b] = kernels::cross_attn_decode_batch_splits(b, c_.n_kv_heads, c_.head_dim());
      attn_floats = std::max(attn_floats, kernels::cross_attn_decode_batch_workspace_floats(
                                              b, c_.n_heads, c_.head_dim(), batch_attn_splits_[b]));
      if (!gret) {  // the window's ring attention: H query = KV heads of the self-decoder
        batch_ring_splits_[b] = kernels::cross_attn_decode_batch_splits(b, c_.n_self_heads, c_.self_head_dim());
        attn_floats = std::max(attn_floats, kernels::cross_attn_decode_batch_workspace_floats(
                                                b, c_.n_self_heads, c_.self_head_dim(), batch_ring_splits_[b]));
      }
    }
    TOME_TRY(bws_.attn.ensure(static_cast<size_t>(std::max<int64_t>(attn_floats, 1)) * 4));
    if (!gret) {  // the window's keys and values of one session (ring + the new row)
      const size_t rows = static_cast<size_t>(std::max<int64_t>(c_.window, 1));
      TOME_TRY(bws_.catk.ensure(rows * D * 2));
      TOME_TRY(bws_.catv.ensure(rows * D * 2));
    }
    bio_bytes_ = sizeof(batch_io) + (gret ? 1 : 2) * static_cast<size_t>(c_.n_self_layers) * B * sizeof(void*);
    TOME_TRY(bws_.tokens.ensure(bio_bytes_));
    void* io = nullptr;
    TOME_TRY(cuda::alloc_pinned_decode(bio_bytes_, B * static_cast<size_t>(c_.vocab_size), &io, &host_blogits_));
    host_bio_ = static_cast<char*>(io);
    std::memset(host_bio_, 0, bio_bytes_);
    return {};
  }

  // logits: one row of V floats per session; or, with `next` non-empty (greedy), the argmax of
  // each row on the device into next.
  status decode_batch_step(std::span<backend_state* const> states, std::span<const int32_t> tokens,
                           std::span<const std::span<float>> logits, std::span<int32_t> next) const {
    const bool greedy = !next.empty();
    const int64_t B = static_cast<int64_t>(states.size()), V = c_.vocab_size;
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    std::vector<cuda_state*> sts(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i) {
      auto* st = static_cast<cuda_state*>(states[static_cast<size_t>(i)]);
      TOME_TRY(st->alloc_status);
      const int32_t t = tokens[static_cast<size_t>(i)];
      if (t < 0 || t >= V) return error("token id " + std::to_string(t) + " is outside the vocabulary");
      if (!greedy && static_cast<int64_t>(logits[static_cast<size_t>(i)].size()) != V)
        return error("decode_batch: wrong logits size");
      for (int64_t j = 0; j < i; ++j)
        if (sts[static_cast<size_t>(j)] == st) return error("decode_batch: a session appears twice in the batch");
      sts[static_cast<size_t>(i)] = st;
    }
    // Sliding window: the ring step (slotted rings, as the single decode step) where its kernels
    // serve the model, else the eager in-order window mixing.
    const bool ring = !gret && decode_kernels_ok();
    for (cuda_state* st : sts) {
      if (st->n + 1 > st->capacity) TOME_TRY(reserve(*st, std::max(st->n + 1, st->capacity + st->capacity / 8 + 4096)));
      TOME_TRY(set_ring_layout(*st, ring));
    }
    TOME_TRY(ensure_batch_buffers());
    auto* io = reinterpret_cast<batch_io*>(host_bio_);
    auto** ret = reinterpret_cast<float**>(host_bio_ + sizeof(batch_io));
    auto** ring_k = reinterpret_cast<u16**>(host_bio_ + sizeof(batch_io));
    auto** ring_v = ring_k + static_cast<size_t>(c_.n_self_layers) * kMaxBatch;
    for (int64_t i = 0; i < B; ++i) {
      cuda_state& st = *sts[static_cast<size_t>(i)];
      io->tokens[i] = tokens[static_cast<size_t>(i)];
      io->pos[i] = st.n;
      io->k[i] = st.k.as<void>();
      io->v[i] = st.v.as<void>();
      io->ks[i] = st.ks.as<float>();
      io->vs[i] = st.vs.as<float>();
      io->last_hidden[i] = st.last_hidden.as();
      for (size_t l = 0; l < st.ret.size(); ++l) ret[l * kMaxBatch + static_cast<size_t>(i)] = st.ret[l].as<float>();
      if (ring)
        for (size_t l = 0; l < st.ring_k.size(); ++l) {
          ring_k[l * kMaxBatch + static_cast<size_t>(i)] = st.ring_k[l].as();
          ring_v[l * kMaxBatch + static_cast<size_t>(i)] = st.ring_v[l].as();
        }
    }
    if ((gret || ring) && graphs_enabled() && batch_warm_[greedy][B]) {
      cudaGraphExec_t& g = batch_graphs_[greedy][B];
      if (!g) TOME_TRY(cuda::capture_graph(stream_, g, [&] { return enqueue_decode_batch(B, sts, greedy); }));
      CUDA_TRY(cudaGraphLaunch(g, stream_));
    } else {
      TOME_TRY(enqueue_decode_batch(B, sts, greedy));
    }
    CUDA_TRY(cudaStreamSynchronize(stream_));
    batch_warm_[greedy][B] = true;
    for (int64_t i = 0; i < B; ++i) {
      if (greedy)
        next[static_cast<size_t>(i)] = reinterpret_cast<const int32_t*>(host_blogits_)[i];
      else
        std::memcpy(logits[static_cast<size_t>(i)].data(), host_blogits_ + i * V, static_cast<size_t>(V) * 4);
      cuda_state& st = *sts[static_cast<size_t>(i)];
      st.n += 1;
      if (!gret) st.ring_rows = std::min<int64_t>(st.n, std::max<int64_t>(c_.window - 1, 0));
    }
    return {};
  }

  // The batched step on stream_ (captured: then no host work depends on the sessions; `sts` is
  // read only by the eager sliding-window mixing, the fallback of the ring step).
  status enqueue_decode_batch(int64_t B, const std::vector<cuda_state*>& sts, bool greedy) const {
    const int64_t D = c_.dim, H = c_.n_self_heads, hd = c_.self_head_dim(), V = c_.vocab_size;
    const int64_t kvd = c_.kv_dim(), Hq = c_.n_heads, Hkv = c_.n_kv_heads, chd = c_.head_dim();
    const float eps = static_cast<float>(c_.norm_eps);
    const bool gret = c_.self_kind == self_decoder_kind::gated_retention;
    const workspace& w = bws_;
    char* dio = w.tokens.as<char>();
    const auto* dev = reinterpret_cast<const batch_io*>(dio);
    const int64_t* pos = dev->pos;
    CUDA_TRY(cudaMemcpyAsync(dio, host_bio_, bio_bytes_, cudaMemcpyHostToDevice, stream_));
    TOME_TRY(embed(dev->tokens, B, w.x.as()));
    resid x{w.x.as(), w.x2.as()};  // as in the single step: norms fused into the GEMVs where they serve
    const u16* r = nullptr;
    u16* xn = w.xn.as();
    const size_t L = self_.size();
    const int64_t qw = gret ? 4 * D + H : 3 * D;  // one row of the fused q|k|v(|g|gate) product
    for (size_t l = 0; l < L; ++l) {
      const self_w& sw = self_[l];
      u16 *q = w.q.as(), *k = q + D, *v = q + 2 * D;
      const kernels::gemv_rope rq{pos, self_freq_.as<float>(), 2 * D, D, hd,
                                  gret ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f};
      TOME_TRY(norm_gemm(x, r, sw.mixer_norm, cuda::rows_of(sw.qkv), B, qw, D, q, false, xn, false, &rq));
      if (gret) {
        auto* const* states = reinterpret_cast<float* const*>(dio + sizeof(batch_io)) + l * kMaxBatch;
        KTRY(kernels::retention_decode_rows(q, k, v, q + 3 * D, q + 4 * D, qw, states, w.o.as(), B, H, hd,
                                            static_cast<float>(c_.retention_gate_temperature), eps, stream_));
      } else if (decode_kernels_ok()) {  // the ring step: each row into its ring, then attention over the rings
        auto* const* rk = reinterpret_cast<u16* const*>(dio + sizeof(batch_io)) + l * kMaxBatch;
        auto* const* rv = rk + L * kMaxBatch;
        int64_t* ring_last = reinterpret_cast<batch_io*>(dio)->ring_last;
        KTRY(kernels::ring_store_rows(k, v, qw, rk, rv, B, D, pos, c_.window, ring_last, stream_));
        // q rows packed to [B, D] (they sit at stride qw in the q|k|v product) in w.tmp, free until wo
        CUDA_TRY(cudaMemcpy2DAsync(w.tmp.as(), static_cast<size_t>(D) * 2, q, static_cast<size_t>(qw) * 2,
                                   static_cast<size_t>(D) * 2, static_cast<size_t>(B), cudaMemcpyDeviceToDevice,
                                   stream_));
        kernels::kv_batch rkv;
        rkv.k = reinterpret_cast<const void* const*>(rk);
        rkv.v = reinterpret_cast<const void* const*>(rv);
        rkv.pos = ring_last;
        KTRY(kernels::cross_attn_decode_batch(w.tmp.as(), rkv, w.o.as(), B, H, H, hd, batch_ring_splits_[B],
                                              w.attn.as<float>(), stream_));
      } else {
        TOME_TRY(window_mix_batch(sts, l, qw));
      }
      TOME_TRY(gemm(w.o.as(), B, sw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn_step(w, x, B, sw.ffn_norm, sw.w13, sw.w2));
      r = w.tmp.as();
    }
    // RMSNorm_kv(X_s): each session's global K/V row at its position; X_s its last hidden row.
    TOME_TRY(norm_gemm(x, r, g_.kv_norm, kv_wk(), B, kvd, D, w.k.as(), false, xn));
    TOME_TRY(norm_gemm(x, nullptr, g_.kv_norm, kv_wv(), B, kvd, D, w.v.as(), false, xn, true));
    if (fp8_)
      KTRY(kernels::rope_store_kv_fp8_rows(w.k.as(), w.v.as(), reinterpret_cast<uint8_t* const*>(dev->k),
                                           reinterpret_cast<uint8_t* const*>(dev->v), dev->ks, dev->vs, B, Hkv, chd,
                                           pos, freq_.as<float>(), stream_));
    else
      KTRY(kernels::rope_store_kv_rows(w.k.as(), w.v.as(), reinterpret_cast<u16* const*>(dev->k),
                                       reinterpret_cast<u16* const*>(dev->v), B, Hkv, chd, pos, freq_.as<float>(),
                                       stream_));
    KTRY(kernels::copy_rows_to(x.cur, B, D, dev->last_hidden, stream_));
    r = nullptr;
    kernels::kv_batch kv;
    kv.k = reinterpret_cast<const void* const*>(dev->k);
    kv.v = reinterpret_cast<const void* const*>(dev->v);
    kv.k_scale = reinterpret_cast<const float* const*>(dev->ks);
    kv.v_scale = reinterpret_cast<const float* const*>(dev->vs);
    kv.pos = pos;
    kv.fp8 = fp8_;
    const int splits = batch_attn_splits_[B];
    for (size_t l = 0; l < cross_.size(); ++l) {
      const cross_w& cw = cross_[l];
      const kernels::gemv_rope rc{pos, freq_.as<float>(), D, D, chd, 1.0f};
      TOME_TRY(norm_gemm(x, r, cw.mixer_norm, cuda::rows_of(cw.wq), B, D, D, w.q.as(), false, xn, false, &rc));
      KTRY(kernels::cross_attn_decode_batch(w.q.as(), kv, w.o.as(), B, Hq, Hkv, chd, splits, w.attn.as<float>(),
                                            stream_, kv_early_));
      TOME_TRY(gemm(w.o.as(), B, cw.wo, D, D, w.tmp.as()));
      TOME_TRY(ffn_step(w, x, B, cw.ffn_norm, cw.w13, cw.w2));
      r = w.tmp.as();
    }
    TOME_TRY(norm_gemm(x, r, g_.norm, cuda::rows_of(g_.out), B, V, D, w.logits.as<float>(), true, xn));
    if (greedy) {  // B ints cross to the host instead of B * V floats
      KTRY(kernels::argmax_rows(w.logits.as<float>(), B, V, w.lg.as<int32_t>(), stream_));
      CUDA_TRY(cudaMemcpyAsync(host_blogits_, w.lg.as<int32_t>(), static_cast<size_t>(B) * 4, cudaMemcpyDeviceToHost,
                               stream_));
      return {};
    }
    CUDA_TRY(cudaMemcpyAsync(host_blogits_, w.logits.as<float>(), static_cast<size_t>(B * V) * 4,
                             cudaMemcpyDeviceToHost, stream_));
    return {};
  }

  // Sliding window, layer l of a batched step: each session's new row (q, k, v at row i of bws_.q,
  // stride qw, post-RoPE) attends over its ring + itself, as self_pass does for one token (the same
  // concatenation, attention call and splits); the ring then takes the new row (in place: the
  // concatenation holds the old rows). Output row i of bws_.o. Host-side loop: eager only.
  status window_mix_batch(const std::vector<cuda_state*>& sts, size_t l, int64_t qw) const {
    const int64_t D = c_.dim, H = c_.n_self_heads, hd = c_.self_head_dim(), W = c_.window;
    const size_t row = static_cast<size_t>(D) * 2;
    const int64_t cap = std::max<int64_t>(W - 1, 0);
    for (size_t i = 0; i < sts.size(); ++i) {
      cuda_state& st = *sts[i];
      const u16* q = bws_.q.as() + static_cast<int64_t>(i) * qw;
      const int64_t rr = st.ring_rows;
      const size_t r = static_cast<size_t>(rr);
      if (rr) {
        CUDA_TRY(cudaMemcpyAsync(bws_.catk.as(), st.ring_k[l].as(), r * row, cudaMemcpyDeviceToDevice, stream_));
        CUDA_TRY(cudaMemcpyAsync(bws_.catv.as(), st.ring_v[l].as(), r * row, cudaMemcpyDeviceToDevice, stream_));
      }
      CUDA_TRY(cudaMemcpyAsync(bws_.catk.as<char>() + r * row, q + D, row, cudaMemcpyDeviceToDevice, stream_));
      CUDA_TRY(cudaMemcpyAsync(bws_.catv.as<char>() + r * row, q + 2 * D, row, cudaMemcpyDeviceToDevice, stream_));
      const int splits = kernels::attention_splits(1, rr, H, H, hd, W);
      if (splits > 1)
        TOME_TRY(bws_.ret_ws.ensure(static_cast<size_t>(kernels::cross_attn_workspace_floats(1, H, hd, splits)) * 4));
      KTRY(kernels::attention(q, bws_.catk.as(), bws_.catv.as(), bws_.o.as() + static_cast<int64_t>(i) * D, 1, rr, H,
                              H, hd, W, splits, bws_.ret_ws.as<float>(), stream_));
      if (rr < cap) {  // the ring grows by the new row
        CUDA_TRY(cudaMemcpyAsync(st.ring_k[l].as<char>() + r * row, q + D, row, cudaMemcpyDeviceToDevice, stream_));
        CUDA_TRY(cudaMemcpyAsync(st.ring_v[l].as<char>() + r * row, q + 2 * D, row, cudaMemcpyDeviceToDevice, stream_));
      } else if (cap > 0) {  // full: the oldest row drops out
        const size_t keep = static_cast<size_t>(cap);
        CUDA_TRY(cudaMemcpyAsync(st.ring_k[l].as(), bws_.catk.as<char>() + (r + 1 - keep) * row, keep * row,
                                 cudaMemcpyDeviceToDevice, stream_));
        CUDA_TRY(cudaMemcpyAsync(st.ring_v[l].as(), bws_.catv.as<char>() + (r + 1 - keep) * row, keep * row,
                                 cudaMemcpyDeviceToDevice, stream_));
      }
    }
    return {};
  }

  static constexpr int64_t kAnswerRoom = 4096;  // tokens reserved beyond a prefill
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
  static constexpr int64_t kChunkedRetentionMinRows = 64;
  model_config c_;
  const cuda::cublas_api* api_;
  bool fp8_ = false;  // the global KV in fp8 e4m3 (load_params::kv)
  bool int8_ = false;  // int8 weight-only matrices (load_params::weights)
  // int8: the buffer blocks of a matrix are dequantised into for many-row products (bf16
  // elements; allocated at load, never moved, so captured graphs may name it).
  static constexpr int64_t kDequantElems = int64_t{32} << 20;  // 64 MiB of bf16
  int64_t dequant_elems_ = 0;
  mutable dbuf dequant_ws_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  std::string name_ = "GPU";
  int64_t weight_bytes_ = 0;
  global_weights<dweight> g_;
  dweight kv_w_;  // the global KV projection wk|wv [2 kv_dim, D] (concat_weights; g_.kv_wk, kv_wv freed)
  dbuf self_freq_, freq_;
  std::vector<self_w> self_;
  std::vector<cross_w> cross_;
  mutable std::recursive_mutex m_;
  mutable workspace ws_;
  mutable std::mutex staging_m_;  // import_kv_rows' pinned slots (not the stream: m_)
  mutable std::condition_variable staging_cv_;
  mutable std::vector<staging_slot> staging_;
  mutable dbuf sel_;     // decode_select's ids in and candidates out
  mutable dbuf sel_ws_;  // and the selection's workspace
  mutable workspace dws_;  // decode-graph buffers (one row), allocated once: graphs name them
  mutable decode_io* host_io_ = nullptr;
  mutable float* host_logits_ = nullptr;
  mutable int decode_splits_ = 1;  // key splits of the decode attention: fixed, one wave of CTAs
  mutable int ring_splits_ = 1;    // the same for the sliding-window ring's attention
  mutable dbuf ring_pos_;          // the eager ring step's {position, last key} on the device
  bool use_gemv_ = true;           // Tome's GEMV for products of <= kGemvMaxRows rows (TOME_GEMV=0: cuBLAS)
  bool fuse_norms_ = true;         // decode steps: norms as GEMV prologues (TOME_FUSED_NORMS=0: kernels)
  bool rope_epilogue_ = true;      // and RoPE in those GEMVs' epilogue (TOME_ROPE_EPILOGUE=0: a kernel)
  bool swiglu_epilogue_ = true;    // and SwiGLU in the w1|w3 GEMV's epilogue (TOME_SWIGLU_EPILOGUE=0: in w2's prologue)
  kernels::norm_form norm_form_ = kernels::norm_form::exact;  // those norms' form (TOME_NORM_EPILOGUE=1: scaled)
  bool resid_in_product_ = true;  // prefill: the residual adds in the products (TOME_PREFILL_RESID=0: not)
  bool kv_early_ = true;           // cross layers: first K/V tile before q is ready (TOME_KV_EARLY=0: after)
  dbuf cublas_ws_;
  // Batched decode (decode_batch): buffers for kMaxBatch rows allocated once (graphs name them),
  // the pinned io block (batch_io + the retention state pointers) and logits [kMaxBatch, V], one
  // captured step per batch size (gated retention; it reads every session's pointers from the io
  // block, so it serves any sessions), and whether a batch size has run once eagerly.
  mutable workspace bws_;
  mutable char* host_bio_ = nullptr;
  mutable float* host_blogits_ = nullptr;
  mutable size_t bio_bytes_ = 0;
  mutable int batch_attn_splits_[kMaxBatch + 1] = {};
  mutable int batch_ring_splits_[kMaxBatch + 1] = {};  // the sliding-window ring attention's
  mutable cudaGraphExec_t batch_graphs_[2][kMaxBatch + 1] = {};  // [greedy][B]
  mutable bool batch_warm_[2][kMaxBatch + 1] = {};
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
                                                   const std::string& source, kv_format kv, weight_format matrices) {
  std::string why;
  if (!cuda_backend_available(&why)) return error("the CUDA backend is unavailable: " + why);
  const bool fp8 = kv == kv_format::fp8;
  if (fp8 && config.is_transformer())
    return error("the fp8 global KV is implemented for YOCO models only, not the Transformer baseline");
  if (matrices == weight_format::int8 && config.is_transformer())
    return error("int8 weights are implemented for YOCO models only, not the Transformer baseline (use --weights bf16)");
  // automatic: int8 where the file stores its matrices in int8 (model::weights_dtype's tensor).
  const tensor_view* probe = weights.find("self.0.ffn.w1.weight");
  const bool int8 = matrices == weight_format::int8 ||
                    (matrices == weight_format::automatic && probe && probe->type == dtype::i8);
  if (config.is_transformer()) return make_cuda_transformer_backend(config, weights, source);
  const int64_t hd = config.head_dim();
  if (fp8 && hd != 16 && hd != 32 && hd != 64 && hd != 128)
    return error("the fp8 global KV needs a cross-decoder head dim of 16, 32, 64 or 128 (this model: " +
                 std::to_string(hd) + ")");
  const cuda::cublas_api* api = cuda::load_cublas(nullptr);
  auto be = std::make_unique<cuda_backend>(config, api, fp8, int8);
  status s = be->init(weights, source);
  if (!s.ok()) return s;
  return std::unique_ptr<backend>(std::move(be));
}

}  // namespace tome
