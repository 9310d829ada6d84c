// Builds a safetensors image of random f32 weights for every tensor of the table.
#include "model/random_weights.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "model/tensor_table.h"

namespace tome {

std::vector<uint8_t> random_safetensors(const model_config& config, uint64_t seed) {
  const std::vector<expected_tensor> tensors = expected_tensors(config);
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const expected_tensor& t : tensors) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * n}}};
    offset += 4 * n;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  std::vector<uint8_t> out(8 + h.size() + offset);
  const uint64_t hl = h.size();
  std::memcpy(out.data(), &hl, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::mt19937_64 rng(seed);
  float* data = reinterpret_cast<float*>(out.data() + 8 + h.size());
  for (const expected_tensor& t : tensors) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    if (t.kind == tensor_kind::norm) {
      for (size_t i = 0; i < n; ++i) data[i] = 1.0f;
    } else {
      const int64_t fan_in = t.shape.size() > 1 ? t.shape[1] : 1;
      // Embeddings are scaled by sqrt(D) in the forward pass: keep their rows at unit RMS / sqrt(D).
      const double var = 1.0 / static_cast<double>(fan_in);
      const double a = std::sqrt(3.0 * var);
      for (size_t i = 0; i < n; ++i) {
        const double u = static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
        data[i] = static_cast<float>((2.0 * u - 1.0) * a);
      }
    }
    data += n;
  }
  return out;
}

}  // namespace tome
