// tome-ingest-report: the pre-ingest report for a path (what `tome ingest PATH --report` will
// show once the CLI has a service layer), and optionally the extracted text or its segments with
// their sources. For people and for scripts/bench-ingest.sh; not the `tome` CLI.
//   tome-ingest-report PATH [--password PW] [--text] [--segments] [--list N] [--threads N]
//                      [--no-history] [--no-cleanup] [--progress]
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tome/ingest/ingest.h"

namespace {

std::atomic<bool> g_cancel{false};
extern "C" void on_sigint(int) { g_cancel = true; }

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s PATH [--password PW] [--text] [--segments] [--list N] [--threads N]\n"
               "          [--no-history] [--no-cleanup] [--progress]\n"
               "  Reads PATH (PDF, EPUB, HTML, Markdown, text, or a folder as a code repository)\n"
               "  and prints the pre-ingest report. --text prints the document text instead,\n"
               "  --segments one line per segment with its source. --no-history: repositories in\n"
               "  path order; --no-cleanup: PDF text without header/footer removal and hyphen\n"
               "  joins. Ctrl-C cancels.\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tome::ingest;
  std::string path;
  params p;
  bool text = false, segments = false, show_progress = false;
  size_t list = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--password") {
      const char* v = value();
      if (!v) return usage(argv[0]);
      p.pdf.password = v;
    } else if (a == "--text") {
      text = true;
    } else if (a == "--segments") {
      segments = true;
    } else if (a == "--progress") {
      show_progress = true;
    } else if (a == "--no-history") {
      p.repo.history_commits = 0;
    } else if (a == "--no-cleanup") {
      p.pdf.drop_headers_footers = false;
      p.pdf.join_hyphenation = false;
    } else if (a == "--list" || a == "--threads") {
      const char* v = value();
      if (!v) return usage(argv[0]);
      const long n = std::strtol(v, nullptr, 10);
      if (n < 0) return usage(argv[0]);
      if (a == "--list") {
        list = static_cast<size_t>(n);
      } else {
        p.pdf.threads = p.repo.threads = static_cast<int>(n);
      }
    } else if (!a.empty() && a[0] == '-') {
      return usage(argv[0]);
    } else if (path.empty()) {
      path = a;
    } else {
      return usage(argv[0]);
    }
  }
  if (path.empty()) return usage(argv[0]);
  std::signal(SIGINT, on_sigint);
  p.cancel = &g_cancel;
  if (show_progress) {
    p.on_progress = [](const progress& pr) {
      std::fprintf(stderr, "\r%.*s %llu/%llu", static_cast<int>(pr.stage.size()), pr.stage.data(),
                   static_cast<unsigned long long>(pr.done),
                   static_cast<unsigned long long>(pr.total));
    };
  }
  auto doc = ingest(path, p);
  if (show_progress) std::fprintf(stderr, "\n");
  if (!doc) {
    std::fprintf(stderr, "tome-ingest-report: %s\n", doc.message().c_str());
    return 1;
  }
  if (text) {
    for (const segment& s : doc->segments) std::fwrite(s.text.data(), 1, s.text.size(), stdout);
    return 0;
  }
  if (segments) {
    for (const segment& s : doc->segments) {
      const source_ref& r = s.source;
      std::printf("%s%s", s.kind == segment_kind::file_header ? "header " : "", r.file.c_str());
      if (r.page) std::printf(" p%d", r.page);
      if (r.line_begin) std::printf(" lines %d-%d", r.line_begin, r.line_end);
      if (!r.title.empty()) std::printf(" [%s]", r.title.c_str());
      if (!r.language.empty()) std::printf(" (%s)", r.language.c_str());
      std::printf(" %zu bytes\n", s.text.size());
    }
    return 0;
  }
  std::fputs(format_report(doc->report, list).c_str(), stdout);
  return 0;
}
