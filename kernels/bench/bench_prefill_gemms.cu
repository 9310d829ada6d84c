// The YOCO-3B prefill's cuBLAS products under the power cap: what fusing or batching them, or a
// cuBLASLt algorithm other than cublasGemmEx's default, would buy. Random bf16 data (constant data
// draws less power and runs 20-30% faster than a real prefill's), ~3 s of GEMMs first to reach the
// capped clocks, then every variant timed in turn, round after round, so drift hits all alike.
// Variants, for one self-decoder layer of a 32,768-row chunk (D 3072, F 8192, H 24; the FFN in the
// CUDA backend's blocks of 12,288 rows, ffn_block_rows):
//   q, k, v, g as four GEMMs + the gate's (N 24): what the backend runs;
//   q|k|v|g|gate as one GEMM over the concatenated weight (N 12,312);
//   q, k, v, g as one strided batched GEMM (batch 4) + the gate's;
//   w1, w3 as two GEMMs (the backend), as one over w1|w3 (N 16,384), as a batch of 2;
//   w1, w3 and the swiglu kernel (the backend's whole up projection) against Tome's sm_90a GEMM
//   with SwiGLU in its epilogue (kernels::gemm_swiglu), compared with each other;
//   q, k, v, g as four GEMMs + rope_qk (the backend's projection without Tome's GEMM) against Tome's
//   sm_90a GEMM with RoPE in its epilogue (kernels::gemm_rope, the cos/sin table made once a chunk);
//   the fused forms with the fastest of cuBLASLt's first 8 heuristic algorithms (picked in a first
//   timed pass).
// Usage: tome_bench_prefill_gemms [ROUNDS]   (default 12; prints the mean ms of each variant)
#include <cublasLt.h>
#include <cublas_v2.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome::bench;

namespace {

#define BLAS_CHECK(expr)                                                               \
  do {                                                                                 \
    const int s_ = static_cast<int>(expr);                                             \
    if (s_ != 0) {                                                                     \
      std::fprintf(stderr, "%s:%d %s: cuBLAS status %d\n", __FILE__, __LINE__, #expr, s_); \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

constexpr size_t kWs = size_t{32} << 20;
const float kOne = 1.0f, kZero = 0.0f;

struct blas {
  cublasHandle_t h{};
  cublasLtHandle_t lt{};
  void* ws = nullptr;
  cudaStream_t st{};
  // y [n, m] = x [n, k] · w [m, k]ᵀ (row-major), as the backend's cublas_gemm calls it.
  void gemm(int m, int n, int k, const uint16_t* w, const uint16_t* x, uint16_t* y) const {
    BLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &kOne, w, CUDA_R_16BF, k, x, CUDA_R_16BF, k, &kZero, y,
                            CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  void batched(int m, int n, int k, int b, const uint16_t* w, long long sw, const uint16_t* x, uint16_t* y,
               long long sy) const {
    BLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &kOne, w, CUDA_R_16BF, k, sw, x,
                                          CUDA_R_16BF, k, 0, &kZero, y, CUDA_R_16BF, m, sy, b, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
  }
};

// One cuBLASLt product of the gemm() form with a chosen algorithm.
struct lt_gemm {
  cublasLtMatmulDesc_t op{};
  cublasLtMatrixLayout_t la{}, lb{}, lc{};
  std::vector<cublasLtMatmulAlgo_t> algos;
  int pick = 0;
  lt_gemm(const blas& b, int m, int n, int k) {
    BLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    BLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    BLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    BLAS_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, k));
    BLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k));
    BLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, m, n, m));
    cublasLtMatmulPreference_t pref{};
    BLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    BLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWs, sizeof kWs));
    cublasLtMatmulHeuristicResult_t res[8];
    int n_res = 0;
    BLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(b.lt, op, la, lb, lc, lc, pref, 8, res, &n_res));
    cublasLtMatmulPreferenceDestroy(pref);
    for (int i = 0; i < n_res; ++i) algos.push_back(res[i].algo);
    if (algos.empty()) {
      std::fprintf(stderr, "cuBLASLt has no algorithm for %d x %d x %d\n", m, n, k);
      std::exit(1);
    }
  }
  void run(const blas& b, const uint16_t* w, const uint16_t* x, uint16_t* y, int algo = -1) const {
    BLAS_CHECK(cublasLtMatmul(b.lt, op, &kOne, w, la, x, lb, &kZero, y, lc, y, lc, &algos[algo < 0 ? pick : algo], b.ws,
                              kWs, b.st));
  }
  // The fastest algorithm over `reps` calls each (the clocks already capped).
  void choose(const blas& b, const uint16_t* w, const uint16_t* x, uint16_t* y) {
    double best = 1e30;
    for (int a = 0; a < static_cast<int>(algos.size()); ++a) {
      const double ms = time_ms(b.st, [&] { run(b, w, x, y, a); }, 2, 8);
      if (ms < best) best = ms, pick = a;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
    std::printf("no CUDA device\n");
    return 0;
  }
  cudaStream_t st{};
  BENCH_CHECK(cudaStreamCreate(&st));
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 12;
  const int T = 32768, D = 3072, F = 8192, H = 24, S = 12288;
  blas b;
  b.st = st;
  BLAS_CHECK(cublasCreate(&b.h));
  BLAS_CHECK(cublasLtCreate(&b.lt));
  BENCH_CHECK(cudaMalloc(&b.ws, kWs));
  BLAS_CHECK(cublasSetWorkspace(b.h, b.ws, kWs));
  BLAS_CHECK(cublasSetStream(b.h, st));
  dev<uint16_t> w(static_cast<size_t>(2 * F) * D), x(static_cast<size_t>(T) * D), y(static_cast<size_t>(S) * 2 * F + static_cast<size_t>(T) * 4 * D);
  fill_bf16(w, 0.05f, 1);
  fill_bf16(x, 1.0f, 2);
  BENCH_CHECK(cudaMemset(y.p, 0, y.n * 2));
  for (int i = 0; i < 1500; ++i) b.gemm(F, S, D, w.p, x.p, y.p);  // ~3 s: the clocks fall to their capped state
  BENCH_CHECK(cudaStreamSynchronize(st));
  lt_gemm qkvg(b, 4 * D + H, T, D), w13(b, 2 * F, S, D);
  qkvg.choose(b, w.p, x.p, y.p);
  w13.choose(b, w.p, x.p, y.p);
  const size_t DD = static_cast<size_t>(D) * D, TD = static_cast<size_t>(T) * D, SF = static_cast<size_t>(S) * F;
  std::vector<std::pair<std::string, std::function<void()>>> v = {
      {"q, k, v, g: 4 GEMMs + gate (the backend)",
       [&] {
         for (int i = 0; i < 4; ++i) b.gemm(D, T, D, w.p + i * DD, x.p, y.p + i * TD);
         b.gemm(H, T, D, w.p + 4 * DD, x.p, y.p);
       }},
      {"q|k|v|g|gate: one GEMM", [&] { b.gemm(4 * D + H, T, D, w.p, x.p, y.p); }},
      {"q|k|v|g|gate: one GEMM, cuBLASLt #" + std::to_string(qkvg.pick), [&] { qkvg.run(b, w.p, x.p, y.p); }},
      {"q, k, v, g: batched x4 + gate",
       [&] {
         b.batched(D, T, D, 4, w.p, static_cast<long long>(DD), x.p, y.p, static_cast<long long>(TD));
         b.gemm(H, T, D, w.p + 4 * DD, x.p, y.p);
       }},
      {"w1, w3: 2 GEMMs of a 12288-row block (the backend)",
       [&] {
         b.gemm(F, S, D, w.p, x.p, y.p);
         b.gemm(F, S, D, w.p + static_cast<size_t>(F) * D, x.p, y.p + SF);
       }},
      {"w1|w3: one GEMM", [&] { b.gemm(2 * F, S, D, w.p, x.p, y.p); }},
      {"w1|w3: one GEMM, cuBLASLt #" + std::to_string(w13.pick), [&] { w13.run(b, w.p, x.p, y.p); }},
      {"w1, w3: batched x2",
       [&] { b.batched(F, S, D, 2, w.p, static_cast<long long>(F) * D, x.p, y.p, static_cast<long long>(SF)); }},
      {"w1, w3: 2 GEMMs + swiglu (the backend's FFN up projection)",
       [&] {
         b.gemm(F, S, D, w.p, x.p, y.p);
         b.gemm(F, S, D, w.p + static_cast<size_t>(F) * D, x.p, y.p + SF);
         if (!tome::kernels::swiglu(y.p, y.p + SF, y.p, static_cast<int64_t>(SF), st).ok()) std::exit(1);
       }},
  };
  // Each variant's baseline: the backend's form of the same products.
  std::vector<size_t> base(v.size());
  for (size_t i = 0; i < v.size(); ++i) base[i] = i < 4 ? 0 : i < 8 ? 4 : 8;
  const size_t fused_at = v.size();
  dev<float> inv(static_cast<size_t>(128) / 2), cs(static_cast<size_t>(T) * 128);
  {
    std::vector<float> f(64);
    for (int i = 0; i < 64; ++i) f[static_cast<size_t>(i)] = static_cast<float>(std::pow(10000.0, -2.0 * i / 128.0));
    BENCH_CHECK(cudaMemcpy(inv.p, f.data(), 64 * 4, cudaMemcpyHostToDevice));
  }
  const float k_scale = 1.0f / std::sqrt(128.0f);
  const int64_t pos0 = 480000;  // a chunk deep into a long prefill
  if (!tome::kernels::rope_cos_sin(cs.p, T, 128, pos0, inv.p, st).ok()) std::exit(1);
  uint16_t* qkvg_out[4] = {y.p, y.p + TD, y.p + 2 * TD, y.p + 3 * TD};
  v.push_back({"q, k, v, g: 4 GEMMs + rope_qk + gate (the backend's projection)", [&] {
                 for (int i = 0; i < 4; ++i) b.gemm(D, T, D, w.p + i * DD, x.p, qkvg_out[i]);
                 if (!tome::kernels::rope_qk(qkvg_out[0], qkvg_out[1], T, H, 128, pos0, inv.p, k_scale, st).ok()) std::exit(1);
                 b.gemm(H, T, D, w.p + 4 * DD, x.p, y.p + 4 * TD);
               }});
  base.push_back(v.size() - 1);
  if (tome::kernels::gemm_wgmma_enabled()) {
    tome::kernels::gemm_rope_enable(true);
    std::printf("clusters of 2 CTAs that fit at once: %d (SMs: %d)\n", tome::kernels::gemm_wgmma_max_clusters(),
                [] { int n = 0; cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0); return n; }());
    v.push_back({"w1|w3 + SwiGLU: Tome's wgmma GEMM (gemm_swiglu)", [&] {
                   if (!tome::kernels::gemm_swiglu(x.p, w.p, w.p + static_cast<size_t>(F) * D, y.p, S, F, D, st).ok()) std::exit(1);
                 }});
    base.push_back(8);
    v.push_back({"q|k|v|g + RoPE: Tome's wgmma GEMM (gemm_rope, with the cos/sin table) + gate", [&] {
                   if (!tome::kernels::rope_cos_sin(cs.p, T, 128, pos0, inv.p, st).ok()) std::exit(1);
                   if (!tome::kernels::gemm_rope(x.p, w.p, qkvg_out, 4, T, D, D, 2, 128, cs.p, k_scale, st).ok()) std::exit(1);
                   b.gemm(H, T, D, w.p + 4 * DD, x.p, y.p + 4 * TD);
                 }});
    base.push_back(fused_at);
    // The same two kernels in clusters of two CTAs multicasting the B tile (TOME_GEMM_CLUSTER).
    v.push_back({"w1|w3 + SwiGLU: gemm_swiglu, clusters of 2", [&] {
                   tome::kernels::gemm_wgmma_clusters(true);
                   if (!tome::kernels::gemm_swiglu(x.p, w.p, w.p + static_cast<size_t>(F) * D, y.p, S, F, D, st).ok()) std::exit(1);
                   tome::kernels::gemm_wgmma_clusters(false);
                 }});
    base.push_back(8);
    v.push_back({"q|k|v|g + RoPE: gemm_rope, clusters of 2 (+ table + gate)", [&] {
                   tome::kernels::gemm_wgmma_clusters(true);
                   if (!tome::kernels::rope_cos_sin(cs.p, T, 128, pos0, inv.p, st).ok()) std::exit(1);
                   if (!tome::kernels::gemm_rope(x.p, w.p, qkvg_out, 4, T, D, D, 2, 128, cs.p, k_scale, st).ok()) std::exit(1);
                   b.gemm(H, T, D, w.p + 4 * DD, x.p, y.p + 4 * TD);
                   tome::kernels::gemm_wgmma_clusters(false);
                 }});
    base.push_back(fused_at);
    v.push_back({"q|k|v|g + RoPE: gemm_rope alone (table made once)", [&] {
                   if (!tome::kernels::gemm_rope(x.p, w.p, qkvg_out, 4, T, D, D, 2, 128, cs.p, k_scale, st).ok()) std::exit(1);
                 }});
    base.push_back(fused_at);
  } else {
    std::printf("gemm_swiglu, gemm_rope: not available on this GPU / build\n");
  }
  auto f32 = [](uint16_t u) {
    const uint32_t bits = static_cast<uint32_t>(u) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  };
  // A fused kernel's output against the backend's form's, on this data.
  auto compare = [&](size_t ref_i, size_t got_i, const uint16_t* out, size_t n, const char* what) {
    std::vector<uint16_t> ref(n), got(n);
    v[ref_i].second();
    BENCH_CHECK(cudaMemcpy(ref.data(), out, n * 2, cudaMemcpyDeviceToHost));
    v[got_i].second();
    BENCH_CHECK(cudaMemcpy(got.data(), out, n * 2, cudaMemcpyDeviceToHost));
    double worst = 0.0, mean_abs = 0.0;
    for (size_t i = 0; i < n; ++i) {
      const double r = f32(ref[i]), g = f32(got[i]);
      worst = std::max(worst, std::abs(g - r) / (std::abs(r) + 1e-2));
      mean_abs += std::abs(r);
    }
    std::printf("%s: largest |diff| / (|ref| + 0.01) %.3g (mean |ref| %.3g)\n", what, worst,
                mean_abs / static_cast<double>(n));
  };
  if (v.size() > fused_at + 1) {
    compare(8, fused_at + 1, y.p, SF, "gemm_swiglu vs the backend's h");
    compare(fused_at, fused_at + 2, y.p, 4 * TD, "gemm_rope vs the backend's q, k, v, g");
    compare(8, fused_at + 3, y.p, SF, "gemm_swiglu in clusters vs the backend's h");
    compare(fused_at, fused_at + 4, y.p, 4 * TD, "gemm_rope in clusters vs the backend's q, k, v, g");
  }
  std::vector<double> sum(v.size(), 0.0);
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < v.size(); ++i) sum[i] += time_ms(st, v[i].second, 0, 8);
  std::printf("\nmean of %d interleaved rounds (8 calls each), YOCO-3B shapes, 32,768-row chunk:\n\n", rounds);
  std::printf("| products | ms | vs the backend's form |\n|---|---:|---:|\n");
  for (size_t i = 0; i < v.size(); ++i) {
    const double b0 = sum[base[i]];
    std::printf("| %s | %.3f | %+.1f%% |\n", v[i].first.c_str(), sum[i] / rounds, 100.0 * (sum[i] - b0) / b0);
  }
  return 0;
}
