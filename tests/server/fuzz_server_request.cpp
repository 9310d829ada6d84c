// Fuzz target: tome::server::parse_request on arbitrary request bodies. The first byte picks the
// endpoint (chat, completion, infill), the rest is the body. No crash, no exception, no sanitizer
// report; a refusal is a 4xx with a message; an accepted request keeps every limit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tome/server/request.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz invariant broken: %s %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome::server;
  if (size == 0) return 0;
  const endpoint kind = static_cast<endpoint>(data[0] % 3);
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  request_limits lim;
  lim.max_body_bytes = 1 << 16;
  lim.max_text_bytes = 1 << 12;
  lim.max_messages = 16;
  lim.max_extra_chunks = 8;
  lim.max_tokens_cap = 1000;
  lim.max_depth = 16;
  const parse_outcome r = parse_request(kind, body, lim);
  if (!r.ok()) {
    if (r.error.status < 400 || r.error.status > 499)
      fail("refusal is not a 4xx", std::to_string(r.error.status));
    if (r.error.message.empty()) fail("refusal without a message");
    return 0;
  }
  const generation_request& q = *r.request;
  if (q.kind != kind) fail("endpoint");
  if (q.max_tokens && (*q.max_tokens < 0 || *q.max_tokens > lim.max_tokens_cap))
    fail("max_tokens out of range");
  if (!(q.temperature >= 0 && q.temperature <= 2)) fail("temperature");
  if (!(q.top_p > 0 && q.top_p <= 1)) fail("top_p");
  if (q.top_k < 0) fail("top_k");
  if (q.stop.size() > lim.max_stop) fail("stop count");
  for (const auto& s : q.stop)
    if (s.empty() || s.size() > lim.max_stop_bytes) fail("stop size");
  if (q.messages.size() > lim.max_messages) fail("messages");
  if (kind == endpoint::chat && (q.messages.empty() || q.messages.back().role != "user"))
    fail("last message");
  if (q.input_extra.size() > lim.max_extra_chunks) fail("input_extra");
  size_t text = q.prompt.size() + q.input_prefix.size() + q.input_suffix.size();
  for (const auto& m : q.messages) text += m.content.size();
  for (const auto& c : q.input_extra) text += c.text.size();
  if (text > lim.max_text_bytes) fail("text bytes");
  if (!q.thread.empty() && !valid_name(q.thread)) fail("thread name");
  return 0;
}
