// tome::server::parse_request on valid bodies of the three endpoints (OpenAI chat and
// completions, a llama.vim-shaped /infill) and on malformed ones: every refusal is a 4xx whose
// message names the field. Pure parsing: no model, no sockets.
#include <gtest/gtest.h>

#include <string>

#include "tome/server/request.h"

namespace tome::server {
namespace {

TEST(ServerRequest, ChatWithOpenAIFields) {
  auto r = parse_request(endpoint::chat, R"({"model":"tome:book","messages":[
      {"role":"system","content":"Be brief."},
      {"role":"user","content":[{"type":"text","text":"What is "},{"type":"text","text":"the key?"}]}],
      "max_tokens":32,"temperature":0.7,"top_p":0.9,"stop":["\n\n","END"],"seed":42,"stream":true,
      "stream_options":{"include_usage":true},"user":"ignored","logit_bias":{}})");
  ASSERT_TRUE(r.ok()) << r.error.message;
  const auto& q = *r.request;
  EXPECT_EQ(q.model, "tome:book");
  EXPECT_EQ(session_of_model(q.model), "book");
  ASSERT_EQ(q.messages.size(), 2u);
  EXPECT_EQ(q.messages[0].role, "system");
  EXPECT_EQ(q.messages[1].content, "What is the key?");
  EXPECT_EQ(q.max_tokens, 32);
  EXPECT_FLOAT_EQ(q.temperature, 0.7f);
  EXPECT_FLOAT_EQ(q.top_p, 0.9f);
  EXPECT_EQ(q.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(q.seed, 42u);
  EXPECT_TRUE(q.stream);
  EXPECT_TRUE(q.include_usage);
}

TEST(ServerRequest, CompletionAndDefaults) {
  auto r = parse_request(endpoint::completion,
                         R"({"prompt":["Once upon"],"stop":"\n","seed":-1,"max_tokens":-1})");
  ASSERT_TRUE(r.ok()) << r.error.message;
  EXPECT_EQ(r.request->prompt, "Once upon");
  EXPECT_EQ(r.request->stop, std::vector<std::string>{"\n"});
  EXPECT_FALSE(r.request->seed.has_value()) << "-1: a fresh seed";
  EXPECT_EQ(r.request->max_tokens, request_limits{}.max_tokens_cap) << "-1: the cap";
  EXPECT_FLOAT_EQ(r.request->temperature, 0.0f);
}

TEST(ServerRequest, LlamaVimInfill) {
  // The fields llama.vim's llama#fim sends (autoload/llama.vim), "time" a reltime() list.
  auto r =
      parse_request(endpoint::infill, R"({"input_prefix":"def report(r):\n","input_suffix":"\n",
      "input_extra":[{"text":"import math\n","time":[1732,44],"filename":"src/geometry.py"}],
      "prompt":"    print(","n_predict":128,"n_indent":4,"top_k":40,"top_p":0.99,"stream":false,
      "samplers":["top_k","top_p","infill"],"cache_prompt":true,"t_max_prompt_ms":500,
      "t_max_predict_ms":1500,"response_fields":["content","timings/prompt_n","tokens_cached"]})");
  ASSERT_TRUE(r.ok()) << r.error.message;
  const auto& q = *r.request;
  EXPECT_EQ(q.input_prefix, "def report(r):\n");
  EXPECT_EQ(q.prompt, "    print(");
  ASSERT_EQ(q.input_extra.size(), 1u);
  EXPECT_EQ(q.input_extra[0].filename, "src/geometry.py");
  EXPECT_EQ(q.max_tokens, 128);
  EXPECT_EQ(q.top_k, 40);
  EXPECT_DOUBLE_EQ(q.t_max_predict_ms, 1500);
  ASSERT_TRUE(q.response_fields.has_value());
  EXPECT_EQ(q.response_fields->size(), 3u);
  // llama.vim's cache warm-up: n_predict 0 and empty texts are valid.
  auto warm =
      parse_request(endpoint::infill, R"({"input_prefix":"","input_suffix":"","input_extra":[],
      "prompt":"","n_predict":0,"response_fields":[""]})");
  ASSERT_TRUE(warm.ok()) << warm.error.message;
  EXPECT_EQ(warm.request->max_tokens, 0);
}

struct refusal {
  endpoint kind;
  std::string body;
  int status;
  std::string want;  // in the message
};

TEST(ServerRequest, RefusesMalformedBodiesWithNamedFields) {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const refusal cases[] = {
      {endpoint::chat, "", 400, "empty"},
      {endpoint::chat, "{", 400, "not valid JSON"},
      {endpoint::chat, "[1,2]", 400, "JSON object"},
      {endpoint::chat, "{\"messages\":" + deep + "}", 400, "nested deeper"},
      {endpoint::chat, "{\"messages\":\"hi\"}", 400, "'messages': must be an array"},
      {endpoint::chat, "{}", 400, "'messages': is required"},
      {endpoint::chat, R"({"messages":[]})", 400, "must not be empty"},
      {endpoint::chat, R"({"messages":[{"role":"user"}]})", 400,
       "'messages[0].content': is required"},
      {endpoint::chat, R"({"messages":[{"role":"tool","content":"x"}]})", 400,
       "tools are not supported"},
      {endpoint::chat,
       R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]})", 400,
       "last message must be from the user"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", 400,
       "type \"text\""},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"max_tokens":"ten"})", 400,
       "'max_tokens': must be an integer"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"max_tokens":1e12})", 400,
       "'max_tokens': must be in"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"max_tokens":2.5})", 400,
       "must be an integer"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"temperature":7})", 400,
       "'temperature': must be in"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"top_p":0})", 400,
       "'top_p': must be in"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"stop":[1]})", 400,
       "'stop': must be a string"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"stop":[""]})", 400,
       "must not be empty"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"n":3})", 400, "'n'"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"stream":"yes"})", 400,
       "'stream': must be true or false"},
      {endpoint::chat, R"({"messages":[{"role":"user","content":"q"}],"thread":"a/b"})", 400,
       "'thread'"},
      {endpoint::completion, R"({"prompt":["a","b"]})", 400, "only one prompt"},
      {endpoint::completion, R"({"prompt":"a","thread":"t"})", 400, "threads are kept for"},
      {endpoint::infill, R"({"input_extra":{"text":"x"}})", 400, "'input_extra': must be an array"},
      {endpoint::infill, R"({"input_prefix":5})", 400, "'input_prefix': must be a string"},
      {endpoint::infill, R"({"response_fields":[1]})", 400, "'response_fields'"},
      {endpoint::chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400,
       "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto r = parse_request(c.kind, c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error.status, c.status) << c.body;
    EXPECT_NE(r.error.message.find(c.want), std::string::npos)
        << c.body << " -> " << r.error.message;
  }
}

TEST(ServerRequest, SizeLimits) {
  request_limits lim;
  lim.max_body_bytes = 1000;
  lim.max_text_bytes = 100;
  lim.max_messages = 2;
  auto big =
      parse_request(endpoint::completion, "{\"prompt\":\"" + std::string(2000, 'a') + "\"}", lim);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error.status, 413);
  auto text =
      parse_request(endpoint::completion, "{\"prompt\":\"" + std::string(200, 'a') + "\"}", lim);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error.message.find("exceeds 100 bytes"), std::string::npos) << text.error.message;
  auto many = parse_request(
      endpoint::chat,
      R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"user","content":"c"}]})",
      lim);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error.message.find("at most 2 messages"), std::string::npos) << many.error.message;
}

TEST(ServerRequest, Names) {
  EXPECT_TRUE(valid_name("chat-1.main_v2"));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("a b"));
  EXPECT_FALSE(valid_name("../x"));
  EXPECT_FALSE(valid_name(std::string(300, 'a')));
}

}  // namespace
}  // namespace tome::server
