// The sampler chain of tome/sampling.h: repetition penalty → temperature → top-k → top-p →
// min-p → one draw. Works on a reused copy of the logits (candidates_: value, token id) kept in
// id order. top-k (a heap, or nth_element) and top-p (a histogram of mass, then nth_element in
// one bucket) are O(vocab): no full sort. NaN and -inf logits are never drawn; empty logits give
// -1. Deterministic everywhere: selections use a total order (value, then id), and the one random
// number per draw is made here from std::mt19937_64's raw bits (no <random> distribution).
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <limits>

#include "tome/sampling.h"

namespace tome {
namespace {

using candidate = std::pair<float, int32_t>;  // (logit, later weight; token id)

constexpr float kInf = std::numeric_limits<float>::infinity();

// Strict total order: larger value first, lower id on ties. Every (partial) sort under it has
// one result, whatever the standard library's algorithm.
bool before(const candidate& a, const candidate& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

bool excluded(float v) { return std::isnan(v) || v == -kInf; }

// 53 high bits of one raw 64-bit draw as a double in [0, 1).
double unit_interval(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// The fallback when nothing can be drawn: argmax of the raw logits, NaN ignored, ties to the
// lowest id (so all -inf gives 0); 0 when every logit is NaN.
int32_t raw_argmax(std::span<const float> logits) {
  int32_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) continue;
    if (best < 0 || logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best < 0 ? 0 : best;
}

// Greedy over the (penalised) candidates, still in id order: the highest value, ties to the
// lowest id; -1 when every value is NaN or -inf.
int32_t greedy(const std::vector<candidate>& c) {
  int32_t best = -1;
  float best_value = -kInf;
  for (const candidate& x : c) {
    if (excluded(x.first)) continue;
    if (best < 0 || x.first > best_value) {
      best = x.second;
      best_value = x.first;
    }
  }
  return best;
}

bool penalty_active(const sampling_params& p) {
  const float penalty = p.repetition_penalty;
  return penalty > 0.0f && std::isfinite(penalty) && penalty != 1.0f && p.repetition_window > 0;
}

// The penalised value of one logit (NaN stays NaN).
float penalize(float v, float penalty) { return v > 0.0f ? v / penalty : v * penalty; }

// CTRL-style penalty on c (indexed by token id) for each distinct token among the last `window`
// of history: positive values divided by the penalty, the others multiplied. Ids outside the
// vocabulary are skipped. Duplicates are found without allocating: a penalised entry's id is
// flipped to ~id until the pass ends.
void apply_repetition_penalty(std::vector<candidate>& c, std::span<const int32_t> history,
                              const sampling_params& p) {
  const float penalty = p.repetition_penalty;
  if (!penalty_active(p)) return;
  const size_t window = std::min(history.size(), static_cast<size_t>(p.repetition_window));
  const auto recent = history.last(window);
  const auto in_vocab = [&](int32_t t) { return t >= 0 && static_cast<size_t>(t) < c.size(); };
  for (int32_t t : recent) {
    if (!in_vocab(t) || c[static_cast<size_t>(t)].second != t) continue;
    candidate& x = c[static_cast<size_t>(t)];
    x.first = penalize(x.first, penalty);
    x.second = ~t;
  }
  for (int32_t t : recent) {
    if (in_vocab(t)) c[static_cast<size_t>(t)].second = t;
  }
}

// Keeps x unless it comes after `cut` in the total order; c keeps its id order.
void keep_through(std::vector<candidate>& c, size_t n, candidate cut) {  // cut: a copy
  c.resize(n);
  std::erase_if(c, [&](const candidate& x) { return before(cut, x); });
}

// The selections below never reorder c[0, n) itself (the draw walks it in id order, which keeps
// results independent of the library's algorithms): they copy it to c[n, 2n) as scratch, find
// the last entry to keep there, then filter c[0, n) against it. c's capacity is reused.
void copy_to_scratch(std::vector<candidate>& c, size_t n) {
  c.resize(2 * n);
  std::copy(c.begin(), c.begin() + static_cast<ptrdiff_t>(n),
            c.begin() + static_cast<ptrdiff_t>(n));
}

// Keeps the k largest values (ties to lower ids), in O(n): for k up to n / 8 one pass with a heap
// of the k best so far (the worst on top; most entries lose one comparison with it), otherwise
// nth_element on a scratch copy.
void keep_top_k(std::vector<candidate>& c, int k) {
  const size_t n = c.size();
  if (k <= 0 || static_cast<size_t>(k) >= n) return;
  const auto kk = static_cast<size_t>(k);
  candidate cut;
  if (kk <= n / 8) {
    c.resize(n + kk);
    const auto heap = c.begin() + static_cast<ptrdiff_t>(n);
    std::copy(c.begin(), c.begin() + static_cast<ptrdiff_t>(kk), heap);
    std::make_heap(heap, c.end(), before);
    for (size_t i = kk; i < n; ++i) {
      if (before(c[i], *heap)) {
        std::pop_heap(heap, c.end(), before);
        c.back() = c[i];
        std::push_heap(heap, c.end(), before);
      }
    }
    cut = *heap;
  } else {
    copy_to_scratch(c, n);
    const auto kth = c.begin() + static_cast<ptrdiff_t>(n + kk - 1);
    std::nth_element(c.begin() + static_cast<ptrdiff_t>(n), kth, c.end(), before);
    cut = *kth;
  }
  keep_through(c, n, cut);
}

// Values → weights exp((v - v_max) / T) in (0, 1]; the maximum maps to exactly 1. The
// difference and quotient are taken in double (no overflow, no inf / inf); weights that underflow
// to 0 are dropped (they could never be drawn).
void to_weights(std::vector<candidate>& c, float v_max, float temperature) {
  for (candidate& x : c) {
    const double z = (static_cast<double>(x.first) - v_max) / static_cast<double>(temperature);
    x.first = std::exp(static_cast<float>(z));
  }
  std::erase_if(c, [](const candidate& x) { return !(x.first > 0.0f); });
}

// Histogram buckets of a weight in (0, 1]: the top bits of its IEEE pattern (8 exponent bits, 3
// mantissa bits), which order like the weights themselves. Weight 1 is bucket 1016.
constexpr size_t kWeightBuckets = (0x3F800000u >> 20) + 1;
size_t weight_bucket(float w) {
  return std::min<size_t>(std::bit_cast<uint32_t>(w) >> 20, kWeightBuckets - 1);
}

// In [first, last), the entry (in `before` order) at which mass + the running sum of weights
// first reaches target; the last entry if rounding keeps it out of reach. Halves the range with
// nth_element towards the side holding it (O(n) expected), then sorts the last few entries.
candidate mass_cut(std::vector<candidate>::iterator first, std::vector<candidate>::iterator last,
                   double mass, double target) {
  // Invariant: [first, lo) come before [lo, hi), which come before [hi, last); mass covers
  // everything before lo and is below target.
  auto lo = first;
  auto hi = last;
  while (hi - lo > 32) {
    const auto mid = lo + (hi - lo) / 2;
    std::nth_element(lo, mid, hi, before);
    double upper = 0.0;
    for (auto it = lo; it != mid; ++it) upper += it->first;
    if (mass + upper >= target) {
      hi = mid;
    } else {
      mass += upper;
      lo = mid;
    }
  }
  std::sort(lo, hi, before);
  for (auto it = lo; it != hi; ++it) {
    mass += it->first;
    if (mass >= target) return *it;
  }
  return *(hi - 1);
}

// Nucleus: the smallest set of the largest weights whose mass reaches top_p of the total (at
// least one), without sorting: a histogram of mass per weight bucket finds the bucket holding
// the cut; only that bucket's entries are copied to scratch and searched by mass_cut.
void keep_top_p(std::vector<candidate>& c, float top_p) {
  if (!(top_p < 1.0f)) return;  // 1 (or NaN) = off
  const size_t n = c.size();
  std::array<double, kWeightBuckets> bucket_mass{};
  double total = 0.0;
  for (const candidate& x : c) {
    bucket_mass[weight_bucket(x.first)] += x.first;
    total += x.first;
  }
  const double target = static_cast<double>(top_p) * total;
  double mass = 0.0;  // of the buckets above b
  size_t b = kWeightBuckets;
  while (b > 0 && mass + bucket_mass[b - 1] < target) mass += bucket_mass[--b];
  if (b == 0) return;  // rounding: the target is out of reach, keep everything
  --b;
  c.reserve(2 * n);  // no reallocation below, so c[i] stays valid while appending
  for (size_t i = 0; i < n; ++i) {
    if (weight_bucket(c[i].first) == b) c.push_back(c[i]);
  }
  const candidate cut = mass_cut(c.begin() + static_cast<ptrdiff_t>(n), c.end(), mass, target);
  keep_through(c, n, cut);
}

// Keeps weights >= min_p * w_max. The largest weight is 1 and always survives the filters
// before this one; min_p is capped at 1 so the top token always stays.
void keep_min_p(std::vector<candidate>& c, float min_p) {
  if (!(min_p > 0.0f)) return;
  const float threshold = std::min(min_p, 1.0f);
  std::erase_if(c, [&](const candidate& x) { return x.first < threshold; });
}

// Picks the entry where u * (total weight) falls in the running sum, in c's current order.
int32_t draw(const std::vector<candidate>& c, double u) {
  double total = 0.0;
  for (const candidate& x : c) total += x.first;
  const double target = u * total;
  double mass = 0.0;
  for (const candidate& x : c) {
    mass += x.first;
    if (target < mass) return x.second;
  }
  return c.back().second;  // rounding put target at the very end of the sum
}

// The chain after the penalty and the exclusions: top-k, weights, top-p, min-p, the draw with u.
// c: in id order, no NaN / -inf, v_max its largest value (finite).
int32_t finish(std::vector<candidate>& c, float v_max, const sampling_params& p, double u) {
  keep_top_k(c, p.top_k);
  to_weights(c, v_max, p.temperature);
  keep_top_p(c, p.top_p);
  keep_min_p(c, p.min_p);
  return draw(c, u);
}

}  // namespace

sampler::sampler(const sampling_params& p) : params_(p), rng_(p.seed) {}

int32_t sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.empty()) return -1;
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  apply_repetition_penalty(candidates_, history, params_);

  if (!(params_.temperature > 0.0f)) {  // 0, negative or NaN: greedy, no draw
    const int32_t best = greedy(candidates_);
    return best >= 0 ? best : raw_argmax(logits);
  }
  // Exactly one draw per sampled token, whatever the filters keep, so the stream stays aligned.
  const double u = unit_interval(rng_());

  std::erase_if(candidates_, [](const candidate& x) { return excluded(x.first); });
  if (candidates_.empty()) return raw_argmax(logits);
  float v_max = -kInf;
  for (const candidate& x : candidates_) v_max = std::max(v_max, x.first);
  if (v_max == kInf) {  // the limit of softmax: uniform over the +inf tokens
    std::erase_if(candidates_, [](const candidate& x) { return x.first != kInf; });
    for (candidate& x : candidates_) x.first = 0.0f;
    v_max = 0.0f;
  }

  return finish(candidates_, v_max, params_, u);
}

std::optional<int32_t> sampler::sample_candidates(const candidate_set& cs) {
  // Sorted in `before` order for the checks; candidates_ then in id order for the chain.
  std::vector<candidate>& c = candidates_;
  c.assign(cs.items.begin(), cs.items.end());
  std::erase_if(c, [](const candidate& x) { return excluded(x.first); });
  if (c.empty()) return std::nullopt;  // sample() would need the raw logits (raw_argmax)
  std::sort(c.begin(), c.end(), before);
  const candidate first = c.front(), last = c.back();
  // Every valid entry of the row is here: the chain sees exactly sample()'s set.
  const bool all = cs.n_valid <= static_cast<int64_t>(c.size());
  if (!(params_.temperature > 0.0f)) return first.second;  // greedy: the first in the order
  float v_max = first.first;
  // Top-k of the row = top-k of its first entries (also among +inf ones); the rest follow on that.
  const int k = params_.top_k;
  bool exact = all || (k >= 1 && static_cast<size_t>(k) <= c.size());
  if (!exact) {
    if (v_max == kInf) {
      // sample() keeps only the +inf entries: all here unless the last candidate is +inf too.
      exact = last.first != kInf;
    } else if (params_.min_p > 0.0f && !(params_.top_p < 1.0f)) {
      // Min-p keeps weights >= min(min_p, 1); entries outside come after `last` in the order,
      // so their weights are <= last's (exp is monotone; a margin of 1e-6 covers a library exp
      // off by an ulp). If last is cut, so are they.
      std::vector<candidate> one{last};
      to_weights(one, v_max, params_.temperature);
      const float w_last = one.empty() ? 0.0f : one[0].first;
      exact = w_last * (1.0f + 1e-6f) < std::min(params_.min_p, 1.0f);
    }
  }
  if (!exact) return std::nullopt;
  const double u = unit_interval(rng_());  // the one draw, as in sample()
  std::sort(c.begin(), c.end(), [](const candidate& a, const candidate& b) { return a.second < b.second; });
  if (v_max == kInf) {
    std::erase_if(c, [](const candidate& x) { return x.first != kInf; });
    for (candidate& x : c) x.first = 0.0f;
    v_max = 0.0f;
  }
  return finish(c, v_max, params_, u);
}

bool preselect_applies(const sampling_params& p, int k) {
  if (k < 1) return false;
  if (!(p.temperature > 0.0f)) return true;  // greedy: the first entry in the order
  if (p.top_k >= 1 && p.top_k <= k) return true;
  return p.min_p > 0.0f && !(p.top_p < 1.0f);
}

std::vector<int32_t> penalized_tokens(std::span<const int32_t> history, const sampling_params& p,
                                      int64_t vocab) {
  std::vector<int32_t> ids;
  if (!penalty_active(p)) return ids;
  const size_t window = std::min(history.size(), static_cast<size_t>(p.repetition_window));
  for (int32_t t : history.last(window)) {
    if (t >= 0 && t < vocab) ids.push_back(t);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

namespace {

// A logit as an unsigned key that orders like the value (larger value, larger key; -0 and +0
// alike, since `before` compares values); 0 for the excluded (NaN, -inf), below every valid key.
uint32_t order_key(float v) {
  uint32_t b = std::bit_cast<uint32_t>(v);
  const bool out = (b & 0x7FFFFFFFu) > 0x7F800000u || b == 0xFF800000u;  // NaN, -inf
  b = b == 0x80000000u ? 0u : b;                                        // -0 as +0
  const uint32_t key = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return out ? 0u : key;
}

// Radix select: in `keys` (0 = excluded), the smallest key among the kk largest (kk >= 1, at most
// the count of valid keys) and how many of the keys equal to it belong to them. The histogram of
// the top 11 bits comes from the caller's pass that made the keys; the keys of the bucket that
// holds the cut are gathered into `bucket`, and the next 11 and 10 bits are counted over those only.
std::pair<uint32_t, size_t> kth_key(const std::vector<uint32_t>& keys, const std::array<uint32_t, 2048>& top_hist,
                                    size_t kk, std::vector<uint32_t>& bucket) {
  size_t need = kk;  // how many of the keys matching the digits fixed so far are still to take
  uint32_t d = 2047;
  for (; top_hist[d] < need; --d) need -= top_hist[d];
  bucket.clear();
  for (uint32_t key : keys)
    if ((key >> 21) == d) bucket.push_back(key);  // d >= 4: never the excluded
  uint32_t prefix = d << 21, mask = 0x7FFu << 21;
  for (const auto& [shift, bits] : {std::pair{10, 11}, std::pair{0, 10}}) {
    std::array<uint32_t, 2048> hist{};
    const uint32_t digit_mask = (1u << bits) - 1;
    for (uint32_t key : bucket)
      if ((key & mask) == prefix) ++hist[(key >> shift) & digit_mask];
    uint32_t e = digit_mask;
    for (; hist[e] < need; --e) need -= hist[e];
    prefix |= e << shift;
    mask |= digit_mask << shift;
  }
  return {prefix, need};
}

}  // namespace

// The CPU twin of kernels::select_candidates_rows: the kk first entries in `before` order, in id
// order. O(vocab) in a few linear passes over 32-bit keys (a radix select on the keys, then one
// pass that keeps the keys above the cut and the lowest ids at it), not a selection over pairs
// with the comparator (nth_element over (value, id) pairs before): at V = 100,288 and k = 1024,
// 1.8-2.0 ms became 0.31-0.38 ms (-O3, the 2-core development VM; docs/performance.md).
void select_candidates(std::span<const float> logits, std::span<const int32_t> penalized, float penalty,
                       int k, candidate_set& out) {
  std::vector<candidate>& c = out.items;
  c.clear();
  const size_t n = logits.size();
  const auto value = [&](size_t i) {
    const float v = logits[i];
    return std::binary_search(penalized.begin(), penalized.end(), static_cast<int32_t>(i)) ? penalize(v, penalty) : v;
  };
  thread_local std::vector<uint32_t> tls_keys, tls_bucket;
  std::vector<uint32_t>& keys = tls_keys;
  keys.resize(n);
  std::array<uint32_t, 2048> top_hist{};  // of the keys' top 11 bits (valid keys only)
  size_t n_valid = 0;
  for (size_t i = 0; i < n; ++i) keys[i] = order_key(logits[i]);  // (a loop the compiler vectorises)
  for (uint32_t key : keys) ++top_hist[key >> 21];  // bucket 0 holds the excluded only (valid keys are >= 2^23)
  // The penalised ids (at most the penalty's window) are then moved to their penalised keys.
  for (int32_t id : penalized) {
    if (id < 0 || static_cast<size_t>(id) >= n) continue;
    uint32_t& key = keys[static_cast<size_t>(id)];
    --top_hist[key >> 21];
    key = order_key(penalize(logits[static_cast<size_t>(id)], penalty));
    ++top_hist[key >> 21];
  }
  top_hist[0] = 0;
  for (uint32_t count : top_hist) n_valid += count;
  out.n_valid = static_cast<int64_t>(n_valid);
  const size_t kk = static_cast<size_t>(std::max(k, 0));
  if (n_valid <= kk) {
    c.reserve(n_valid);
    for (size_t i = 0; i < n; ++i)
      if (keys[i] != 0) c.emplace_back(value(i), static_cast<int32_t>(i));
    return;
  }
  if (kk == 0) return;
  const auto [cut, at_cut] = kth_key(keys, top_hist, kk, tls_bucket);
  c.reserve(kk);
  size_t taken_at_cut = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = keys[i];
    if (key > cut || (key == cut && taken_at_cut++ < at_cut)) c.emplace_back(value(i), static_cast<int32_t>(i));
  }
}

}  // namespace tome
