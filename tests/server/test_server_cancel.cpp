// A client that hangs up cancels its request at once: during generation (a streamed answer of
// thousands of tokens stops after a few), during the prefill of a long prompt (the prefill stops
// within a chunk, long before its end), and while it waits in the session's queue (it never
// runs). The session answers the next request exactly as before (it was rewound).
#include <nlohmann/json.hpp>

#include "server_fixture.h"

namespace tome::server::testing {
namespace {

using json = nlohmann::json;

std::string long_generation(bool stream) {
  return json{
      {"prompt", "def f():\n"}, {"max_tokens", 4000}, {"ignore_eos", true}, {"stream", stream}}
      .dump();
}

TEST_F(ServerTest, DisconnectDuringGenerationCancels) {
  start();
  auto c = client();
  const json probe = {{"prompt", "import"}, {"max_tokens", 6}};
  auto before = c.Post("/v1/completions", probe.dump(), "application/json");
  ASSERT_TRUE(before);
  {
    raw_client rc(port());
    ASSERT_TRUE(rc.post("/v1/completions", long_generation(true)));
    // Read until the first generated piece arrives, then hang up.
    const std::string got =
        rc.read_until([](const std::string& s) { return s.find("\"text\"") != std::string::npos; });
    ASSERT_NE(got.find("data: "), std::string::npos) << got;
  }
  ASSERT_TRUE(wait_for([](const server_stats& s) { return s.jobs_cancelled == 1; }))
      << "the job ran on after the client left";
  const auto s = srv_->stats();
  EXPECT_GT(s.last_cancel_generated, 0);
  EXPECT_LT(s.last_cancel_generated, 4000);
  EXPECT_EQ(s.jobs_running, 0);
  std::printf("cancelled after generating %lld of 4000 tokens\n",
              static_cast<long long>(s.last_cancel_generated));
  auto after = c.Post("/v1/completions", probe.dump(), "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(json::parse(after->body)["choices"][0]["text"],
            json::parse(before->body)["choices"][0]["text"]);
}

TEST_F(ServerTest, DisconnectDuringPrefillCancels) {
  start();
  std::string prompt;
  for (int i = 0; prompt.size() < 120000; ++i)
    prompt += "Paragraph " + std::to_string(i) +
              ": the keeper climbed the stairs and lit the lamp again.\n";
  const std::string body = json{{"prompt", prompt}, {"max_tokens", 4}}.dump();  // not streamed
  {
    raw_client rc(port());
    ASSERT_TRUE(rc.post("/v1/completions", body));
    ASSERT_TRUE(wait_for([](const server_stats& s) { return s.jobs_running == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // some chunks into the prompt
  }  // hang up while the prompt is being prefilled
  ASSERT_TRUE(wait_for([](const server_stats& s) { return s.jobs_done == 1; }));
  const auto s = srv_->stats();
  EXPECT_EQ(s.jobs_cancelled, 1);
  EXPECT_GT(s.last_cancel_prompt_tokens, 20000);
  EXPECT_LT(s.last_cancel_prefill_done, s.last_cancel_prompt_tokens)
      << "the whole prompt was prefilled";
  EXPECT_EQ(s.last_cancel_generated, 0);
  std::printf("cancelled after prefilling %lld of %lld prompt tokens\n",
              static_cast<long long>(s.last_cancel_prefill_done),
              static_cast<long long>(s.last_cancel_prompt_tokens));
}

TEST_F(ServerTest, DisconnectWhileQueuedNeverRuns) {
  start();
  raw_client first(port());
  ASSERT_TRUE(first.post("/v1/completions", long_generation(true)));
  ASSERT_TRUE(wait_for([](const server_stats& s) { return s.jobs_running == 1; }));
  {
    raw_client second(port());  // queued behind the first, then gone
    ASSERT_TRUE(second.post("/v1/completions", long_generation(false)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Its connection is polled every 20 ms: give it that (many times over) before the first ends.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  first.close();
  ASSERT_TRUE(wait_for([](const server_stats& s) { return s.jobs_done == 2; }));
  const auto s = srv_->stats();
  EXPECT_EQ(s.jobs_cancelled, 2);
  EXPECT_EQ(s.last_cancel_generated, 0) << "the queued job generated tokens after its client left";
  EXPECT_EQ(s.last_cancel_prefill_done, 0);
}

}  // namespace
}  // namespace tome::server::testing
