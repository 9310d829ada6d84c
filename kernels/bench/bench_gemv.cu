// Decode-step matrix-vector products at YOCO-3B shapes (D 3072, FFN 8192, 24 heads, kv_dim 1024,
// vocab 100288): kernels::gemv / gemv_swiglu against cuBLAS GemmEx with M = 1 (the call the CUDA
// backend made before: op T on W [N, K], bf16 in, f32 compute). Bytes = W read once (+ x, y).
// Each timed call reads a different copy of W (copies fill > 4x the 50 MB L2), so the figures are
// HBM reads, as in a decode step where every weight is read once.
#include <cublas_v2.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench_util.cuh"
#include "stream_op.cuh"
#include "tome/kernels.h"

using namespace tome;
using namespace tome::bench;

namespace {

float bf(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct shape {
  const char* name;
  int64_t n, k;
  bool swiglu, f32;
};

}  // namespace

int main() {
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreate(&stream));
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
  cublasSetStream(h, stream);
  void* cws = nullptr;
  BENCH_CHECK(cudaMalloc(&cws, 32 << 20));
  cublasSetWorkspace(h, cws, 32 << 20);
  const shape shapes[] = {
      {"q|k|v|g|gate (self)", 4 * 3072 + 24, 3072, false, false},
      {"wq (cross) / wo", 3072, 3072, false, false},
      {"w1|w3", 2 * 8192, 3072, false, false},
      {"w1 alone", 8192, 3072, false, false},
      {"w2 (+SwiGLU)", 3072, 8192, true, false},
      {"w2 without SwiGLU", 3072, 8192, false, false},
      {"kv wk|wv", 2 * 1024, 3072, false, false},
      {"output head (f32)", 100288, 3072, false, true},
  };
  print_header();
  for (const shape& s : shapes) {
    const size_t welems = static_cast<size_t>(s.n * s.k), wbytes = welems * 2;
    const int copies = static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / wbytes + 1));
    std::vector<dev<uint16_t>*> ws;
    for (int c = 0; c < copies; ++c) {
      ws.push_back(new dev<uint16_t>(welems));
      fill_bf16(*ws.back(), 0.05f, 7 + c);
    }
    const int64_t xk = s.swiglu ? 2 * s.k : s.k;  // SwiGLU: a|b rows of 2K
    dev<uint16_t> x(static_cast<size_t>(4 * xk)), xs(static_cast<size_t>(4 * s.k));
    fill_bf16(x, 1.0f, 3);
    dev<float> yf(static_cast<size_t>(4 * s.n));
    dev<uint16_t> y(static_cast<size_t>(4 * s.n)), yref(static_cast<size_t>(4 * s.n));
    void* out = s.f32 ? static_cast<void*>(yf.p) : static_cast<void*>(y.p);
    const double bytes = static_cast<double>(wbytes) + s.k * 2.0 + s.n * (s.f32 ? 4.0 : 2.0);
    int it = 0;
    // cuBLAS at M = 1 (after a SwiGLU launch when the shape has one, as the backend did).
    const double ms_cublas = time_ms(stream, [&] {
      const uint16_t* xin = x.p;
      if (s.swiglu) {
        KCHECK(kernels::swiglu(x.p, x.p + s.k, xs.p, s.k, stream));
        xin = xs.p;
      }
      const float alpha = 1.0f, beta = 0.0f;
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.n), 1, static_cast<int>(s.k), &alpha,
                   ws[static_cast<size_t>(it++ % copies)]->p, CUDA_R_16BF, static_cast<int>(s.k), xin, CUDA_R_16BF,
                   static_cast<int>(s.k), &beta, out, s.f32 ? CUDA_R_32F : CUDA_R_16BF, static_cast<int>(s.n),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }, 3, 20);
    std::string label = std::string(s.name) + " N " + std::to_string(s.n) + " K " + std::to_string(s.k);
    print_row("cuBLAS GemmEx M=1", label.c_str(), ms_cublas, 2.0 * s.n * s.k, bytes);
    // Reference result (bf16 outputs only): cuBLAS on copy 0.
    std::vector<float> ref;
    if (!s.f32) {
      const uint16_t* xin = x.p;
      if (s.swiglu) {
        KCHECK(kernels::swiglu(x.p, x.p + s.k, xs.p, s.k, stream));
        xin = xs.p;
      }
      const float alpha = 1.0f, beta = 0.0f;
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.n), 1, static_cast<int>(s.k), &alpha, ws[0]->p,
                   CUDA_R_16BF, static_cast<int>(s.k), xin, CUDA_R_16BF, static_cast<int>(s.k), &beta, yref.p,
                   CUDA_R_16BF, static_cast<int>(s.n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      std::vector<uint16_t> hr(static_cast<size_t>(s.n));
      BENCH_CHECK(cudaMemcpy(hr.data(), yref.p, hr.size() * 2, cudaMemcpyDeviceToHost));
      for (uint16_t v : hr) ref.push_back(bf(v));
    }
    for (int rows : {1, 2, 4}) {
      if (rows * s.k * 2 > 48 * 1024) continue;
      it = 0;
      const double ms = time_ms(stream, [&] {
        const uint16_t* w = ws[static_cast<size_t>(it++ % copies)]->p;
        if (s.swiglu)
          KCHECK(kernels::gemv_swiglu(w, x.p, x.p + s.k, xk, out, s.f32, rows, s.n, s.k, stream));
        else
          KCHECK(kernels::gemv(w, x.p, out, s.f32, rows, s.n, s.k, stream));
      }, 3, 20);
      const std::string k = "tome gemv" + std::string(s.swiglu ? "_swiglu" : "") + " M=" + std::to_string(rows);
      print_row(k.c_str(), label.c_str(), ms, 2.0 * rows * s.n * s.k, bytes + (rows - 1) * (s.k * 2.0));
    }
    {  // 16 back to back at M = 1, as in a decode step (PDL overlaps each with the one before)
      it = 0;
      const double ms = time_ms(stream, [&] {
        for (int r = 0; r < 16; ++r) {
          const uint16_t* w = ws[static_cast<size_t>(it++ % copies)]->p;
          if (s.swiglu)
            KCHECK(kernels::gemv_swiglu(w, x.p, x.p + s.k, xk, out, s.f32, 1, s.n, s.k, stream));
          else
            KCHECK(kernels::gemv(w, x.p, out, s.f32, 1, s.n, s.k, stream));
        }
      }, 2, 10) / 16;
      print_row("tome gemv M=1, 16 in a row (each)", label.c_str(), ms, 2.0 * s.n * s.k, bytes);
    }
    if (!s.swiglu && !s.f32 && kernels::gemv_norm_supported(ws[0]->p, x.p, 1, s.k, false)) {
      // The same 16 with the norm as prologue (gemv_norm with a residual r and x_out, as a decode
      // step runs q|k|v|g|gate, wq, w1|w3): what the norm adds in a chain of PDL launches.
      dev<uint16_t> r(static_cast<size_t>(s.k)), nw(static_cast<size_t>(s.k)), xo(static_cast<size_t>(s.k));
      fill_bf16(r, 1.0f, 4);
      fill_bf16(nw, 1.0f, 5);
      for (const auto form : {kernels::norm_form::exact, kernels::norm_form::scaled}) {
        it = 0;
        const double ms = time_ms(stream, [&] {
          for (int i = 0; i < 16; ++i) {
            const uint16_t* w = ws[static_cast<size_t>(it++ % copies)]->p;
            KCHECK(kernels::gemv_norm(w, x.p, r.p, nw.p, 1e-5f, xo.p, out, false, 1, s.n, s.k, stream, nullptr, form));
          }
        }, 2, 10) / 16;
        print_row(form == kernels::norm_form::exact ? "tome gemv_norm M=1 (+r), 16 in a row (each)"
                                                    : "tome gemv_norm scaled M=1 (+r), 16 in a row (each)",
                  label.c_str(), ms, 2.0 * s.n * s.k, bytes);
      }
    }
    {  // the same 16 as pure streaming reads of W (stream_op.cuh): what the bytes alone cost
      dev<uint32_t> sink(1 << 20);
      it = 0;
      const double ms = time_ms(stream, [&] {
        for (int r = 0; r < 16; ++r)
          stream::launch_op({reinterpret_cast<const uint4*>(ws[static_cast<size_t>(it++ % copies)]->p),
                             static_cast<int64_t>(wbytes / 16)},
                            sink.p, true, stream);
      }, 2, 10) / 16;
      print_row("W's bytes only (stream_op), 16 in a row (each)", label.c_str(), ms, 0.0, static_cast<double>(wbytes));
    }
    if (!s.f32) {  // agreement with cuBLAS at M = 1 (both f32 accumulation, bf16 out)
      if (s.swiglu) KCHECK(kernels::gemv_swiglu(ws[0]->p, x.p, x.p + s.k, xk, y.p, false, 1, s.n, s.k, stream));
      else KCHECK(kernels::gemv(ws[0]->p, x.p, y.p, false, 1, s.n, s.k, stream));
      std::vector<uint16_t> hy(static_cast<size_t>(s.n));
      BENCH_CHECK(cudaMemcpy(hy.data(), y.p, hy.size() * 2, cudaMemcpyDeviceToHost));
      double worst = 0, scale = 0;
      for (size_t i = 0; i < hy.size(); ++i) {
        worst = std::max(worst, static_cast<double>(std::abs(bf(hy[i]) - ref[i])));
        scale = std::max(scale, static_cast<double>(std::abs(ref[i])));
      }
      std::printf("  (max |gemv - cuBLAS| = %.3g, max |cuBLAS| = %.3g)\n", worst, scale);
    }
    for (auto* p : ws) delete p;
  }
  cublasDestroy(h);
  cudaFree(cws);
  return 0;
}
