// server::impl: the httplib server, the model, the library and the resident sessions, shared by
// server.cpp (set-up, authentication, /health, /v1/models, /v1/sessions, progress) and
// generate.cpp (the three generation endpoints). Internal to app/server.
#pragma once

#include <httplib.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "resident.h"
#include "stats.h"
#include "tome/server/server.h"

namespace tome::server {

struct server::impl {
  server_params params;
  std::shared_ptr<const model> m;
  std::shared_ptr<shared_library> lib;
  std::vector<std::unique_ptr<resident_session>> sessions;  // in the order loaded
  std::shared_ptr<server_stats_counters> stats = std::make_shared<server_stats_counters>();
  httplib::Server http;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};
  int64_t created = 0;  // unix time the server started (OpenAI "created" of models)

  resident_session* find(const std::string& name) const {
    for (const auto& s : sessions)
      if (s->name() == name) return s.get();
    return nullptr;
  }
  void routes();
  void generation_routes();  // generate.cpp
  void handle_generation(endpoint kind, const httplib::Request& req, httplib::Response& res);
};

// JSON helpers shared by both files (json_util.cpp).
void send_error(httplib::Response& res, const api_error& e);
std::string error_json(const api_error& e);

}  // namespace tome::server
