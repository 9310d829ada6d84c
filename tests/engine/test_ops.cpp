// Op tests for the CPU twins (backend/cpu/cpu_ops.h) against naive double-precision references
// written from YOCO.md, at many shapes: ragged tails, chunk and window edges, state carried
// across calls, long key ranges (split softmax). Error bounds are stated per op below.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/weight_layout.h"
#include "util/simd.h"

namespace tome {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// Parallel (defining) form of gated retention in double:
//   o_t = Σ_{j<=t} (q_t·k_j) Π_{s=j+1..t} γ_s v_j, with an initial state S0 decayed by Π_{s<=t} γ_s.
std::vector<double> retention_parallel(const std::vector<float>& q, const std::vector<float>& k,
                                       const std::vector<float>& v, const std::vector<float>& lg,
                                       const std::vector<float>& s0, int64_t T, int64_t H, int64_t hd) {
  std::vector<double> o(static_cast<size_t>(T * H * hd), 0.0);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < T; ++t) {
      double* ot = &o[static_cast<size_t>((t * H + h) * hd)];
      double decay_all = 0;
      for (int64_t s = 0; s <= t; ++s) decay_all += lg[static_cast<size_t>(s * H + h)];
      for (int64_t d = 0; d < hd; ++d)
        for (int64_t e = 0; e < hd; ++e)
          ot[e] += std::exp(decay_all) * q[static_cast<size_t>((t * H + h) * hd + d)] *
                   s0[static_cast<size_t>((h * hd + d) * hd + e)];
      for (int64_t j = 0; j <= t; ++j) {
        double dot = 0, decay = 0;
        for (int64_t d = 0; d < hd; ++d)
          dot += static_cast<double>(q[static_cast<size_t>((t * H + h) * hd + d)]) * k[static_cast<size_t>((j * H + h) * hd + d)];
        for (int64_t s = j + 1; s <= t; ++s) decay += lg[static_cast<size_t>(s * H + h)];
        for (int64_t e = 0; e < hd; ++e) ot[e] += dot * std::exp(decay) * v[static_cast<size_t>((j * H + h) * hd + e)];
      }
    }
  return o;
}

struct retention_case {
  int64_t T, H, hd, chunk;
};

class GatedRetention : public ::testing::TestWithParam<retention_case> {};

// Bound: 2e-4 absolute on outputs of magnitude ~1-10 (f32 accumulation over <= 200 terms).
TEST_P(GatedRetention, ChunkwiseMatchesParallel) {
  const auto [T, H, hd, chunk] = GetParam();
  const size_t n = static_cast<size_t>(T * H * hd);
  auto q = randn(n, 1), k = randn(n, 2, 0.25f), v = randn(n, 3);
  auto gt = randn(static_cast<size_t>(T * H), 4, 3.0f);
  cpu::retention_log_gamma(gt.data(), T * H, 16.0f);
  auto s0 = randn(static_cast<size_t>(H * hd * hd), 5, 0.1f);
  auto ref = retention_parallel(q, k, v, gt, s0, T, H, hd);
  std::vector<float> state = s0, o(n);
  cpu::gated_retention(q.data(), k.data(), v.data(), gt.data(), state.data(), o.data(), T, H, hd, chunk);
  EXPECT_LT(max_abs_diff(o, ref), 2e-4);
}

// Recurrent form (one row per call) and the state carried across calls of uneven size agree
// with one chunkwise call.
TEST_P(GatedRetention, RecurrentAndSplitCallsMatchOneCall) {
  const auto [T, H, hd, chunk] = GetParam();
  const size_t n = static_cast<size_t>(T * H * hd), row = static_cast<size_t>(H * hd);
  auto q = randn(n, 11), k = randn(n, 12, 0.25f), v = randn(n, 13);
  auto gt = randn(static_cast<size_t>(T * H), 14, 3.0f);
  cpu::retention_log_gamma(gt.data(), T * H, 16.0f);
  std::vector<float> s_one(static_cast<size_t>(H * hd * hd), 0.0f), o_one(n);
  cpu::gated_retention(q.data(), k.data(), v.data(), gt.data(), s_one.data(), o_one.data(), T, H, hd, chunk);
  std::vector<float> s_rec(s_one.size(), 0.0f), o_rec(n);
  for (int64_t t = 0; t < T; ++t)
    cpu::gated_retention(q.data() + t * row, k.data() + t * row, v.data() + t * row, gt.data() + t * H,
                         s_rec.data(), o_rec.data() + t * row, 1, H, hd, chunk);
  std::vector<float> s_split(s_one.size(), 0.0f), o_split(n);
  for (int64_t t0 = 0, step = 1; t0 < T; t0 += step, step = step * 2 + 1) {
    const int64_t len = std::min(step, T - t0);
    cpu::gated_retention(q.data() + t0 * row, k.data() + t0 * row, v.data() + t0 * row, gt.data() + t0 * H,
                         s_split.data(), o_split.data() + t0 * row, len, H, hd, chunk);
  }
  for (size_t i = 0; i < n; ++i) {
    ASSERT_NEAR(o_rec[i], o_one[i], 2e-4) << "recurrent, element " << i;
    ASSERT_NEAR(o_split[i], o_one[i], 2e-4) << "split calls, element " << i;
  }
  for (size_t i = 0; i < s_one.size(); ++i) ASSERT_NEAR(s_rec[i], s_one[i], 2e-4) << "state " << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, GatedRetention,
                         ::testing::Values(retention_case{1, 1, 2, 64}, retention_case{5, 2, 4, 1},
                                           retention_case{63, 3, 8, 64}, retention_case{64, 2, 16, 64},
                                           retention_case{65, 2, 16, 64}, retention_case{150, 4, 8, 7},
                                           retention_case{200, 1, 32, 64}));

TEST(GatedRetentionGate, LogGammaIsLogSigmoidOverTemperature) {
  std::vector<float> g = {-30.0f, -2.0f, 0.0f, 3.0f, 40.0f};
  const std::vector<float> x = g;
  cpu::retention_log_gamma(g.data(), static_cast<int64_t>(g.size()), 16.0f);
  for (size_t i = 0; i < g.size(); ++i) {
    const double ref = -std::log1p(std::exp(-static_cast<double>(x[i]))) / 16.0;
    EXPECT_NEAR(g[i], ref, 1e-6 + 1e-6 * std::abs(ref));
    EXPECT_LT(g[i], 0.0f);
  }
}

std::vector<double> attention_ref(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int64_t rows, int64_t pos0,
                                  int64_t hq, int64_t hkv, int64_t hd, int64_t window) {
  // q rows at positions pos0..; k/v hold positions 0..pos0+rows-1; window 0 = causal only.
  std::vector<double> o(static_cast<size_t>(rows * hq * hd), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t g = h / (hq / hkv), p = pos0 + r;
      const int64_t first = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      std::vector<double> s;
      double m = -1e300;
      for (int64_t j = first; j <= p; ++j) {
        double d = 0;
        for (int64_t e = 0; e < hd; ++e)
          d += static_cast<double>(q[static_cast<size_t>((r * hq + h) * hd + e)]) * k[static_cast<size_t>((j * hkv + g) * hd + e)];
        s.push_back(d / std::sqrt(static_cast<double>(hd)));
        m = std::max(m, s.back());
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - m));
      for (int64_t j = first; j <= p; ++j)
        for (int64_t e = 0; e < hd; ++e)
          o[static_cast<size_t>((r * hq + h) * hd + e)] += s[static_cast<size_t>(j - first)] / sum * v[static_cast<size_t>((j * hkv + g) * hd + e)];
    }
  return o;
}

struct cross_case {
  int64_t rows, pos0, hq, hkv, hd;
};
class CrossAttn : public ::testing::TestWithParam<cross_case> {};

// Bound: 1e-5 absolute (softmax-weighted averages of unit-scale values).
TEST_P(CrossAttn, MatchesReferenceWithGqaAndCausalBottomRight) {
  const auto [rows, pos0, hq, hkv, hd] = GetParam();
  const int64_t n = pos0 + rows;
  auto q = randn(static_cast<size_t>(rows * hq * hd), 21);
  auto k = randn(static_cast<size_t>(n * hkv * hd), 22);
  auto v = randn(static_cast<size_t>(n * hkv * hd), 23);
  std::vector<float> o(q.size());
  cpu::cross_attn(q.data(), k.data(), v.data(), o.data(), rows, pos0, hq, hkv, hd);
  EXPECT_LT(max_abs_diff(o, attention_ref(q, k, v, rows, pos0, hq, hkv, hd, 0)), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossAttn,
                         ::testing::Values(cross_case{1, 0, 1, 1, 2}, cross_case{7, 0, 4, 2, 16},
                                           cross_case{1, 100, 6, 2, 64}, cross_case{3, 9000, 4, 1, 32},
                                           cross_case{1, 20000, 8, 8, 16}, cross_case{33, 5, 6, 3, 8}));

// Attention mass of one query: the head-averaged softmax weights, against a float64 reference;
// they sum to 1. Bound 1e-6 absolute per key (weights are at most 1).
TEST(AttentionMass, MatchesReferenceAndSumsToOne) {
  for (auto [n, hq, hkv, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 1, 2}, {37, 4, 2, 16},
                                {9000, 6, 2, 64}, {5000, 8, 8, 32}}) {
    auto q = randn(static_cast<size_t>(hq * hd), 31);
    auto k = randn(static_cast<size_t>(n * hkv * hd), 32);
    for (auto& x : q) x *= 2.0f;  // peaked distributions, not near-uniform ones
    std::vector<float> mass(static_cast<size_t>(n));
    cpu::attention_mass(q.data(), k.data(), n, hq, hkv, hd, mass.data());
    std::vector<double> ref(static_cast<size_t>(n), 0.0);
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t g = h / (hq / hkv);
      std::vector<double> s(static_cast<size_t>(n));
      double m = -1e300, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        double d = 0;
        for (int64_t e = 0; e < hd; ++e)
          d += static_cast<double>(q[static_cast<size_t>(h * hd + e)]) * k[static_cast<size_t>((j * hkv + g) * hd + e)];
        s[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(hd));
        m = std::max(m, s[static_cast<size_t>(j)]);
      }
      for (double& x : s) sum += (x = std::exp(x - m));
      for (int64_t j = 0; j < n; ++j) ref[static_cast<size_t>(j)] += s[static_cast<size_t>(j)] / sum / static_cast<double>(hq);
    }
    double total = 0, worst = 0;
    for (int64_t j = 0; j < n; ++j) {
      total += mass[static_cast<size_t>(j)];
      worst = std::max(worst, std::abs(mass[static_cast<size_t>(j)] - ref[static_cast<size_t>(j)]));
    }
    EXPECT_LT(worst, 1e-6) << "n " << n;
    EXPECT_NEAR(total, 1.0, 1e-4) << "n " << n;
  }
}

// Weighted heads (the pointer's): sum_h w[h] softmax_h, heads of weight 0 left out; `accumulate`
// adds to what the output holds. Against the unweighted form computed per single head.
TEST(AttentionMass, WeightedHeadsAndAccumulation) {
  const int64_t n = 3000, hq = 6, hkv = 2, hd = 32;
  auto q = randn(static_cast<size_t>(hq * hd), 41);
  auto k = randn(static_cast<size_t>(n * hkv * hd), 42);
  for (auto& x : q) x *= 2.0f;
  // Each head alone: a one-head query over its KV head's keys.
  std::vector<std::vector<float>> per(static_cast<size_t>(hq), std::vector<float>(static_cast<size_t>(n)));
  for (int64_t h = 0; h < hq; ++h) {
    const int64_t g = h / (hq / hkv);
    std::vector<float> kh(static_cast<size_t>(n * hd));
    for (int64_t j = 0; j < n; ++j)
      std::copy_n(k.data() + (j * hkv + g) * hd, hd, kh.data() + j * hd);
    cpu::attention_mass(q.data() + h * hd, kh.data(), n, 1, 1, hd, per[static_cast<size_t>(h)].data());
  }
  const std::vector<float> w{0.0f, 0.25f, 0.0f, 0.5f, 0.25f, 0.0f};
  std::vector<float> mass(static_cast<size_t>(n), 123.0f);
  cpu::attention_mass(q.data(), k.data(), n, hq, hkv, hd, mass.data(), w.data());
  double total = 0;
  for (int64_t j = 0; j < n; ++j) {
    double ref = 0;
    for (int64_t h = 0; h < hq; ++h) ref += w[static_cast<size_t>(h)] * per[static_cast<size_t>(h)][static_cast<size_t>(j)];
    ASSERT_NEAR(mass[static_cast<size_t>(j)], ref, 1e-6) << j;
    total += mass[static_cast<size_t>(j)];
  }
  EXPECT_NEAR(total, 1.0, 1e-4) << "weights summing to 1 give a distribution (the old values are overwritten)";
  std::vector<float> acc(mass);
  const std::vector<float> w2{1.0f, 0, 0, 0, 0, 0};
  cpu::attention_mass(q.data(), k.data(), n, hq, hkv, hd, acc.data(), w2.data(), true);
  for (int64_t j = 0; j < n; ++j)
    ASSERT_NEAR(acc[static_cast<size_t>(j)], mass[static_cast<size_t>(j)] + per[0][static_cast<size_t>(j)], 1e-6) << j;
}

struct swa_case {
  int64_t total, window, first_call, hd, heads;
};
class SlidingWindow : public ::testing::TestWithParam<swa_case> {};

// Two calls (the ring carries the last W-1 rows of the first) match the reference over all rows.
TEST_P(SlidingWindow, MatchesReferenceAcrossCallsAndWindowEdges) {
  const auto [T, W, T1, hd, H] = GetParam();
  const int64_t D = H * hd;
  auto q = randn(static_cast<size_t>(T * D), 31), k = randn(static_cast<size_t>(T * D), 32),
       v = randn(static_cast<size_t>(T * D), 33);
  std::vector<float> o(q.size());
  cpu::sliding_window_attn(q.data(), k.data(), v.data(), nullptr, nullptr, 0, o.data(), T1, H, hd, W);
  const int64_t ring = std::min(T1, W - 1);
  const float* rk = k.data() + (T1 - ring) * D;
  const float* rv = v.data() + (T1 - ring) * D;
  cpu::sliding_window_attn(q.data() + T1 * D, k.data() + T1 * D, v.data() + T1 * D, rk, rv, ring,
                           o.data() + T1 * D, T - T1, H, hd, W);
  EXPECT_LT(max_abs_diff(o, attention_ref(q, k, v, T, 0, H, H, hd, W)), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SlidingWindow,
                         ::testing::Values(swa_case{20, 1, 5, 4, 2}, swa_case{20, 2, 1, 4, 2},
                                           swa_case{40, 8, 7, 8, 3}, swa_case{40, 8, 8, 8, 3},
                                           swa_case{40, 8, 9, 8, 3}, swa_case{100, 64, 70, 16, 2},
                                           swa_case{30, 50, 10, 8, 1}));

// A query sees exactly W keys including itself: changing key p-W changes nothing at p,
// changing key p-W+1 changes the output at p (trap 8: W-1 instead of W).
TEST(SlidingWindowEdge, WindowHoldsExactlyWKeysIncludingSelf) {
  const int64_t T = 12, W = 4, hd = 4, H = 1;
  auto q = randn(static_cast<size_t>(T * hd), 41), k = randn(q.size(), 42), v = randn(q.size(), 43);
  std::vector<float> base(q.size()), changed(q.size());
  cpu::sliding_window_attn(q.data(), k.data(), v.data(), nullptr, nullptr, 0, base.data(), T, H, hd, W);
  const int64_t p = 9;
  auto v2 = v;
  for (int64_t e = 0; e < hd; ++e) v2[static_cast<size_t>((p - W) * hd + e)] += 5.0f;
  cpu::sliding_window_attn(q.data(), k.data(), v2.data(), nullptr, nullptr, 0, changed.data(), T, H, hd, W);
  for (int64_t e = 0; e < hd; ++e) EXPECT_EQ(base[static_cast<size_t>(p * hd + e)], changed[static_cast<size_t>(p * hd + e)]);
  auto v3 = v;
  for (int64_t e = 0; e < hd; ++e) v3[static_cast<size_t>((p - W + 1) * hd + e)] += 5.0f;
  cpu::sliding_window_attn(q.data(), k.data(), v3.data(), nullptr, nullptr, 0, changed.data(), T, H, hd, W);
  double diff = 0;
  for (int64_t e = 0; e < hd; ++e) diff += std::abs(base[static_cast<size_t>(p * hd + e)] - changed[static_cast<size_t>(p * hd + e)]);
  EXPECT_GT(diff, 1e-3);
}

// Interleaved pairs with theta^-linspace(0,1,hd/2) frequencies (trap 2).
TEST(Rope, InterleavedPairsWithLinspaceFrequencies) {
  const int64_t hd = 8, heads = 2, rows = 3, pos0 = 5;
  const double theta = 10000.0;
  auto f = cpu::rope_inv_freq(hd, theta);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_NEAR(f[3], 1.0 / theta, 1e-9);
  EXPECT_NEAR(f[1], std::pow(theta, -1.0 / 3.0), 1e-7);
  auto x = randn(static_cast<size_t>(rows * heads * hd), 51);
  auto y = x;
  cpu::rope(y.data(), rows, heads, hd, pos0, f.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < hd / 2; ++i) {
        const size_t b = static_cast<size_t>((r * heads + h) * hd + 2 * i);
        const double a = static_cast<double>(static_cast<float>(pos0 + r) * f[static_cast<size_t>(i)]);
        EXPECT_NEAR(y[b], x[b] * std::cos(a) - x[b + 1] * std::sin(a), 1e-5);
        EXPECT_NEAR(y[b + 1], x[b + 1] * std::cos(a) + x[b] * std::sin(a), 1e-5);
      }
}

TEST(RmsNorm, MatchesDefinitionWithAndWithoutWeight) {
  const int64_t rows = 3, dim = 37;
  auto x = randn(static_cast<size_t>(rows * dim), 61, 3.0f), w = randn(static_cast<size_t>(dim), 62);
  std::vector<float> y(x.size()), y2(x.size());
  cpu::rms_norm(x.data(), w.data(), y.data(), rows, dim, 1e-5f);
  cpu::rms_norm(x.data(), nullptr, y2.data(), rows, dim, 1e-5f);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t d = 0; d < dim; ++d) ss += static_cast<double>(x[static_cast<size_t>(r * dim + d)]) * x[static_cast<size_t>(r * dim + d)];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (int64_t d = 0; d < dim; ++d) {
      const size_t i = static_cast<size_t>(r * dim + d);
      EXPECT_NEAR(y[i], x[i] * inv * w[static_cast<size_t>(d)], 1e-5);
      EXPECT_NEAR(y2[i], x[i] * inv, 1e-5);
    }
  }
}

// silu on the first (W1) branch, the second (W3) branch linear (trap 6).
TEST(SwiGlu, SiluOnFirstBranchOnly) {
  const std::vector<float> a = {-3.0f, -0.5f, 0.0f, 2.0f}, b = {1.5f, -2.0f, 4.0f, 0.25f};
  std::vector<float> o(4);
  cpu::swiglu(a.data(), b.data(), o.data(), 4);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(o[i], a[i] / (1.0 + std::exp(-a[i])) * b[i], 1e-6);
}

TEST(Linear, MatchesNaiveForOneAndManyRows) {
  for (int64_t rows : {1, 5}) {
    const int64_t in = 19, out = 23;
    auto x = randn(static_cast<size_t>(rows * in), 71), w = randn(static_cast<size_t>(out * in), 72);
    std::vector<float> y(static_cast<size_t>(rows * out));
    cpu::linear(x.data(), rows, w.data(), out, in, y.data());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = 0;
        for (int64_t i = 0; i < in; ++i) s += static_cast<double>(x[static_cast<size_t>(r * in + i)]) * w[static_cast<size_t>(o * in + i)];
        EXPECT_NEAR(y[static_cast<size_t>(r * out + o)], s, 1e-4);
      }
  }
}

// Int8 weight-only twins: linear_i8 == the naive Σ (scale q) x in double (f32 sums of K <= 300
// terms: 1e-4 absolute covers it), and equal to linear() over the dequantised matrix within the same
// bound; dequantize_i8 is scale * q exactly.
TEST(LinearI8, MatchesNaiveAndDequantisedLinear) {
  std::mt19937 rng(73);
  std::uniform_int_distribution<int> qd(-127, 127);
  for (auto [rows, out, in] : {std::tuple<int64_t, int64_t, int64_t>{1, 23, 19}, {4, 7, 300}, {5, 1, 16}}) {
    auto x = randn(static_cast<size_t>(rows * in), 74);
    std::vector<int8_t> q(static_cast<size_t>(out * in));
    for (auto& v : q) v = static_cast<int8_t>(qd(rng));
    std::vector<float> sc(static_cast<size_t>(out)), w(q.size()), y(static_cast<size_t>(rows * out)), y2(y.size());
    for (size_t o = 0; o < sc.size(); ++o) sc[o] = 0.01f * static_cast<float>(o + 1);
    cpu::linear_i8(x.data(), rows, q.data(), sc.data(), out, in, y.data());
    cpu::dequantize_i8(q.data(), sc.data(), out, in, w.data());
    for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(w[i], sc[i / static_cast<size_t>(in)] * static_cast<float>(q[i]));
    cpu::linear(x.data(), rows, w.data(), out, in, y2.data());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = 0;
        for (int64_t i = 0; i < in; ++i)
          s += static_cast<double>(x[static_cast<size_t>(r * in + i)]) * sc[static_cast<size_t>(o)] * q[static_cast<size_t>(o * in + i)];
        EXPECT_NEAR(y[static_cast<size_t>(r * out + o)], s, 1e-4);
        EXPECT_NEAR(y2[static_cast<size_t>(r * out + o)], s, 1e-4);
      }
  }
}

// The int8 quantiser of the loader (export.py's rule): scale = max|row| / 127, q = round half to
// even of w / scale, clamped to ±127; an all-zero row gets scale 0 and zeros; dequantised values
// are within scale / 2 of w.
TEST(QuantizeInt8, ExportRuleRoundHalfEvenAndZeroRows) {
  const std::vector<float> w = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, -127.0f, 3.49f,  // scale 1
                                0.0f,   0.0f, 0.0f, 0.0f, 0.0f,  0.0f,  0.0f,    0.0f};
  std::vector<int8_t> q(w.size());
  std::vector<float> sc(2);
  quantize_int8_rows(w.data(), 2, 8, q.data(), sc.data());
  EXPECT_EQ(sc[0], 1.0f);
  EXPECT_EQ(sc[1], 0.0f);
  const std::vector<int8_t> want = {127, 0, 2, 2, 0, -2, -127, 3, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(q, want);
  auto r = randn(64 * 40, 75);
  std::vector<int8_t> rq(r.size());
  std::vector<float> rs(64);
  quantize_int8_rows(r.data(), 64, 40, rq.data(), rs.data());
  for (size_t i = 0; i < r.size(); ++i) {
    const float s = rs[i / 40];
    ASSERT_LE(std::abs(s * rq[i] - r[i]), 0.5f * s * 1.0001f) << i;
  }
}

// exp_approx: relative error below 5e-7 over the softmax range.
TEST(ExpApprox, RelativeErrorOverRange) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.01373f) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(exp_approx(x) - ref) / ref);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_GT(exp_approx(-1e9f), 0.0f);
}

}  // namespace
}  // namespace tome
