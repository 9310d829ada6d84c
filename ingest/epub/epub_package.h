// The EPUB package files, parsed with libxml2 (no network, no external entities, no DTD): the
// container (META-INF/container.xml -> the package document), the package document (OPF:
// title, manifest, spine, navigation), and the navigation (EPUB 3 nav document or EPUB 2 NCX)
// as chapter titles. Hrefs are resolved against their file and refused when they leave the
// archive. Pure functions on bytes: a libFuzzer target drives them directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tome/status.h"

namespace tome::ingest::detail {

// `href` (percent-encoded, maybe with #fragment) relative to the folder of `base_file`, as an
// archive path ("OEBPS/ch1.xhtml"). nullopt when it leaves the archive ("../x", "/etc/passwd",
// "http://...", a NUL byte). The fragment (without '#') goes to *fragment when given.
std::optional<std::string> resolve_href(std::string_view base_file, std::string_view href,
                                        std::string* fragment = nullptr);

// The first rootfile's full-path. Errors: not XML, no rootfile, unsafe path.
result<std::string> parse_container(std::string_view xml);

struct opf_item {
  std::string id;
  std::string path;  // resolved archive path; "" when unsafe (then href_raw says what it was)
  std::string href_raw;
  std::string media_type;
  std::string properties;
};

struct opf_package {
  std::string title;
  std::vector<opf_item> manifest;
  std::vector<std::string> spine;  // manifest ids, reading order
  std::string toc_id;              // spine@toc (EPUB 2 NCX), may be ""
  const opf_item* find(std::string_view id) const;
  const opf_item* nav_item() const;  // properties contains "nav" (EPUB 3)
  const opf_item* ncx_item() const;  // spine@toc, or media type application/x-dtbncx+xml
};

result<opf_package> parse_opf(std::string_view xml, std::string_view opf_path);

struct nav_entry {
  std::string path;      // resolved archive path of the target
  std::string fragment;  // "" for the top of the file
  std::string title;     // "Chapter > Section"
};

// EPUB 3 navigation document (<nav epub:type="toc">, or the first <nav>). Unsafe targets are
// dropped. Depth is capped at 32.
std::vector<nav_entry> parse_nav(std::string_view xhtml, std::string_view nav_path);
// EPUB 2 NCX (navMap/navPoint).
std::vector<nav_entry> parse_ncx(std::string_view xml, std::string_view ncx_path);

}  // namespace tome::ingest::detail
