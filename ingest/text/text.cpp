// Plain text and Markdown files to a document: decode (text_decode.h), then one segment per
// Markdown section (markdown.h) or one segment for a plain text file, with line ranges.
#include <utility>

#include "core/common.h"
#include "text/markdown.h"
#include "text/text_decode.h"

namespace tome::ingest::detail {

// note_decoding is declared in text_decode.h (repositories use it too).
void note_decoding(ingest_report& r, const std::string& name, const decoded_text& d) {
  if (d.detected) r.notes.push_back(name + ": decoded as " + d.encoding + " (detected)");
  if (d.replaced > 0) {
    r.notes.push_back(name + ": " + std::to_string(d.replaced) +
                      " invalid UTF-8 sequence(s) replaced with U+FFFD");
  }
}

result<document> ingest_text(const fs::path& path, format f, const params& p) {
  const auto start = clock::now();
  const std::string name = path.string();
  auto bytes = read_file(path, p.text.max_file_bytes);
  if (!bytes) return bytes.error_status();
  auto decoded = decode_text(*bytes);
  if (!decoded) return decoded.error_status().with_context(name);

  document doc;
  doc.path = name;
  doc.report.path = name;
  doc.report.fmt = f;
  doc.report.files = 1;
  note_decoding(doc.report, name, *decoded);
  const std::string file = path.filename().string();
  std::string& text = decoded->text;
  if (f == format::markdown) {
    const std::vector<text_section> sections = markdown_sections(text);
    for (size_t i = 0; i < sections.size(); ++i) {
      const size_t end = i + 1 < sections.size() ? sections[i + 1].offset : text.size();
      source_ref src{file, 0, sections[i].first_line, 0, sections[i].title, ""};
      add_segment(doc, segment_kind::content,
                  text.substr(sections[i].offset, end - sections[i].offset), std::move(src));
    }
    if (!sections.empty() && sections[0].offset == 0 && !sections[0].title.empty()) {
      doc.title = sections[0].title;
    }
  } else {
    add_segment(doc, segment_kind::content, std::move(text), source_ref{file, 0, 1, 0, "", ""});
  }
  if (doc.segments.empty()) {
    doc.report.skipped.push_back({name, skip_reason::empty, "the file holds no text"});
  }
  doc.files.push_back(
      file_record{file, "", bytes->size(), hash_bytes(*bytes), 0, doc.segments.size()});
  finish_report(doc, p, start);
  return doc;
}

}  // namespace tome::ingest::detail
