// tome::ingest: a path (PDF, EPUB, HTML, Markdown, plain text, or a folder read as a code
// repository) to a document (document.h). No Qt, no engine: errors are tome::status values that
// name the file and the problem; nothing throws across this API. ingest() runs on the calling
// thread (PDFs and repositories also use a few worker threads of their own); on_progress is only
// ever called on the calling thread; cancel is polled between pages and files.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tome/ingest/document.h"
#include "tome/ingest/report.h"
#include "tome/status.h"

namespace tome::ingest {

struct progress {
  std::string_view stage;  // "pages", "outline", "walk", "files", "chapters"
  uint64_t done = 0;
  uint64_t total = 0;     // 0 when not known yet
  std::string_view item;  // the file being read, when there is one
};
using progress_fn = std::function<void(const progress&)>;

struct pdf_params {
  std::string password;              // for encrypted PDFs (tried as user and owner password)
  bool drop_headers_footers = true;  // running headers/footers repeated across pages
  bool join_hyphenation = true;      // "infor-\nmation" -> "information"
  int threads = 0;                   // page workers; 0 = one per core, at most 8
};

struct epub_params {
  // Against zip bombs: every limit is checked before and while inflating.
  uint64_t max_entries = 10'000;
  uint64_t max_entry_bytes = 64ull << 20;   // one inflated entry
  uint64_t max_total_bytes = 512ull << 20;  // everything inflated
  double max_ratio = 200.0;                 // inflated / compressed, for entries over 1 MiB
};

struct text_params {
  uint64_t max_file_bytes = 512ull << 20;  // a single text, Markdown or HTML file
};

struct repo_params {
  uint64_t max_file_bytes = 1ull << 20;   // larger files are skipped (reported)
  uint64_t max_files = 200'000;           // files read; the rest is reported as "limit"
  uint64_t max_total_bytes = 1ull << 30;  // bytes read
  bool use_gitignore = true;              // .gitignore, .git/info/exclude, core.excludesFile
  bool skip_vendored = true;
  bool skip_generated = true;
  std::vector<std::string> skip_dirs;  // more folder names to skip (reported as vendored)
  // The header line before each file; {path} and {language} are replaced.
  std::string header_format = "==> {path} ({language}) <==\n";
  // Stable order (ingest/README.md): files unchanged since HEAD first, ordered by how long ago
  // they last changed within the last history_commits first-parent commits; 0 = path order.
  int history_commits = 1000;
  int threads = 0;  // file readers; 0 = one per core, at most 8
};

struct params {
  pdf_params pdf;
  epub_params epub;
  text_params text;
  repo_params repo;
  double bytes_per_token = 3.6;  // for report.estimated_tokens before tokenizing
  progress_fn on_progress;
  const std::atomic<bool>* cancel = nullptr;  // set to true to stop: ingest returns an error
};

// The format of a path: a folder is a repository; a file by its content first (%PDF-, an EPUB's
// zip with mimetype application/epub+zip, HTML markup), then by its extension (.md, .txt,
// .html ...). Errors: missing, unreadable, binary or unknown files, named in the message.
result<format> detect_format(const std::filesystem::path& path);

// Reads `path` into a document. A file that cannot be read as a whole (missing, unreadable,
// corrupt, encrypted without the password, unknown) is an error naming it; inside a repository
// or an EPUB a bad file or chapter is skipped and reported, never an error for the whole.
result<document> ingest(const std::filesystem::path& path, const params& p = {});

// The same with the format given (no detection).
result<document> ingest_as(const std::filesystem::path& path, format f, const params& p = {});

// Sets up the PDF library's process-wide state once, from whichever thread comes first (ingest
// does it before it reads a PDF). Code that uses Poppler on another thread while an ingest may
// run (the desktop viewer's pages through poppler-qt6, the same libpoppler) calls it first:
// Poppler builds that state unguarded on first use, and two threads doing so corrupt the heap.
// True once it is set up (false only if Poppler could not read Tome's own one-page PDF; ingest
// then reads a document's first page alone instead).
bool prepare_pdf_library();

}  // namespace tome::ingest
