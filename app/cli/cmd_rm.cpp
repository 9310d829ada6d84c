// `tome rm SESSION [--thread T]`: removes a session (documents, threads, rows) or one thread, and
// gives the space back to the file system.
#include <cstdio>

#include "cli_common.h"

namespace tome::cli {

void register_rm(CLI::App& app) {
  auto* cmd = app.add_subcommand("rm", "Remove a session or one of its threads");
  auto library = std::make_shared<std::string>();
  auto session = std::make_shared<std::string>();
  auto thread = std::make_shared<std::string>();
  cmd->add_option("session", *session, "session name")->required();
  cmd->add_option("--thread,-t", *thread, "remove only this thread");
  add_library_option(*cmd, *library);
  cmd->callback([library, session, thread] {
    auto lib = open_library(*library);
    if (!lib) throw CLI::RuntimeError(1);
    const status s =
        thread->empty() ? lib->remove_session(*session) : lib->remove_thread(*session, *thread);
    if (!s.ok()) {
      std::fprintf(stderr, "tome: %s\n", s.message().c_str());
      throw CLI::RuntimeError(1);
    }
    std::printf("removed %s%s\n", thread->empty() ? "" : ("thread '" + *thread + "' of ").c_str(),
                ("'" + *session + "'").c_str());
  });
}

}  // namespace tome::cli
