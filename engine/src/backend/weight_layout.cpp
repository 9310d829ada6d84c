// Dequantisation of stored tensors to f32 for the backends (backend/weight_layout.h).
#include "backend/weight_layout.h"

#include <algorithm>

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

}  // namespace tome
