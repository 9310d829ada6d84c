// The sampler chain: repetition penalty → temperature → top-k → top-p → min-p → draw.
// temperature 0 means greedy (argmax, ties to the lowest id). A seeded sampler reproduces
// its draws exactly. One sampler per generation; not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace tome {

struct sampling_params {
  float temperature = 0.0f;        // 0 = greedy
  int top_k = 0;                   // 0 = off
  float top_p = 1.0f;              // 1 = off
  float min_p = 0.0f;              // 0 = off; keeps p >= min_p * p_max
  float repetition_penalty = 1.0f; // 1 = off; CTRL-style: logit/p if > 0 else logit*p
  int repetition_window = 64;      // last N tokens the penalty looks at
  uint64_t seed = 0;
};

class sampler {
 public:
  explicit sampler(const sampling_params& p);
  // Picks the next token from `logits` given the tokens so far (for the penalty).
  // Returns -1 for empty logits.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  const sampling_params& params() const { return params_; }

 private:
  sampling_params params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace tome
