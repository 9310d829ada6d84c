// PDF text clean-up on extracted pages (pure functions on lines; no Poppler here, so tests can
// feed them directly): line splitting with ligatures expanded, running headers and footers that
// repeat across pages dropped, words hyphenated at line ends joined (across pages too), and
// runs of blank lines squeezed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tome::ingest::detail {

using page_lines = std::vector<std::string>;

// Poppler's page text to lines: form feeds and trailing spaces removed, ligature code points
// (U+FB00-FB06) expanded, invalid UTF-8 repaired.
page_lines split_page_text(std::string_view text);

// Drops lines in the top or bottom three non-empty lines of pages that repeat, digits ignored,
// on many pages (at least 3, and 30% of the pages with text or 40% of the span between their
// first and last page), and bare page numbers ("12", "iv", "Page 3 of 9", "- 7 -"). Returns the
// number of lines dropped.
size_t drop_running_lines(std::vector<page_lines>& pages);

// Joins "infor-" + "mation" across line ends (and page ends: the continuation moves to the
// earlier page). The hyphen is kept when the document spells the hyphenated form more often
// than the joined one, or when the word looks like a URL or identifier; soft hyphens always go.
// Returns the number of joins.
size_t join_hyphenation(std::vector<page_lines>& pages);

// No leading or trailing blank lines, at most one blank line in a row.
void squeeze_blank_lines(page_lines& lines);

// Lowercase, digits runs as '#', spaces collapsed: the key under which lines repeat.
std::string running_line_key(std::string_view line);

}  // namespace tome::ingest::detail
