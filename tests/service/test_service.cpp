// tome::service on the golden gret-f32 model: reading a document with checkpoints, a cancel and a
// resume by running the same call again, a second document appended, and ask() in threads that
// answer exactly as a session holding the same tokens would, saved and continued, also on a
// resident session (ask_resident).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <set>

#include "tome/choose.h"
#include "tome/service/service.h"

namespace tome::service {
namespace {

std::filesystem::path scratch() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "service-tests" / info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(Service, ReadResumeAppendAndAskInThreads) {
  const auto dir = scratch();
  auto loaded = model::load(std::filesystem::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32",
                            load_params{backend_kind::cpu, 0});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::shared_ptr<const model> m = *loaded;
  auto lib = store::library::open(dir / "lib.db");
  ASSERT_TRUE(lib.ok()) << lib.message();
  std::string text;
  for (int i = 0; i < 20; ++i)
    text += "Chapter " + std::to_string(i) + ": the tide came in and went out. ";
  auto doc1 = *m->tok().encode_template("document", {{"text", text}});
  auto doc2 = m->tok().encode("An appendix about harbours and boats.");
  store::document_record r1{"Tides", "/books/tides.txt",    "text", "hash-1", 0,
                            0,       R"({"lines":[1,20]})", "",     ""};
  store::document_record r2{"Appendix", "/books/appendix.txt", "text", "hash-2", 0, 0, "{}", "",
                            ""};

  std::atomic<bool> cancel{false};
  read_params rp;
  rp.spec.row_tokens = 64;
  rp.checkpoint.chunk_tokens = 48;
  rp.checkpoint.cancel = &cancel;
  rp.checkpoint.on_progress = [&](const prefill_progress& p) {
    if (p.done >= 96) cancel = true;
  };
  auto first = read_document(**lib, m, "book", r1, doc1, rp);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(first->cancelled);
  EXPECT_FALSE((*lib)->info("book")->complete());
  EXPECT_FALSE(ask(**lib, m, "book", "What came in?").ok()) << "an unfinished session is refused";
  cancel = false;
  rp.checkpoint.on_progress = {};
  auto again = read_document(**lib, m, "book", r1, doc1, rp);  // the same call resumes
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->resumed_from, 96);
  EXPECT_FALSE(again->cancelled);
  auto app = read_document(**lib, m, "book", r2, doc2, rp);
  ASSERT_TRUE(app.ok()) << app.message();
  EXPECT_EQ(app->resumed_from, static_cast<int64_t>(doc1.size()));
  auto info = *(*lib)->info("book");
  ASSERT_EQ(info.documents.size(), 2u);
  EXPECT_EQ(info.documents[1].token_begin, static_cast<int64_t>(doc1.size()));
  EXPECT_EQ(info.n_tokens, static_cast<int64_t>(doc1.size() + doc2.size()));

  ask_params ap;
  ap.gen.max_tokens = 8;
  ap.gen.sampling.temperature = 0;
  ap.gen.stop_at_eos = false;
  auto a1 = ask(**lib, m, "book", "What came in?", ap);
  ASSERT_TRUE(a1.ok()) << a1.message();
  EXPECT_EQ(a1->thread, "q1");
  // The same answer as one session holding the two documents and the question.
  auto direct = session::create(m);
  prefill_params pp;
  pp.chunk_tokens = 48;
  ASSERT_TRUE((*direct)->prefill(doc1, pp).ok());
  ASSERT_TRUE((*direct)->prefill(doc2, pp).ok());
  ASSERT_TRUE((*direct)
                  ->prefill(*m->tok().encode_template("question", {{"question", "What came in?"}}))
                  .ok());
  EXPECT_EQ((*direct)->generate(ap.gen)->text, a1->answer.text);
  // A follow-up in the same thread continues it; a second thread starts from the documents.
  ap.thread = "q1";
  auto a2 = ask(**lib, m, "book", "And then?", ap);
  ASSERT_TRUE(a2.ok()) << a2.message();
  ASSERT_TRUE(
      (*direct)->prefill(*m->tok().encode_template("question", {{"question", "And then?"}})).ok());
  EXPECT_EQ((*direct)->generate(ap.gen)->text, a2->answer.text);
  ap.thread.clear();
  auto a3 = ask(**lib, m, "book", "What came in?", ap);
  ASSERT_TRUE(a3.ok());
  EXPECT_EQ(a3->thread, "q2");
  EXPECT_EQ(a3->answer.text, a1->answer.text);
  EXPECT_EQ((*lib)->info("book")->threads.size(), 2u);

  // The same questions against a resident session (loaded once, rewound after each answer):
  // a new thread answers as ask() did, bit for bit; a follow-up continues its thread; the resident
  // session is back at the document's end after every call, and the threads are saved.
  auto res = (*lib)->load("book", m);
  ASSERT_TRUE(res.ok()) << res.message();
  auto end = (*res)->mark();
  ASSERT_TRUE(end.ok());
  const int64_t n_doc = (*res)->n_tokens();
  auto x1 = ask_resident(**lib, **res, *end, "book", "What came in?", ap);
  ASSERT_TRUE(x1.ok()) << x1.message();
  EXPECT_EQ(x1->thread, "q3");
  EXPECT_EQ(x1->answer.text, a1->answer.text);
  EXPECT_EQ((*res)->n_tokens(), n_doc);
  ap.thread = "q3";
  auto x2 = ask_resident(**lib, **res, *end, "book", "And then?", ap);
  ASSERT_TRUE(x2.ok()) << x2.message();
  EXPECT_EQ(x2->thread, "q3");
  EXPECT_EQ(x2->context_tokens, a2->context_tokens);
  EXPECT_EQ((*res)->n_tokens(), n_doc);
  auto t3 = *(*lib)->tokens("book", "q3");
  EXPECT_EQ(static_cast<int64_t>(t3.size()), x2->context_tokens);
  ap.thread.clear();
  // A document read again since the session was opened: refused, not answered from a stale state.
  auto grown = read_document(**lib, m, "book",
                             store::document_record{"More", "/books/more.txt", "text", "hash-3", 0, 0, "{}", "", ""},
                             m->tok().encode("More text."), rp);
  ASSERT_TRUE(grown.ok()) << grown.message();
  auto stale = ask_resident(**lib, **res, *end, "book", "What came in?", ap);
  EXPECT_FALSE(stale.ok());
  EXPECT_NE(stale.message().find("open it again"), std::string::npos) << stale.message();
}

// A repository of 8 one-function files as a document of the golden model ("<s><|doc|>", then
// "<|file|>path\nint fn_i(void) ..." per file, then <|/doc|>).
const std::vector<std::string> kRepoNames = {"src/alpha.c",    "src/beta.c",    "src/gamma.h",
                                             "lib/delta.py",   "lib/epsilon.py", "tools/zeta.sh",
                                             "docs/eta.md",    "README"};
std::vector<int32_t> repo_doc(const model& m) {
  const auto& tok = m.tok();
  std::vector<int32_t> doc = *tok.encode_template("document", {{"text", ""}});
  doc.pop_back();
  for (size_t i = 0; i < kRepoNames.size(); ++i) {
    doc.push_back(m.config().special_id("file_start"));
    const auto body = tok.encode(kRepoNames[i] + "\nint fn_" + std::to_string(i) +
                                 "(void) { return " + std::to_string(i * 7) + "; }\n");
    doc.insert(doc.end(), body.begin(), body.end());
  }
  doc.push_back(m.config().special_id("doc_end"));
  return doc;
}

std::shared_ptr<const model> golden() {
  auto loaded = model::load(std::filesystem::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32",
                            load_params{backend_kind::cpu, 0});
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return loaded ? std::shared_ptr<const model>(std::move(*loaded)) : nullptr;
}

constexpr const char* kPriorKey = "which-file path prior";
const std::vector<std::string> kNulls = {"Which file defines `N/A`?", "Which file defines ``?"};

// Every path's log p(path, EOS) after `question`, on a fresh session holding `doc`.
std::vector<double> path_scores(const std::shared_ptr<const model>& m, const std::vector<int32_t>& doc,
                                const std::string& question) {
  const auto& tok = m->tok();
  auto created = session::create(m);
  EXPECT_TRUE(created.ok());
  auto s = std::move(*created);
  EXPECT_TRUE(s->prefill(doc).ok());
  EXPECT_TRUE(s->prefill(*tok.encode_template("question", {{"question", question}})).ok());
  std::vector<std::vector<int32_t>> cands;
  for (const auto& n : kRepoNames) cands.push_back(tok.encode(n));
  choose_params all;
  all.score_all = true;
  auto r = choose(*s, cands, m->config().special_id("eos"), all);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? r->logprobs : std::vector<double>(kRepoNames.size(), 0.0);
}

// The paths' prior by hand: each path's log p(path, EOS) after kNulls, averaged.
std::vector<double> prior_by_hand(const std::shared_ptr<const model>& m, const std::vector<int32_t>& doc) {
  std::vector<double> prior(kRepoNames.size(), 0.0);
  for (const auto& nq : kNulls) {
    const auto lp = path_scores(m, doc, nq);
    for (size_t i = 0; i < prior.size(); ++i) prior[i] += lp[i] / static_cast<double>(kNulls.size());
  }
  return prior;
}

// ask_params::choose_path with path_prior_weight: the answer is the path maximising
// log p(path | question) - w * mean log p(path | content-free questions), computed here by hand
// with tome::choose's score_all on a session holding the same tokens; w 0 is the plain choice.
TEST(Service, ChoosePathIsCalibratedByThePathsPrior) {
  const auto dir = scratch();
  auto m = golden();
  ASSERT_TRUE(m);
  ASSERT_GE(m->config().special_id("file_start"), 0);
  const auto doc = repo_doc(*m);
  auto lib = store::library::open(dir / "lib.db");
  ASSERT_TRUE(lib.ok()) << lib.message();
  store::document_record rec{"repo", "/src/repo", "code", "hash-r", 0, 0, "{}", "", ""};
  ASSERT_TRUE(read_document(**lib, m, "repo", rec, doc).ok());
  const auto prior = prior_by_hand(m, doc);

  auto by_hand = [&](const std::string& question, double w) {
    const auto lp = path_scores(m, doc, question);
    size_t best = 0;
    for (size_t i = 1; i < kRepoNames.size(); ++i)
      if (lp[i] - w * prior[i] > lp[best] - w * prior[best]) best = i;
    return kRepoNames[best];
  };

  int differs = 0;
  for (int k = 0; k < 8; ++k) {
    const std::string q = "Which file defines `fn_" + std::to_string(k) + "`?";
    ask_params ap;
    ap.choose_path = true;
    ap.path_prior_weight = 0;
    auto plain = ask(**lib, m, "repo", q, ap);
    ASSERT_TRUE(plain.ok()) << plain.message();
    EXPECT_EQ(plain->answer.text, by_hand(q, 0.0));
    ap.path_prior_weight = 2.0;  // the golden model is random: a weight that changes answers
    auto cal = ask(**lib, m, "repo", q, ap);
    ASSERT_TRUE(cal.ok()) << cal.message();
    const std::string want = by_hand(q, 2.0);
    EXPECT_EQ(cal->answer.text, want) << q;
    differs += plain->answer.text != cal->answer.text;
    // The same on the resident session (the prior then comes from the library).
    auto res = (*lib)->load("repo", m);
    ASSERT_TRUE(res.ok()) << res.message();
    auto end = (*res)->mark();
    auto again = ask_resident(**lib, **res, *end, "repo", q, ap);
    ASSERT_TRUE(again.ok()) << again.message();
    EXPECT_EQ(again->answer.text, want) << q;
  }
  EXPECT_GT(differs, 0) << "the prior never changed an answer: the test would not see it missing";
}

// The prior is computed once per document and kept in the session library: the first calibrated
// question stores it (the by-hand values, for the document's paths); later questions use the
// stored value, which a planted value proves; a value for other questions, or not JSON, is not
// used but computed again and replaced. A thread that already has turns gets the prior of the
// document context, computed on the document state.
TEST(Service, ThePathsPriorIsKeptInTheSessionLibrary) {
  const auto dir = scratch();
  auto m = golden();
  ASSERT_TRUE(m);
  const auto doc = repo_doc(*m);
  const int64_t n_doc = static_cast<int64_t>(doc.size());
  auto lib = store::library::open(dir / "lib.db");
  ASSERT_TRUE(lib.ok()) << lib.message();
  store::document_record rec{"repo", "/src/repo", "code", "hash-r", 0, 0, "{}", "", ""};
  ASSERT_TRUE(read_document(**lib, m, "repo", rec, doc).ok());
  const auto prior = prior_by_hand(m, doc);
  auto stored = [&](const char* session) {
    auto v = (*lib)->derived(session, kPriorKey, n_doc);
    EXPECT_TRUE(v.ok()) << v.message();
    return v.ok() && *v ? nlohmann::json::parse(**v) : nlohmann::json();
  };
  auto expect_by_hand = [&](const nlohmann::json& j) {
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["paths"].get<std::vector<std::string>>(), kRepoNames);
    EXPECT_EQ(j["questions"].get<std::vector<std::string>>(), kNulls);
    EXPECT_EQ(j["model_fingerprint"], m->fingerprint());
    const auto lp = j["logprobs"].get<std::vector<double>>();
    ASSERT_EQ(lp.size(), prior.size());
    for (size_t i = 0; i < lp.size(); ++i) EXPECT_NEAR(lp[i], prior[i], 1e-9) << kRepoNames[i];
  };

  ask_params ap;
  ap.choose_path = true;
  ap.path_prior_weight = 0;
  ASSERT_TRUE(ask(**lib, m, "repo", "Which file defines `fn_1`?", ap).ok());
  EXPECT_TRUE(stored("repo").is_null()) << "no prior without a weight";
  ap.path_prior_weight = 2.0;
  auto first = ask(**lib, m, "repo", "Which file defines `fn_1`?", ap);
  ASSERT_TRUE(first.ok()) << first.message();
  expect_by_hand(stored("repo"));

  // A planted prior that makes one path a sure winner (a prior far below the others: its
  // calibrated score is lifted by 2 x 1e4): the next question answers with that one.
  const size_t planted = first->answer.text == kRepoNames[6] ? 5 : 6;
  auto j = stored("repo");
  for (size_t i = 0; i < kRepoNames.size(); ++i) j["logprobs"][i] = i == planted ? -1e4 : 0.0;
  ASSERT_TRUE((*lib)->put_derived("repo", kPriorKey, n_doc, j.dump()).ok());
  auto used = ask(**lib, m, "repo", "Which file defines `fn_1`?", ap);
  ASSERT_TRUE(used.ok()) << used.message();
  EXPECT_EQ(used->answer.text, kRepoNames[planted]);
  // Planted for other questions: not used, computed again and replaced.
  j["questions"] = std::vector<std::string>{"Which file defines `N/A`?"};
  ASSERT_TRUE((*lib)->put_derived("repo", kPriorKey, n_doc, j.dump()).ok());
  auto redone = ask(**lib, m, "repo", "Which file defines `fn_1`?", ap);
  ASSERT_TRUE(redone.ok()) << redone.message();
  EXPECT_EQ(redone->answer.text, first->answer.text);
  expect_by_hand(stored("repo"));
  // Not JSON at all: the same.
  ASSERT_TRUE((*lib)->put_derived("repo", kPriorKey, n_doc, "\x01 not json").ok());
  ASSERT_TRUE(ask(**lib, m, "repo", "Which file defines `fn_1`?", ap).ok());
  expect_by_hand(stored("repo"));

  // The budget: an estimate over it answers uncalibrated and keeps nothing; the event says so,
  // with the paths and the decode steps (the distinct non-empty prefixes of their tokens).
  ASSERT_TRUE(read_document(**lib, m, "repo3", rec, doc).ok());
  std::set<std::vector<int32_t>> prefixes;
  for (const auto& n : kRepoNames) {
    const auto t = m->tok().encode(n);
    for (size_t i = 1; i <= t.size(); ++i) prefixes.emplace(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(i));
  }
  std::vector<ask_params::path_prior_event> events;
  ask_params tight = ap;
  tight.path_prior_budget_s = 1e-9;
  tight.on_path_prior = [&](const ask_params::path_prior_event& e) { events.push_back(e); };
  auto skipped = ask(**lib, m, "repo3", "Which file defines `fn_1`?", tight);
  ASSERT_TRUE(skipped.ok()) << skipped.message();
  ask_params plain = ap;
  plain.path_prior_weight = 0;
  EXPECT_EQ(skipped->answer.text, ask(**lib, m, "repo3", "Which file defines `fn_1`?", plain)->answer.text);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].skipped);
  EXPECT_GT(events[0].estimated_seconds, 0.0);
  EXPECT_EQ(events[0].paths, static_cast<int64_t>(kRepoNames.size()));
  EXPECT_EQ(events[0].steps, static_cast<int64_t>(prefixes.size()));
  EXPECT_EQ(events[0].questions, 2);
  EXPECT_TRUE(stored("repo3").is_null());
  tight.path_prior_budget_s = 0;  // no limit: computed (no estimate made), kept, said once
  ASSERT_TRUE(ask(**lib, m, "repo3", "Which file defines `fn_1`?", tight).ok());
  ASSERT_TRUE(ask(**lib, m, "repo3", "Which file defines `fn_2`?", tight).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[1].skipped);
  expect_by_hand(stored("repo3"));

  // A thread with turns already: the prior is the document context's, stored at n_doc.
  ASSERT_TRUE(read_document(**lib, m, "repo2", rec, doc).ok());
  ask_params t = ap;
  t.thread = "t";
  t.path_prior_weight = 0;
  ASSERT_TRUE(ask(**lib, m, "repo2", "Which file defines `fn_2`?", t).ok());
  t.path_prior_weight = 2.0;
  ASSERT_TRUE(ask(**lib, m, "repo2", "Which file defines `fn_3`?", t).ok());
  EXPECT_GT((*lib)->info("repo2")->threads[0].n_tokens, n_doc);
  expect_by_hand(stored("repo2"));
}

// ask_params::pointer: with pointer heads in the model's config.json, a which-file question is
// answered by the file those heads attend to most from the question's symbol (checked by hand:
// attention_mass(heads) at each of the symbol's rows, averaged, summed over the files' spans), without computing the
// paths' prior; the same through ask_resident; pointer off, or a question without a symbol, takes
// the path choice as before.
TEST(Service, ThePointerHeadsAnswerWhichFileQuestions) {
  const auto dir = scratch();
  const std::filesystem::path golden_dir = std::filesystem::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32";
  const auto mdir = dir / "model";
  std::filesystem::create_directories(mdir);
  for (const auto& e : std::filesystem::directory_iterator(golden_dir))
    std::filesystem::copy_file(e.path(), mdir / e.path().filename());
  {
    std::ifstream in(mdir / "config.json");
    auto j = nlohmann::ordered_json::parse(in);
    j["pointer_heads"] = nlohmann::ordered_json::array({nlohmann::ordered_json::array({0, 1}),
                                                        nlohmann::ordered_json::array({1, 3})});
    std::ofstream(mdir / "config.json") << j.dump(2);
  }
  auto loaded = model::load(mdir, load_params{backend_kind::cpu, 0});
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::shared_ptr<const model> m = std::move(*loaded);
  ASSERT_EQ(m->config().pointer_heads.size(), 2u);
  const auto doc = repo_doc(*m);
  const int64_t n_doc = static_cast<int64_t>(doc.size());
  auto lib = store::library::open(dir / "lib.db");
  ASSERT_TRUE(lib.ok()) << lib.message();
  store::document_record rec{"repo", "/src/repo", "code", "hash-r", 0, 0, "{}", "", ""};
  ASSERT_TRUE(read_document(**lib, m, "repo", rec, doc).ok());

  auto by_hand = [&](const std::string& question) {
    auto q = m->tok().encode_template("question", {{"question", question}});
    EXPECT_TRUE(q.ok());
    const auto rows = symbol_tokens(m->tok(), *q);
    EXPECT_TRUE(rows.has_value());
    // The heads' attention at each of the symbol's rows, averaged, over the document's positions.
    std::vector<double> mean(static_cast<size_t>(n_doc), 0.0);
    for (size_t r = rows->first; r <= rows->second; ++r) {
      auto s = session::create(m);
      EXPECT_TRUE(s.ok());
      std::vector<int32_t> t = doc;
      t.insert(t.end(), q->begin(), q->begin() + static_cast<std::ptrdiff_t>(r + 1));
      EXPECT_TRUE((*s)->prefill(t).ok());
      auto mass = (*s)->attention_mass(m->config().pointer_heads);
      EXPECT_TRUE(mass.ok());
      for (size_t j = 0; j < mean.size(); ++j) mean[j] += (*mass)[j] / static_cast<double>(rows->second - rows->first + 1);
    }
    const std::vector<float> meanf(mean.begin(), mean.end());
    const int32_t fs = m->config().special_id("file_start");
    return pointer_mass(meanf, file_spans(m->tok(), doc, fs, m->config().special_id("doc_end"), n_doc), kRepoNames);
  };
  ask_params ap;
  ap.choose_path = true;  // path_prior_weight 0.5 (the default): the pointer needs no prior
  int priors = 0;
  ap.on_path_prior = [&](const ask_params::path_prior_event&) { ++priors; };
  std::vector<std::vector<double>> seen;
  std::vector<ask_params::pointer_event> events;
  ap.on_pointer = [&](const ask_params::pointer_event& e) {
    EXPECT_EQ(e.paths, kRepoNames);
    seen.push_back(e.mass);
    events.push_back(e);
  };
  // fn_1 and fn_6 occur in one file each (src/beta.c, docs/eta.md): the answer is that file,
  // whatever the (random) heads attend to most; README is in no file's text (a path only): the
  // file with the most mass.
  for (const char* sym : {"fn_1", "fn_6", "README"}) {
    const std::string question = std::string("Which file defines `") + sym + "`?";
    const auto want = by_hand(question);
    const size_t top = static_cast<size_t>(std::max_element(want.begin(), want.end()) - want.begin());
    const std::string s(sym);
    const size_t best = s == "README" ? top : static_cast<size_t>(std::stoi(s.substr(3)));
    auto a = ask(**lib, m, "repo", question, ap);
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_EQ(a->answer.text, kRepoNames[best]) << sym;
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().symbol, s);
    EXPECT_EQ(events.back().chosen, best);
    for (size_t i = 0; i < kRepoNames.size(); ++i)
      EXPECT_EQ(events.back().occurrences[i], s != "README" && i == best ? 1 : 0) << sym << " " << kRepoNames[i];
    const std::string said = describe_pointer(events.back());
    EXPECT_NE(said.find(s == "README" ? "`README` occurs in no file" : "`" + s + "` occurs only in " + kRepoNames[best]),
              std::string::npos) << said;
    // The answer's attention record: the pointer's, over the document's positions; its sums over
    // the files are the masses above.
    ASSERT_EQ(static_cast<int64_t>(a->attention.size()), n_doc);
    const auto again = pointer_mass(a->attention, file_spans(m->tok(), doc, m->config().special_id("file_start"),
                                                             m->config().special_id("doc_end"), n_doc), kRepoNames);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(again[i], want[i], 1e-5);
    ASSERT_FALSE(seen.empty());
    ASSERT_EQ(seen.back().size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(seen.back()[i], want[i], 1e-5) << sym << " " << kRepoNames[i];
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(priors, 0) << "the pointer answered: no prior estimated or computed";
  EXPECT_FALSE(*(*lib)->derived("repo", kPriorKey, n_doc)) << "nor kept";

  // The resident form answers alike and returns to the document's end.
  auto res = (*lib)->load("repo", m);
  ASSERT_TRUE(res.ok()) << res.message();
  auto end = (*res)->mark();
  ASSERT_TRUE(end.ok());
  auto r1 = ask_resident(**lib, **res, *end, "repo", "Which file defines `fn_1`?", ap);
  ASSERT_TRUE(r1.ok()) << r1.message();
  auto a1 = ask(**lib, m, "repo", "Which file defines `fn_1`?", ap);
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(r1->answer.text, a1->answer.text);
  EXPECT_EQ((*res)->n_tokens(), n_doc);

  // Pointer off, or no symbol in the question: the calibrated path choice, its prior computed.
  seen.clear();
  ask_params off = ap;
  off.pointer = false;
  auto by_choice = ask(**lib, m, "repo", "Which file defines `fn_1`?", off);
  ASSERT_TRUE(by_choice.ok());
  EXPECT_TRUE(by_choice->attention.empty()) << "a path chosen by probability has no attention record";
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(priors, 1);
  EXPECT_TRUE(*(*lib)->derived("repo", kPriorKey, n_doc));
  ASSERT_TRUE(ask(**lib, m, "repo", "Which file defines ``?", ap).ok());
  EXPECT_TRUE(seen.empty()) << "no symbol: no pointer";
  // The golden model without pointer heads: the path choice (as ThePathsPriorIsKeptInTheSessionLibrary).
  EXPECT_TRUE(golden()->config().pointer_heads.empty());
}

TEST(Service, DefaultLibraryPathFollowsTheEnvironment) {
  ::setenv("TOME_LIBRARY", "/x/lib.db", 1);
  EXPECT_EQ(default_library_path(), "/x/lib.db");
  ::unsetenv("TOME_LIBRARY");
  ::setenv("XDG_DATA_HOME", "/data", 1);
  EXPECT_EQ(default_library_path(), "/data/tome/library.db");
  ::unsetenv("XDG_DATA_HOME");
}

}  // namespace
}  // namespace tome::service
