// Random model weights as a safetensors byte image (benchmarks, tests): matrices uniform with
// variance 1/fan-in, norm weights 1, gate-logit rows scaled so retention decays vary. int8: the
// same values with every matrix quantised per row (I8 + an F32 "_scale"), as training/export.py.
#pragma once

#include <cstdint>
#include <vector>

#include "tome/model_config.h"

namespace tome {

std::vector<uint8_t> random_safetensors(const model_config& config, uint64_t seed, bool int8 = false);

}  // namespace tome
