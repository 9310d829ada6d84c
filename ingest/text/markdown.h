// Markdown sections for ingest: where each heading starts (ATX "# Title" and setext "Title\n===="
// headings, not inside fenced code blocks) and its title path. The text itself is kept as
// Markdown; only the source map uses the headings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tome::ingest::detail {

struct text_section {
  size_t offset = 0;       // byte offset of the section's first line
  int32_t first_line = 1;  // 1-based
  std::string title;       // "Heading > Subheading"; "" before the first heading
};

// Sections in order; the first starts at offset 0 (with an empty title when the text does not
// open with a heading). `text` is UTF-8 with LF newlines.
std::vector<text_section> markdown_sections(std::string_view text);

}  // namespace tome::ingest::detail
