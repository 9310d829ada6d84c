// CPU linear layer and elementwise ops (embedding, add): OpenBLAS for matrix products.
#include <cblas.h>

#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "util/parallel.h"

namespace tome::cpu {

void linear(const float* x, int64_t rows, const float* w, int64_t out, int64_t in, float* y) {
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(out), static_cast<blasint>(in),
                1.0f, w, static_cast<blasint>(in), x, 1, 0.0f, y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
              static_cast<blasint>(out), static_cast<blasint>(in), 1.0f, x,
              static_cast<blasint>(in), w, static_cast<blasint>(in), 0.0f, y,
              static_cast<blasint>(out));
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
