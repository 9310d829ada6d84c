// Dequantisation of stored tensors to f32 for the backends, and the int8 row quantiser
// (backend/weight_layout.h).
#include "backend/weight_layout.h"

#include <algorithm>
#include <cmath>

namespace tome {

status dequantize_to_f32(const safetensors_index& index, const std::string& name,
                         const std::string& source, std::vector<float>& out) {
  const tensor_view* t = index.find(name);
  if (!t) return error(source + ": missing tensor '" + name + "'");
  const size_t n = static_cast<size_t>(t->numel());
  out.resize(n);
  if (t->type != dtype::i8) {
    to_f32(t->data, t->type, out.data(), n);
    return {};
  }
  const tensor_view* s = index.find(name + "_scale");
  if (!s || t->shape.empty()) return error(source + ": tensor '" + name + "_scale' missing");
  const int64_t rows = t->shape[0], cols = static_cast<int64_t>(n) / std::max<int64_t>(rows, 1);
  if (s->numel() != rows) return error(source + ": tensor '" + name + "_scale' has the wrong size");
  std::vector<float> scales(static_cast<size_t>(rows));
  to_f32(s->data, s->type, scales.data(), scales.size());
  const auto* q = reinterpret_cast<const int8_t*>(t->data);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[static_cast<size_t>(r * cols + c)] = scales[static_cast<size_t>(r)] * q[r * cols + c];
  return {};
}

void quantize_int8_rows(const float* w, int64_t rows, int64_t cols, int8_t* q, float* scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::abs(row[c]));
    const float s = amax / 127.0f;
    const float safe = s > 0.0f ? s : 1.0f;
    scale[r] = s;
    for (int64_t c = 0; c < cols; ++c) {  // nearbyint: the current mode, round-half-even by default
      const float v = std::nearbyint(row[c] / safe);
      q[r * cols + c] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
    }
  }
}

}  // namespace tome
