// `tome ingest PATH [--session NAME] --model DIR`: reads a book, PDF, EPUB, HTML/Markdown/text
// file or a code repository (ingest/), shows the pre-ingest report, wraps it in the model's
// document template (a repository: one document of `file` templates), and prefills it into a
// session of the library with a checkpoint every chunk (Ctrl-C stops at the last checkpoint;
// running the same command again resumes). `--report` stops after the report.
#include <atomic>
#include <csignal>
#include <cstdio>

#include "cli_common.h"
#include "tome/ingest/ingest.h"
#include "tome/ingest/token_map.h"
#include "tome/service/service.h"

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

std::string base64(const std::vector<uint8_t>& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = (uint32_t{in[i]} << 16) | (i + 1 < in.size() ? uint32_t{in[i + 1]} << 8 : 0) |
                       (i + 2 < in.size() ? uint32_t{in[i + 2]} : 0);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < in.size() ? t[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? t[n & 63] : '=';
  }
  return out;
}

void print_report(const ingest::document& doc) {
  std::fprintf(stderr, "%s%s%s\n%s", doc.path.c_str(), doc.title.empty() ? "" : ": ", doc.title.c_str(),
               ingest::format_report(doc.report).c_str());
}

int run(const ingest_options& o) {
  auto m = load_model_or_print(o.model_dir, o.be);
  if (!m) return 1;
  std::signal(SIGINT, on_sigint);
  ingest::params ip;
  ip.pdf.password = o.password;
  ip.cancel = &g_cancel;
  ip.on_progress = [](const ingest::progress& p) {
    std::fprintf(stderr, "\rreading %.*s %llu/%llu   ", static_cast<int>(p.stage.size()), p.stage.data(),
                 static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total));
  };
  auto doc = ingest::ingest(o.path, ip);
  std::fprintf(stderr, "\r");
  if (!doc) {
    std::fprintf(stderr, "tome: %s\n", doc.message().c_str());
    return 1;
  }
  // Tokens: <s><|doc|> + segments (file headers as "<|file|>path\n") + <|/doc|>.
  const tokenizer& tok = m->tok();
  const model_config& c = m->config();
  ingest::tokenizer_fns fns;
  fns.encode = [&](std::string_view s) { return tok.encode(s); };
  const int32_t file_id = c.special_id("file_start");
  fns.encode_header = [&](const ingest::segment& s) {
    std::vector<int32_t> ids;
    if (file_id >= 0) ids.push_back(file_id);
    auto rest = tok.encode(s.source.file + "\n");
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  };
  auto td = ingest::tokenize(*doc, fns);
  if (!td) {
    std::fprintf(stderr, "tome: %s\n", td.message().c_str());
    return 1;
  }
  ingest::update_report(doc->report, td->map);
  print_report(*doc);
  if (td->tokens.empty()) {
    std::fprintf(stderr, "tome: %s: nothing to read (every file was ignored or skipped: see the report)\n",
                 o.path.c_str());
    return 1;
  }
  std::vector<int32_t> tokens;
  for (const char* role : {"bos", "doc_start"})
    if (c.special_id(role) >= 0) tokens.push_back(c.special_id(role));
  const int64_t offset = static_cast<int64_t>(tokens.size());
  tokens.insert(tokens.end(), td->tokens.begin(), td->tokens.end());
  if (c.special_id("doc_end") >= 0) tokens.push_back(c.special_id("doc_end"));
  std::fprintf(stderr, "  %zu tokens with the document template; global KV %s on this backend\n", tokens.size(),
               human_bytes(static_cast<int64_t>(tokens.size()) * 2 * c.kv_dim() *
                           (m->backend_in_use() == backend_kind::cuda ? 2 : 4))
                   .c_str());
  if (o.report_only) return 0;
  if (static_cast<int64_t>(tokens.size()) > c.max_context) {
    std::fprintf(stderr, "tome: %s needs %zu tokens, more than the model's maximum context of %lld: not read\n",
                 o.path.c_str(), tokens.size(), static_cast<long long>(c.max_context));
    return 1;
  }
  auto lib = open_library(o.library);
  if (!lib) return 1;
  store::document_record rec;
  rec.title = doc->title;
  rec.path = doc->path;
  rec.kind = std::string(ingest::format_name(doc->report.fmt));
  uint64_t h = 0;
  for (const auto& f : doc->files) h = h * 1099511628211ull ^ f.hash;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  rec.content_hash = hex;
  rec.source_map = "{\"format\":\"tome-token-map\",\"token_offset\":" + std::to_string(offset) +
                   ",\"map_base64\":\"" + base64(td->map.serialize()) + "\"}";
  service::read_params rp;
  rp.checkpoint.chunk_tokens = o.chunk;
  rp.checkpoint.cancel = &g_cancel;
  rp.checkpoint.on_progress = [](const prefill_progress& p) {
    const double left = p.tokens_per_second > 0 ? (p.total - p.done) / p.tokens_per_second : 0;
    std::fprintf(stderr, "\rprefill %lld / %lld tokens, %.0f tokens/s, %.0f s left   ", static_cast<long long>(p.done),
                 static_cast<long long>(p.total), p.tokens_per_second, left);
  };
  const std::string session = o.session.empty() ? std::filesystem::path(o.path).filename().string() : o.session;
  auto r = service::read_document(*lib, m, session, rec, tokens, rp);
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
  std::printf("session '%s': %s read (%zu tokens)\n", session.c_str(), o.path.c_str(), tokens.size());
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
