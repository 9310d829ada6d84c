// libFuzzer target: text decoding (BOMs, UTF-16 sniffing, UTF-8 repair, uchardet + iconv), the
// Markdown section scanner on the result, and the PDF page clean-up on the same text split into
// pages at form feeds. Invariants: valid UTF-8 without CR or NUL, sections in order and in range.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "pdf/pdf_cleanup.h"
#include "text/markdown.h"
#include "text/text_decode.h"

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome::ingest::detail;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto d = decode_text(in);
  if (!d) return 0;
  const std::string& t = d->text;
  if (!valid_utf8(t)) fail("decoded text is not UTF-8");
  if (t.find('\r') != std::string::npos || t.find('\0') != std::string::npos)
    fail("CR or NUL left");
  const auto sections = markdown_sections(t);
  if (sections.empty() || sections[0].offset != 0) fail("first section");
  for (size_t i = 1; i < sections.size(); ++i) {
    if (sections[i].offset <= sections[i - 1].offset || sections[i].offset > t.size() ||
        sections[i].first_line <= sections[i - 1].first_line) {
      fail("sections out of order");
    }
  }
  std::vector<page_lines> pages;
  for (size_t pos = 0; pos <= t.size();) {
    size_t ff = t.find('\f', pos);
    if (ff == std::string::npos) ff = t.size();
    pages.push_back(split_page_text(std::string_view(t).substr(pos, ff - pos)));
    pos = ff + 1;
  }
  drop_running_lines(pages);
  join_hyphenation(pages);
  for (const page_lines& p : pages) {
    for (const std::string& l : p) {
      if (!valid_utf8(l) || l.find('\n') != std::string::npos) fail("page line");
    }
  }
  return 0;
}
