// The PDF outline (bookmarks) with the page each entry points to. poppler-cpp exposes outline
// titles but not their destinations, so this one file reads the outline through poppler-glib
// (the same Poppler library, its GLib front end) from the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tome::ingest::detail {

struct outline_entry {
  int32_t page = 0;   // 1-based
  std::string leaf;   // the entry's own title
  std::string title;  // "Chapter > Section"
};

// Entries in outline order (depth-first), those without a resolvable page left out; at most
// 100,000 entries, depth at most 32. Empty when the PDF has no outline or cannot be opened.
std::vector<outline_entry> read_outline(std::string_view pdf_bytes, const std::string& password);

}  // namespace tome::ingest::detail
