// The generation endpoints of tome::server: /v1/chat/completions, /v1/completions and /infill.
// On the HTTP thread: parse and validate the body (request.h), pick the session (X-Tome-Session,
// else the model name "tome:<session>", else the only one) and thread (X-Tome-Thread or
// "thread"), encode the prompt with the model's templates, check its length; every refusal here
// is a 4xx before anything is sent. Then the job is queued on the session's worker and the
// response is a chunked body whose provider waits for the job, streams SSE events (stream: true)
// or writes the JSON at the end, and polls the socket: a client that goes away cancels the job,
// while queued, during its prefill or during generation.
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "server_impl.h"

namespace tome::server {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

result<std::vector<int32_t>> encode_question(const model& m, const std::string& q) {
  if (m.config().templates.count("question"))
    return m.tok().encode_template("question", {{"question", q}});
  return m.tok().encode(q);
}

// The chat turns from messages[from..]: system text joins the next user question; a user message
// is the "question" template; an assistant message is its text and EOS.
result<std::vector<int32_t>> chat_tokens(const model& m, const std::vector<chat_message>& msgs,
                                         size_t from) {
  std::vector<int32_t> out;
  std::string system;
  const int32_t eos = m.config().special_id("eos");
  for (size_t i = from; i < msgs.size(); ++i) {
    const auto& msg = msgs[i];
    if (msg.role == "system") {
      if (!msg.content.empty()) system += msg.content + "\n\n";
    } else if (msg.role == "user") {
      auto q = encode_question(m, system + msg.content);
      if (!q) return q.error_status();
      out.insert(out.end(), q->begin(), q->end());
      system.clear();
    } else {
      auto a = m.tok().encode(msg.content);
      out.insert(out.end(), a.begin(), a.end());
      if (eos >= 0) out.push_back(eos);
    }
  }
  return out;
}

result<std::vector<int32_t>> infill_tokens(const model& m, const generation_request& q) {
  if (!m.config().templates.count("completion"))
    return error("the model has no \"completion\" template in its config.json: it cannot fill in");
  std::vector<int32_t> out;
  for (const auto& c : q.input_extra) {
    if (c.text.empty()) continue;
    std::vector<int32_t> ids;
    if (m.config().templates.count("file")) {
      auto r = m.tok().encode_file(c.filename, c.text);
      if (!r) return r.error_status();
      ids = std::move(*r);
    } else {
      ids = m.tok().encode(c.filename + "\n" + c.text);
    }
    out.insert(out.end(), ids.begin(), ids.end());
  }
  auto fim = m.tok().encode_template(
      "completion", {{"prefix", q.input_prefix + q.prompt}, {"suffix", q.input_suffix}});
  if (!fim) return fim.error_status();
  out.insert(out.end(), fim->begin(), fim->end());
  return out;
}

const char* finish_reason(stop_reason r) {
  switch (r) {
    case stop_reason::eos:
    case stop_reason::stop_string: return "stop";
    default: return "length";
  }
}

const char* stop_type(stop_reason r) {  // llama.cpp's names
  switch (r) {
    case stop_reason::eos: return "eos";
    case stop_reason::stop_string: return "word";
    default: return "limit";
  }
}

uint64_t fresh_seed() {
  static std::atomic<uint64_t> counter{std::random_device{}()};
  uint64_t z = counter.fetch_add(0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// What one response needs besides the job.
struct reply_context {
  endpoint kind;
  std::string id, model_id, session, thread;
  int64_t created = 0;
  bool include_usage = false;
  std::optional<std::vector<std::string>> response_fields;
};

json usage_json(const job& j) {
  const auto n = static_cast<int64_t>(j.result.tokens.size());
  return {{"prompt_tokens", j.prompt_tokens},
          {"completion_tokens", n},
          {"total_tokens", j.prompt_tokens + n}};
}

json tome_json(const reply_context& c, const job& j) {
  json t = {{"session", c.session}, {"context_tokens", j.context_tokens}};
  if (!c.thread.empty()) t["thread"] = c.thread;
  return t;
}

json timings_json(const job& j) {
  const auto n = static_cast<double>(j.result.tokens.size());
  const auto p = static_cast<double>(j.prompt_tokens);
  return {{"prompt_n", j.prompt_tokens},
          {"prompt_ms", j.prompt_ms},
          {"prompt_per_token_ms", p > 0 ? j.prompt_ms / p : 0.0},
          {"prompt_per_second", j.prompt_ms > 0 ? 1000.0 * p / j.prompt_ms : 0.0},
          {"predicted_n", j.result.tokens.size()},
          {"predicted_ms", j.predict_ms},
          {"predicted_per_token_ms", n > 0 ? j.predict_ms / n : 0.0},
          {"predicted_per_second", j.predict_ms > 0 ? 1000.0 * n / j.predict_ms : 0.0}};
}

// llama.cpp's response_fields: only the listed paths ("timings/prompt_n"), as flat keys.
json select_fields(const json& full, const std::vector<std::string>& fields) {
  json out = json::object();
  for (const auto& f : fields) {
    if (f.empty()) continue;
    const json* cur = &full;
    size_t pos = 0;
    bool found = true;
    while (found && pos <= f.size()) {
      const size_t slash = f.find('/', pos);
      const std::string key =
          f.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      auto it = cur->is_object() ? cur->find(key) : cur->end();
      if (!cur->is_object() || it == cur->end())
        found = false;
      else
        cur = &*it;
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    if (found) out[f] = *cur;
  }
  return out;
}

// The complete (non-streamed) answer.
json final_json(const reply_context& c, const job& j) {
  const std::string& text = j.result.text;
  switch (c.kind) {
    case endpoint::chat:
      return {{"id", c.id},
              {"object", "chat.completion"},
              {"created", c.created},
              {"model", c.model_id},
              {"choices", json::array({{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", text}}},
                                        {"finish_reason", finish_reason(j.result.reason)}}})},
              {"usage", usage_json(j)},
              {"tome", tome_json(c, j)}};
    case endpoint::completion:
      return {{"id", c.id},
              {"object", "text_completion"},
              {"created", c.created},
              {"model", c.model_id},
              {"choices", json::array({{{"index", 0},
                                        {"text", text},
                                        {"logprobs", nullptr},
                                        {"finish_reason", finish_reason(j.result.reason)}}})},
              {"usage", usage_json(j)},
              {"tome", tome_json(c, j)}};
    case endpoint::infill: {
      json full = {{"content", text},
                   {"id_slot", 0},
                   {"stop", true},
                   {"model", c.model_id},
                   {"stop_type", stop_type(j.result.reason)},
                   {"tokens_predicted", j.result.tokens.size()},
                   {"tokens_evaluated", j.prompt_tokens},
                   {"tokens_cached", j.context_tokens},
                   {"truncated", false},
                   {"has_new_line", text.find('\n') != std::string::npos},
                   {"timings", timings_json(j)},
                   {"tome", tome_json(c, j)}};
      return c.response_fields ? select_fields(full, *c.response_fields) : full;
    }
  }
  return {};
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

// One streamed piece of text.
std::string piece_event(const reply_context& c, const std::string& piece, bool first) {
  switch (c.kind) {
    case endpoint::chat: {
      json delta = {{"content", piece}};
      if (first) delta["role"] = "assistant";
      return sse({{"id", c.id},
                  {"object", "chat.completion.chunk"},
                  {"created", c.created},
                  {"model", c.model_id},
                  {"choices",
                   json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", nullptr}}})}});
    }
    case endpoint::completion:
      return sse({{"id", c.id},
                  {"object", "text_completion"},
                  {"created", c.created},
                  {"model", c.model_id},
                  {"choices", json::array({{{"index", 0},
                                            {"text", piece},
                                            {"logprobs", nullptr},
                                            {"finish_reason", nullptr}}})}});
    case endpoint::infill: return sse({{"content", piece}, {"stop", false}});
  }
  return {};
}

// The events that end a stream.
std::string final_events(const reply_context& c, const job& j) {
  if (c.kind == endpoint::infill) {
    json f = final_json(c, j);
    f["content"] = "";
    return sse(f);
  }
  std::string out;
  const bool chat = c.kind == endpoint::chat;
  json choice = {{"index", 0}, {"finish_reason", finish_reason(j.result.reason)}};
  if (chat)
    choice["delta"] = json::object();
  else
    choice["text"] = "", choice["logprobs"] = nullptr;
  out += sse({{"id", c.id},
              {"object", chat ? "chat.completion.chunk" : "text_completion"},
              {"created", c.created},
              {"model", c.model_id},
              {"choices", json::array({choice})},
              {"tome", tome_json(c, j)}});
  if (c.include_usage)
    out += sse({{"id", c.id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", c.created},
                {"model", c.model_id},
                {"choices", json::array()},
                {"usage", usage_json(j)}});
  return out + "data: [DONE]\n\n";
}

}  // namespace

void server::impl::generation_routes() {
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(endpoint::chat, req, res);
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(endpoint::completion, req, res);
  });
  http.Post("/infill", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(endpoint::infill, req, res);
  });
}

void server::impl::handle_generation(endpoint kind, const httplib::Request& req,
                                     httplib::Response& res) {
  parse_outcome parsed = parse_request(kind, req.body, params.limits);
  if (!parsed.ok()) return send_error(res, parsed.error);
  generation_request& q = *parsed.request;

  // Which session.
  std::string name = req.get_header_value("X-Tome-Session");
  if (name.empty()) name = session_of_model(q.model);
  resident_session* rs = nullptr;
  if (name.empty()) {
    if (sessions.size() != 1) {
      std::string list;
      for (const auto& s : sessions) list += (list.empty() ? "tome:" : ", tome:") + s->name();
      return send_error(res, {400,
                              "which session? set \"model\" to one of " + list +
                                  " (GET /v1/models) or send the X-Tome-Session header",
                              "invalid_request_error", "model"});
    }
    rs = sessions.front().get();
  } else if (!(rs = find(name))) {
    return send_error(
        res, {404, "the session '" + name + "' is not loaded (GET /v1/models lists those that are)",
              "model_not_found", "model"});
  }
  // Which thread.
  std::string thread = req.get_header_value("X-Tome-Thread");
  if (thread.empty()) thread = q.thread;
  if (!thread.empty() && !valid_name(thread, params.limits.max_name_bytes))
    return send_error(res, {400, "a thread name is 1..256 characters of A-Z a-z 0-9 . _ : @ + -",
                            "invalid_request_error", "thread"});
  if (!thread.empty() && kind != endpoint::chat)
    return send_error(res, {400, "threads are kept for /v1/chat/completions only",
                            "invalid_request_error", "thread"});

  auto j = std::make_shared<job>();
  j->thread = thread;
  j->stream = q.stream;
  j->time_limit_ms = q.t_max_predict_ms;
  // The prompt's tokens.
  result<std::vector<int32_t>> toks = std::vector<int32_t>{};
  switch (kind) {
    case endpoint::chat: {
      toks = chat_tokens(*m, q.messages, 0);
      if (toks && !thread.empty()) {
        size_t after = 0;  // with a thread: the turns after the last assistant message are new
        for (size_t i = 0; i < q.messages.size(); ++i)
          if (q.messages[i].role == "assistant") after = i + 1;
        auto turn = chat_tokens(*m, q.messages, after);
        if (!turn)
          toks = turn.error_status();
        else
          j->turn_tokens = std::move(*turn);
      }
      break;
    }
    case endpoint::completion: toks = m->tok().encode(q.prompt); break;
    case endpoint::infill: toks = infill_tokens(*m, q); break;
  }
  if (!toks) return send_error(res, {400, toks.message(), "invalid_request_error", ""});
  j->tokens = std::move(*toks);
  const int64_t n_prompt = static_cast<int64_t>(std::max(j->tokens.size(), j->turn_tokens.size()));
  if (n_prompt > params.max_prompt_tokens)
    return send_error(res, {400,
                            "the prompt has " + std::to_string(n_prompt) +
                                " tokens, more than this server's limit of " +
                                std::to_string(params.max_prompt_tokens) + " (--max-prompt-tokens)",
                            "context_length_exceeded", ""});
  // Generation parameters.
  const int default_max = kind == endpoint::chat ? 512 : kind == endpoint::completion ? 128 : 64;
  j->gen.max_tokens = std::min(q.max_tokens.value_or(default_max), params.limits.max_tokens_cap);
  j->gen.sampling.temperature = q.temperature;
  j->gen.sampling.top_p = q.top_p;
  j->gen.sampling.top_k = q.top_k;
  j->gen.sampling.min_p = q.min_p;
  j->gen.sampling.repetition_penalty = q.repeat_penalty;
  j->gen.sampling.seed = q.seed ? *q.seed : fresh_seed();
  j->gen.stop = q.stop;
  j->gen.stop_at_eos = !q.ignore_eos;
  if (rs->context_tokens() + n_prompt + j->gen.max_tokens > m->config().max_context)
    return send_error(
        res, {400,
              "the document (" + std::to_string(rs->context_tokens()) + " tokens), the prompt (" +
                  std::to_string(n_prompt) + ") and max_tokens (" +
                  std::to_string(j->gen.max_tokens) + ") exceed the model's context of " +
                  std::to_string(m->config().max_context) + " tokens",
              "context_length_exceeded", "max_tokens"});

  auto ctx = std::make_shared<reply_context>();
  ctx->kind = kind;
  ctx->session = rs->name();
  ctx->thread = thread;
  ctx->model_id = "tome:" + rs->name();
  ctx->created = static_cast<int64_t>(std::time(nullptr));
  ctx->id = std::string(kind == endpoint::chat         ? "chatcmpl-tome-"
                        : kind == endpoint::completion ? "cmpl-tome-"
                                                       : "infill-tome-") +
            std::to_string(next_id.fetch_add(1));
  ctx->include_usage = q.include_usage;
  ctx->response_fields = q.response_fields;

  if (j->gen.max_tokens == 0 &&
      thread.empty()) {  // nothing to generate (llama.vim warms its cache so)
    j->context_tokens = rs->context_tokens();
    j->result.reason = stop_reason::max_tokens;
    if (q.stream) {
      res.set_content(final_events(*ctx, *j), "text/event-stream");
    } else {
      res.set_content(dump(final_json(*ctx, *j)), "application/json");
    }
    return;
  }
  rs->submit(j);
  const bool stream = q.stream;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      stream ? "text/event-stream" : "application/json",
      [this, j, ctx, stream](size_t, httplib::DataSink& sink) -> bool {
        bool first = true;
        std::unique_lock<std::mutex> lk(j->mu);
        for (;;) {
          j->cv.wait_for(lk, std::chrono::milliseconds(params.disconnect_poll_ms),
                         [&] { return !j->pending.empty() || j->done; });
          std::string piece;
          piece.swap(j->pending);
          const bool done = j->done;
          lk.unlock();
          if (stream && !piece.empty()) {
            const std::string ev = piece_event(*ctx, piece, first);
            first = false;
            if (!sink.write(ev.data(), ev.size())) {
              j->cancel = true;
              return false;
            }
          }
          if (done) break;
          if (stopping.load() || !sink.is_writable()) {  // the client went away: cancel at once
            j->cancel = true;
            return false;
          }
          lk.lock();
        }
        // The job is done: its outputs are no longer written.
        std::string tail;
        if (!j->error.ok()) {
          api_error e{500, j->error.message(), "server_error", ""};
          tail = stream ? "data: " + error_json(e) + "\n\n" : error_json(e);
        } else if (j->cancelled) {
          return false;  // the server is stopping (a gone client reads nothing)
        } else if (stream) {
          // Text held back until the end (a stop string's possible start) that was not streamed.
          if (first && !j->result.text.empty()) tail = piece_event(*ctx, j->result.text, true);
          tail += final_events(*ctx, *j);
        } else {
          tail = dump(final_json(*ctx, *j));
        }
        if (!sink.write(tail.data(), tail.size())) return false;
        sink.done();
        return true;
      },
      [j](bool success) {
        if (!success) j->cancel = true;
      });
}

}  // namespace tome::server
