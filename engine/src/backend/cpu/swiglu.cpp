// CPU SwiGLU: silu(W1 x) ⊙ (W3 x). W1 is the branch through SiLU (official name fc1), W3 the
// linear branch (official name "gate").
#include <cmath>

#include "backend/cpu/cpu_ops.h"

namespace tome::cpu {

void swiglu(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = a[i];
    out[i] = x / (1.0f + std::exp(-x)) * b[i];
  }
}

}  // namespace tome::cpu
