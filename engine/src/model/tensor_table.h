// The expected tensors of a model, from engine/tensor_names.json (embedded at build time) and the
// config, and the check of a safetensors index against them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "tome/model_config.h"
#include "tome/status.h"

namespace tome {

enum class tensor_kind { matrix, norm };

struct expected_tensor {
  std::string name;            // e.g. "self.3.ffn.w1.weight"
  std::vector<int64_t> shape;  // resolved from the config
  tensor_kind kind = tensor_kind::matrix;
};

// Every tensor a model with this config must have (scales of I8 matrices not included).
std::vector<expected_tensor> expected_tensors(const model_config& config);

// Checks names, shapes and dtypes (I8 only for matrices, with a [rows] "<name>_scale" tensor
// in F32/F16/BF16). The first problem found is returned, naming `source` and the tensor.
status check_tensors(const safetensors_index& index, const model_config& config,
                     const std::string& source);

}  // namespace tome
