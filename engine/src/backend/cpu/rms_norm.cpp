// CPU RMSNorm: normalise each row in f32 (sum of squares accumulated in double for a stable
// reference), then multiply by the weight (or not, for the retention output norm).
#include <cmath>

#include "backend/cpu/cpu_ops.h"

namespace tome::cpu {

void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0.0;
    for (int64_t d = 0; d < dim; ++d) ss += static_cast<double>(xr[d]) * xr[d];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    if (w) {
      for (int64_t d = 0; d < dim; ++d) yr[d] = xr[d] * inv * w[d];
    } else {
      for (int64_t d = 0; d < dim; ++d) yr[d] = xr[d] * inv;
    }
  }
}

}  // namespace tome::cpu
