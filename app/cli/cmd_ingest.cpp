// `tome ingest PATH [--session NAME] --model DIR`: reads a book, PDF, EPUB, HTML/Markdown/text
// file or a code repository (ingest/), shows the pre-ingest report, wraps it in the model's
// document template (a repository: one document of `file` templates), and prefills it into a
// session of the library with a checkpoint every chunk (Ctrl-C stops at the last checkpoint;
// running the same command again resumes). `--report` stops after the plan: the report, the
// memory and disk it needs, the expected time.
#include <atomic>
#include <csignal>
#include <cstdio>

#include "cli_common.h"
#include "tome/service/ingest.h"

namespace tome::cli {
namespace {

std::atomic<bool> g_cancel{false};
void on_sigint(int) { g_cancel.store(true); }

struct ingest_options {
  std::string path, session, model_dir, library, password;
  bool report_only = false;
  int64_t chunk = 32768;
  backend_options be;
};

int run(const ingest_options& o) {
  auto m = load_model_or_print(o.model_dir, o.be);
  if (!m) return 1;
  std::signal(SIGINT, on_sigint);
  service::plan_params pp;
  pp.ingest.pdf.password = o.password;
  pp.ingest.cancel = &g_cancel;
  pp.ingest.on_progress = [](const ingest::progress& p) {
    std::fprintf(stderr, "\rreading %.*s %llu/%llu   ", static_cast<int>(p.stage.size()), p.stage.data(),
                 static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total));
  };
  pp.chunk_tokens = o.chunk;
  pp.library = o.library.empty() ? service::default_library_path() : std::filesystem::path(o.library);
  auto plan = service::plan_ingest(o.path, m, pp);
  std::fprintf(stderr, "\r");
  if (!plan) {
    std::fprintf(stderr, "tome: %s\n", plan.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "%s%s%s\n%s", plan->doc.path.c_str(), plan->doc.title.empty() ? "" : ": ",
               plan->doc.title.c_str(), plan->summary().c_str());
  if (!plan->fits()) {
    std::fprintf(stderr, "tome: %s: not read\n", plan->refusal.c_str());
    return 1;
  }
  if (o.report_only) return 0;
  auto lib = open_library(o.library);
  if (!lib) return 1;
  service::read_params rp;
  rp.checkpoint.chunk_tokens = o.chunk;
  rp.checkpoint.cancel = &g_cancel;
  rp.checkpoint.on_progress = [](const prefill_progress& p) {
    const double left = p.tokens_per_second > 0 ? (p.total - p.done) / p.tokens_per_second : 0;
    std::fprintf(stderr, "\rprefill %lld / %lld tokens, %.0f tokens/s, %.0f s left   ", static_cast<long long>(p.done),
                 static_cast<long long>(p.total), p.tokens_per_second, left);
  };
  const std::string session = o.session.empty() ? std::filesystem::path(o.path).filename().string() : o.session;
  auto r = service::read_plan(*lib, m, session, *plan, rp);
  std::fprintf(stderr, "\n");
  if (!r) {
    std::fprintf(stderr, "tome: %s\n", r.message().c_str());
    return 1;
  }
  if (g_cancel.load()) {
    std::fprintf(stderr, "tome: stopped; the session '%s' keeps its last checkpoint (run again to resume)\n",
                 session.c_str());
    return 130;
  }
  if (r->resumed_from > 0)
    std::fprintf(stderr, "kept %lld tokens already read (unchanged), read %lld\n",
                 static_cast<long long>(r->resumed_from), static_cast<long long>(r->tokens_done));
  std::printf("session '%s': %s read (%zu tokens)\n", session.c_str(), o.path.c_str(), plan->tokens.size());
  return 0;
}

}  // namespace

void register_ingest(CLI::App& app) {
  auto* cmd = app.add_subcommand("ingest", "Read a book, PDF, EPUB, text file or repository into a session");
  auto o = std::make_shared<ingest_options>();
  cmd->add_option("path", o->path, "file or folder")->required();
  cmd->add_option("--session,-s", o->session, "session name (default: the file or folder name)");
  cmd->add_option("--model,-m", o->model_dir, "model directory")->required();
  cmd->add_option("--password", o->password, "password of an encrypted PDF");
  cmd->add_option("--chunk", o->chunk, "prefill chunk = checkpoint interval (tokens)")->capture_default_str();
  cmd->add_flag("--report", o->report_only, "show the pre-ingest report and stop");
  add_library_option(*cmd, o->library);
  o->be.add(*cmd);
  cmd->callback([o] {
    const int rc = run(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
