// tome::server::server (server.h): set-up (parameters, library, resident sessions, the bound
// port), authentication, JSON errors for everything httplib refuses itself (404, 413), and the
// endpoints that do not generate: /health, /v1/models, /v1/sessions and the progress stream of a
// session being read (polled from the library, so it follows a `tome ingest` in another process).
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "server_impl.h"

namespace tome::server {

using json = nlohmann::json;

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::string error_json(const api_error& e) {
  json j = {{"error", {{"message", e.message}, {"type", e.type}, {"code", e.status}}}};
  j["error"]["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, const api_error& e) {
  res.status = e.status;
  res.set_content(error_json(e), "application/json");
}

namespace {

bool same_key(const std::string& a, const std::string& b) {  // constant time in the key's length
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < b.size(); ++i)
    diff |= static_cast<unsigned char>(i < a.size() ? a[i] : 0) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

const char* reason_text(int status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 404: return "no such endpoint";
    case 405: return "method not allowed";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    default: return status >= 500 ? "internal error" : "refused";
  }
}

}  // namespace

void server::impl::routes() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    stats->requests++;
    if (params.api_key.empty() || req.path == "/health")
      return httplib::Server::HandlerResponse::Unhandled;
    std::string given = req.get_header_value("Authorization");
    if (given.rfind("Bearer ", 0) == 0)
      given = given.substr(7);
    else
      given = req.get_header_value("X-Api-Key");
    if (same_key(given, params.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    api_error e;
    e.status = 401;
    e.type = "authentication_error";
    e.message = "missing or wrong API key (send \"Authorization: Bearer KEY\")";
    send_error(res, e);
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        api_error e;
        e.status = res.status;
        e.message = std::string(reason_text(res.status)) + ": " + req.method + " " + req.path;
        if (res.status == 413)
          e.message = "the request body is larger than " +
                      std::to_string(params.limits.max_body_bytes) + " bytes";
        if (res.status == 404) e.type = "not_found_error";
        res.set_content(error_json(e), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        api_error e;
        e.status = 500;
        e.type = "server_error";
        e.message = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& x) {
          e.message += std::string(": ") + x.what();
        } catch (...) {
        }
        send_error(res, e);
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (res.status >= 400 && res.status < 500) stats->rejected++;
    if (params.log) params.log(req.method + " " + req.path + " " + std::to_string(res.status));
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    bool healthy = true;
    for (const auto& s : sessions) healthy = healthy && s->healthy();
    res.status = healthy ? 200 : 503;
    res.set_content(
        json{{"status", healthy ? "ok" : "error"}, {"sessions", sessions.size()}}.dump(),
        "application/json");
  });
  auto models = [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& s : sessions)
      data.push_back({{"id", "tome:" + s->name()},
                      {"object", "model"},
                      {"created", created},
                      {"owned_by", "tome"},
                      {"tome",
                       {{"session", s->name()},
                        {"model", m->config().name},
                        {"context_tokens", s->context_tokens()}}}});
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(-1, ' ', false,
                                                                  json::error_handler_t::replace),
                    "application/json");
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get("/v1/sessions", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    {
      std::lock_guard<std::mutex> lk(lib->mu);
      auto all = lib->lib->sessions();
      if (!all) {
        send_error(res, api_error{500, all.message(), "server_error", ""});
        return;
      }
      for (const auto& s : *all)
        out.push_back({{"name", s.name},
                       {"model", s.model_name},
                       {"n_tokens", s.n_tokens},
                       {"target_tokens", s.target_tokens},
                       {"complete", s.complete()},
                       {"loaded", find(s.name) != nullptr},
                       {"threads", s.threads.size()}});
    }
    res.set_content(json{{"object", "list"}, {"data", out}}.dump(-1, ' ', false,
                                                                 json::error_handler_t::replace),
                    "application/json");
  });
  http.Get(R"(/v1/sessions/([^/]+)/progress)", [this](const httplib::Request& req,
                                                      httplib::Response& res) {
    const std::string name = req.matches[1];
    auto ro = [&]() -> result<std::unique_ptr<store::library>> {
      store::open_params op;
      op.read_only = true;
      return store::library::open(lib->lib->path(), op);
    }();
    if (!ro || !(*ro)->info(name)) {
      api_error e{404, "no session '" + name + "' in the library", "not_found_error", ""};
      if (!ro) e = api_error{500, ro.message(), "server_error", ""};
      send_error(res, e);
      return;
    }
    std::shared_ptr<store::library> reader = std::move(*ro);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, name, reader](
                                                              size_t, httplib::DataSink& sink) {
      int64_t last = -1;
      for (;;) {
        auto info = reader->info(name);
        if (!info) {
          const std::string ev =
              "data: " + error_json(api_error{404, info.message(), "not_found_error", ""}) + "\n\n";
          sink.write(ev.data(), ev.size());
          sink.done();
          return true;
        }
        if (info->n_tokens != last || info->complete()) {
          last = info->n_tokens;
          const json ev = {{"session", name},
                           {"n_tokens", info->n_tokens},
                           {"target_tokens", info->target_tokens},
                           {"complete", info->complete()},
                           {"loaded", find(name) != nullptr}};
          const std::string s =
              "data: " + ev.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
          if (!sink.write(s.data(), s.size())) return false;
          if (info->complete()) {
            const std::string end = "data: [DONE]\n\n";
            sink.write(end.data(), end.size());
            sink.done();
            return true;
          }
        }
        for (int waited = 0; waited < params.progress_interval_ms; waited += 20) {
          if (stopping.load() || !sink.is_writable()) return false;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  });
  generation_routes();
}

result<std::unique_ptr<server>> server::create(std::shared_ptr<const model> m,
                                               const server_params& p) {
  if (!m) return error("no model");
  if (!m->has_tokenizer()) return error("the model has no tokenizer: it cannot serve text");
  if (!is_loopback(p.host) && p.api_key.empty())
    return error("refusing to listen on " + p.host +
                 " without an API key (--api-key): anyone who can reach it could use it");
  if (p.port < 0 || p.port > 65535)
    return error("port " + std::to_string(p.port) + " is out of range");
  if (p.http_threads < 1 || p.http_threads > 1024)
    return error("http threads must be in [1, 1024]");
  if (p.prefill_chunk < 1) return error("the prefill chunk must be at least 1 token");
  if (p.disconnect_poll_ms < 1 || p.disconnect_poll_ms > 10000)
    return error("the disconnect poll interval must be in [1, 10000] ms");
  std::unique_ptr<server> srv(new server());
  srv->impl_ = std::make_unique<impl>();
  impl& d = *srv->impl_;
  d.params = p;
  d.m = m;
  d.created = static_cast<int64_t>(std::time(nullptr));
  d.lib = std::make_shared<shared_library>();
  store::open_params op;
  op.create = false;
  auto lib = store::library::open(p.library, op);
  if (!lib) return lib.error_status();
  d.lib->lib = std::move(*lib);
  std::vector<std::string> names = p.sessions;
  if (names.empty()) {
    auto all = d.lib->lib->sessions();
    if (!all) return all.error_status();
    for (const auto& s : *all)
      if (s.complete() && s.model_fingerprint == m->fingerprint()) names.push_back(s.name);
    if (names.empty())
      return error(p.library.string() + ": no complete session read by model '" + m->config().name +
                   "' to serve (tome ingest one first, or name one with --session)");
  }
  for (const auto& name : names) {
    if (d.find(name)) continue;
    auto r = resident_session::load(d.lib, m, name, p.prefill_chunk, d.stats);
    if (!r) return r.error_status();
    d.sessions.push_back(std::move(*r));
  }

  d.http.new_task_queue = [n = p.http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(n));
  };
  d.http.set_payload_max_length(p.limits.max_body_bytes);
  d.http.set_tcp_nodelay(true);
  d.http.set_keep_alive_max_count(1000);
  d.http.set_keep_alive_timeout(5);  // an idle connection holds a pool thread this long
  d.routes();
  const std::string host = p.host == "localhost" ? "127.0.0.1" : p.host == "[::1]" ? "::1" : p.host;
  if (p.port == 0) {
    d.port = d.http.bind_to_any_port(host);
    if (d.port <= 0) return error("cannot bind to any port on " + p.host);
  } else {
    if (!d.http.bind_to_port(host, p.port))
      return error("cannot listen on " + p.host + ":" + std::to_string(p.port) +
                   " (in use, or not an address of this machine)");
    d.port = p.port;
  }
  return srv;
}

server::~server() {
  if (!impl_) return;
  stop();
  impl_->sessions.clear();  // cancels and joins the workers
}

int server::port() const { return impl_->port; }

std::vector<std::string> server::sessions() const {
  std::vector<std::string> out;
  for (const auto& s : impl_->sessions) out.push_back(s->name());
  return out;
}

status server::run() {
  if (impl_->stopping.load()) return {};
  if (!impl_->http.listen_after_bind() && !impl_->stopping.load())
    return error("the server stopped accepting connections on port " + std::to_string(impl_->port));
  return {};
}

void server::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

server_stats server::stats() const { return impl_->stats->snapshot(); }

}  // namespace tome::server
