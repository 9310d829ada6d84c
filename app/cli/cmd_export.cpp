// `tome export SESSION FILE.tome`: writes one session (documents, threads, KV rows) to a
// standalone .tome file that `tome import` reads on another machine with the same model.
#include <cstdio>

#include "cli_common.h"

namespace tome::cli {

void register_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a session to a standalone .tome file");
  auto library = std::make_shared<std::string>();
  auto session = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  cmd->add_option("session", *session, "session name")->required();
  cmd->add_option("file", *file, "the .tome file to write (must not exist)")->required();
  add_library_option(*cmd, *library);
  cmd->callback([library, session, file] {
    auto lib = open_library(*library);
    if (!lib) throw CLI::RuntimeError(1);
    if (auto s = lib->export_session(*session, *file); !s.ok()) {
      std::fprintf(stderr, "tome: %s\n", s.message().c_str());
      throw CLI::RuntimeError(1);
    }
    std::error_code ec;
    std::printf("exported '%s' to %s (%s)\n", session->c_str(), file->c_str(),
                human_bytes(static_cast<int64_t>(std::filesystem::file_size(*file, ec))).c_str());
  });
}

}  // namespace tome::cli
