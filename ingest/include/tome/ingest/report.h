// tome::ingest::ingest_report: the pre-ingest report. What a path holds (files or pages,
// characters, estimated tokens) and what was left out and why, before any token is computed.
// Every ingest fills one (document::report); format_report() renders it for people.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tome::ingest {

enum class format : uint8_t { text, markdown, html, pdf, epub, repository };
std::string_view format_name(format f);  // "text", "markdown", "html", "pdf", "epub", "repository"

enum class skip_reason : uint8_t {
  unreadable,   // could not be opened or read (permissions, I/O error, not a regular file)
  corrupt,      // damaged content (a broken archive entry, an unparsable chapter)
  unsupported,  // a file type ingest does not read
  binary,       // binary content (NUL bytes or a known binary extension)
  too_large,    // over the size limit
  vendored,     // third-party code (node_modules/, vendor/, third_party/ ...)
  generated,    // build output or generated code (a build folder, "@generated", *.min.js ...)
  symlink,      // a symbolic link: never followed (the detail says where it points)
  unsafe_path,  // a path leaving the archive or the repository
  limit,        // a count or total-size limit was reached; the rest was not read
  empty,        // no text
};
std::string_view skip_reason_name(skip_reason r);

struct skipped_item {
  std::string path;
  skip_reason reason = skip_reason::unreadable;
  std::string detail;  // the specifics: "3.2 MiB > 1 MiB limit", "points outside the root"
};

struct ingest_report {
  std::string path;
  format fmt = format::text;
  size_t files = 0;               // files read (1 for a single file)
  size_t pages = 0;               // PDF pages (all of them, with or without text)
  size_t pages_without_text = 0;  // PDF pages with no text layer
  uint64_t bytes = 0;             // UTF-8 bytes of the document text
  uint64_t characters = 0;        // Unicode code points of the document text
  uint64_t lines = 0;
  uint64_t estimated_tokens = 0;  // bytes / bytes_per_token (ingest params), or exact once
  bool tokens_exact = false;      //   tokenized (token_map::update_report)
  size_t ignored = 0;             // repository paths ignored by .gitignore rules (not listed)
  std::vector<skipped_item> skipped;
  std::vector<std::string> notes;  // "pages 3–9 have no text layer (scanned?)", repairs, ...
  double seconds = 0;              // wall time of the ingest
};

// Several lines for a terminal or a dialog: the summary, then the skipped items grouped by reason
// (at most max_listed per reason, then a count), then the notes.
std::string format_report(const ingest_report& r, size_t max_listed = 20);

}  // namespace tome::ingest
