// tome::server: `tome serve`, a local HTTP API over resident sessions (cpp-httplib). Endpoints:
//   GET  /health, /v1/models (one model "tome:<session>" per loaded session), /v1/sessions,
//        /v1/sessions/<name>/progress (server-sent events while an ingest fills a session)
//   POST /v1/chat/completions, /v1/completions (OpenAI shapes, SSE streaming), /infill
//        (llama.cpp's, as llama.vim and llama.vscode send it)
// Each loaded session stays resident (its global KV is read once); requests to one session queue
// on its worker thread; a client that disconnects cancels its request, also while queued or
// during the prefill of its prompt. Listens on loopback unless an API key is set.
// Threads: create() and the destructor on one thread; run() blocks its caller; stop() and stats()
// from any thread. No exceptions cross this API.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tome/engine.h"
#include "tome/server/request.h"
#include "tome/status.h"

namespace tome::server {

struct server_params {
  std::string host = "127.0.0.1";
  int port = 8012;      // llama.vim's default endpoint; 0 = any free port (see server::port())
  std::string api_key;  // empty: no key; required to listen on anything but loopback
  // Sessions to keep resident; empty: every complete session of the library read by this model.
  std::vector<std::string> sessions;
  std::filesystem::path library;
  request_limits limits;
  int http_threads = 16;              // connections served at once
  int64_t prefill_chunk = 1024;       // request prefill chunk: the cancel latency on disconnect
  int64_t max_prompt_tokens = 65536;  // tokens a request may add after the document
  int progress_interval_ms = 500;     // /v1/sessions/<name>/progress polling
  // A waiting request checks its connection this often (disconnect = cancel); each check wakes a
  // thread, which on a CPU-bound machine competes with the engine's threads.
  int disconnect_poll_ms = 20;
  std::function<void(const std::string&)> log;  // one line per request (from HTTP threads)
};

struct server_stats {
  int64_t requests = 0;        // HTTP requests seen
  int64_t rejected = 0;        // answered with a 4xx
  int64_t jobs_done = 0;       // generation jobs finished (cancelled ones included)
  int64_t jobs_cancelled = 0;  // stopped because the client went away (or the server stopped)
  int64_t jobs_failed = 0;
  int64_t jobs_running = 0;  // running now (0 or 1 per session)
  // The last cancelled job: its prompt's tokens, how many of them were prefilled, tokens generated.
  int64_t last_cancel_prompt_tokens = 0, last_cancel_prefill_done = 0, last_cancel_generated = 0;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

class server {
 public:
  // Checks the parameters (a non-loopback host needs an API key), opens the library, loads the
  // sessions onto m's backend (refusing unfinished ones or ones read by another model) and binds
  // the port. Nothing is served until run().
  static result<std::unique_ptr<server>> create(std::shared_ptr<const model> m,
                                                const server_params& p);
  ~server();  // stops serving, cancels running jobs and joins every thread
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  int port() const;                           // the bound port
  std::vector<std::string> sessions() const;  // loaded, in the order given
  status run();                               // serves until stop(); returns an error if it fails
  void stop();                                // from any thread (not from a signal handler)
  server_stats stats() const;

 private:
  server() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tome::server
