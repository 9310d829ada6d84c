// `tome import FILE.tome --model DIR [--name NAME]`: checks everything in the file against the
// model (format, schema, fingerprints, KV precision, every row's checksum) and adds the session.
#include <cstdio>

#include "cli_common.h"

namespace tome::cli {
namespace {

struct import_options {
  std::string library, file, model_dir, name;
  backend_options be;
};

}  // namespace

void register_import(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import a session from a .tome file");
  auto o = std::make_shared<import_options>();
  cmd->add_option("file", o->file, "the .tome file")->required();
  cmd->add_option("--model,-m", o->model_dir, "model directory (must be the one that made it)")
      ->required();
  cmd->add_option("--name", o->name, "import under this name");
  add_library_option(*cmd, o->library);
  o->be.add(*cmd);
  cmd->callback([o] {
    auto lib = open_library(o->library);
    if (!lib) throw CLI::RuntimeError(1);
    auto m = load_model_or_print(o->model_dir, o->be);
    if (!m) throw CLI::RuntimeError(1);
    auto r = lib->import_session(o->file, *m, o->name);
    if (!r) {
      std::fprintf(stderr, "tome: %s\n", r.message().c_str());
      throw CLI::RuntimeError(1);
    }
    std::printf("imported '%s': %lld tokens, %zu documents, %zu threads\n", r->name.c_str(),
                static_cast<long long>(r->n_tokens), r->documents.size(), r->threads.size());
  });
}

}  // namespace tome::cli
