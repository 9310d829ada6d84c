// tome::choose against brute force: every candidate scored by teacher forcing (logits_for), on
// random built-in models of every self-decoder kind. The search must pick the most likely
// candidate with its log-probability, leave the session exactly where it was, stay within its
// step budget, keep working with no marks at all (every return to a prefix replayed), and refuse
// bad candidates with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <cctype>
#include <unistd.h>
#include <fstream>
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

// The shipped model's config and tokenizer (the header layout of the training rows and the ingest).
void load_shipped(model_config& cfg, std::unique_ptr<tokenizer>& tok) {
  const std::filesystem::path dir = std::filesystem::path(TOME_SOURCE_DIR) / "resources/models/tome-25m";
  auto c = load_model_config(dir / "config.json");
  ASSERT_TRUE(c.ok()) << c.message();
  cfg = *c;
  auto t = tokenizer::load(dir / "tokenizer.model", cfg);
  ASSERT_TRUE(t.ok()) << t.message();
  tok = std::move(*t);
}

// file_paths reads the "<|file|>{path}\n" headers the way the training rows and the app's
// repository ingest write them (the shipped model's tokenizer).
TEST(ChooseFilePaths, ReadsEveryHeaderOnceAndSkipsBrokenOnes) {
  model_config cfg;
  std::unique_ptr<tokenizer> tok;
  ASSERT_NO_FATAL_FAILURE(load_shipped(cfg, tok));
  const int32_t file = cfg.special_id("file_start");
  ASSERT_GE(file, 0);
  std::vector<int32_t> t{cfg.special_id("bos"), cfg.special_id("doc_start")};
  auto add = [&](const std::string& text) {
    auto ids = tok->encode(text);
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
  t.push_back(cfg.special_id("doc_end"));  // cut by a special token: skipped
  t.push_back(file);
  add("no_line_end");  // cut by the end: skipped
  const auto paths = file_paths(*tok, t, file);
  EXPECT_EQ(paths, (std::vector<std::string>{"src/jv_parse.c", "include/jv.h", "docs/Ünïcode name.md"}));
  for (const auto& p : paths) EXPECT_EQ(tok->decode(tok->encode(p)), p);
}

// file_spans and pointer_mass: a header's span runs to the next header, the document's end or
// the limit; restated headers add to their path; masses are summed per path.
TEST(ChoosePointer, FileSpansAndTheirMass) {
  model_config cfg;
  std::unique_ptr<tokenizer> tok;
  ASSERT_NO_FATAL_FAILURE(load_shipped(cfg, tok));
  const int32_t file = cfg.special_id("file_start"), doc_end = cfg.special_id("doc_end");
  std::vector<int32_t> t{cfg.special_id("bos"), cfg.special_id("doc_start")};
  std::vector<int64_t> at;  // where each header starts
  auto add = [&](const std::string& text) {
    auto ids = tok->encode(text);
    t.insert(t.end(), ids.begin(), ids.end());
  };
  for (const char* f : {"a.c\nint a;\n", "b.c\nint b;\n", "a.c\nint a2;\n"}) {  // a.c restated
    at.push_back(static_cast<int64_t>(t.size()));
    t.push_back(file);
    add(f);
  }
  const int64_t end_of_files = static_cast<int64_t>(t.size());
  t.push_back(doc_end);
  add("Which file defines `a`?");
  const auto spans = file_spans(*tok, t, file, doc_end, static_cast<int64_t>(t.size()));
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].path, "a.c");
  EXPECT_EQ(spans[0].begin, at[0]);
  EXPECT_EQ(spans[0].end, at[1]);
  EXPECT_EQ(spans[1].path, "b.c");
  EXPECT_EQ(spans[2].path, "a.c");
  EXPECT_EQ(spans[2].end, end_of_files) << "the document's end closes the last file";
  // A limit inside the second file cuts it and drops the third.
  const auto cut = file_spans(*tok, t, file, doc_end, at[1] + 2);
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_EQ(cut[1].end, at[1] + 2);
  std::vector<float> mass(t.size(), 0.0f);
  for (int64_t j = 0; j < static_cast<int64_t>(t.size()); ++j) mass[static_cast<size_t>(j)] = static_cast<float>(j + 1);
  const std::vector<std::string> paths{"b.c", "a.c", "c.c"};
  const auto pm = pointer_mass(mass, spans, paths);
  auto sum = [&](int64_t b, int64_t e) {
    double x = 0;
    for (int64_t j = b; j < e; ++j) x += static_cast<double>(j + 1);
    return x;
  };
  EXPECT_DOUBLE_EQ(pm[0], sum(at[1], at[2]));
  EXPECT_DOUBLE_EQ(pm[1], sum(at[0], at[1]) + sum(at[2], end_of_files));
  EXPECT_EQ(pm[2], 0.0) << "a path without a span";
  // A mass shorter than the spans (the session ended earlier) is read up to its end.
  EXPECT_DOUBLE_EQ(pointer_mass(std::span(mass).first(static_cast<size_t>(at[0] + 3)), spans, paths)[1],
                   sum(at[0], at[0] + 3));
}

// symbol_end: the symbol's last token in the question's tokens (the template's included).
TEST(ChoosePointer, SymbolEndFindsTheNamedSymbol) {
  model_config cfg;
  std::unique_ptr<tokenizer> tok;
  ASSERT_NO_FATAL_FAILURE(load_shipped(cfg, tok));
  auto q = [&](const std::string& text) {
    auto ids = tok->encode_template("question", {{"question", text}});
    EXPECT_TRUE(ids.ok());
    return *ids;
  };
  // The text from the question's start up to and including the token symbol_end names.
  auto upto = [&](const std::string& text) -> std::string {
    const auto ids = q(text);
    const auto e = symbol_end(*tok, ids);
    if (!e) return "(none)";
    std::string out;
    for (size_t i = 0; i <= *e; ++i)
      if (!tok->is_special(ids[i])) out += tok->token_bytes(ids[i]);
    return out;
  };
  for (const char* sym : {"jv_parse", "BADCH", "luaL_checkinteger", "x", "N/A", "operator==", "Ünï"}) {
    const std::string text = std::string("Which file defines `") + sym + "`?";
    const std::string got = upto(text);
    // The token holding the symbol's last byte ends at it, or holds the closing backtick too.
    const std::string want = std::string("Which file defines `") + sym;
    EXPECT_TRUE(got == want || got == want + "`") << sym << ": " << got;
  }
  // symbol_tokens: the symbol's tokens hold exactly the symbol, give or take the backticks and the
  // space merged into its first and last token.
  for (const char* sym : {"jv_parse", "BADCH", "luaL_checkinteger", "x", "hpet_info", "Ünï"}) {
    const auto ids = q(std::string("Which file defines `") + sym + "`?");
    const auto t = symbol_tokens(*tok, ids);
    ASSERT_TRUE(t.has_value()) << sym;
    EXPECT_EQ(t->second, *symbol_end(*tok, ids));
    std::string text;
    for (size_t i = t->first; i <= t->second; ++i) text += tok->token_bytes(ids[i]);
    while (!text.empty() && (text.front() == ' ' || text.front() == '`')) text.erase(text.begin());
    if (!text.empty() && text.back() == '`') text.pop_back();
    EXPECT_EQ(text, sym);
  }
  EXPECT_EQ(upto("Which file defines ``?"), "(none)");
  EXPECT_EQ(upto("Which file defines jv_parse?"), "Which file defines jv_parse");
  EXPECT_EQ(upto("Where is `a` used, and which file defines `lua_State`?"),
            "Where is `a` used, and which file defines `lua_State");
  EXPECT_EQ(upto("???"), "(none)");
}

// symbol_name, symbol_occurrences and pointer_choice: the name searched for, how often each file's
// text holds it as a word (not inside a longer identifier, not in the header's path), and the
// answer: the most mass among the files that hold it, else the most mass of all.
TEST(ChoosePointer, TheAnswerIsAFileThatHoldsTheName) {
  model_config cfg;
  std::unique_ptr<tokenizer> tok;
  ASSERT_NO_FATAL_FAILURE(load_shipped(cfg, tok));
  auto name = [&](const std::string& text) -> std::string {
    auto ids = tok->encode_template("question", {{"question", text}});
    EXPECT_TRUE(ids.ok());
    return symbol_name(*tok, *ids).value_or("(none)");
  };
  EXPECT_EQ(name("Which file defines `Square`?"), "Square");
  EXPECT_EQ(name("Which file defines ` jv_parse `?"), "jv_parse") << "spaces inside the backticks";
  EXPECT_EQ(name("Where is `ns::Foo` in `a`, or `luaL_Buffer`?"), "luaL_Buffer") << "the last quoted span";
  EXPECT_EQ(name("Which file defines circle_area?"), "circle_area");
  EXPECT_EQ(name("Which file defines ``?"), "(none)");
  EXPECT_EQ(name("?!"), "(none)");

  const int32_t file = cfg.special_id("file_start"), doc_end = cfg.special_id("doc_end");
  std::vector<int32_t> t{cfg.special_id("bos"), cfg.special_id("doc_start")};
  auto add = [&](const std::string& text) {
    auto ids = tok->encode(text);
    t.insert(t.end(), ids.begin(), ids.end());
  };
  const char* files[] = {
      "src/Square.py\nfrom shapes import Squared, my_Square\nx = Square2()\n",  // only in the path, or inside names
      "src/shapes.py\nclass Square:\n    pass\n",
      "src/draw.py\nfrom shapes import Square\ndraw(Square(1)); draw(Square(2))\n",
      "src/shapes.py\n# Square again, restated header\n"};
  for (const char* f : files) {
    t.push_back(file);
    add(f);
  }
  t.push_back(doc_end);
  const std::vector<std::string> paths{"src/Square.py", "src/shapes.py", "src/draw.py", "src/none.py"};
  const auto spans = file_spans(*tok, t, file, doc_end, static_cast<int64_t>(t.size()));
  EXPECT_EQ(symbol_occurrences(*tok, t, spans, paths, "Square"), (std::vector<int64_t>{0, 2, 3, 0}));
  EXPECT_EQ(symbol_occurrences(*tok, t, spans, paths, "Squared"), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(symbol_occurrences(*tok, t, spans, paths, "shapes"), (std::vector<int64_t>{1, 0, 1, 0}))
      << "the header's path is not the file's text";
  EXPECT_EQ(symbol_occurrences(*tok, t, spans, paths, ""), (std::vector<int64_t>(4, 0)));

  // The answer: the most mass among the files holding the name, else the most of all.
  EXPECT_EQ(pointer_choice(std::vector<double>{0.5, 0.2, 0.3, 0.0}, std::vector<int64_t>{0, 2, 3, 0}), 2u);
  EXPECT_EQ(pointer_choice(std::vector<double>{0.5, 0.4, 0.1, 0.0}, std::vector<int64_t>{0, 2, 3, 0}), 1u);
  EXPECT_EQ(pointer_choice(std::vector<double>{0.1, 0.2, 0.6, 0.1}, std::vector<int64_t>{0, 0, 0, 0}), 2u);
  EXPECT_EQ(pointer_choice(std::vector<double>{0.1, 0.3, 0.3, 0.3}, std::vector<int64_t>{0, 1, 0, 1}), 1u) << "ties: the first";
  EXPECT_EQ(pointer_choice(std::vector<double>{0.9, 0.05}, std::vector<int64_t>{0, 1}), 1u);
}

// config.json's pointer_heads change no computed state, so they are left out of the model's
// fingerprint: adding them (last, as select_heads.py writes them, or first) or choosing others
// keeps the fingerprint, and with it the sessions the model made; any other change does not.
TEST(ChoosePointer, HeadsAreLeftOutOfTheModelsFingerprint) {
  const std::filesystem::path golden = std::filesystem::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32";
  const auto dir = std::filesystem::temp_directory_path() / ("tome-fp-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& e : std::filesystem::directory_iterator(golden))
    std::filesystem::copy_file(e.path(), dir / e.path().filename());
  std::string text;
  {
    std::ifstream in(dir / "config.json", std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto fingerprint = [&](const std::string& config) {
    std::ofstream(dir / "config.json", std::ios::binary | std::ios::trunc) << config;
    auto m = model::load(dir, load_params{backend_kind::cpu, 1});
    EXPECT_TRUE(m.ok()) << m.message();
    return m.ok() ? (*m)->fingerprint() + "|" + std::to_string((*m)->config().pointer_heads.size()) : std::string();
  };
  const std::string base = fingerprint(text);
  const size_t close = text.rfind('}');
  size_t last = close;  // the end of the last member
  while (last > 0 && std::isspace(static_cast<unsigned char>(text[last - 1]))) --last;
  const std::string appended = text.substr(0, last) + ",\n  \"pointer_heads\": [\n    [0, 1],\n    [1, 3]\n  ]" +
                               text.substr(last);
  const std::string fp_base = base.substr(0, base.find('|'));
  EXPECT_EQ(fingerprint(appended), fp_base + "|2");
  const std::string other = text.substr(0, last) + ",\n  \"pointer_heads\": [[1, 0]]" + text.substr(last);
  EXPECT_EQ(fingerprint(other), fp_base + "|1");
  const size_t open = text.find('{');
  const size_t first = text.find('"', open);
  const std::string leading = text.substr(0, first) + "\"pointer_heads\": [[0, 2]],\n  " + text.substr(first);
  EXPECT_EQ(fingerprint(leading), fp_base + "|1");
  std::string renamed = text;
  renamed.replace(renamed.find("tome-golden-gret"), 16, "tome-golden-grex");
  EXPECT_NE(fingerprint(renamed), base) << "any other change is another model";
  std::filesystem::remove_all(dir);
}

// The attention pointer of the shipped model (its config's pointer_heads) names the file that
// holds a question's symbol, on each backend (on CUDA with the fp8 global KV too); the heads' mass
// is a distribution and the CUDA backend's agrees with the CPU's.
class Pointer : public test::BackendCaseTest {};

TEST_P(Pointer, TheShippedModelsHeadsFindTheSymbolsFile) {
  const std::filesystem::path dir = std::filesystem::path(TOME_SOURCE_DIR) / "resources/models/tome-25m";
  auto loaded = model::load(dir, load_params{GetParam().kind, 0});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::shared_ptr<const model> m = std::move(*loaded);
  const auto& cfg = m->config();
  ASSERT_FALSE(cfg.pointer_heads.empty()) << "tome-25m's config.json names its pointer heads";
  const auto& tok = m->tok();
  const int32_t file = cfg.special_id("file_start");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"src/lexer.c", "#include \"lexer.h\"\n\nstatic int scan_number(struct lexer *lx) {\n  int n = 0;\n"
                      "  while (isdigit(lx->c)) n = n * 10 + (lx->c - '0'), advance(lx);\n  return n;\n}\n"},
      {"src/table.c", "#include <stdlib.h>\n\nstruct bucket { char *key; void *value; struct bucket *next; };\n\n"
                      "void *table_lookup(struct bucket **slots, size_t n, const char *key) {\n"
                      "  return slots[hash_string(key) % n];\n}\n"},
      {"include/render.h", "#ifndef RENDER_H\n#define RENDER_H\n\nvoid render_frame(int width, int height);\n"
                           "#define RENDER_MAX_LAYERS 16\n\n#endif\n"}};
  std::vector<int32_t> doc{cfg.special_id("bos"), cfg.special_id("doc_start")};
  for (const auto& [path, text] : files) {
    doc.push_back(file);
    auto ids = tok.encode(path + "\n" + text);
    doc.insert(doc.end(), ids.begin(), ids.end());
  }
  const std::vector<std::string> paths = file_paths(tok, doc, file);
  ASSERT_EQ(paths.size(), 3u);
  std::shared_ptr<const model> cpu_m, fp8_m;
  if (GetParam().kind == backend_kind::cuda) {
    auto c = model::load(dir, load_params{backend_kind::cpu, 0});
    ASSERT_TRUE(c.ok()) << c.message();
    cpu_m = std::move(*c);
    // The fp8 global KV (attention_mass_fp8's weighted form): the same files.
    auto f = model::load(dir, load_params{backend_kind::cuda, 0, kv_format::fp8});
    ASSERT_TRUE(f.ok()) << f.message();
    fp8_m = std::move(*f);
  }
  const std::vector<std::pair<std::string, size_t>> asks = {
      {"scan_number", 0}, {"table_lookup", 1}, {"RENDER_MAX_LAYERS", 2}, {"render_frame", 2}, {"bucket", 1}};
  for (const auto& [sym, want] : asks) {
    auto q = tok.encode_template("question", {{"question", "Which file defines `" + sym + "`?"}});
    ASSERT_TRUE(q.ok());
    const auto e = symbol_end(tok, *q);
    ASSERT_TRUE(e.has_value()) << sym;
    std::vector<int32_t> all = doc;
    all.insert(all.end(), q->begin(), q->begin() + static_cast<std::ptrdiff_t>(*e + 1));
    auto mass_on = [&](const std::shared_ptr<const model>& mm) -> std::vector<float> {
      auto s = session::create(mm);
      EXPECT_TRUE(s.ok()) << s.message();
      prefill_params pp;
      pp.compute_logits = false;
      EXPECT_TRUE((*s)->prefill(all, pp).ok());
      auto mass = (*s)->attention_mass(cfg.pointer_heads);
      EXPECT_TRUE(mass.ok()) << mass.message();
      return mass.ok() ? *mass : std::vector<float>{};
    };
    const auto mass = mass_on(m);
    ASSERT_EQ(mass.size(), all.size());
    double total = 0;
    for (float v : mass) {
      EXPECT_GE(v, 0.0f);
      total += v;
    }
    EXPECT_NEAR(total, 1.0, 1e-3) << "averaged over the heads, a distribution";
    const auto spans = file_spans(tok, all, file, cfg.special_id("doc_end"), static_cast<int64_t>(doc.size()));
    const auto pm = pointer_mass(mass, spans, paths);
    const size_t best = static_cast<size_t>(std::max_element(pm.begin(), pm.end()) - pm.begin());
    EXPECT_EQ(paths[best], paths[want]) << "`" << sym << "`: " << pm[0] << " " << pm[1] << " " << pm[2];
    if (fp8_m) {
      const auto pm8 = pointer_mass(mass_on(fp8_m), spans, paths);
      EXPECT_EQ(std::max_element(pm8.begin(), pm8.end()) - pm8.begin(), static_cast<std::ptrdiff_t>(want))
          << "fp8 KV, `" << sym << "`";
    }
    if (cpu_m) {
      const auto ref = mass_on(cpu_m);
      ASSERT_EQ(ref.size(), mass.size());
      double l1 = 0;
      for (size_t j = 0; j < ref.size(); ++j) l1 += std::abs(static_cast<double>(ref[j]) - mass[j]);
      EXPECT_LT(l1, 0.05) << "CUDA vs CPU, L1 over positions (" << sym << ")";
    }
  }
  // The heads' form of the default: all heads of the last layer, averaged, equals attention_mass().
  auto s = session::create(m);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->prefill(doc).ok());
  std::vector<attention_head> last;
  for (int32_t h = 0; h < cfg.n_heads; ++h) last.push_back({static_cast<int32_t>(cfg.n_cross_layers - 1), h});
  auto a = (*s)->attention_mass();
  auto b = (*s)->attention_mass(last);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t j = 0; j < a->size(); ++j) EXPECT_NEAR((*a)[j], (*b)[j], 1e-5f + 1e-4f * (*a)[j]) << j;
  // Refused: a layer or head the model does not have, a repeat.
  EXPECT_FALSE((*s)->attention_mass(std::vector<attention_head>{{static_cast<int32_t>(cfg.n_cross_layers), 0}}).ok());
  EXPECT_FALSE((*s)->attention_mass(std::vector<attention_head>{{0, static_cast<int32_t>(cfg.n_heads)}}).ok());
  EXPECT_FALSE((*s)->attention_mass(std::vector<attention_head>{{0, 1}, {0, 1}}).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, Pointer,
                         ::testing::Values(choose_case{"tome-25m", backend_kind::cpu},
                                           choose_case{"tome-25m", backend_kind::cuda}),
                         test::backend_case_name);

INSTANTIATE_TEST_SUITE_P(Backends, Choose,
                         ::testing::Values(choose_case{"tiny", backend_kind::cpu},
                                           choose_case{"tiny-swa", backend_kind::cpu},
                                           choose_case{"tiny", backend_kind::cuda},
                                           choose_case{"tiny-swa", backend_kind::cuda}),
                         test::backend_case_name);

}  // namespace
}  // namespace tome
