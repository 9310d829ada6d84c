// HTML files to a document: libxml2 (html_text.h) to text, one segment per heading section,
// the <title> as the document title. Lines are lines of the extracted text.
#include <utility>

#include "core/common.h"
#include "html/html_text.h"

namespace tome::ingest::detail {

// Appends the sections of `h` as segments of `file` (shared with EPUB chapters, which pass a
// title prefix and their own section starts).
void add_text_sections(document& doc, const std::string& text,
                       const std::vector<std::pair<size_t, std::string>>& sections,
                       const std::string& file) {
  int32_t line = 1;
  for (size_t i = 0; i < sections.size(); ++i) {
    const size_t begin = std::min(sections[i].first, text.size());
    const size_t end =
        i + 1 < sections.size() ? std::min(sections[i + 1].first, text.size()) : text.size();
    if (end <= begin) continue;
    std::string piece = text.substr(begin, end - begin);
    const int32_t lines = count_lines(piece);
    // A section that does not end at a line break shares its last line with the next one.
    const bool ends_line = piece.back() == '\n';
    add_segment(doc, segment_kind::content, std::move(piece),
                source_ref{file, 0, line, 0, sections[i].second, ""});
    line += ends_line ? lines : lines - 1;
  }
}

result<document> ingest_html(const fs::path& path, const params& p) {
  const auto start = clock::now();
  const std::string name = path.string();
  auto bytes = read_file(path, p.text.max_file_bytes);
  if (!bytes) return bytes.error_status();
  auto h = html_to_text(*bytes);
  if (!h) return h.error_status().with_context(name);
  document doc;
  doc.path = name;
  doc.title = h->title;
  doc.report.path = name;
  doc.report.fmt = format::html;
  doc.report.files = 1;
  const std::string file = path.filename().string();
  add_text_sections(doc, h->text, html_sections(*h), file);
  if (doc.segments.empty()) {
    doc.report.skipped.push_back({name, skip_reason::empty, "the page holds no text"});
  }
  doc.files.push_back(
      file_record{file, "", bytes->size(), hash_bytes(*bytes), 0, doc.segments.size()});
  finish_report(doc, p, start);
  return doc;
}

}  // namespace tome::ingest::detail
