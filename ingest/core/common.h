// Internal helpers shared by the format folders of tome_ingest: the per-format entry points,
// reading files with clear errors, progress and cancel, and assembling segments and the report.
// Not part of the public API (include/tome/ingest/ is).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tome/ingest/document.h"
#include "tome/ingest/ingest.h"
#include "tome/status.h"

namespace tome::ingest::detail {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

// The format entry points, one per folder.
result<document> ingest_pdf(const fs::path& path, const params& p);
result<document> ingest_epub(const fs::path& path, const params& p);
result<document> ingest_text(const fs::path& path, format f, const params& p);
result<document> ingest_html(const fs::path& path, const params& p);
result<document> ingest_repo(const fs::path& path, const params& p);

// The whole file; errors name it ("x.pdf: no such file", "x.pdf: permission denied",
// "x: is a folder", "x.txt: 3.2 GiB is over the 512 MiB limit").
result<std::string> read_file(const fs::path& path, uint64_t max_bytes);
// errno as a short message ("no such file", "permission denied", ...).
std::string errno_message(int err);
std::string human_bytes(uint64_t n);          // "812 B", "3.2 KiB", "1.0 MiB"
uint64_t hash_bytes(std::string_view bytes);  // XXH3-64

inline bool is_cancelled(const params& p) {
  return p.cancel && p.cancel->load(std::memory_order_relaxed);
}
status cancelled_error(const fs::path& path);
inline void report_progress(const params& p, std::string_view stage, uint64_t done, uint64_t total,
                            std::string_view item = {}) {
  if (p.on_progress) p.on_progress(progress{stage, done, total, item});
}

// Appends a segment: nothing for text with no visible character; otherwise the text ends with
// exactly one '\n' and, where src.line_begin > 0, src.line_end is set from its line count.
void add_segment(document& doc, segment_kind kind, std::string text, source_ref src);
int32_t count_lines(std::string_view text);  // '\n'-terminated lines (a last partial line counts)

// Fills the report's totals (bytes, characters, lines, estimated tokens, seconds).
void finish_report(document& doc, const params& p, clock::time_point start);

// "3", "3–9", "3–9, 12, 15–16" for sorted page numbers.
std::string page_ranges(const std::vector<int32_t>& pages);

}  // namespace tome::ingest::detail
