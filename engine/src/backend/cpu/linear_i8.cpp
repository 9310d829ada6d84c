// CPU twins of the int8 weight-only kernels (kernels/gemv/gemv_i8.cu): the product with an int8
// matrix and its row scales, and its dequantisation. Reference code for the op tests; the CPU
// backend itself dequantises at load (weight_layout.cpp) and runs linear() in f32.
#include "backend/cpu/cpu_ops.h"

namespace tome::cpu {

void linear_i8(const float* x, int64_t rows, const int8_t* q, const float* scale, int64_t out,
               int64_t in, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      const int8_t* w = q + o * in;
      const float* xr = x + r * in;
      float acc = 0.0f;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<float>(w[i]) * xr[i];
      y[r * out + o] = scale[o] * acc;
    }
}

void dequantize_i8(const int8_t* q, const float* scale, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = scale[r] * static_cast<float>(q[r * cols + c]);
}

}  // namespace tome::cpu
