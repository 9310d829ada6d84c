// `tome sessions [--library PATH]`: the sessions of the library: name, tokens (and how far an
// unfinished read got), model, KV storage, size on disk, threads, last change.
#include <cstdio>

#include "cli_common.h"

namespace tome::cli {
namespace {

int run(const std::string& library) {
  auto lib = open_library(library, false);
  if (!lib) return 1;
  auto list = lib->sessions();
  if (!list) {
    std::fprintf(stderr, "tome: %s\n", list.message().c_str());
    return 1;
  }
  if (list->empty()) {
    std::printf("no sessions in %s\n", lib->path().c_str());
    return 0;
  }
  std::printf("%-24s %12s %-18s %-10s %10s %7s %5s  %s\n", "SESSION", "TOKENS", "MODEL", "KV",
              "ON DISK", "THREADS", "DOCS", "UPDATED");
  for (const auto& s : *list) {
    std::string tokens = std::to_string(s.n_tokens);
    if (!s.complete())
      tokens += " (" +
                std::to_string(s.target_tokens > 0 ? 100 * s.n_tokens / s.target_tokens : 0) + "%)";
    const std::string kv = std::string(store::to_string(s.storage)) +
                           (s.comp == store::compression::zstd ? "+zstd" : "");
    std::printf("%-24s %12s %-18s %-10s %10s %7zu %5zu  %s\n", s.name.c_str(), tokens.c_str(),
                s.model_name.substr(0, 18).c_str(), kv.c_str(),
                human_bytes(s.kv_bytes + s.state_bytes).c_str(), s.threads.size(),
                s.documents.size(), s.updated_at.c_str());
  }
  return 0;
}

}  // namespace

void register_sessions(CLI::App& app) {
  auto* cmd = app.add_subcommand("sessions", "List the sessions in the library");
  auto library = std::make_shared<std::string>();
  add_library_option(*cmd, *library);
  cmd->callback([library] {
    if (const int rc = run(*library); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
