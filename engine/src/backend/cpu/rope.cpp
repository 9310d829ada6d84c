// CPU RoPE as YOCO defines it: inv_freq[i] = theta^(-i/(hd/2-1)) (theta ** -linspace(0, 1, hd/2)),
// angles float(p) * inv_freq[i] in f32, interleaved pairs (x[2i], x[2i+1]).
#include <cmath>

#include "backend/cpu/cpu_ops.h"

namespace tome::cpu {

std::vector<float> rope_inv_freq(int64_t head_dim, double theta) {
  const int64_t half = head_dim / 2;
  std::vector<float> f(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // torch.linspace(0, 1, half) in f32, then theta ** -t in f32.
    const float t = half > 1 ? static_cast<float>(i) / static_cast<float>(half - 1) : 0.0f;
    f[static_cast<size_t>(i)] = static_cast<float>(std::pow(theta, -static_cast<double>(t)));
  }
  return f;
}

void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
          const float* inv_freq) {
  const int64_t half = head_dim / 2;
  std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  for (int64_t r = 0; r < rows; ++r) {
    const float p = static_cast<float>(pos0 + r);
    for (int64_t i = 0; i < half; ++i) {
      const float a = p * inv_freq[i];
      c[static_cast<size_t>(i)] = std::cos(a);
      s[static_cast<size_t>(i)] = std::sin(a);
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (r * heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c[static_cast<size_t>(i)] - x1 * s[static_cast<size_t>(i)];
        v[2 * i + 1] = x1 * c[static_cast<size_t>(i)] + x0 * s[static_cast<size_t>(i)];
      }
    }
  }
}

}  // namespace tome::cpu
