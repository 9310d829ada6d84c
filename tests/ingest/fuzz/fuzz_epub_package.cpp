// libFuzzer target: the EPUB package parsers Tome owns, on raw bytes. The first byte picks the
// parser (container.xml, package document, nav document, NCX, chapter XHTML to text, href
// resolution); the rest is its input. Invariants: valid UTF-8 out, resolved paths never leave
// the archive, anchors and headings inside the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/utf8.h"
#include "epub/epub_package.h"
#include "html/html_text.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_path(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.find("..") == 0 || p.find("/../") != std::string::npos ||
      p.find('\0') != std::string::npos) {
    fail("unsafe path", p);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome::ingest::detail;
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto r = parse_container(in);
      if (r) check_path(*r);
      break;
    }
    case 1: {
      auto r = parse_opf(in, "OEBPS/content.opf");
      if (!r) break;
      for (const opf_item& i : r->manifest) {
        if (!i.path.empty()) check_path(i.path);
      }
      if (!valid_utf8(r->title)) fail("title", r->title);
      break;
    }
    case 2:
    case 3: {
      const auto entries =
          data[0] % 6 == 2 ? parse_nav(in, "OEBPS/nav.xhtml") : parse_ncx(in, "toc.ncx");
      for (const nav_entry& e : entries) {
        check_path(e.path);
        if (!valid_utf8(e.title)) fail("nav title", e.title);
      }
      break;
    }
    case 4: {
      html_options opt;
      opt.try_xml = true;
      auto h = html_to_text(in, opt);
      if (!h) break;
      if (!valid_utf8(h->text) || !valid_utf8(h->title)) fail("html text", "invalid UTF-8");
      for (const auto& [id, off] : h->anchors) {
        if (off > h->text.size()) fail("anchor", id);
      }
      for (const html_heading& hd : h->headings) {
        if (hd.offset > h->text.size() || !valid_utf8(hd.text)) fail("heading", hd.text);
      }
      const auto sections = html_sections(*h);
      for (size_t i = 1; i < sections.size(); ++i) {
        if (sections[i].first <= sections[i - 1].first) fail("sections", "out of order");
      }
      break;
    }
    default: {
      const size_t split = in.find('\n');
      const std::string_view base =
          split == std::string_view::npos ? "a/b.opf" : in.substr(0, split);
      const std::string_view href = split == std::string_view::npos ? in : in.substr(split + 1);
      std::string frag;
      if (auto r = resolve_href(base, href, &frag)) {
        // Relative to a base inside the archive, a result may not climb out of it.
        if (!r->empty() && (*r)[0] == '/' && !(base.size() && base[0] == '/')) fail("absolute", *r);
        if (r->find("/../") != std::string::npos || r->rfind("../", 0) == 0) fail("dotdot", *r);
      }
      break;
    }
  }
  return 0;
}
