// Whole-engine pre-selection (generate_params::preselect_k, tome/sampling.h): a seeded sampled
// generation gives the same tokens with the pre-selection on and off, on the CPU backend (the
// host twin, backend::decode_select's default) and on CUDA (the device kernel; skipped without a
// GPU), for parameter sets that take the candidate path (top_k, min_p, greedy, with the
// repetition penalty) and ones that fall back (top_p alone). Small preselect_k on a 512-token
// vocabulary makes both the candidate path and the min-p fallback frequent, and repeated tokens
// (so the penalty's history must include each new token) likely. tome-25m (an 8,192-token vocabulary)
// generates 16 tokens a set on CUDA and 8 on the CPU instead of 48: on the CPU it is the slowest
// case of the suite under the Debug ASan build (~12 minutes at 48, ~5 at 16). After each generation the session's logits are the
// same bits either way: the ones CUDA keeps on the device after a pre-selected step (fetched by
// session::logits and by session::mark), after a further prefill, and after a rewind to the mark.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend_case.h"
#include "tome/engine.h"
#include "tome/sampling.h"

namespace tome {
namespace {

using preselect_case = test::backend_case;
using Preselect = test::BackendCaseTest;

std::vector<int32_t> prompt(int32_t vocab, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

void check_same_tokens(const preselect_case& param) {
  auto c = builtin_config(param.model);
  ASSERT_TRUE(c.ok()) << c.message();
  auto m = model::create_random(*c, 5, {param.kind, 0});
  ASSERT_TRUE(m.ok()) << m.message();
  const int32_t V = (*m)->config().vocab_size;
  struct set {
    float T;
    int top_k;
    float top_p, min_p, penalty;
    int pre_k;
  };
  const std::vector<set> sets{
      {0.8f, 40, 1.0f, 0.0f, 1.0f, 1024},  // top-k: the candidate path every step
      {1.0f, 20, 1.0f, 0.0f, 1.3f, 32},    // with the penalty over repeated tokens
      {1.2f, 32, 0.9f, 0.05f, 1.5f, 32},   // top_k = preselect_k, then top-p and min-p on them
      {0.9f, 0, 1.0f, 0.2f, 1.2f, 64},     // min-p: candidates or fallback, decided per step
      {1.0f, 0, 1.0f, 0.02f, 1.0f, 16},    // min-p with a small k: mostly fallback
      {1.0f, 0, 0.9f, 0.0f, 1.3f, 1024},   // top-p alone: never pre-selected
      {0.0f, 40, 1.0f, 0.0f, 1.3f, 1024},  // greedy with the penalty: one candidate
      {0.0f, 0, 1.0f, 0.0f, 1.0f, 1024},   // greedy, no penalty (tome ask's default)
  };
  const std::vector<int32_t> p = prompt(V, 40, 3);
  const size_t n_tokens = param.model == std::string("tiny") ? 48 : param.kind == backend_kind::cuda ? 16 : 8;
  std::vector<float> first_prefill;  // every session prefills the same prompt: the same logits each time
  for (size_t i = 0; i < sets.size(); ++i) {
    const set& s = sets[i];
    std::ostringstream what;
    what << param.model << " set " << i << " (T " << s.T << " top_k " << s.top_k << " top_p " << s.top_p
         << " min_p " << s.min_p << " penalty " << s.penalty << " preselect_k " << s.pre_k << ")";
    std::vector<int32_t> got[2];
    std::vector<float> after[2][3];  // logits: after generating, after a prefill, after the rewind
    for (int on = 0; on < 2; ++on) {
      auto sess = session::create(*m);
      ASSERT_TRUE(sess.ok()) << sess.message();
      ASSERT_TRUE((*sess)->prefill(p).ok()) << what.str();
      {
        auto lg0 = (*sess)->logits();  // what generate() samples the first token from
        ASSERT_TRUE(lg0.ok()) << what.str() << ": " << lg0.message();
        if (first_prefill.empty()) first_prefill.assign(lg0->begin(), lg0->end());
        size_t differ = 0;
        for (size_t j = 0; j < first_prefill.size() && j < lg0->size(); ++j)
          differ += std::memcmp(&first_prefill[j], &(*lg0)[j], 4) != 0;
        ASSERT_EQ(differ, 0u) << what.str() << (on ? ", on" : ", off")
                              << ": the prompt's logits differ from the first session's";
      }
      generate_params gp;
      gp.max_tokens = static_cast<int>(n_tokens);
      gp.stop_at_eos = false;
      gp.sampling.temperature = s.T;
      gp.sampling.top_k = s.top_k;
      gp.sampling.top_p = s.top_p;
      gp.sampling.min_p = s.min_p;
      gp.sampling.repetition_penalty = s.penalty;
      gp.sampling.repetition_window = 64;
      gp.sampling.seed = 1234 + i;
      gp.preselect_k = on ? s.pre_k : 0;
      auto r = (*sess)->generate(gp);
      ASSERT_TRUE(r.ok()) << what.str() << ": " << r.message();
      got[on] = r->tokens;
      ASSERT_EQ(got[on].size(), n_tokens) << what.str();
      if (on && param.kind == backend_kind::cuda && preselect_applies(gp.sampling, s.pre_k))  // kept on the device
        EXPECT_GE((*sess)->memory().workspace, int64_t{2} * V * 4) << what.str() << ": the kept logits are not counted";
      auto mk = (*sess)->mark();  // before logits(): the mark takes the kept logits itself
      ASSERT_TRUE(mk.ok()) << what.str() << ": " << mk.message();
      auto lg = (*sess)->logits();
      ASSERT_TRUE(lg.ok()) << what.str() << ": " << lg.message();
      after[on][0].assign(lg->begin(), lg->end());
      ASSERT_TRUE((*sess)->prefill(std::vector<int32_t>{1, 2, 3}).ok()) << what.str();
      lg = (*sess)->logits();
      ASSERT_TRUE(lg.ok()) << what.str() << ": " << lg.message();
      after[on][1].assign(lg->begin(), lg->end());
      ASSERT_TRUE((*sess)->rewind(*mk).ok()) << what.str();
      lg = (*sess)->logits();
      ASSERT_TRUE(lg.ok()) << what.str() << ": " << lg.message();
      after[on][2].assign(lg->begin(), lg->end());
    }
    // The tokens first: a first differing token tells a sampling difference from a step whose
    // logits differ (then every token after it may differ too).
    for (size_t t = 0; t < got[0].size(); ++t)
      ASSERT_EQ(got[1][t], got[0][t]) << what.str() << ": token " << t << " differs with the pre-selection on";
    const char* when[3] = {"after generating", "after a prefill", "after the rewind"};
    for (int w = 0; w < 3; ++w) {
      ASSERT_EQ(after[1][w].size(), after[0][w].size()) << what.str();
      size_t differ = 0, first = 0;
      float worst = 0.0f;
      for (size_t j = 0; j < after[0][w].size(); ++j)
        if (std::memcmp(&after[1][w][j], &after[0][w][j], 4) != 0) {
          if (differ++ == 0) first = j;
          worst = std::max(worst, std::abs(after[1][w][j] - after[0][w][j]));
        }
      ASSERT_EQ(differ, 0u) << what.str() << ": the logits " << when[w] << " differ with the pre-selection on ("
                            << differ << " of " << after[0][w].size() << ", the first at " << first
                            << ", the largest by " << worst << ")";
    }
    ASSERT_EQ(std::memcmp(after[1][2].data(), after[1][0].data(), after[1][0].size() * 4), 0)
        << what.str() << ": the rewind did not restore the marked logits";
  }
}

// Sets an environment variable for the scope, restoring it after.
class env_guard {
 public:
  env_guard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
  }
  ~env_guard() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_P(Preselect, SameTokensOnAndOff) {
  // CUDA: with its decode graphs (the default) and without them (TOME_CUDA_GRAPHS=0: the eager
  // step, whose logits decode_select keeps in another buffer).
  const int passes = GetParam().kind == backend_kind::cuda ? 2 : 1;
  for (int eager = 0; eager < passes; ++eager) {
    const env_guard graphs("TOME_CUDA_GRAPHS", eager ? "0" : nullptr);
    SCOPED_TRACE(eager ? "eager steps (TOME_CUDA_GRAPHS=0)" : "default steps");
    check_same_tokens(GetParam());
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Preselect,
                         ::testing::Values(preselect_case{"tiny", backend_kind::cpu},
                                           preselect_case{"tome-25m", backend_kind::cpu},
                                           preselect_case{"tiny", backend_kind::cuda},
                                           preselect_case{"tome-25m", backend_kind::cuda}),
                         test::backend_case_name);

}  // namespace
}  // namespace tome
