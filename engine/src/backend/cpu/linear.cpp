// CPU linear layer and elementwise ops (embedding, add): OpenBLAS for matrix products.
#include <cblas.h>

#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "util/parallel.h"
#include "util/simd.h"

namespace tome::cpu {

namespace {

// y[o] = dot(x, W[o]) for o in [o0, o1): the decode-time GEMV, memory-bound on W.
TOME_CPU_CLONES void gemv_rows(const float* x, const float* w, int64_t in, float* y, int64_t o0,
                               int64_t o1) {
  for (int64_t o = o0; o < o1; ++o) y[o] = dot16(x, w + o * in, in);
}

}  // namespace

// OpenBLAS runs single-threaded (set at backend creation); the split across threads is ours, so
// BLAS threads never spin against the pool's workers between ops.
void linear(const float* x, int64_t rows, const float* w, int64_t out, int64_t in, float* y) {
  if (rows == 1) {
    parallel_for(out, [&](int64_t b, int64_t e) { gemv_rows(x, w, in, y, b, e); }, 64);
    return;
  }
  auto gemm = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(r1 - r0),
                static_cast<blasint>(c1 - c0), static_cast<blasint>(in), 1.0f, x + r0 * in,
                static_cast<blasint>(in), w + c0 * in, static_cast<blasint>(in), 0.0f,
                y + r0 * out + c0, static_cast<blasint>(out));
  };
  if (rows >= 64 * cpu_threads()) {
    parallel_for(rows, [&](int64_t b, int64_t e) { gemm(b, e, 0, out); }, 64);
  } else {
    parallel_for(out, [&](int64_t b, int64_t e) { gemm(0, rows, b, e); }, 64);
  }
}

void embedding(const int32_t* tokens, int64_t n, const float* table, int64_t dim, float scale,
               float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float* row = table + static_cast<int64_t>(tokens[i]) * dim;
    float* dst = y + i * dim;
    for (int64_t d = 0; d < dim; ++d) dst[d] = scale * row[d];
  }
}

void add(float* x, const float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace tome::cpu
