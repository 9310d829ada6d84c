// tome serve over loopback with a real client (httplib::Client, or a raw socket for SSE): every
// endpoint, streaming, answers identical to the in-process service calls (so the request ran
// against the resident session's tokens), threads kept in the library and never in the
// document, two clients at once, the progress stream of a session being read, authentication,
// and malformed, oversized and misrouted requests answered with JSON 4xx errors.
#include <nlohmann/json.hpp>

#include "server_fixture.h"

namespace tome::server::testing {
namespace {

using json = nlohmann::json;

json chat_body(const std::string& question, int max_tokens = 6) {
  return {{"model", "tome:repo"},
          {"messages", {{{"role", "user"}, {"content", question}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0}};
}

// The in-process answer: service::ask in a fresh thread (the question template after the document).
std::string ask_in_process(store::library& lib, std::shared_ptr<const model> m,
                           const std::string& q, int max_tokens) {
  service::ask_params p;
  p.gen.max_tokens = max_tokens;
  auto r = service::ask(lib, std::move(m), "repo", q, p);
  EXPECT_TRUE(r.ok()) << r.message();
  return r ? r->answer.text : "";
}

TEST_F(ServerTest, HealthAndModels) {
  start();
  auto c = client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->status, 200);
  auto j = json::parse(models->body);
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "tome:repo");
  EXPECT_EQ(j["data"][0]["tome"]["context_tokens"], static_cast<int64_t>(doc_.size()));
  auto sessions = c.Get("/v1/sessions");
  ASSERT_TRUE(sessions);
  EXPECT_EQ(json::parse(sessions->body)["data"][0]["loaded"], true);
}

TEST_F(ServerTest, ChatAnswersAsTheInProcessCallAndRewinds) {
  start();
  const std::string q = "What does circle_area return?";
  const std::string want = ask_in_process(*lib_, m_, q, 6);
  auto c = client();
  for (int round = 0; round < 2; ++round) {  // the second request runs after a rewind
    auto r = c.Post("/v1/chat/completions", chat_body(q).dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = json::parse(r->body);
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["model"], "tome:repo");
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(j["choices"][0]["message"]["content"], want) << "round " << round;
    EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
    EXPECT_EQ(j["tome"]["context_tokens"], static_cast<int64_t>(doc_.size()));
  }
  // The document was never written: still exactly its own tokens.
  EXPECT_EQ(*lib_->tokens("repo"), doc_);
}

TEST_F(ServerTest, ChatStreamsServerSentEvents) {
  start();
  const std::string q = "Which module defines circle_area?";
  const std::string want = ask_in_process(*lib_, m_, q, 6);
  json body = chat_body(q);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  raw_client rc(port());
  ASSERT_TRUE(rc.post("/v1/chat/completions", body.dump()));
  auto r = rc.read_response();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.headers.find("text/event-stream"), std::string::npos);
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 3u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  bool saw_finish = false, saw_usage = false;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto e = json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e.contains("usage")) saw_usage = true;
    if (e["choices"].empty()) continue;
    const auto& ch = e["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) saw_finish = true;
  }
  EXPECT_EQ(text, want);
  EXPECT_TRUE(saw_finish);
  EXPECT_TRUE(saw_usage);
}

TEST_F(ServerTest, CompletionsPlainStreamedAndStopped) {
  start();
  json body = {{"prompt", "def circle_area(radius):\n"}, {"max_tokens", 6}, {"temperature", 0}};
  auto c = client();
  auto r = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  const std::string text = j["choices"][0]["text"];
  const std::string reason = j["choices"][0]["finish_reason"];
  EXPECT_TRUE(reason == "length" || reason == "stop") << reason;
  if (reason == "length") {
    EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  }
  // Streamed: the same text in pieces.
  body["stream"] = true;
  raw_client rc(port());
  ASSERT_TRUE(rc.post("/v1/completions", body.dump()));
  auto s = rc.read_response();
  ASSERT_EQ(s.status, 200);
  std::string streamed;
  for (const auto& e : sse_data(s.body))
    if (e != "[DONE]") streamed += json::parse(e)["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed, text);
  // ignore_eos generates exactly max_tokens; a stop string cuts the text before it.
  json forced = {{"prompt", ""}, {"max_tokens", 6}, {"ignore_eos", true}};
  auto f = c.Post("/v1/completions", forced.dump(), "application/json");
  ASSERT_TRUE(f);
  EXPECT_EQ(json::parse(f->body)["usage"]["completion_tokens"], 6);
  if (text.size() > 2) {
    json stopped = body;
    stopped.erase("stream");
    stopped["stop"] = text.substr(1, 1);
    auto st = c.Post("/v1/completions", stopped.dump(), "application/json");
    ASSERT_TRUE(st);
    auto sj = json::parse(st->body);
    EXPECT_EQ(sj["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(sj["choices"][0]["text"], text.substr(0, text.find(text.substr(1, 1))));
  }
}

TEST_F(ServerTest, LlamaVimInfillRunsAgainstTheRepository) {
  start();
  // What llama.vim sends at the cursor after `print("circle", ` in src/main.py.
  const std::string prefix = "from geometry import circle_area\n\n\ndef report(r):\n";
  const std::string middle = "    print(\"circle\", ";
  const std::string suffix = "\n";
  json body = {
      {"input_prefix", prefix},
      {"input_suffix", suffix},
      {"input_extra", json::array()},
      {"prompt", middle},
      {"n_predict", 8},
      {"n_indent", 4},
      {"top_k", 40},
      {"top_p", 0.99},
      {"stream", false},
      {"samplers", {"top_k", "top_p", "infill"}},
      {"cache_prompt", true},
      {"t_max_prompt_ms", 500},
      {"t_max_predict_ms", 60000},
      {"response_fields",
       {"content", "timings/prompt_n", "timings/predicted_n", "tokens_cached", "truncated"}}};
  auto c = client();
  auto r = c.Post("/infill", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  // llama.cpp's response_fields: flat keys, nothing else.
  EXPECT_EQ(j.size(), 5u) << j.dump();
  EXPECT_EQ(j["tokens_cached"], static_cast<int64_t>(doc_.size()));
  EXPECT_GT(j["timings/prompt_n"].get<int>(), 0);
  const std::string content = j["content"];
  // The same fill-in-the-middle in process (service::complete over the session's tokens).
  service::complete_params cp;
  cp.gen.max_tokens = 8;
  auto want = service::complete(*lib_, m_, "repo", prefix + middle, suffix, cp);
  ASSERT_TRUE(want.ok()) << want.message();
  EXPECT_EQ(content, want->text);
  // Whether the 25M model uses the symbol from the other file is reported, not asserted (its
  // next-line exact match on held-out repositories is 4%: MODEL_CARD.md).
  std::printf("infill completion: %s (%s circle_area)\n", json(content).dump().c_str(),
              content.find("circle_area") != std::string::npos ? "uses" : "does not use");
  // The llama.vim cache warm-up (n_predict 0) answers at once.
  auto warm = c.Post(
      "/infill",
      R"({"input_prefix":"","input_suffix":"","input_extra":[{"text":"x = 1\n","filename":"a.py"}],"prompt":"","n_predict":0,"response_fields":[""]})",
      "application/json");
  ASSERT_TRUE(warm);
  EXPECT_EQ(warm->status, 200);
  EXPECT_EQ(warm->body, "{}");
  // Streamed: llama.cpp's events, the last with stop: true.
  body["stream"] = true;
  body.erase("response_fields");
  raw_client rc(port());
  ASSERT_TRUE(rc.post("/infill", body.dump()));
  auto s = rc.read_response();
  ASSERT_EQ(s.status, 200);
  std::string streamed;
  auto events = sse_data(s.body);
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) streamed += json::parse(e)["content"].get<std::string>();
  EXPECT_EQ(json::parse(events.back())["stop"], true);
  EXPECT_EQ(streamed, content);
}

TEST_F(ServerTest, ThreadTurnsGoToTheThreadNeverTheDocument) {
  start();
  auto c = client();
  httplib::Headers h = {{"X-Tome-Thread", "chat-1"}};
  auto r1 = c.Post("/v1/chat/completions", h, chat_body("What does report print?", 8).dump(),
                   "application/json");
  ASSERT_TRUE(r1);
  ASSERT_EQ(r1->status, 200) << r1->body;
  const std::string a1 = json::parse(r1->body)["choices"][0]["message"]["content"];
  EXPECT_EQ(json::parse(r1->body)["tome"]["thread"], "chat-1");
  auto t1 = lib_->tokens("repo", "chat-1");
  ASSERT_TRUE(t1.ok()) << t1.message();
  ASSERT_GT(t1->size(), doc_.size());
  EXPECT_TRUE(std::equal(doc_.begin(), doc_.end(), t1->begin()));
  // The next turn (the client sends the history; the thread already holds it).
  json next = {{"messages",
                {{{"role", "user"}, {"content", "What does report print?"}},
                 {{"role", "assistant"}, {"content", a1}},
                 {{"role", "user"}, {"content", "And what is its argument?"}}}},
               {"max_tokens", 8}};
  auto r2 = c.Post("/v1/chat/completions", h, next.dump(), "application/json");
  ASSERT_TRUE(r2);
  ASSERT_EQ(r2->status, 200) << r2->body;
  auto t2 = lib_->tokens("repo", "chat-1");
  ASSERT_TRUE(t2.ok());
  ASSERT_GT(t2->size(), t1->size());
  EXPECT_TRUE(std::equal(t1->begin(), t1->end(), t2->begin()))
      << "the thread grows by the new turn only";
  auto info = lib_->info("repo");
  EXPECT_EQ(info->n_tokens, static_cast<int64_t>(doc_.size()));
  EXPECT_EQ(*lib_->tokens("repo"), doc_);
  // The same thread continues in process too (tome ask --thread chat-1 reads what the server
  // wrote).
  service::ask_params p;
  p.thread = "chat-1";
  p.gen.max_tokens = 4;
  auto cont = service::ask(*lib_, m_, "repo", "One more?", p);
  EXPECT_TRUE(cont.ok()) << cont.message();
}

TEST_F(ServerTest, TwoClientsAtOnceQueueOnTheSession) {
  start();
  const std::string q = "What does circle_area return?";
  const std::string want = ask_in_process(*lib_, m_, q, 8);
  std::string got[2];
  int status[2] = {0, 0};
  std::thread clients[2];
  for (int i = 0; i < 2; ++i)
    clients[i] = std::thread([&, i] {
      auto c = client();
      auto r = c.Post("/v1/chat/completions", chat_body(q, 8).dump(), "application/json");
      if (!r) return;
      status[i] = r->status;
      got[i] = json::parse(r->body)["choices"][0]["message"]["content"];
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(status[i], 200);
    EXPECT_EQ(got[i], want) << "client " << i;
  }
  EXPECT_EQ(srv_->stats().jobs_done, 2);
}

TEST_F(ServerTest, ProgressStreamFollowsAReadingSession) {
  server_params p;
  p.progress_interval_ms = 100;
  start(p);
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "Line " + std::to_string(i) + " of a slowly read book about lighthouses.\n";
  auto doc = *m_->tok().encode_template("document", {{"text", text}});
  ASSERT_GT(doc.size(), 300u);
  std::atomic<bool> begun{false};
  std::thread reader([&] {
    auto lib = store::library::open(dir_ / "library.db");
    ASSERT_TRUE(lib.ok());
    store::document_record rec{"book", "/tmp/book.txt", "text", "h2", 0, 0, "{}", "", ""};
    service::read_params rp;
    rp.checkpoint.chunk_tokens = 64;
    rp.checkpoint.on_progress = [&](const prefill_progress&) {
      begun = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(120));
    };
    auto r = service::read_document(**lib, m_, "book", rec, doc, rp);
    EXPECT_TRUE(r.ok()) << r.message();
  });
  while (!begun) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto c = client();
  std::string body;
  auto r = c.Get("/v1/sessions/book/progress", [&](const char* d, size_t n) {
    body.append(d, n);
    return true;
  });
  reader.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto events = sse_data(body);
  ASSERT_GE(events.size(), 3u) << body;
  EXPECT_EQ(events.back(), "[DONE]");
  int64_t last = -1;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto e = json::parse(events[i]);
    EXPECT_GE(e["n_tokens"].get<int64_t>(), last);
    last = e["n_tokens"];
    EXPECT_EQ(e["target_tokens"], static_cast<int64_t>(doc.size()));
  }
  EXPECT_EQ(last, static_cast<int64_t>(doc.size()));
  EXPECT_EQ(json::parse(events[events.size() - 2])["complete"], true);
  auto missing = c.Get("/v1/sessions/nope/progress");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ServerTest, ApiKeyAndLoopbackOnly) {
  server_params bad;
  bad.host = "0.0.0.0";
  bad.library = dir_ / "library.db";
  auto refused = server::create(m_, bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("--api-key"), std::string::npos) << refused.message();
  server_params p;
  p.api_key = "s3cret";
  start(p);
  auto c = client();
  auto none = c.Get("/v1/models");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["type"], "authentication_error");
  auto wrong = c.Get("/v1/models", {{"Authorization", "Bearer s3cres"}});
  EXPECT_EQ(wrong->status, 401);
  auto right = c.Get("/v1/models", {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(c.Get("/health")->status, 200) << "health needs no key";
}

TEST_F(ServerTest, MalformedAndOversizedRequestsGetJsonErrors) {
  server_params p;
  p.limits.max_body_bytes = 64 * 1024;
  start(p);
  auto c = client();
  struct bad_case {
    std::string path, body;
    int status;
    std::string want;
  };
  const bad_case cases[] = {
      {"/v1/chat/completions", "{not json", 400, "not valid JSON"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"q"}],"max_tokens":"ten"})",
       400, "max_tokens"},
      {"/v1/chat/completions",
       R"({"model":"tome:nope","messages":[{"role":"user","content":"q"}]})", 404, "not loaded"},
      {"/v1/completions", R"({"prompt":"x","max_tokens":100000})", 400, "max_tokens"},
      {"/v1/completions", "{\"prompt\":\"" + std::string(100 * 1024, 'a') + "\"}", 413,
       "larger than 65536 bytes"},
      {"/v1/nothing", "{}", 404, "no such endpoint"},
  };
  for (const auto& k : cases) {
    auto r = c.Post(k.path, k.body, "application/json");
    ASSERT_TRUE(r) << k.path;
    EXPECT_EQ(r->status, k.status) << k.body.substr(0, 80) << " -> " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(k.want), std::string::npos) << r->body;
  }
  // A thread header that is not a name, garbage that is not HTTP, a truncated body: refused or
  // dropped, and the server still answers.
  auto t = c.Post("/v1/chat/completions", {{"X-Tome-Thread", "../../etc"}}, chat_body("q").dump(),
                  "application/json");
  EXPECT_EQ(t->status, 400);
  {
    raw_client rc(port());
    rc.send_all(std::string("\x00\xff garbage\r\n\r\n", 14));
    const std::string got =
        rc.read_until([](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
    EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  }
  {
    raw_client rc(port());
    rc.send_all(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"prompt\":");
  }
  auto ok = c.Get("/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

}  // namespace
}  // namespace tome::server::testing
