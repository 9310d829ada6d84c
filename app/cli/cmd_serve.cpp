// `tome serve --model DIR [--host 127.0.0.1] [--port 8012] [--session NAME ...] [--api-key KEY]`:
// keeps the named sessions (default: every complete session of the library read by the model)
// resident and answers OpenAI-compatible chat and completion requests and llama.cpp-style /infill
// over HTTP (app/server). Refuses to listen beyond loopback without an API key. Ctrl-C or SIGTERM
// stops it: running requests are cancelled and the threads joined.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli_common.h"
#include "tome/server/server.h"

namespace tome::cli {
namespace {

int g_wake[2] = {-1, -1};
extern "C" void on_signal(int) {
  const char stop = 's';
  (void)!::write(g_wake[1], &stop, 1);
}

struct serve_options {
  std::string library, model_dir;
  server::server_params p;
  size_t max_body_mib = 8;
  bool quiet = false;
  backend_options be;
};

int run(serve_options& o) {
  if (o.p.api_key.empty())
    if (const char* k = std::getenv("TOME_API_KEY"); k && *k) o.p.api_key = k;
  auto m = load_model_or_print(o.model_dir, o.be);
  if (!m) return 1;
  auto lib = open_library(o.library, true);  // resolves the default path and checks it opens
  if (!lib) return 1;
  o.p.library = lib->path();
  lib.reset();
  o.p.limits.max_body_bytes = o.max_body_mib << 20;
  if (!o.quiet)
    o.p.log = [](const std::string& line) {
      std::fprintf(stderr, "tome serve: %s\n", line.c_str());
    };
  auto srv = server::server::create(m, o.p);
  if (!srv) {
    std::fprintf(stderr, "tome: %s\n", srv.message().c_str());
    return 1;
  }
  std::string names;
  for (const auto& s : (*srv)->sessions()) names += (names.empty() ? "tome:" : ", tome:") + s;
  std::fprintf(stderr, "tome serve: listening on http://%s:%d (models: %s)%s\n", o.p.host.c_str(),
               (*srv)->port(), names.c_str(), o.p.api_key.empty() ? "" : " with an API key");
  std::fflush(stderr);
  // SIGINT/SIGTERM (on whichever thread they land: OpenBLAS starts its own before main) write a
  // byte to a pipe; a thread reads it and stops the server (stop() is not async-signal-safe).
  if (::pipe(g_wake) != 0) {
    std::fprintf(stderr, "tome: cannot create a pipe for signals\n");
    return 1;
  }
  server::server* raw = srv->get();
  std::thread waiter([raw] {
    char c = 0;
    while (::read(g_wake[0], &c, 1) < 0 && errno == EINTR) {
    }
    if (c == 's') raw->stop();
  });
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const status st = raw->run();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  const char quit = 'q';  // wakes the waiter if run() ended by itself
  (void)!::write(g_wake[1], &quit, 1);
  waiter.join();
  ::close(g_wake[0]);
  ::close(g_wake[1]);
  if (!st.ok()) {
    std::fprintf(stderr, "tome: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "tome serve: stopped\n");
  return 0;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "Serve sessions over a local HTTP API (OpenAI-compatible, /infill)");
  auto o = std::make_shared<serve_options>();
  cmd->add_option("--model,-m", o->model_dir, "model directory (the one that read the sessions)")
      ->required();
  cmd->add_option("--host", o->p.host, "address to listen on (beyond loopback only with --api-key)")
      ->capture_default_str();
  cmd->add_option("--port,-p", o->p.port, "port (0: any free one, printed)")->capture_default_str();
  cmd->add_option(
      "--session,-s", o->p.sessions,
      "session to keep resident (repeatable; default: every complete session of this model)");
  cmd->add_option("--api-key", o->p.api_key,
                  "require \"Authorization: Bearer KEY\" (default: $TOME_API_KEY)");
  cmd->add_option("--max-body", o->max_body_mib, "largest request body in MiB")
      ->capture_default_str();
  cmd->add_option("--max-prompt-tokens", o->p.max_prompt_tokens,
                  "tokens a request may add after the document")
      ->capture_default_str();
  cmd->add_option("--max-tokens-cap", o->p.limits.max_tokens_cap,
                  "largest max_tokens a request may ask for")
      ->capture_default_str();
  cmd->add_option("--http-threads", o->p.http_threads, "connections served at once")
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", o->p.prefill_chunk,
                  "request prefill chunk (tokens): the cancel latency")
      ->capture_default_str();
  cmd->add_option("--disconnect-poll-ms", o->p.disconnect_poll_ms,
                  "how often a waiting request checks that its client is still there")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", o->quiet, "no line per request on stderr");
  add_library_option(*cmd, o->library);
  o->be.add(*cmd);
  cmd->callback([o] {
    if (const int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
