// Random model weights as a safetensors byte image (benchmarks, tests): matrices uniform with
// variance 1/fan-in, norm weights 1, gate-logit rows scaled so retention decays vary.
#pragma once

#include <cstdint>
#include <vector>

#include "tome/model_config.h"

namespace tome {

std::vector<uint8_t> random_safetensors(const model_config& config, uint64_t seed);

}  // namespace tome
