// tome::ingest::document: what ingest makes of a path. An ordered list of segments, each with its
// UTF-8 text and its source (file, page, line range, chapter or section title), the files read
// with their content hashes, and the report (ingest_report). A document holds text only: no
// tokens (token_map.h maps tokens back to these sources) and no engine types.
// Plain data: build it on one thread, then read it from any number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/ingest/report.h"

namespace tome::ingest {

// Where a piece of text came from.
struct source_ref {
  // The file: the path relative to the repository root (repositories), the entry's path inside
  // the archive (EPUB), or the file name (single files).
  std::string file;
  int32_t page = 0;  // 1-based physical PDF page; 0 where the format has no pages
  // 1-based, inclusive; 0 when not applicable (file headers). Text and code: lines of the file.
  // PDF: lines of the page's extracted text. HTML and EPUB: lines of the file's extracted text
  // (not of its markup).
  int32_t line_begin = 0;
  int32_t line_end = 0;
  std::string title;     // chapter / section path, "Chapter > Section"; "" when none
  std::string language;  // code files ("C++", "Python", ...); "" otherwise
  bool operator==(const source_ref& o) const = default;
};

enum class segment_kind : uint8_t {
  content,      // text from the source
  file_header,  // the line introducing a repository file ("==> src/a.cpp (C++) <==")
};

struct segment {
  segment_kind kind = segment_kind::content;
  std::string text;  // valid UTF-8, never empty, ends with '\n'
  source_ref source;
};

// One file that was read (a repository has many; a single file, one).
struct file_record {
  std::string path;      // as in source_ref::file
  std::string language;  // "" when not code
  uint64_t size = 0;     // bytes on disk
  uint64_t hash = 0;     // XXH3-64 of the file's bytes as read from disk
  size_t first_segment = 0;
  size_t segment_count = 0;
};

struct document {
  std::string path;   // what was ingested, as given
  std::string title;  // PDF/EPUB title from its metadata, repository folder name; may be ""
  std::vector<segment> segments;
  std::vector<file_record> files;
  ingest_report report;

  std::string text() const;  // all segments' text, in order
  uint64_t size_bytes() const;
};

// Index into `after` of the first file whose path or content hash differs from the file at the
// same position in `before` (or that `before` does not have): where a re-ingest starts to differ.
// after.size() when every file of `after` matches.
size_t first_changed_file(std::span<const file_record> before, std::span<const file_record> after);

}  // namespace tome::ingest
