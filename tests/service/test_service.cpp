// tome::service on the golden gret-f32 model: reading a document with checkpoints, a cancel and a
// resume by running the same call again, a second document appended, and ask() in threads that
// answer exactly as a session holding the same tokens would, saved and continued, also on a
// resident session (ask_resident).
#include <gtest/gtest.h>

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
