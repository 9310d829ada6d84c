// The sampler chain: repetition penalty → temperature → top-k → top-p → min-p → draw.
// temperature 0 means greedy (argmax, ties to the lowest id). A seeded sampler reproduces
// its draws exactly. One sampler per generation; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
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

using token_logit = std::pair<float, int32_t>;  // (value, token id)

// Pre-selection (the CUDA backend does it on the device, kernels::select_candidates_rows; the
// CPU twin is select_candidates below): the repetition penalty applied, then the k entries that
// come first in the sampler's total order (larger value first, lower id on ties; NaN and -inf
// never selected), in id order. Only these cross to the host; sampler::sample_candidates
// finishes on them and gives sample()'s token whenever that is provably the same.
constexpr int kPreselectK = 1024;
struct candidate_set {
  std::vector<token_logit> items;  // penalised values, in id order
  int64_t n_valid = 0;             // entries of the row that are neither NaN nor -inf
};
// Whether pre-selecting k candidates can reproduce sample() for p at all: greedy (temperature
// <= 0: the first candidate, k >= 1), or sampled with top_k in 1..k (everything after top-k sees
// only those), or min_p > 0 with top_p off (then sample_candidates checks per row that the min-p
// cut lies inside the candidates).
bool preselect_applies(const sampling_params& p, int k);
// The distinct in-vocabulary ids among the last repetition_window of history, sorted: the tokens
// the penalty touches. Empty when the penalty is off (1, <= 0, not finite, or window <= 0).
std::vector<int32_t> penalized_tokens(std::span<const int32_t> history, const sampling_params& p,
                                      int64_t vocab);
// The CPU twin of the device pre-selection: `penalized` from penalized_tokens, penalty =
// p.repetition_penalty (ignored when penalized is empty).
void select_candidates(std::span<const float> logits, std::span<const int32_t> penalized, float penalty,
                       int k, candidate_set& out);

class sampler {
 public:
  explicit sampler(const sampling_params& p);
  // Picks the next token from `logits` given the tokens so far (for the penalty).
  // Returns -1 for empty logits.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  // The same choice from a pre-selected candidate set (already penalised: the penalty is not
  // applied again; any order; distinct ids) when the chain's kept set provably lies inside it:
  // then exactly sample()'s token on the full logits, with the same one draw. Otherwise nullopt
  // and nothing is drawn (the caller falls back to sample() on the full logits).
  std::optional<int32_t> sample_candidates(const candidate_set& c);
  const sampling_params& params() const { return params_; }

 private:
  sampling_params params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace tome
