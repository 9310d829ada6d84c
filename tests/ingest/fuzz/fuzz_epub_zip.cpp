// libFuzzer target: a whole EPUB from memory (zip container, container.xml, package document,
// navigation, chapters), with small limits so that bombs end quickly. Invariants: no crash, no
// sanitizer report, and every document it returns is valid UTF-8 in newline-ended segments.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/utf8.h"
#include "epub/epub.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome::ingest;
  params p;
  p.epub.max_entries = 200;
  p.epub.max_entry_bytes = 1 << 20;
  p.epub.max_total_bytes = 4 << 20;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto zip = detail::zip_archive::open_memory(bytes, detail::epub_limits(p));
  if (!zip) return 0;
  auto doc = detail::ingest_epub_zip(*zip, "fuzz.epub", p);
  if (!doc) return 0;
  for (const segment& s : doc->segments) {
    if (s.text.empty() || s.text.back() != '\n' || !detail::valid_utf8(s.text) ||
        !detail::valid_utf8(s.source.title)) {
      std::fprintf(stderr, "bad segment from %s\n", s.source.file.c_str());
      std::abort();
    }
  }
  return 0;
}
