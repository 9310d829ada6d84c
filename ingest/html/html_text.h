// HTML and XHTML to plain text through libxml2's parsers (never a hand-made tag stripper):
// block elements become line breaks, lists get "- " / "1. " markers, table cells " | ",
// <pre> keeps its whitespace, script/style/head are dropped. Records headings (for section
// titles) and the text offsets of element ids (for EPUB navigation fragments). No network, no
// external entities. Used by html/ (HTML files) and epub/ (chapters).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tome/ingest/document.h"
#include "tome/status.h"

namespace tome::ingest::detail {

struct html_heading {
  size_t offset = 0;  // byte offset of the heading's text in html_text::text
  int level = 1;      // 1-6
  std::string text;
};

struct html_text {
  std::string text;   // valid UTF-8, LF newlines, ends with '\n' unless empty
  std::string title;  // <title>, whitespace collapsed
  std::vector<html_heading> headings;
  std::unordered_map<std::string, size_t> anchors;  // element id -> offset of the text after it
};

struct html_options {
  bool try_xml = false;  // XHTML: the XML parser first, the HTML parser if not well-formed
  const std::unordered_set<std::string>* wanted_ids = nullptr;  // ids to record; null = all
};

// Errors: input over 1 GiB, or nothing libxml2 can parse at all.
result<html_text> html_to_text(std::string_view bytes, const html_options& opt = {});

// Splits html_text into sections at its headings: (offset, "H1 > H2" title path) pairs, the first
// at offset 0 (titled "" when the text does not open with a heading).
std::vector<std::pair<size_t, std::string>> html_sections(const html_text& h);

// Appends text[sections[i].first, sections[i+1].first) as segments of `file`, titled
// sections[i].second, with line ranges counted in `text` (html.cpp; EPUB chapters use it too).
void add_text_sections(document& doc, const std::string& text,
                       const std::vector<std::pair<size_t, std::string>>& sections,
                       const std::string& file);

}  // namespace tome::ingest::detail
