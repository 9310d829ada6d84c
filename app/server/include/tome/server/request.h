// tome::server request parsing: a pure function from an HTTP request body (untrusted bytes) to a
// validated request of one endpoint, or a 4xx error naming the field and the problem. No engine,
// no sockets, no exceptions out: the libFuzzer target tests/server/fuzz_server_request.cpp calls
// parse_request directly. The shapes are OpenAI's (/v1/chat/completions, /v1/completions) and
// llama.cpp's /infill as llama.vim and llama.vscode send it; unknown fields are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tome::server {

enum class endpoint { chat, completion, infill };
const char* to_string(endpoint e);

// An API error: the HTTP status (4xx for the client's mistakes) and an OpenAI-style error object.
struct api_error {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, if one
};

struct request_limits {
  size_t max_body_bytes = 8u << 20;  // also enforced by the HTTP layer (413)
  int max_depth = 32;                // JSON nesting
  size_t max_messages = 1024;        // chat messages
  size_t max_text_bytes = 8u << 20;  // all text fields together
  size_t max_extra_chunks = 256;     // infill input_extra
  int max_tokens_cap = 16384;        // max_tokens / n_predict above this are refused
  size_t max_stop = 8;               // stop strings
  size_t max_stop_bytes = 256;       // each
  size_t max_name_bytes = 256;       // model, thread
};

struct chat_message {
  std::string role;  // "system", "user", "assistant" ("developer" is read as "system")
  std::string content;
};

struct extra_chunk {  // infill input_extra: text from other files the editor saw
  std::string filename;
  std::string text;
};

struct generation_request {
  endpoint kind = endpoint::chat;
  std::string model;   // "tome:<session>" or "<session>"; empty when absent
  std::string thread;  // Tome's "thread" field (the X-Tome-Thread header overrides)
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  std::optional<int> max_tokens;  // max_tokens / max_completion_tokens / n_predict (-1: the cap)
  float temperature = 0.0f;       // 0 = greedy (Tome's default, unlike OpenAI's 1)
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  std::optional<uint64_t> seed;  // absent (or -1): a fresh random seed per request
  std::vector<std::string> stop;
  bool ignore_eos = false;  // llama.cpp's field: generate max_tokens even past EOS
  // chat
  std::vector<chat_message> messages;
  // completion
  std::string prompt;
  // infill (llama.cpp /infill): the text before the cursor is input_prefix + prompt
  std::string input_prefix, input_suffix;
  std::vector<extra_chunk> input_extra;
  double t_max_predict_ms = 0;                              // > 0: stop generating after this long
  std::optional<std::vector<std::string>> response_fields;  // llama.cpp: only these, flattened
};

struct parse_outcome {
  std::optional<generation_request> request;  // set when the body is valid
  api_error error;                            // otherwise
  bool ok() const { return request.has_value(); }
};

// Validates `body` as a request to `kind`. Never throws; every refusal is a 4xx (400, or 413 for
// a body over max_body_bytes) with a message naming the field.
parse_outcome parse_request(endpoint kind, std::string_view body,
                            const request_limits& limits = {});

// Strips "tome:" from a model name ("tome:book" -> "book").
std::string session_of_model(std::string_view model);

// A thread or session name that the server accepts in a header or field: 1..max bytes of
// [A-Za-z0-9._:@+-] (no spaces, slashes or control characters).
bool valid_name(std::string_view name, size_t max_bytes = 256);

}  // namespace tome::server
