// `tome complete SESSION FILE:LINE[:COL] --model DIR`: code completion at a cursor with the whole
// session (a repository read by `tome ingest`) in context. FILE is read from disk (relative to
// the session's repository root, or as given); the text before the cursor is the prefix, the rest
// of the file the suffix; the middle is printed. Nothing is saved.
#include <cstdio>
#include <fstream>
#include <iterator>

#include "cli_common.h"
#include "tome/service/service.h"

namespace tome::cli {
namespace {

struct complete_options {
  std::string library, session, cursor, model_dir;
  service::complete_params p;
  backend_options be;
};

int run(const complete_options& o) {
  // FILE:LINE[:COL], LINE and COL 1-based; COL counts bytes, default: the end of the line.
  std::string file = o.cursor;
  long line = 0, col = 0;
  const size_t c1 = file.rfind(':');
  if (c1 == std::string::npos) {
    std::fprintf(stderr, "tome: %s: expected FILE:LINE[:COL]\n", o.cursor.c_str());
    return 2;
  }
  const size_t c0 = file.rfind(':', c1 - 1);
  const bool has_col = c0 != std::string::npos &&
                       file.find_first_not_of("0123456789", c0 + 1) == c1;
  try {
    if (has_col) {
      line = std::stol(file.substr(c0 + 1, c1 - c0 - 1));
      col = std::stol(file.substr(c1 + 1));
      file.resize(c0);
    } else {
      line = std::stol(file.substr(c1 + 1));
      file.resize(c1);
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "tome: %s: expected FILE:LINE[:COL]\n", o.cursor.c_str());
    return 2;
  }
  auto lib = open_library(o.library, true);
  if (!lib) return 1;
  auto info = lib->info(o.session);
  if (!info) {
    std::fprintf(stderr, "tome: %s\n", info.message().c_str());
    return 1;
  }
  std::filesystem::path path = file;
  if (!std::filesystem::exists(path))
    for (const auto& d : info->documents)
      if (std::filesystem::exists(std::filesystem::path(d.path) / file)) path = std::filesystem::path(d.path) / file;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "tome: %s: cannot be read\n", file.c_str());
    return 1;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  for (long l = 1; l < line && pos != std::string::npos; ++l) {
    pos = text.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  if (line < 1 || pos == std::string::npos || pos > text.size()) {
    std::fprintf(stderr, "tome: %s has no line %ld\n", file.c_str(), line);
    return 1;
  }
  const size_t eol = std::min(text.find('\n', pos), text.size());
  const size_t cursor = has_col ? std::min(pos + static_cast<size_t>(std::max(col - 1, 0L)), eol) : eol;
  auto m = load_model_or_print(o.model_dir, o.be);
  if (!m) return 1;
  auto r = service::complete(*lib, m, o.session, text.substr(0, cursor), text.substr(cursor), o.p,
                             [](int32_t, std::string_view t) {
                               std::fwrite(t.data(), 1, t.size(), stdout);
                               std::fflush(stdout);
                               return true;
                             });
  std::fputc('\n', stdout);
  if (!r) {
    std::fprintf(stderr, "tome: %s\n", r.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void register_complete(CLI::App& app) {
  auto* cmd = app.add_subcommand("complete", "Complete code at FILE:LINE[:COL] with the whole session in context");
  auto o = std::make_shared<complete_options>();
  o->p.gen.max_tokens = 64;
  cmd->add_option("session", o->session, "session (e.g. a repository read by tome ingest)")->required();
  cmd->add_option("cursor", o->cursor, "FILE:LINE[:COL] (1-based; COL in bytes, default end of line)")->required();
  cmd->add_option("--model,-m", o->model_dir, "model directory (the one that read the session)")->required();
  cmd->add_option("--max-tokens,-n", o->p.gen.max_tokens)->capture_default_str();
  cmd->add_option("--stop", o->p.gen.stop, "stop string (repeatable)");
  add_sampling_options(*cmd, o->p.gen.sampling);
  add_library_option(*cmd, o->library);
  o->be.add(*cmd);
  cmd->callback([o] {
    const int rc = run(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tome::cli
