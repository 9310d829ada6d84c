// Pre-selection (tome/sampling.h): sampler::sample_candidates on the candidates of the CPU twin
// tome::select_candidates gives exactly sampler::sample's token on the full logits, draw for
// draw, for many seeds and parameter sets (temperature, top_k, top_p, min_p, repetition penalty)
// on rows with ties, NaN, -inf, +inf, and rows with fewer valid entries than k. Whenever it cannot
// prove that, it must decline (nullopt) and draw nothing, so the full sampler that takes over
// stays aligned; the cases that provably fit (top_k in 1..k, sampled) must never decline.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tome/sampling.h"

namespace tome {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> make_row(int64_t n, std::mt19937& rng, int kind) {
  std::normal_distribution<float> normal(0.0f, kind == 1 ? 8.0f : 1.0f);  // peaked or flat
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) {
    const double r = u(rng);
    switch (kind) {
      case 2:  // ties everywhere, some NaN and -inf
        v = r < 0.03 ? std::numeric_limits<float>::quiet_NaN()
                     : r < 0.06 ? -kInf : 0.5f * static_cast<float>(static_cast<int>(rng() % 12));
        break;
      case 3:  // mostly -inf: fewer valid entries than k
        v = r < 0.97 ? -kInf : normal(rng);
        break;
      case 4:  // a few +inf
        v = r < 0.002 ? kInf : normal(rng);
        break;
      default:
        v = normal(rng);
    }
  }
  return x;
}

std::string describe(const sampling_params& p, int k, int kind, int64_t n) {
  std::ostringstream o;
  o << "T " << p.temperature << " top_k " << p.top_k << " top_p " << p.top_p << " min_p " << p.min_p << " penalty "
    << p.repetition_penalty << " seed " << p.seed << " k " << k << " kind " << kind << " n " << n;
  return o.str();
}

TEST(Preselect, SampleCandidatesEqualsSampleOnTheFullLogits) {
  std::mt19937 rng(11);
  int decided = 0, declined = 0, checked = 0;
  for (int64_t n : {300, 5000}) {
    for (int k : {16, 64, 1024}) {
      for (float T : {0.0f, 0.7f, 1.0f, 1.6f}) {
        for (int top_k : {0, 1, 10, 16, 64, 65, 2000}) {
          for (float top_p : {1.0f, 0.9f}) {
            for (float min_p : {0.0f, 0.05f, 0.3f}) {
              for (float pen : {1.0f, 1.3f}) {
                sampling_params p;
                p.temperature = T;
                p.top_k = top_k;
                p.top_p = top_p;
                p.min_p = min_p;
                p.repetition_penalty = pen;
                p.repetition_window = 48;
                p.seed = rng();
                const int kind = static_cast<int>(rng() % 5);
                const std::string what = describe(p, k, kind, n);
                sampler full(p), pre(p);
                std::vector<int32_t> hist;
                for (int i = 0; i < 40; ++i) hist.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(n)));
                const bool must_decide = T > 0.0f && top_k >= 1 && top_k <= k;
                for (int step = 0; step < 4; ++step) {
                  const std::vector<float> x = make_row(n, rng, kind);
                  const int32_t want = full.sample(x, hist);
                  candidate_set cs;
                  select_candidates(x, penalized_tokens(hist, p, n), p.repetition_penalty, k, cs);
                  ASSERT_LE(cs.items.size(), static_cast<size_t>(k)) << what;
                  const auto got = pre.sample_candidates(cs);
                  if (got) {
                    ++decided;
                    ASSERT_EQ(*got, want) << what << " step " << step;
                  } else {
                    ++declined;
                    ASSERT_FALSE(must_decide && cs.n_valid > 0) << what << " step " << step << ": declined a top-k case";
                    ASSERT_EQ(pre.sample(x, hist), want) << what << " step " << step << " (fallback: streams misaligned?)";
                  }
                  ++checked;
                  hist.push_back(want);
                }
              }
            }
          }
        }
      }
    }
  }
  // Both paths ran many times (the counts are deterministic: fixed seeds).
  EXPECT_GT(decided, checked / 3) << decided << " of " << checked;
  EXPECT_GT(declined, checked / 20) << declined << " of " << checked;
}

// preselect_applies: greedy; sampled with top_k in 1..k, or min_p with top_p off.
TEST(Preselect, AppliesOnlyWhereTheKeptSetCanFit) {
  sampling_params p;
  p.temperature = 0.8f;
  EXPECT_FALSE(preselect_applies(p, 1024)) << "no filter: the whole vocabulary can be drawn";
  p.top_p = 0.9f;
  EXPECT_FALSE(preselect_applies(p, 1024)) << "top_p alone";
  p.min_p = 0.1f;
  EXPECT_FALSE(preselect_applies(p, 1024)) << "top_p before min_p sees the whole mass";
  p.top_p = 1.0f;
  EXPECT_TRUE(preselect_applies(p, 1024));
  p.min_p = 0.0f;
  p.top_k = 1024;
  EXPECT_TRUE(preselect_applies(p, 1024));
  p.top_k = 1025;
  EXPECT_FALSE(preselect_applies(p, 1024));
  p.top_k = 40;
  p.temperature = 0.0f;
  EXPECT_TRUE(preselect_applies(p, 1024)) << "greedy: the first candidate";
  p.top_k = 0;
  EXPECT_TRUE(preselect_applies(p, 1)) << "greedy needs one candidate, whatever the filters";
  EXPECT_FALSE(preselect_applies(p, 0));
}

// The twin: the penalty on distinct in-vocabulary ids of the window, then the k first in the
// order (value, then lower id), in id order; n_valid counts entries neither NaN nor -inf.
TEST(Preselect, TwinSelectsTheFirstKInTheOrder) {
  sampling_params p;
  p.repetition_penalty = 2.0f;
  p.repetition_window = 3;
  const std::vector<int32_t> hist{5, 1, 1, -3, 9, 1};  // window {-3, 9, 1}: 9 out of vocabulary
  const auto pen = penalized_tokens(hist, p, 6);
  EXPECT_EQ(pen, (std::vector<int32_t>{1}));
  const std::vector<float> x{1.0f, 4.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f, -kInf, 2.0f};
  candidate_set cs;
  select_candidates(x, pen, p.repetition_penalty, 3, cs);  // penalised: id 1 → 2.0 (ties ids 3, 5)
  EXPECT_EQ(cs.n_valid, 4);
  ASSERT_EQ(cs.items.size(), 3u);
  EXPECT_EQ(cs.items[0], (token_logit{2.0f, 1}));
  EXPECT_EQ(cs.items[1], (token_logit{2.0f, 3}));
  EXPECT_EQ(cs.items[2], (token_logit{2.0f, 5}));
  select_candidates(x, pen, p.repetition_penalty, 10, cs);
  EXPECT_EQ(cs.items.size(), 4u);
}

// The twin against a plain reference (every valid entry sorted by the order: larger value first,
// lower id on ties; the first k, back in id order), on rows that stress the radix select: ties
// across and inside its digit buckets, -0 and +0 (equal values), NaN, +-inf, subnormals, the
// largest and smallest finite values, penalised ids, rows with fewer valid entries than k, k 0,
// 1 and the vocabulary's size; n up to YOCO-3B's 100,288.
TEST(Preselect, TwinEqualsAFullSortOnHardRows) {
  std::mt19937 rng(5);
  const float special[] = {0.0f, -0.0f, kInf, -kInf, std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest(),
                           std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                           1.0f, std::nextafter(1.0f, 2.0f), -1.0f};
  int rows = 0;
  for (int64_t n : {1, 7, 300, 5000, 100288}) {
    for (int kind = 0; kind < 7; ++kind) {
      std::vector<float> x(static_cast<size_t>(n));
      std::normal_distribution<float> normal(0.0f, kind == 1 ? 30.0f : 1.0f);
      for (float& v : x) {
        const uint32_t r = rng() % 100;
        switch (kind) {
          case 2: v = special[rng() % std::size(special)]; break;                     // specials only
          case 3: v = r < 90 ? -kInf : normal(rng); break;                              // few valid
          case 4: v = static_cast<float>(static_cast<int>(rng() % 5)) * 0.25f; break;  // 5 values
          case 5: v = r < 5 ? special[rng() % std::size(special)] : 1.0f + static_cast<float>(rng() % 64) * 0x1p-23f; break;
          case 6: v = r < 2 ? 1.0f : (rng() & 1 ? 0.0f : -0.0f); break;  // the cut among +0 and -0
          default: v = normal(rng);
        }
      }
      std::vector<int32_t> pen;
      for (int i = 0; i < 40; ++i) pen.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(n)));
      std::sort(pen.begin(), pen.end());
      pen.erase(std::unique(pen.begin(), pen.end()), pen.end());
      for (const float penalty : {1.0f, 1.3f})
        for (const int k : {0, 1, 16, 1024, static_cast<int>(n)}) {
          const std::vector<int32_t> ids = penalty == 1.0f ? std::vector<int32_t>{} : pen;
          std::vector<token_logit> all;
          for (int64_t i = 0; i < n; ++i) {
            float v = x[static_cast<size_t>(i)];
            if (std::binary_search(ids.begin(), ids.end(), static_cast<int32_t>(i))) v = v > 0.0f ? v / penalty : v * penalty;
            if (!std::isnan(v) && v != -kInf) all.emplace_back(v, static_cast<int32_t>(i));
          }
          const int64_t valid = static_cast<int64_t>(all.size());
          std::sort(all.begin(), all.end(), [](const token_logit& a, const token_logit& b) {
            return a.first > b.first || (a.first == b.first && a.second < b.second);
          });
          all.resize(std::min(all.size(), static_cast<size_t>(k)));
          std::sort(all.begin(), all.end(), [](const token_logit& a, const token_logit& b) { return a.second < b.second; });
          candidate_set cs;
          select_candidates(x, ids, penalty, k, cs);
          const std::string what = "n " + std::to_string(n) + " kind " + std::to_string(kind) + " k " +
                                   std::to_string(k) + " penalty " + std::to_string(penalty);
          EXPECT_EQ(cs.n_valid, valid) << what;
          ASSERT_EQ(cs.items.size(), all.size()) << what;
          for (size_t i = 0; i < all.size(); ++i) {
            ASSERT_EQ(cs.items[i].second, all[i].second) << what << " at " << i;
            // the same value (bit for bit, so -0 stays -0 and the penalised value is the same)
            ASSERT_EQ(std::bit_cast<uint32_t>(cs.items[i].first), std::bit_cast<uint32_t>(all[i].first)) << what;
          }
          ++rows;
        }
    }
  }
  EXPECT_EQ(rows, 5 * 7 * 2 * 5);
}

}  // namespace
}  // namespace tome
