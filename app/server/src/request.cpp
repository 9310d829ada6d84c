// tome::server::parse_request (request.h): JSON bodies of /v1/chat/completions, /v1/completions
// and /infill checked field by field. The body's nesting depth is measured before nlohmann-json
// parses it (no deep recursion on hostile input); parsing runs without exceptions, and every
// accessor below checks the type first, so no json::type_error can escape.
#include "tome/server/request.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace tome::server {
namespace {

using json = nlohmann::json;

api_error bad(std::string param, std::string message, int status = 400) {
  api_error e;
  e.status = status;
  e.param = param;
  e.message = param.empty() ? std::move(message) : "'" + param + "': " + std::move(message);
  return e;
}

// Deepest nesting of [ and { outside strings; stops counting past `limit`.
int nesting_depth(std::string_view s, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Reads the fields of one request; the first problem found is kept in `err`.
class reader {
 public:
  reader(const json& j, const request_limits& lim) : j_(j), lim_(lim) {}
  bool failed() const { return err_.has_value(); }
  api_error error() const { return *err_; }
  void fail(const std::string& param, const std::string& message) {
    if (!err_) err_ = bad(param, message);
  }

  const json* get(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  void text(const json& v, const std::string& param, std::string& out) {
    if (!v.is_string()) return fail(param, "must be a string");
    out = v.get_ref<const std::string&>();
    count(out.size(), param);
  }
  void text(const char* key, std::string& out) {
    if (const json* v = get(key)) text(*v, key, out);
  }
  void name(const char* key, std::string& out) {
    text(key, out);
    if (out.size() > lim_.max_name_bytes)
      fail(key, "longer than " + std::to_string(lim_.max_name_bytes) + " bytes");
  }
  void flag(const char* key, bool& out) {
    if (const json* v = get(key)) {
      if (!v->is_boolean()) return fail(key, "must be true or false");
      out = v->get<bool>();
    }
  }
  void number(const char* key, float& out, double lo, double hi, bool lo_open = false) {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_number()) return fail(key, "must be a number");
    const double d = v->get<double>();
    if (!std::isfinite(d) || d < lo || d > hi || (lo_open && d <= lo))
      return fail(key, "must be in " + std::string(lo_open ? "(" : "[") + fmt(lo) + ", " + fmt(hi) +
                           "], got " + fmt(d));
    out = static_cast<float>(d);
  }
  void number(const char* key, double& out, double lo, double hi) {
    float f = 0;
    const json* v = get(key);
    if (!v) return;
    number(key, f, lo, hi);
    if (!failed()) out = v->get<double>();
  }
  // An integer in [lo, hi] (a float with an integral value is accepted: JSON has one number type).
  bool integer(const json& v, const std::string& param, int64_t lo, int64_t hi, int64_t& out) {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(hi))
          return fail(param, "must be at most " + std::to_string(hi)), false;
        out = static_cast<int64_t>(u);
      } else {
        out = v.get<int64_t>();
      }
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d) || d != std::floor(d) || d < -9.0e18 || d > 9.0e18)
        return fail(param, "must be an integer"), false;
      out = static_cast<int64_t>(d);
    } else {
      return fail(param, "must be an integer"), false;
    }
    if (out < lo || out > hi)
      return fail(param, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "], got " + std::to_string(out)),
             false;
    return true;
  }
  void count(size_t bytes, const std::string& param) {
    text_bytes_ += bytes;
    if (text_bytes_ > lim_.max_text_bytes)
      fail(param, "the request's text exceeds " + std::to_string(lim_.max_text_bytes) + " bytes");
  }

  static std::string fmt(double d) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", d);
    return b;
  }

 private:
  const json& j_;
  const request_limits& lim_;
  std::optional<api_error> err_;
  size_t text_bytes_ = 0;
};

void read_common(reader& r, const json& j, const request_limits& lim, generation_request& q) {
  r.name("model", q.model);
  r.name("thread", q.thread);
  r.flag("stream", q.stream);
  if (const json* so = r.get("stream_options")) {
    if (!so->is_object())
      r.fail("stream_options", "must be an object");
    else if (auto it = so->find("include_usage"); it != so->end() && !it->is_null()) {
      if (!it->is_boolean())
        r.fail("stream_options.include_usage", "must be true or false");
      else
        q.include_usage = it->get<bool>();
    }
  }
  for (const char* key : {"max_tokens", "max_completion_tokens", "n_predict"}) {
    const json* v = r.get(key);
    if (!v) continue;
    int64_t n = 0;
    // -1 (llama.cpp's "no limit") means the server's cap; 0 is allowed: nothing is generated
    // (llama.vim sends it to warm a cache).
    if (!r.integer(*v, key, -1, lim.max_tokens_cap, n)) return;
    q.max_tokens = n < 0 ? lim.max_tokens_cap : static_cast<int>(n);
  }
  r.number("temperature", q.temperature, 0.0, 2.0);
  r.number("top_p", q.top_p, 0.0, 1.0, true);
  r.number("min_p", q.min_p, 0.0, 1.0);
  r.number("repeat_penalty", q.repeat_penalty, 0.0, 10.0, true);
  if (const json* v = r.get("top_k")) {
    int64_t k = 0;
    if (r.integer(*v, "top_k", 0, 1 << 20, k)) q.top_k = static_cast<int>(k);
  }
  if (const json* v = r.get("seed")) {
    if (v->is_number_unsigned()) {
      q.seed = v->get<uint64_t>();
    } else {
      int64_t s = 0;
      if (r.integer(*v, "seed", -1, std::numeric_limits<int64_t>::max(), s) && s >= 0)
        q.seed = static_cast<uint64_t>(s);
    }
  }
  if (const json* v = r.get("n")) {
    int64_t n = 0;
    if (r.integer(*v, "n", 1, 1, n) && n != 1) r.fail("n", "only 1 choice is supported");
  }
  r.flag("ignore_eos", q.ignore_eos);
  if (const json* v = r.get("stop")) {
    std::vector<const json*> items;
    if (v->is_string())
      items.push_back(v);
    else if (v->is_array())
      for (const auto& s : *v) items.push_back(&s);
    else
      return r.fail("stop", "must be a string or an array of strings");
    if (items.size() > lim.max_stop)
      return r.fail("stop", "at most " + std::to_string(lim.max_stop) + " stop strings");
    for (const json* s : items) {
      std::string t;
      r.text(*s, "stop", t);
      if (r.failed()) return;
      if (t.empty()) return r.fail("stop", "a stop string must not be empty");
      if (t.size() > lim.max_stop_bytes)
        return r.fail("stop", "a stop string is longer than " + std::to_string(lim.max_stop_bytes) +
                                  " bytes");
      q.stop.push_back(std::move(t));
    }
  }
  (void)j;
}

// OpenAI content: a string, or an array of parts of which only {"type":"text","text":...} is read.
void read_content(reader& r, const json& c, const std::string& param, std::string& out) {
  if (c.is_string()) return r.text(c, param, out);
  if (!c.is_array()) return r.fail(param, "must be a string or an array of text parts");
  for (const auto& part : c) {
    if (!part.is_object()) return r.fail(param, "each part must be an object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string() || type->get_ref<const std::string&>() != "text")
      return r.fail(param, "only parts of type \"text\" are supported");
    auto t = part.find("text");
    if (t == part.end()) return r.fail(param, "a text part has no \"text\"");
    std::string s;
    r.text(*t, param, s);
    if (r.failed()) return;
    out += s;
  }
}

void read_chat(reader& r, const request_limits& lim, generation_request& q) {
  const json* msgs = r.get("messages");
  if (!msgs) return r.fail("messages", "is required");
  if (!msgs->is_array()) return r.fail("messages", "must be an array");
  if (msgs->empty()) return r.fail("messages", "must not be empty");
  if (msgs->size() > lim.max_messages)
    return r.fail("messages", "at most " + std::to_string(lim.max_messages) + " messages");
  for (size_t i = 0; i < msgs->size() && !r.failed(); ++i) {
    const json& m = (*msgs)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return r.fail(param, "must be an object");
    chat_message cm;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return r.fail(param + ".role", "must be a string");
    cm.role = role->get<std::string>();
    if (cm.role == "developer") cm.role = "system";
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      return r.fail(param + ".role", "must be system, user or assistant (tools are not supported)");
    auto content = m.find("content");
    if (content != m.end() && !content->is_null())
      read_content(r, *content, param + ".content", cm.content);
    else if (cm.role != "assistant")
      return r.fail(param + ".content", "is required");
    q.messages.push_back(std::move(cm));
  }
  if (!r.failed() && q.messages.back().role != "user")
    r.fail("messages", "the last message must be from the user");
}

void read_completion(reader& r, generation_request& q) {
  const json* p = r.get("prompt");
  if (!p) return;  // an empty prompt: continue right after the document
  if (p->is_array()) {
    if (p->size() != 1 || !(*p)[0].is_string())
      return r.fail("prompt", "only one prompt (a string) per request is supported");
    return r.text((*p)[0], "prompt", q.prompt);
  }
  r.text(*p, "prompt", q.prompt);
}

void read_infill(reader& r, const request_limits& lim, generation_request& q) {
  r.text("input_prefix", q.input_prefix);
  r.text("input_suffix", q.input_suffix);
  r.text("prompt", q.prompt);
  r.number("t_max_predict_ms", q.t_max_predict_ms, 0.0, 3.6e6);
  if (const json* ex = r.get("input_extra")) {
    if (!ex->is_array()) return r.fail("input_extra", "must be an array of {filename, text}");
    if (ex->size() > lim.max_extra_chunks)
      return r.fail("input_extra", "at most " + std::to_string(lim.max_extra_chunks) + " chunks");
    for (size_t i = 0; i < ex->size() && !r.failed(); ++i) {
      const json& c = (*ex)[i];
      const std::string param = "input_extra[" + std::to_string(i) + "]";
      if (!c.is_object()) return r.fail(param, "must be an object");
      extra_chunk ec;
      if (auto f = c.find("filename"); f != c.end() && !f->is_null())
        r.text(*f, param + ".filename", ec.filename);
      if (auto t = c.find("text"); t != c.end() && !t->is_null())
        r.text(*t, param + ".text", ec.text);
      if (ec.filename.size() > 4096) return r.fail(param + ".filename", "longer than 4096 bytes");
      q.input_extra.push_back(std::move(ec));
    }
  }
  if (const json* rf = r.get("response_fields")) {
    if (!rf->is_array() || rf->size() > 64)
      return r.fail("response_fields", "must be an array of at most 64 strings");
    std::vector<std::string> fields;
    for (const auto& f : *rf) {
      if (!f.is_string() || f.get_ref<const std::string&>().size() > 128)
        return r.fail("response_fields", "must be an array of strings (128 bytes at most)");
      fields.push_back(f.get<std::string>());
    }
    q.response_fields = std::move(fields);
  }
}

}  // namespace

const char* to_string(endpoint e) {
  switch (e) {
    case endpoint::chat: return "/v1/chat/completions";
    case endpoint::completion: return "/v1/completions";
    case endpoint::infill: return "/infill";
  }
  return "?";
}

std::string session_of_model(std::string_view model) {
  if (model.rfind("tome:", 0) == 0) model.remove_prefix(5);
  return std::string(model);
}

bool valid_name(std::string_view name, size_t max_bytes) {
  if (name.empty() || name.size() > max_bytes) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

parse_outcome parse_request(endpoint kind, std::string_view body, const request_limits& lim) {
  parse_outcome out;
  if (body.size() > lim.max_body_bytes) {
    out.error = bad("",
                    "the request body has " + std::to_string(body.size()) +
                        " bytes, more than the limit of " + std::to_string(lim.max_body_bytes),
                    413);
    return out;
  }
  if (body.empty()) {
    out.error = bad("", "the request body is empty: expected a JSON object");
    return out;
  }
  if (nesting_depth(body, lim.max_depth) > lim.max_depth) {
    out.error =
        bad("", "the JSON is nested deeper than " + std::to_string(lim.max_depth) + " levels");
    return out;
  }
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    out.error = bad("", "the request body is not valid JSON (UTF-8)");
    return out;
  }
  if (!j.is_object()) {
    out.error = bad("", "the request body must be a JSON object");
    return out;
  }
  generation_request q;
  q.kind = kind;
  reader r(j, lim);
  read_common(r, j, lim, q);
  if (!r.failed()) {
    switch (kind) {
      case endpoint::chat: read_chat(r, lim, q); break;
      case endpoint::completion: read_completion(r, q); break;
      case endpoint::infill: read_infill(r, lim, q); break;
    }
  }
  if (!r.failed() && !q.thread.empty() && !valid_name(q.thread, lim.max_name_bytes))
    r.fail("thread", "a thread name is 1..256 characters of A-Z a-z 0-9 . _ : @ + -");
  if (!r.failed() && !q.thread.empty() && kind != endpoint::chat)
    r.fail("thread", "threads are kept for /v1/chat/completions only");
  if (r.failed()) {
    out.error = r.error();
    return out;
  }
  out.request = std::move(q);
  return out;
}

}  // namespace tome::server
