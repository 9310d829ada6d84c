// Builds a safetensors image of random f32 weights for every tensor of the table (or, int8, the
// matrices quantised per row as training/export.py does, each followed by its _scale).
#include "model/random_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/weight_layout.h"
#include "model/tensor_table.h"

namespace tome {

std::vector<uint8_t> random_safetensors(const model_config& config, uint64_t seed, bool int8) {
  const std::vector<expected_tensor> tensors = expected_tensors(config);
  auto numel = [](const expected_tensor& t) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    return n;
  };
  auto quantised = [&](const expected_tensor& t) { return int8 && t.kind == tensor_kind::matrix; };
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const expected_tensor& t : tensors) {
    const size_t n = numel(t);
    if (quantised(t)) {  // q [rows, cols] then scale [rows] (offsets padded to 8 bytes)
      header[t.name] = {{"dtype", "I8"}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
      offset = (offset + n + 7) / 8 * 8;
      const size_t rows = static_cast<size_t>(t.shape[0]);
      header[t.name + "_scale"] = {{"dtype", "F32"}, {"shape", {t.shape[0]}}, {"data_offsets", {offset, offset + 4 * rows}}};
      offset += 4 * rows;
    } else {
      header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * n}}};
      offset += 4 * n;
    }
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  std::vector<uint8_t> out(8 + h.size() + offset);
  const uint64_t hl = h.size();
  std::memcpy(out.data(), &hl, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::mt19937_64 rng(seed);
  uint8_t* base = out.data() + 8 + h.size();
  std::vector<float> tmp;
  size_t at = 0;
  for (const expected_tensor& t : tensors) {
    const size_t n = numel(t);
    tmp.resize(n);
    float* data = tmp.data();
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
    if (quantised(t)) {
      const int64_t rows = t.shape[0], cols = static_cast<int64_t>(n) / std::max<int64_t>(rows, 1);
      std::vector<float> scale(static_cast<size_t>(rows));
      quantize_int8_rows(data, rows, cols, reinterpret_cast<int8_t*>(base + at), scale.data());
      at = (at + n + 7) / 8 * 8;
      std::memcpy(base + at, scale.data(), scale.size() * 4);
      at += scale.size() * 4;
    } else {
      std::memcpy(base + at, data, n * 4);
      at += n * 4;
    }
  }
  return out;
}

}  // namespace tome
