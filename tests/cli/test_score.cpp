// `tome score`: the rows file reader refuses malformed files naming them; score_one's
// cross-entropy, exact match and answer CE equal a direct computation from session logits
// (log-softmax in long double) on random models; the `tome` binary prints the same figures on a
// model directory (tests/golden/gret-f32) and refuses malformed rows files with their name.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "score_rows.h"
#include "tome/engine.h"

namespace tome::cli {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const model> tiny(const std::string& name) {
  auto c = builtin_config(name);
  EXPECT_TRUE(c.ok()) << c.message();
  auto m = model::create_random(*c, 11, {backend_kind::cpu, 1});
  EXPECT_TRUE(m.ok()) << m.message();
  return *m;
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed, int32_t vocab) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(4, vocab - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

constexpr int32_t kEos = 2, kPad = 3;

// Row kinds of training/data/tasks.py: an LM row (every target counts), and a task row (context,
// answer ending in EOS, PAD after; lm mask off, the answer mask on the answer targets).
score_row lm_row(size_t T, uint32_t seed, int32_t vocab) {
  score_row r;
  r.tokens = random_tokens(T + 1, seed, vocab);
  r.lm.assign(T, 1);
  r.answer.assign(T, 0);
  return r;
}

score_row task_row(size_t T, size_t head, size_t answer, uint32_t seed, int32_t vocab) {
  score_row r = lm_row(T, seed, vocab);
  r.lm.assign(T, 0);
  const size_t n = head + answer;  // tokens before padding; the last answer token is EOS
  r.tokens[n - 1] = kEos;
  for (size_t i = n; i <= T; ++i) r.tokens[i] = kPad;
  for (size_t t = head - 1; t < n - 1; ++t) r.answer[t] = 1;  // targets head .. n-1
  return r;
}

struct direct {
  double ce = 0, answer_ce = 0;
  int64_t n = 0, answer_n = 0;
  bool exact = true, exact_text = true;
};

// From logits [rows, V] of positions first.., the figures over the masked targets.
direct compute(const score_row& r, const std::vector<float>& lg, int64_t first, int64_t V) {
  direct d;
  for (int64_t t = first; t < r.length(); ++t) {
    const size_t ut = static_cast<size_t>(t);
    if (!r.lm[ut] && !r.answer[ut]) continue;
    const float* x = lg.data() + (t - first) * V;
    long double sum = 0;
    int64_t best = 0;
    for (int64_t v = 0; v < V; ++v) {
      sum += std::exp(static_cast<long double>(x[v]));
      if (x[v] > x[best]) best = v;
    }
    const int32_t tgt = r.tokens[ut + 1];
    const double nll = static_cast<double>(std::log(sum) - static_cast<long double>(x[tgt]));
    if (r.lm[ut]) d.ce += nll, ++d.n;
    if (r.answer[ut]) {
      d.answer_ce += nll, ++d.answer_n;
      d.exact = d.exact && best == tgt;
      if (tgt != kEos) d.exact_text = d.exact_text && best == tgt;
    }
  }
  return d;
}

// The reference path: prefill up to the first scored position, then logits_for the rest at once.
direct reference(const std::shared_ptr<const model>& m, const score_row& r) {
  int64_t first = -1, last = -1;
  for (int64_t t = 0; t < r.length(); ++t)
    if (r.lm[static_cast<size_t>(t)] || r.answer[static_cast<size_t>(t)]) {
      if (first < 0) first = t;
      last = t;
    }
  auto s = session::create(m);
  prefill_params pp;
  pp.compute_logits = false;
  if (first > 0) {
    EXPECT_TRUE((*s)->prefill(std::span(r.tokens).first(static_cast<size_t>(first)), pp).ok());
  }
  std::vector<float> lg;
  EXPECT_TRUE((*s)->logits_for(std::span(r.tokens).subspan(static_cast<size_t>(first),
                                                           static_cast<size_t>(last + 1 - first)),
                               lg)
                  .ok());
  return compute(r, lg, first, m->config().vocab_size);
}

// Makes the answer of `r` the model's own greedy answer, so that exact_text is true (keep_eos: the
// closing EOS target stays, whatever the model predicts there) or exact is true too (!keep_eos:
// the last target is the greedy token as well).
score_row greedy_answer(const std::shared_ptr<const model>& m, score_row r, bool keep_eos) {
  const int64_t V = m->config().vocab_size;
  for (int64_t t = 0; t < r.length(); ++t) {
    const size_t ut = static_cast<size_t>(t);
    if (!r.answer[ut] || (keep_eos && r.tokens[ut + 1] == kEos)) continue;
    auto s = session::create(m);
    std::vector<float> lg;
    EXPECT_TRUE((*s)->logits_for(std::span(r.tokens).first(ut + 1), lg).ok());
    const float* x = lg.data() + t * V;
    int64_t best = 0;
    for (int64_t v = 1; v < V; ++v)
      if (x[v] > x[best]) best = v;
    r.tokens[ut + 1] = static_cast<int32_t>(best);
  }
  return r;
}

void expect_same(const row_score& got, const direct& want) {
  EXPECT_NEAR(got.ce, want.ce, 1e-6 * std::max(1.0, std::abs(want.ce)));
  EXPECT_EQ(got.n, want.n);
  EXPECT_EQ(got.answer_n, want.answer_n);
  if (want.answer_n > 0) {
    ASSERT_TRUE(got.exact.has_value());
    EXPECT_EQ(*got.exact, want.exact);
    EXPECT_EQ(*got.exact_text, want.exact_text);
    ASSERT_TRUE(got.answer_ce.has_value());
    EXPECT_NEAR(*got.answer_ce, want.answer_ce, 1e-6 * std::max(1.0, want.answer_ce));
  } else {
    EXPECT_FALSE(got.exact.has_value());
    EXPECT_FALSE(got.answer_ce.has_value());
  }
}

class ScoreKinds : public ::testing::TestWithParam<std::string> {};

TEST_P(ScoreKinds, ScoreOneEqualsDirectComputationFromSessionLogits) {
  auto m = tiny(GetParam());
  const int32_t V = static_cast<int32_t>(m->config().vocab_size);
  score_params p;
  p.eos = kEos;
  p.logits_chunk = 1 << 20;  // one logits_for call, as the reference: bit-identical logits
  const score_row lm = lm_row(70, 1, V);
  const score_row task = greedy_answer(m, task_row(90, 60, 6, 2, V), false);
  const score_row task_eos = greedy_answer(m, task_row(90, 60, 6, 2, V), true);
  score_row wrong = task;
  wrong.tokens[62] = wrong.tokens[62] == 5 ? 6 : 5;  // an answer token that is not the argmax
  for (const score_row* r :
       std::initializer_list<const score_row*>{&lm, &task, &task_eos, &wrong}) {
    auto got = score_one(m, *r, p);
    ASSERT_TRUE(got.ok()) << got.message();
    expect_same(*got, reference(m, *r));
  }
  EXPECT_EQ(score_one(m, lm, p)->exact, std::nullopt) << "no answer: exact is null";
  EXPECT_TRUE(*score_one(m, task, p)->exact) << "the greedy answer is an exact match";
  EXPECT_TRUE(*score_one(m, task_eos, p)->exact_text) << "exact_text leaves the EOS target out";
  EXPECT_FALSE(*score_one(m, wrong, p)->exact);
  EXPECT_FALSE(*score_one(m, wrong, p)->exact_text);
  EXPECT_EQ(score_one(m, lm, p)->prefilled, 0);
  EXPECT_EQ(score_one(m, task, p)->prefilled, 59) << "the early exit: inputs before the answer";
  EXPECT_EQ(score_one(m, task, p)->scored, 6);
  EXPECT_EQ(score_one(m, task, p)->answer_n, 6);
  // Small pieces and prefill chunks: the same figures up to float rounding of the chunked forms.
  p.logits_chunk = 7;
  p.prefill_chunk = 5;
  for (const score_row* r : std::initializer_list<const score_row*>{&lm, &task}) {
    auto got = score_one(m, *r, p);
    ASSERT_TRUE(got.ok());
    const direct want = reference(m, *r);
    EXPECT_NEAR(got->ce, want.ce, 1e-3 * std::max<int64_t>(1, want.n));
    EXPECT_NEAR(got->answer_ce.value_or(0), want.answer_ce,
                1e-3 * std::max<int64_t>(1, want.answer_n));
  }
}

INSTANTIATE_TEST_SUITE_P(Both, ScoreKinds, ::testing::Values("tiny", "tiny-swa"));

// --choose-paths on the shipped model: a which-file row over two files (the header forms of the
// training rows and of the app's ingest). The chosen path is one of them, choice_exact says
// whether it is the answer, and every other figure equals the plain scoring's bit for bit (the
// search leaves the session where it was).
// A which-file row of the shipped model: two files (src/geometry.py defines circle_area, src/main.py
// imports and calls it and defines report), the question, the answer `answer` and EOS scored.
score_row repo_row(const model& m, const std::string& question, const std::string& answer) {
  const auto& tok = m.tok();
  const auto& cfg = m.config();
  std::vector<int32_t> t = *tok.encode_template("document", {{"text", ""}});
  t.pop_back();  // keep "<s><|doc|>", close the document after the files
  auto add = [&](std::vector<int32_t> ids) { t.insert(t.end(), ids.begin(), ids.end()); };
  t.push_back(cfg.special_id("file_start"));
  add(tok.encode("src/geometry.py\nimport math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n"));
  t.push_back(cfg.special_id("file_start"));
  add(tok.encode("src/main.py\n"));
  add(tok.encode("from geometry import circle_area\n\n\ndef report(r):\n    print(circle_area(r))\n"));
  t.push_back(cfg.special_id("doc_end"));
  add(*tok.encode_template("question", {{"question", question}}));
  const size_t head = t.size();
  add(tok.encode(answer));
  t.push_back(kEos);
  score_row row;
  const size_t T = t.size() + 2;
  row.tokens = t;
  row.tokens.resize(T + 1, kPad);
  row.lm.assign(T, 0);
  row.answer.assign(T, 0);
  for (size_t i = head - 1; i + 1 < t.size(); ++i) row.answer[i] = 1;
  return row;
}

TEST(ScoreRows, ChoosePathsPicksAContextPathAndChangesNothingElse) {
  auto loaded = model::load(fs::path(TOME_SOURCE_DIR) / "resources/models/tome-25m",
                            load_params{backend_kind::cpu, 1});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::shared_ptr<const model> m = *loaded;
  const score_row row = repo_row(*m, "Which file defines `circle_area`?", "src/geometry.py");
  score_params p;
  p.eos = kEos;
  auto plain = score_one(m, row, p);
  ASSERT_TRUE(plain.ok()) << plain.message();
  EXPECT_FALSE(plain->choice_exact.has_value());
  p.choose_paths = true;
  auto chosen = score_one(m, row, p);
  ASSERT_TRUE(chosen.ok()) << chosen.message();
  ASSERT_TRUE(chosen->choice_exact.has_value());
  EXPECT_EQ(chosen->choices, 2);
  EXPECT_GT(chosen->choice_steps, 0);
  EXPECT_TRUE(chosen->choice == "src/geometry.py" || chosen->choice == "src/main.py") << chosen->choice;
  EXPECT_EQ(*chosen->choice_exact, chosen->choice == "src/geometry.py");
  EXPECT_EQ(chosen->exact, plain->exact);
  EXPECT_EQ(*chosen->answer_ce, *plain->answer_ce);
  const auto j = nlohmann::json::parse(score_json(0, *chosen, 0.0));
  EXPECT_EQ(j["choice"], chosen->choice);
  EXPECT_EQ(j["choice_exact"], *chosen->choice_exact);
  EXPECT_TRUE(chosen->path_logprobs.empty());
  EXPECT_FALSE(j.contains("path_logprobs"));
  // --path-scores: every path's log p(path, EOS); the answer's equals -answer_ce of the plain
  // scoring (teacher forcing), the chosen path is the most likely, nothing else changes.
  p.path_scores = true;
  auto all = score_one(m, row, p);
  ASSERT_TRUE(all.ok()) << all.message();
  ASSERT_EQ(all->path_logprobs.size(), 2u);
  EXPECT_EQ(all->path_logprobs[0].first, "src/geometry.py");
  EXPECT_EQ(all->path_logprobs[1].first, "src/main.py");
  EXPECT_NEAR(all->path_logprobs[0].second, -*plain->answer_ce, 1e-3);
  const size_t top = all->path_logprobs[0].second >= all->path_logprobs[1].second ? 0 : 1;
  EXPECT_EQ(all->choice, all->path_logprobs[top].first);
  EXPECT_EQ(all->choice, chosen->choice);
  EXPECT_EQ(*all->answer_ce, *plain->answer_ce);
  const auto ja = nlohmann::json::parse(score_json(0, *all, 0.0));
  EXPECT_DOUBLE_EQ(ja["path_logprobs"]["src/main.py"].get<double>(), all->path_logprobs[1].second);
  p.path_scores = false;
  // A row without file headers has nothing to choose from.
  score_row bare = task_row(40, 30, 5, 3, 500);
  auto none = score_one(m, bare, p);
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_FALSE(none->choice_exact.has_value());
}

// score_params::pointer (tome score --pointer): every path's pointer mass, the paths whose text
// holds the symbol with their counts, the answer among them (pointer_choice, as tome ask answers)
// beside the file with the most mass of all (pointer_top); the other figures do not change.
TEST(ScoreRows, PointerAnswersAmongTheFilesHoldingTheSymbol) {
  auto loaded = model::load(fs::path(TOME_SOURCE_DIR) / "resources/models/tome-25m",
                            load_params{backend_kind::cpu, 1});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::shared_ptr<const model> m = *loaded;
  ASSERT_FALSE(m->config().pointer_heads.empty());
  struct want_t {
    const char* symbol;
    const char* answer;
    std::vector<std::pair<std::string, int64_t>> occurrences;
  };
  for (const want_t& w : {want_t{"circle_area", "src/geometry.py", {{"src/geometry.py", 1}, {"src/main.py", 2}}},
                          want_t{"report", "src/main.py", {{"src/main.py", 1}}},
                          // only main.py's text holds "geometry" (an import): the heads also look
                          // at geometry.py's header, which does not count
                          want_t{"geometry", "src/main.py", {{"src/main.py", 1}}}}) {
    const score_row row = repo_row(*m, std::string("Which file defines `") + w.symbol + "`?", w.answer);
    score_params p;
    p.eos = kEos;
    auto plain = score_one(m, row, p);
    ASSERT_TRUE(plain.ok()) << plain.message();
    EXPECT_FALSE(plain->pointer_exact.has_value());
    p.pointer = true;
    auto s = score_one(m, row, p);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE(s->pointer_exact.has_value() && s->pointer_top_exact.has_value()) << w.symbol;
    ASSERT_EQ(s->pointer_mass.size(), 2u);
    EXPECT_EQ(s->pointer_mass[0].first, "src/geometry.py");
    EXPECT_EQ(s->pointer_mass[1].first, "src/main.py");
    EXPECT_EQ(s->pointer_occurrences, w.occurrences) << w.symbol;
    const size_t top = s->pointer_mass[0].second >= s->pointer_mass[1].second ? 0 : 1;
    EXPECT_EQ(s->pointer_top, s->pointer_mass[top].first);
    // Both files hold circle_area: the most mass decides; one file holds the others: it answers
    // (for "geometry" the heads' top file is src/geometry.py: tome-25m gives it ~75%).
    EXPECT_EQ(s->pointer_choice, w.occurrences.size() == 1 ? w.occurrences[0].first : s->pointer_top) << w.symbol;
    EXPECT_EQ(*s->pointer_exact, s->pointer_choice == w.answer);
    EXPECT_EQ(*s->pointer_top_exact, s->pointer_top == w.answer);
    EXPECT_EQ(s->exact, plain->exact);
    EXPECT_NEAR(*s->answer_ce, *plain->answer_ce, 1e-4);
    const auto j = nlohmann::json::parse(score_json(0, *s, 0.0));
    EXPECT_EQ(j["pointer_choice"], s->pointer_choice);
    EXPECT_EQ(j["pointer_top"], s->pointer_top);
    EXPECT_EQ(j["pointer_top_exact"], *s->pointer_top_exact);
    EXPECT_EQ(j["pointer_occurrences"].size(), w.occurrences.size());
    for (const auto& [path, n] : w.occurrences) EXPECT_EQ(j["pointer_occurrences"][path], n);
  }
}

TEST(ScoreRows, EncodeParseRoundTrip) {
  std::vector<score_row> rows = {lm_row(5, 1, 512), task_row(9, 4, 3, 2, 512), lm_row(1, 3, 512)};
  auto back = parse_rows(encode_rows(rows), "x.rows", 512);
  ASSERT_TRUE(back.ok()) << back.message();
  ASSERT_EQ(back->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*back)[i].tokens, rows[i].tokens);
    EXPECT_EQ((*back)[i].lm, rows[i].lm);
    EXPECT_EQ((*back)[i].answer, rows[i].answer);
  }
  auto empty = parse_rows(encode_rows({}), "x.rows", 512);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// Every malformation is refused with the file's name and the problem.
TEST(ScoreRows, RefusesMalformedFilesNamingThem) {
  const std::vector<uint8_t> good = encode_rows({lm_row(5, 1, 512), task_row(9, 4, 3, 2, 512)});
  auto refused = [](std::vector<uint8_t> b, const std::string& what) {
    auto r = parse_rows(b, "/tmp/bad.rows", 512);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_NE(r.message().find("/tmp/bad.rows"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(what), std::string::npos) << r.message();
  };
  refused({}, "header");
  refused(std::vector<uint8_t>(good.begin(), good.begin() + 10), "header");
  auto b = good;
  b[0] = 'X';
  refused(b, "magic");
  b = good;
  b[8] = 2;
  refused(b, "version 2");
  refused(std::vector<uint8_t>(good.begin(), good.end() - 1), "truncated");
  refused(std::vector<uint8_t>(good.begin(), good.begin() + 16 + 4 + 24 + 10), "truncated");
  b = good;
  b.push_back(0);
  refused(b, "1 bytes after the last");
  b = good;
  b[12] = 3;  // three rows announced, two present
  refused(b, "row 2 of 3: truncated");
  b = good;
  b[12] = 1;  // one row announced, two present
  refused(b, "bytes after the last of 1 rows");
  b = good;
  b[16] = 0;  // T = 0
  refused(b, "T = 0");
  b = good;
  b[16] = 0xff, b[17] = 0xff, b[18] = 0xff, b[19] = 0xff;  // T = 2^32 - 1
  refused(b, "truncated");
  b = good;
  b[20 + 4 * 2] = 0x00, b[20 + 4 * 2 + 1] = 0x02;  // token 512 at position 2 of row 0
  refused(b, "token id 512 at position 2");
  b = good;
  b[20 + 4 * 3 + 3] = 0x80;  // a negative token id
  refused(b, "outside the vocabulary");
  b = good;
  b[20 + 24 + 1] = 2;  // lm mask byte 2
  refused(b, "mask byte at position 1");
  auto missing = read_rows_file("/nonexistent/dir/x.rows", 512);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/nonexistent/dir/x.rows"), std::string::npos);
}

// ---- the `tome` binary -------------------------------------------------------------------------

struct run_result {
  int rc = -1;
  std::string out;
};

run_result run_tome(const std::string& args) {
  run_result r;
  const std::string cmd = std::string(TOME_CLI) + " " + args;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int st = pclose(f);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("tome_test_score_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

TEST(TomeScoreCli, PrintsTheDirectFiguresOnAModelDirectory) {
  const fs::path dir = fs::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32";
  auto loaded = model::load(dir, {backend_kind::cpu, 1});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::shared_ptr<const model> m = *loaded;
  const int32_t V = static_cast<int32_t>(m->config().vocab_size);
  std::vector<score_row> rows = {lm_row(40, 5, V),
                                 greedy_answer(m, task_row(64, 50, 5, 6, V), false),
                                 task_row(48, 30, 4, 7, V)};
  const fs::path tmp = temp_dir();
  write_file(tmp / "ok.rows", encode_rows(rows));
  auto r = run_tome("score --model " + dir.string() + " --rows " + (tmp / "ok.rows").string() +
                    " --backend cpu --threads 1 --logits-chunk 100000 --quiet 2>&1");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line); ++i) {
    ASSERT_LT(i, rows.size()) << line;
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["row"].get<size_t>(), i);
    row_score got;
    got.ce = j["ce"].get<double>();
    got.n = j["n"].get<int64_t>();
    got.answer_n = j["answer_n"].get<int64_t>();
    if (!j["exact"].is_null()) got.exact = j["exact"].get<bool>();
    if (!j["exact_text"].is_null()) got.exact_text = j["exact_text"].get<bool>();
    if (!j["answer_ce"].is_null()) got.answer_ce = j["answer_ce"].get<double>();
    SCOPED_TRACE("row " + std::to_string(i));
    expect_same(got, reference(m, rows[i]));
  }
  EXPECT_EQ(i, rows.size());
  EXPECT_NE(r.out.find("\"exact\": true"), std::string::npos) << "row 1 holds the greedy answer";
  fs::remove_all(tmp);
}

TEST(TomeScoreCli, RefusesMalformedRowsFilesNamingThem) {
  const fs::path dir = fs::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32";
  const fs::path tmp = temp_dir();
  auto good = encode_rows({lm_row(8, 1, 512)});
  auto truncated = std::vector<uint8_t>(good.begin(), good.end() - 3);
  auto long_row = encode_rows({lm_row(5000, 1, 512)});  // beyond the model's max_context 4096
  struct bad {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string what;
  };
  std::vector<bad> cases = {{"truncated.rows", truncated, "truncated"},
                            {"magic.rows", std::vector<uint8_t>(20, 'x'), "magic"},
                            {"long.rows", long_row, "maximum context"}};
  // The vocabulary check needs an id >= 512: make sure the random row has one.
  {
    score_row r = lm_row(8, 1, 512);
    r.tokens[3] = 777;
    cases.push_back({"vocab.rows", encode_rows({r}), "outside the vocabulary"});
  }
  for (const bad& c : cases) {
    write_file(tmp / c.name, c.bytes);
    auto r = run_tome("score --model " + dir.string() + " --rows " + (tmp / c.name).string() +
                      " --backend cpu --threads 1 2>&1");
    EXPECT_NE(r.rc, 0) << c.name;
    EXPECT_NE(r.out.find((tmp / c.name).string()), std::string::npos) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find(c.what), std::string::npos) << c.name << ": " << r.out;
    EXPECT_EQ(r.out.find("{\"row\""), std::string::npos) << "nothing scored from " << c.name;
  }
  auto r = run_tome("score --model " + dir.string() + " --rows " + (tmp / "absent.rows").string() +
                    " 2>&1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("absent.rows"), std::string::npos) << r.out;
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace tome::cli
