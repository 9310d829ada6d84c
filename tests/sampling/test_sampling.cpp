// Tests for tome::sampler (engine/src/sampling/sampler.cpp): greedy, seeded reproducibility, the
// exact sets kept by top-k / top-p / min-p, the repetition penalty, temperature, NaN and inf
// logits. Statistical checks draw many times with fixed seeds and tolerances of 5+ standard
// deviations, so they are deterministic and cannot flake.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <vector>

#include "tome/sampling.h"

namespace tome {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Logits whose softmax is `p` (p need not sum to 1).
std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}

// Deterministic pseudo-random logits in [lo, hi), the same on every platform.
std::vector<float> pseudo_logits(size_t n, uint64_t seed, double lo = -4.0, double hi = 4.0) {
  std::mt19937_64 g(seed);
  std::vector<float> l(n);
  for (float& x : l) {
    const double u = static_cast<double>(g() >> 11) * 0x1.0p-53;
    x = static_cast<float>(lo + (hi - lo) * u);
  }
  return l;
}

std::vector<double> softmax(std::span<const float> logits, double temperature = 1.0) {
  double m = -std::numeric_limits<double>::infinity();
  for (float v : logits) m = std::max(m, static_cast<double>(v));
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - m) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

sampling_params sampled(float temperature = 1.0f, uint64_t seed = 1) {
  sampling_params p;
  p.temperature = temperature;
  p.seed = seed;
  return p;
}

std::vector<int> histogram(const sampling_params& params, std::span<const float> logits, int draws,
                           std::span<const int32_t> history = {}) {
  sampler s(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const int32_t t = s.sample(logits, history);
    EXPECT_GE(t, 0);
    EXPECT_LT(t, static_cast<int32_t>(logits.size()));
    if (t >= 0 && t < static_cast<int32_t>(logits.size())) ++counts[static_cast<size_t>(t)];
  }
  return counts;
}

std::set<int32_t> drawn(const std::vector<int>& counts) {
  std::set<int32_t> s;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) s.insert(static_cast<int32_t>(i));
  }
  return s;
}

// Tokens with expected probability 0 are never drawn; the others within `tol` (absolute).
void expect_frequencies(const std::vector<int>& counts, const std::vector<double>& expected,
                        double tol) {
  ASSERT_EQ(counts.size(), expected.size());
  const double n = std::accumulate(counts.begin(), counts.end(), 0.0);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i;
    } else {
      EXPECT_NEAR(counts[i] / n, expected[i], tol) << "token " << i;
    }
  }
}

// `p` restricted to `keep` and renormalised.
std::vector<double> restricted(std::vector<double> p, const std::set<int32_t>& keep) {
  double sum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!keep.count(static_cast<int32_t>(i))) p[i] = 0.0;
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  return p;
}

int32_t argmax(std::span<const float> l) {
  return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
}

// --- greedy ---------------------------------------------------------------------------------

TEST(SamplingGreedy, PicksArgmax) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto l = pseudo_logits(1000, seed);
    sampler s(sampling_params{});
    EXPECT_EQ(s.sample(l, {}), argmax(l));
  }
}

TEST(SamplingGreedy, TiesGoToLowestId) {
  const std::vector<float> l = {0.0f, 3.0f, 1.0f, 3.0f, 3.0f};
  sampler s(sampling_params{});
  EXPECT_EQ(s.sample(l, {}), 1);
}

TEST(SamplingGreedy, ZeroNegativeOrNaNTemperatureIsGreedy) {
  const auto l = pseudo_logits(500, 7);
  for (float t : {0.0f, -0.0f, -1.0f, kNaN}) {
    sampler s(sampled(t));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(l, {}), argmax(l)) << "temperature " << t;
  }
}

TEST(SamplingGreedy, IgnoresFiltersButNotThePenalty) {
  const std::vector<float> l = {1.0f, 5.0f, 4.5f, 2.0f};
  sampling_params p;
  p.top_k = 3;
  p.top_p = 0.1f;
  p.min_p = 0.9f;
  sampler s(p);
  EXPECT_EQ(s.sample(l, {}), 1);
  p.repetition_penalty = 1.5f;  // 5 / 1.5 = 3.33 < 4.5
  sampler penalised(p);
  const std::vector<int32_t> history = {1};
  EXPECT_EQ(penalised.sample(l, history), 2);
}

TEST(SamplingGreedy, SkipsNaNAndNegativeInfinity) {
  sampler s(sampling_params{});
  const std::vector<float> a = {kNaN, -kInf, -50.0f, kNaN, -60.0f};
  EXPECT_EQ(s.sample(a, {}), 2);
  const std::vector<float> b = {1.0f, kInf, kNaN, kInf};
  EXPECT_EQ(s.sample(b, {}), 1);
}

TEST(SamplingGreedy, AllExcludedFallsBackToRawLogits) {
  sampler s(sampling_params{});
  const std::vector<float> a = {kNaN, -kInf, kNaN, -kInf};
  EXPECT_EQ(s.sample(a, {}), 1);
  const std::vector<float> b = {kNaN, kNaN};
  EXPECT_EQ(s.sample(b, {}), 0);
  // The penalty pushes -3e38 to -inf, so the penalised logits are all excluded.
  sampling_params p;
  p.repetition_penalty = 4.0f;
  sampler penalised(p);
  const std::vector<float> c = {-kInf, -3e38f};
  const std::vector<int32_t> history = {1};
  EXPECT_EQ(penalised.sample(c, history), 1);
}

TEST(Sampling, EmptyLogitsGiveMinusOne) {
  sampler greedy(sampling_params{});
  EXPECT_EQ(greedy.sample({}, {}), -1);
  sampler s(sampled());
  EXPECT_EQ(s.sample({}, {}), -1);
}

// --- seeds ----------------------------------------------------------------------------------

std::vector<int32_t> sequence(const sampling_params& p, std::span<const float> l, int n) {
  sampler s(p);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(l, {}));
  return out;
}

TEST(SamplingSeed, SameSeedReproduces) {
  const auto l = pseudo_logits(300, 3, -1.0, 1.0);
  auto p = sampled(1.0f, 42);
  EXPECT_EQ(sequence(p, l, 500), sequence(p, l, 500));
  p.top_k = 50;
  p.top_p = 0.8f;
  p.min_p = 0.05f;
  EXPECT_EQ(sequence(p, l, 500), sequence(p, l, 500));
}

TEST(SamplingSeed, DifferentSeedsDiffer) {
  const auto l = pseudo_logits(50, 4, -0.5, 0.5);
  const auto a = sequence(sampled(1.0f, 1), l, 500);
  const auto b = sequence(sampled(1.0f, 2), l, 500);
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  EXPECT_LT(same, 50);  // about 500 / 50 = 10 expected
}

// Pins the whole path from mt19937_64's raw bits to the token, so a change to the draw (or a
// platform that differs) shows up here.
TEST(SamplingSeed, GoldenSequence) {
  const auto l = logits_of({0.1, 0.2, 0.3, 0.15, 0.25});
  const std::vector<int32_t> expected = {4, 0, 4, 4, 1, 4, 4, 4, 0, 4, 4, 1, 2, 4, 1, 4};
  EXPECT_EQ(sequence(sampled(1.0f, 1234), l, static_cast<int>(expected.size())), expected);
}

// --- top-k ----------------------------------------------------------------------------------

TEST(SamplingTopK, OneEqualsGreedy) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const auto l = pseudo_logits(2000, 100 + seed);
    for (float t : {0.5f, 1.0f, 10.0f}) {
      auto p = sampled(t, seed);
      p.top_k = 1;
      sampler s(p);
      EXPECT_EQ(s.sample(l, {}), argmax(l));
    }
  }
}

TEST(SamplingTopK, KeepsExactlyTheKLargest) {
  const std::vector<double> probs = {0.02, 0.2, 0.05, 0.3, 0.08, 0.25, 0.01, 0.09};
  const auto l = logits_of(probs);
  auto p = sampled(1.0f, 11);
  p.top_k = 3;
  const auto counts = histogram(p, l, 40000);
  const std::set<int32_t> want = {1, 3, 5};
  EXPECT_EQ(drawn(counts), want);
  expect_frequencies(counts, restricted(probs, want), 0.015);
}

// Both of the sampler's selection paths: a heap for k <= vocab / 8, nth_element above.
TEST(SamplingTopK, TiesAtTheCutGoToLowerIds) {
  const std::vector<float> l = {0.0f, 2.0f, 2.0f, 2.0f, 5.0f};
  auto p = sampled(1.0f, 5);
  p.top_k = 3;
  EXPECT_EQ(drawn(histogram(p, l, 5000)), (std::set<int32_t>{1, 2, 4}));
  std::vector<float> wide(100, 0.0f);
  for (size_t t : {40, 10, 30, 20}) wide[t] = 2.0f;
  EXPECT_EQ(drawn(histogram(p, wide, 5000)), (std::set<int32_t>{10, 20, 30}));
}

TEST(SamplingTopK, LargerThanVocabIsOff) {
  const auto l = logits_of({0.5, 0.3, 0.2});
  auto p = sampled(1.0f, 6);
  p.top_k = 1000;
  expect_frequencies(histogram(p, l, 40000), {0.5, 0.3, 0.2}, 0.015);
}

// A huge temperature makes the kept tokens near-uniform, so every one of them is drawn.
TEST(SamplingTopK, LargeKKeepsExactlyTheKLargest) {
  const auto l = pseudo_logits(800, 14);
  std::vector<int32_t> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  const std::set<int32_t> want(order.begin(), order.begin() + 200);
  auto p = sampled(1000.0f, 15);
  p.top_k = 200;
  EXPECT_EQ(drawn(histogram(p, l, 8000)), want);
}

// --- top-p ----------------------------------------------------------------------------------

TEST(SamplingTopP, KeepsTheSmallestNucleus) {
  const std::vector<double> probs = {0.05, 0.4, 0.1, 0.3, 0.15};
  const auto l = logits_of(probs);
  struct tc {
    float top_p;
    std::set<int32_t> want;
  };
  for (const tc& c : {tc{0.8f, {1, 3, 4}}, tc{0.65f, {1, 3}}, tc{0.3f, {1}}, tc{0.0f, {1}},
                      tc{0.92f, {1, 2, 3, 4}}, tc{0.99f, {0, 1, 2, 3, 4}}}) {
    auto p = sampled(1.0f, 21);
    p.top_p = c.top_p;
    const auto counts = histogram(p, l, 40000);
    EXPECT_EQ(drawn(counts), c.want) << "top_p " << c.top_p;
    expect_frequencies(counts, restricted(probs, c.want), 0.015);
  }
}

// Reference nucleus by a full sort in double precision.
std::set<int32_t> reference_nucleus(std::span<const float> l, double top_p) {
  const auto p = softmax(l);
  std::vector<int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  std::set<int32_t> keep;
  double mass = 0.0;
  for (int32_t t : order) {
    keep.insert(t);
    mass += p[static_cast<size_t>(t)];
    if (mass >= top_p) break;
  }
  return keep;
}

// A flat distribution over 1000 tokens: the nucleus holds ~300 of them and its cut falls in a
// crowded weight bucket, so the sampler's selection runs several nth_element rounds.
TEST(SamplingTopP, LargeNucleusMatchesFullSort) {
  const auto l = pseudo_logits(1000, 8, 0.0, 1.0);
  const auto want = reference_nucleus(l, 0.4);
  ASSERT_GT(want.size(), 250u);
  auto p = sampled(1.0f, 9);
  p.top_p = 0.4f;
  EXPECT_EQ(drawn(histogram(p, l, 12000)), want);
}

// Equal logits: ties go to lower ids, so the nucleus of half the mass is exactly ids 0 … 99.
TEST(SamplingTopP, TiesGoToLowerIds) {
  const std::vector<float> l(200, 0.25f);
  auto p = sampled(1.0f, 10);
  p.top_p = 0.5f;
  std::set<int32_t> want;
  for (int32_t t = 0; t < 100; ++t) want.insert(t);
  EXPECT_EQ(drawn(histogram(p, l, 10000)), want);
}

// --- min-p ----------------------------------------------------------------------------------

TEST(SamplingMinP, KeepsRelativeToTheTop) {
  const std::vector<double> probs = {0.1, 0.05, 0.5, 0.15, 0.2};
  const auto l = logits_of(probs);
  struct tc {
    float min_p;
    std::set<int32_t> want;
  };
  // Thresholds 0.125, 0.25 and 0.025 times p_max = 0.5; min_p >= 1 keeps only the top.
  for (const tc& c : {tc{0.25f, {2, 3, 4}}, tc{0.5f, {2}}, tc{0.05f, {0, 1, 2, 3, 4}},
                      tc{0.39f, {2, 4}}, tc{3.0f, {2}}}) {
    auto p = sampled(1.0f, 31);
    p.min_p = c.min_p;
    const auto counts = histogram(p, l, 40000);
    EXPECT_EQ(drawn(counts), c.want) << "min_p " << c.min_p;
    expect_frequencies(counts, restricted(probs, c.want), 0.015);
  }
}

// --- the chain ------------------------------------------------------------------------------

// top-p works on the distribution renormalised after top-k: with top_k = 4 the masses are
// 0.421, 0.316, 0.158, 0.105, so 0.88 is reached at 3 tokens (without top-k: at 4).
TEST(SamplingChain, TopPSeesTheDistributionAfterTopK) {
  const std::vector<double> probs = {0.3, 0.05, 0.4, 0.1, 0.15};
  const auto l = logits_of(probs);
  auto p = sampled(1.0f, 41);
  p.top_p = 0.88f;
  EXPECT_EQ(drawn(histogram(p, l, 20000)), (std::set<int32_t>{0, 2, 3, 4}));
  p.top_k = 4;
  const auto counts = histogram(p, l, 40000);
  EXPECT_EQ(drawn(counts), (std::set<int32_t>{0, 2, 4}));
  expect_frequencies(counts, restricted(probs, {0, 2, 4}), 0.015);
}

// Gumbel-distributed logits: a spread-out top, like a language model's.
std::vector<float> gumbel_logits(size_t n, uint64_t seed) {
  auto l = pseudo_logits(n, seed, 1e-9, 1.0);
  for (float& x : l) x = static_cast<float>(-std::log(-std::log(static_cast<double>(x))));
  return l;
}

struct reference_set {
  std::set<int32_t> tokens;
  double smallest = 1.0;  // the least likely kept token's probability after renormalising
};

// The chain by the book, in double precision with full sorts: top-k by logit, softmax over the
// top k, nucleus of that, then min-p relative to its top.
reference_set reference_chain(std::span<const float> l, const sampling_params& p) {
  std::vector<int32_t> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  order.resize(std::min(order.size(), static_cast<size_t>(p.top_k)));
  std::vector<float> top;
  for (int32_t t : order) top.push_back(l[static_cast<size_t>(t)]);
  const auto q = softmax(top, p.temperature);  // sorted descending
  reference_set r;
  double mass = 0.0, kept_mass = 0.0;
  for (size_t i = 0; i < q.size() && mass < p.top_p; ++i) {
    mass += q[i];
    if (q[i] >= p.min_p * q[0]) {
      r.tokens.insert(order[i]);
      kept_mass += q[i];
      r.smallest = q[i];
    }
  }
  r.smallest /= kept_mass;
  return r;
}

// Every filter at once on Gumbel logits, each
// configuration with a different filter binding: the draws cover exactly the reference set,
// drawing often enough that each member is expected 30+ times. Then a 100K vocabulary, drawing
// less: the draws stay in the reference set.
TEST(SamplingChain, KeepsTheReferenceSet) {
  auto l = gumbel_logits(4000, 6);
  struct tc {
    float temperature;
    int top_k;
    float top_p, min_p;
  };
  for (const tc& c : {tc{1.0f, 40, 0.9f, 0.05f}, tc{1.5f, 40, 0.6f, 0.02f},
                      tc{2.0f, 6, 0.99f, 0.001f}, tc{1.2f, 100, 0.5f, 0.0f}}) {
    auto p = sampled(c.temperature, 13);
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    const auto want = reference_chain(l, p);
    ASSERT_GT(want.tokens.size(), 2u);
    const int draws = static_cast<int>(std::ceil(30.0 / want.smallest));
    ASSERT_LT(draws, 5000);
    EXPECT_EQ(drawn(histogram(p, l, draws)), want.tokens) << "temperature " << c.temperature;
  }
  l = gumbel_logits(100000, 12);
  auto p = sampled(1.0f, 14);
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  const auto want = reference_chain(l, p);
  const auto got = drawn(histogram(p, l, 100));
  EXPECT_TRUE(std::includes(want.tokens.begin(), want.tokens.end(), got.begin(), got.end()));
  EXPECT_GT(got.size(), 3u);
}

// --- repetition penalty ---------------------------------------------------------------------

int32_t greedy_with(std::vector<float> l, std::vector<int32_t> history, float penalty,
                    int window = 64) {
  sampling_params p;
  p.repetition_penalty = penalty;
  p.repetition_window = window;
  sampler s(p);
  return s.sample(l, history);
}

TEST(SamplingPenalty, ChangesTheArgmaxWhenItShould) {
  // Positive logit divided: 2.0 / 1.2 = 1.67 < 1.9.
  EXPECT_EQ(greedy_with({2.0f, 1.9f, 0.0f}, {0}, 1.2f), 1);
  EXPECT_EQ(greedy_with({2.0f, 1.9f, 0.0f}, {0}, 1.02f), 0);  // 1.96 > 1.9
  // Negative logit multiplied: -1.0 * 1.2 = -1.2 < -1.1.
  EXPECT_EQ(greedy_with({-1.0f, -1.1f}, {0}, 1.2f), 1);
  // Off at 1; history tokens that are not the argmax change nothing.
  EXPECT_EQ(greedy_with({2.0f, 1.9f}, {0}, 1.0f), 0);
  EXPECT_EQ(greedy_with({2.0f, 1.9f}, {1, 1}, 1.2f), 0);
}

TEST(SamplingPenalty, EachDistinctTokenOnce) {
  // Once: 2.0 / 1.2 = 1.67 > 1.6. Three times would give 1.16.
  EXPECT_EQ(greedy_with({2.0f, 1.6f}, {0, 0, 0}, 1.2f), 0);
  EXPECT_EQ(greedy_with({2.0f, 1.6f, 1.5f}, {2, 0, 2, 0, 2}, 1.2f), 0);
}

TEST(SamplingPenalty, OnlyTheWindow) {
  const std::vector<int32_t> history = {0, 2, 2, 2};
  EXPECT_EQ(greedy_with({2.0f, 1.9f, 0.0f}, history, 1.2f, 3), 0);  // 0 is outside the window
  EXPECT_EQ(greedy_with({2.0f, 1.9f, 0.0f}, history, 1.2f, 4), 1);
  EXPECT_EQ(greedy_with({2.0f, 1.9f, 0.0f}, history, 1.2f, 0), 0);  // window 0 = off
}

TEST(SamplingPenalty, IgnoresIdsOutsideTheVocabulary) {
  EXPECT_EQ(greedy_with({2.0f, 1.9f}, {-5, 7, 1 << 30, 0}, 1.2f), 1);
}

TEST(SamplingPenalty, AppliesBeforeSampling) {
  // 3 / 3 = 1: the distribution becomes softmax(1, 0, 0).
  const std::vector<float> l = {3.0f, 0.0f, 0.0f};
  auto p = sampled(1.0f, 51);
  p.repetition_penalty = 3.0f;
  const std::vector<int32_t> history = {0};
  const std::vector<float> penalised = {1.0f, 0.0f, 0.0f};
  expect_frequencies(histogram(p, l, 40000, history), softmax(penalised), 0.015);
}

// --- temperature ----------------------------------------------------------------------------

TEST(SamplingTemperature, MatchesSoftmax) {
  const std::vector<float> l = {0.5f, -1.0f, 2.0f, 0.0f, 1.2f, -3.0f, 1.9f, 0.3f};
  // 200000 draws: one standard deviation is at most 0.0011.
  expect_frequencies(histogram(sampled(1.0f, 61), l, 200000), softmax(l, 1.0), 0.0055);
  expect_frequencies(histogram(sampled(0.5f, 62), l, 200000), softmax(l, 0.5), 0.0055);
  expect_frequencies(histogram(sampled(2.5f, 63), l, 200000), softmax(l, 2.5), 0.0055);
}

TEST(SamplingTemperature, ApproachesGreedyTowardsZero) {
  const std::vector<float> l = {0.5f, 1.0f, 2.0f, 1.8f, 1.2f};
  double previous = 0.0;
  for (float t : {4.0f, 1.0f, 0.5f, 0.1f}) {
    const auto counts = histogram(sampled(t, 71), l, 20000);
    const double top = counts[2] / 20000.0;
    EXPECT_GT(top, previous) << "temperature " << t;
    previous = top;
  }
  for (float t : {1e-3f, 1e-20f, std::numeric_limits<float>::denorm_min()}) {
    const auto counts = histogram(sampled(t, 72), l, 2000);
    EXPECT_EQ(counts[2], 2000) << "temperature " << t;
  }
}

TEST(SamplingTemperature, InfiniteIsUniform) {
  const std::vector<float> l = {5.0f, -5.0f, 0.0f, 1.0f};
  expect_frequencies(histogram(sampled(kInf, 81), l, 40000), {0.25, 0.25, 0.25, 0.25}, 0.015);
}

// --- NaN and infinities ---------------------------------------------------------------------

TEST(SamplingNonFinite, NaNAndNegativeInfinityAreNeverDrawn) {
  const std::vector<float> l = {kNaN, 0.0f, -kInf, 1.0f, kNaN, 0.5f, -kInf};
  const auto expected = softmax(std::vector<float>{0.0f, 1.0f, 0.5f});
  const std::vector<double> want = {0.0, expected[0], 0.0, expected[1], 0.0, expected[2], 0.0};
  expect_frequencies(histogram(sampled(1.0f, 91), l, 40000), want, 0.015);
  auto p = sampled(1.0f, 92);
  p.top_k = 5;
  p.top_p = 0.95f;
  p.min_p = 0.01f;
  const auto counts = histogram(p, l, 5000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4] + counts[6], 0);
}

TEST(SamplingNonFinite, PositiveInfinityTakesAll) {
  const std::vector<float> l = {1.0f, kInf, 2.0f, kInf, kNaN};
  expect_frequencies(histogram(sampled(1.0f, 93), l, 40000), {0.0, 0.5, 0.0, 0.5, 0.0}, 0.015);
  auto p = sampled(1.0f, 94);
  p.top_k = 1;
  EXPECT_EQ(drawn(histogram(p, l, 1000)), (std::set<int32_t>{1}));
}

TEST(SamplingNonFinite, AllExcludedFallsBackToGreedyOnRawLogits) {
  auto p = sampled(1.0f, 95);
  p.top_k = 3;
  p.top_p = 0.5f;
  sampler s(p);
  const std::vector<float> a = {kNaN, -kInf, kNaN};
  EXPECT_EQ(s.sample(a, {}), 1);
  const std::vector<float> b = {kNaN, kNaN};
  EXPECT_EQ(s.sample(b, {}), 0);
}

TEST(SamplingNonFinite, HugeLogitsDoNotOverflow) {
  const std::vector<float> l = {3e38f, -3e38f, 3e38f, 1e38f};
  expect_frequencies(histogram(sampled(1.0f, 96), l, 40000), {0.5, 0.0, 0.5, 0.0}, 0.015);
  // At temperature 1e38 the scaled logits are 3, -3, 3, 1.
  expect_frequencies(histogram(sampled(1e38f, 97), l, 40000), softmax(l, 1e38), 0.015);
}

}  // namespace
}  // namespace tome
