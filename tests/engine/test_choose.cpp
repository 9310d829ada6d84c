// tome::choose against brute force: every candidate scored by teacher forcing (logits_for), on
// random built-in models of every self-decoder kind. The search must pick the most likely
// candidate with its log-probability, leave the session exactly where it was, stay within its
// step budget, keep working with no marks at all (every return to a prefix replayed), and refuse
// bad candidates with a message.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>

#include "backend_case.h"
#include "tome/choose.h"
#include "tome/engine.h"

namespace tome {
namespace {

using choose_case = test::backend_case;

std::shared_ptr<model> tiny(const choose_case& c, uint64_t seed = 7) {
  auto cfg = builtin_config(c.model);
  EXPECT_TRUE(cfg.ok()) << cfg.message();
  auto m = model::create_random(*cfg, seed, {c.kind, 0});
  EXPECT_TRUE(m.ok()) << m.message();
  return *m;
}

// How far two computations of one log-probability may differ: the search decodes, brute force
// scores by logits_for (on CUDA another kernel path in bf16).
double tolerance(const choose_case& c) { return c.kind == backend_kind::cuda ? 0.05 : 1e-3; }

std::vector<int32_t> random_tokens(size_t n, std::mt19937& rng, int32_t lo = 0, int32_t hi = 511) {
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

// Candidates sharing prefixes as file paths do: a few "directories", then "names" of 0-3 tokens,
// some of them prefixes of others, one duplicate. Token 2 (the end) never occurs inside.
std::vector<std::vector<int32_t>> candidate_set(std::mt19937& rng, size_t n) {
  std::vector<std::vector<int32_t>> dirs;
  for (int d = 0; d < 4; ++d) dirs.push_back(random_tokens(1 + rng() % 3, rng, 3));
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i < n; ++i) {
    auto c = dirs[rng() % dirs.size()];
    const auto name = random_tokens(rng() % 4, rng, 3);
    c.insert(c.end(), name.begin(), name.end());
    out.push_back(c);
  }
  out.push_back(dirs[0]);      // a prefix of others
  out.push_back(out[1]);       // a duplicate: the first of the two is reported
  return out;
}

// log p(c, end | s) by teacher forcing, s left as it was.
double brute_logprob(session& s, const std::vector<int32_t>& c, int32_t end) {
  auto mk = s.mark();
  EXPECT_TRUE(mk.ok());
  auto first = s.logits();
  EXPECT_TRUE(first.ok());
  std::vector<std::vector<float>> rows{{first->begin(), first->end()}};
  if (!c.empty()) {
    std::vector<float> out;
    EXPECT_TRUE(s.logits_for(c, out).ok());
    const size_t V = rows[0].size();
    for (size_t i = 0; i < c.size(); ++i)
      rows.emplace_back(out.begin() + static_cast<std::ptrdiff_t>(i * V),
                        out.begin() + static_cast<std::ptrdiff_t>((i + 1) * V));
  }
  EXPECT_TRUE(s.rewind(*mk).ok());
  double lp = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    double mx = -INFINITY, sum = 0;
    for (float x : r) mx = std::max(mx, static_cast<double>(x));
    for (float x : r) sum += std::exp(static_cast<double>(x) - mx);
    const int32_t t = i < c.size() ? c[i] : end;
    lp += static_cast<double>(r[static_cast<size_t>(t)]) - (mx + std::log(sum));
  }
  return lp;
}

using Choose = test::BackendCaseTest;

TEST_P(Choose, PicksTheMostLikelyCandidateAndLeavesTheSessionAsItWas) {
  auto m = tiny(GetParam());
  std::mt19937 rng(5);
  int64_t replays_without_marks = 0;
  for (int trial = 0; trial < 6; ++trial) {
    auto s = session::create(m);
    ASSERT_TRUE(s.ok());
    prefill_params pp;
    pp.compute_logits = trial % 2 == 0;  // logits computed on demand by choose otherwise
    ASSERT_TRUE((*s)->prefill(random_tokens(20 + trial * 13, rng), pp).ok());
    const auto before_tokens = (*s)->tokens();
    auto lg = (*s)->logits();
    const std::vector<float> before_logits(lg->begin(), lg->end());
    const auto cands = candidate_set(rng, 6 + static_cast<size_t>(trial) * 4);
    std::vector<double> brute;
    for (const auto& c : cands) brute.push_back(brute_logprob(**s, c, 2));
    const size_t best = static_cast<size_t>(std::max_element(brute.begin(), brute.end()) - brute.begin());
    int64_t replays_with_marks = 0;
    for (int64_t mark_bytes : {int64_t{1} << 30, int64_t{0}}) {  // marks, then replays only
      choose_params cp;
      cp.max_mark_bytes = mark_bytes;
      auto r = choose(**s, cands, 2, cp);
      ASSERT_TRUE(r.ok()) << r.message();
      EXPECT_TRUE(r->proven);
      EXPECT_GT(r->steps, 0);
      ASSERT_LT(r->index, cands.size());
      // The same candidate as brute force, unless another is within rounding of it.
      EXPECT_NEAR(r->logprob, brute[r->index], tolerance(GetParam())) << "trial " << trial;
      EXPECT_NEAR(r->logprob, brute[best], tolerance(GetParam())) << "trial " << trial << ": chose " << r->index
                                                 << ", brute force " << best;
      if (r->index != best) {
        EXPECT_NE(cands[r->index], cands[best]);
      }
      EXPECT_NE(r->index, cands.size() - 1) << "the duplicate's first copy is reported";
      if (mark_bytes == 0) {
        EXPECT_GE(r->replayed, replays_with_marks) << "trial " << trial;
        replays_without_marks += r->replayed;
      } else {
        replays_with_marks = r->replayed;
      }
      EXPECT_EQ((*s)->tokens(), before_tokens);
      auto after = (*s)->logits();
      ASSERT_TRUE(after.ok());
      for (size_t i = 0; i < before_logits.size(); ++i) ASSERT_EQ((*after)[i], before_logits[i]);
    }
  }
  EXPECT_GT(replays_without_marks, 0) << "no trial returned to a prefix off the current branch";
}

TEST_P(Choose, ScoresEveryCandidateWhenAsked) {
  auto m = tiny(GetParam());
  std::mt19937 rng(11);
  for (int trial = 0; trial < 3; ++trial) {
    auto s = session::create(m);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->prefill(random_tokens(30 + trial * 17, rng)).ok());
    const auto before_tokens = (*s)->tokens();
    const auto cands = candidate_set(rng, 8 + static_cast<size_t>(trial) * 5);
    choose_params cp;
    cp.max_mark_bytes = trial == 2 ? 0 : int64_t{1} << 30;  // the last trial replays every return
    cp.score_all = true;
    auto all = choose(**s, cands, 2, cp);
    ASSERT_TRUE(all.ok()) << all.message();
    auto one = choose(**s, cands, 2);  // the plain search: the same choice, fewer steps
    ASSERT_TRUE(one.ok()) << one.message();
    ASSERT_EQ(all->logprobs.size(), cands.size());
    EXPECT_EQ(all->index, one->index);
    EXPECT_GE(all->steps, one->steps);
    for (size_t i = 0; i < cands.size(); ++i) {
      EXPECT_NEAR(all->logprobs[i], brute_logprob(**s, cands[i], 2), tolerance(GetParam()))
          << "trial " << trial << ", candidate " << i;
      EXPECT_LE(all->logprobs[i], all->logprob + 1e-12) << "the choice is the most likely";
    }
    EXPECT_EQ(all->logprobs[cands.size() - 1], all->logprobs[1]) << "a duplicate scores as its first copy";
    EXPECT_EQ((*s)->tokens(), before_tokens);
    // A step budget too small for the whole tree is an error, not a partial answer.
    cp.max_steps = 1;
    auto cut = choose(**s, cands, 2, cp);
    ASSERT_FALSE(cut.ok());
    EXPECT_NE(cut.message().find("max_steps"), std::string::npos) << cut.message();
    EXPECT_EQ((*s)->tokens(), before_tokens);
  }
}

// With a prior, the search maximises log p(c) - w * prior[c] (calibration) and still stops
// early: the same candidate as brute force over every candidate's calibrated score.
TEST_P(Choose, CalibratedByAPriorPicksTheBestCalibratedScore) {
  auto m = tiny(GetParam());
  std::mt19937 rng(23);
  std::uniform_real_distribution<double> u(-12.0, 0.0);
  int differs = 0;
  for (int trial = 0; trial < 6; ++trial) {
    auto s = session::create(m);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->prefill(random_tokens(25 + trial * 9, rng)).ok());
    const auto before_tokens = (*s)->tokens();
    const auto cands = candidate_set(rng, 8 + static_cast<size_t>(trial) * 3);
    std::vector<double> prior(cands.size());
    for (auto& v : prior) v = u(rng);
    for (size_t i = 0; i < cands.size(); ++i)  // equal candidates have one prior, as score_all gives
      for (size_t j = 0; j < i; ++j)
        if (cands[j] == cands[i]) {
          prior[i] = prior[j];
          break;
        }
    std::vector<double> brute;
    for (const auto& c : cands) brute.push_back(brute_logprob(**s, c, 2));
    for (double w : {0.5, 1.0}) {
      size_t best = 0;
      for (size_t i = 1; i < cands.size(); ++i)
        if (brute[i] - w * prior[i] > brute[best] - w * prior[best]) best = i;
      const size_t plain = static_cast<size_t>(std::max_element(brute.begin(), brute.end()) - brute.begin());
      choose_params cp;
      cp.prior = prior;
      cp.prior_weight = w;
      auto r = choose(**s, cands, 2, cp);
      ASSERT_TRUE(r.ok()) << r.message();
      EXPECT_TRUE(r->proven);
      ASSERT_LT(r->index, cands.size());
      EXPECT_NEAR(r->logprob, brute[r->index], tolerance(GetParam()));
      EXPECT_NEAR(r->score, brute[r->index] - w * prior[r->index], tolerance(GetParam()));
      EXPECT_NEAR(r->score, brute[best] - w * prior[best], tolerance(GetParam()))
          << "trial " << trial << " w " << w << ": chose " << r->index << ", brute force " << best;
      differs += best != plain;
      cp.score_all = true;  // the full traversal agrees
      auto all = choose(**s, cands, 2, cp);
      ASSERT_TRUE(all.ok()) << all.message();
      EXPECT_NEAR(all->score, r->score, 1e-9);
      EXPECT_EQ((*s)->tokens(), before_tokens);
    }
    // A prior of the wrong size, or a negative weight, is refused.
    choose_params bad;
    const std::vector<double> short_prior(prior.begin(), prior.end() - 1);
    bad.prior = short_prior;
    bad.prior_weight = 0.5;
    auto r = choose(**s, cands, 2, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("prior"), std::string::npos) << r.message();
    bad.prior = prior;
    bad.prior_weight = -1;
    EXPECT_FALSE(choose(**s, cands, 2, bad).ok());
    EXPECT_EQ((*s)->tokens(), before_tokens);
  }
  EXPECT_GT(differs, 0) << "no trial where the prior changed the choice: the test shows nothing";
}

TEST_P(Choose, AStepBudgetEndsWithACandidateNotProvenBest) {
  auto m = tiny(GetParam());
  std::mt19937 rng(9);
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(40, rng)).ok());
  const auto cands = candidate_set(rng, 30);
  choose_params cp;
  cp.max_steps = 1;
  auto r = choose(**s, cands, 2, cp);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_LT(r->index, cands.size());
  EXPECT_NEAR(r->logprob, brute_logprob(**s, cands[r->index], 2), tolerance(GetParam()));
  // One step, then at most one more per token of the finishing path.
  size_t longest = 0;
  for (const auto& c : cands) longest = std::max(longest, c.size());
  EXPECT_LE(r->steps, 1 + static_cast<int64_t>(longest));
  choose_params full;
  auto best = choose(**s, cands, 2, full);
  ASSERT_TRUE(best.ok());
  EXPECT_GE(best->logprob, r->logprob - 1e-9);
  if (!r->proven) {
    EXPECT_GT(best->steps, 1);
  }
  EXPECT_EQ((*s)->n_tokens(), 40);
}

TEST_P(Choose, ASingleCandidateAndAnEmptyOne) {
  auto m = tiny(GetParam());
  std::mt19937 rng(3);
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(10, rng)).ok());
  const std::vector<std::vector<int32_t>> one{{5, 6, 7}};
  auto r = choose(**s, one, 2);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->index, 0u);
  EXPECT_NEAR(r->logprob, brute_logprob(**s, one[0], 2), tolerance(GetParam()));
  EXPECT_EQ(r->steps, 3);  // every token decoded once, the end scored from the last logits
  const std::vector<std::vector<int32_t>> empty_one{{}, {9}};
  auto e = choose(**s, empty_one, 2);
  ASSERT_TRUE(e.ok()) << e.message();
  const double lp0 = brute_logprob(**s, {}, 2), lp1 = brute_logprob(**s, {9}, 2);
  if (std::abs(lp0 - lp1) > tolerance(GetParam())) {
    EXPECT_EQ(e->index, lp0 > lp1 ? 0u : 1u);
  }
}

TEST_P(Choose, RefusesBadCandidatesAndStopsWhenCancelled) {
  auto m = tiny(GetParam());
  std::mt19937 rng(4);
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(10, rng)).ok());
  auto msg = [&](std::vector<std::vector<int32_t>> c, int32_t end) {
    auto r = choose(**s, c, end);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ((*s)->n_tokens(), 10);
    return r.ok() ? std::string() : r.message();
  };
  EXPECT_NE(msg({}, 2).find("no candidates"), std::string::npos);
  EXPECT_NE(msg({{4, 512}}, 2).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(msg({{4, -1}}, 2).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(msg({{4}}, 512).find("end token"), std::string::npos);
  EXPECT_NE(msg({{4, 2, 5}}, 2).find("contains the end token"), std::string::npos);
  const int64_t room = m->config().max_context - 10;
  EXPECT_NE(msg({std::vector<int32_t>(static_cast<size_t>(room + 1), 4)}, 2).find("does not fit"),
            std::string::npos);
  std::atomic<bool> cancel{true};
  choose_params cp;
  cp.cancel = &cancel;
  auto r = choose(**s, candidate_set(rng, 8), 2, cp);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "cancelled");
  EXPECT_EQ((*s)->n_tokens(), 10);
}

// file_paths reads the "<|file|>{path}\n" headers the way the training rows and the app's
// repository ingest write them (the shipped model's tokenizer).
TEST(ChooseFilePaths, ReadsEveryHeaderOnceAndSkipsBrokenOnes) {
  const std::filesystem::path dir = std::filesystem::path(TOME_SOURCE_DIR) / "resources/models/tome-25m";
  auto cfg = load_model_config(dir / "config.json");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  auto tok = tokenizer::load(dir / "tokenizer.model", *cfg);
  ASSERT_TRUE(tok.ok()) << tok.message();
  const int32_t file = cfg->special_id("file_start");
  ASSERT_GE(file, 0);
  std::vector<int32_t> t{cfg->special_id("bos"), cfg->special_id("doc_start")};
  auto add = [&](const std::string& text) {
    auto ids = (*tok)->encode(text);
    t.insert(t.end(), ids.begin(), ids.end());
  };
  t.push_back(file);
  add("src/jv_parse.c\nint jv_parse(void) {\n  return 0;\n}\n");  // training: one encode
  t.push_back(file);
  add("include/jv.h\n");  // the app: the header line encoded alone, then the text
  add("int jv_parse(void);\n");
  t.push_back(file);
  add("src/jv_parse.c\nagain\n");  // a duplicate
  t.push_back(file);
  add("docs/Ünïcode name.md\n# title\n");
  t.push_back(file);
  t.push_back(cfg->special_id("doc_end"));  // cut by a special token: skipped
  t.push_back(file);
  add("no_line_end");  // cut by the end: skipped
  const auto paths = file_paths(**tok, t, file);
  EXPECT_EQ(paths, (std::vector<std::string>{"src/jv_parse.c", "include/jv.h", "docs/Ünïcode name.md"}));
  for (const auto& p : paths) EXPECT_EQ((*tok)->decode((*tok)->encode(p)), p);
}

INSTANTIATE_TEST_SUITE_P(Backends, Choose,
                         ::testing::Values(choose_case{"tiny", backend_kind::cpu},
                                           choose_case{"tiny-swa", backend_kind::cpu},
                                           choose_case{"tiny", backend_kind::cuda},
                                           choose_case{"tiny-swa", backend_kind::cuda}),
                         test::backend_case_name);

}  // namespace
}  // namespace tome
