// EPUB files to a document: zip (zip_archive.h, with bomb limits) -> container -> package
// document -> spine order -> each chapter's XHTML to text (html/html_text.h), split where the
// navigation (nav document or NCX) points into it and titled from it. One bad chapter is
// skipped and reported; a file that is not an EPUB at all is an error naming it.
#include "epub/epub.h"

#include <unistd.h>

#include <map>
#include <unordered_set>
#include <utility>

#include "core/common.h"
#include "epub/epub_package.h"
#include "html/html_text.h"

namespace tome::ingest::detail {

namespace {

bool is_html_type(std::string_view t) {
  return t == "application/xhtml+xml" || t == "text/html" || t == "application/xml" ||
         t == "text/xml";
}

// The navigation entries, grouped by the file they point into (in navigation order).
std::map<std::string, std::vector<nav_entry>> read_navigation(zip_archive& zip,
                                                              const opf_package& pkg,
                                                              document& doc) {
  std::vector<nav_entry> entries;
  const opf_item* nav = pkg.nav_item();
  if (nav && !nav->path.empty()) {
    auto bytes = zip.read(nav->path);
    if (bytes) entries = parse_nav(*bytes, nav->path);
  }
  if (entries.empty()) {
    const opf_item* ncx = pkg.ncx_item();
    if (ncx && !ncx->path.empty()) {
      auto bytes = zip.read(ncx->path);
      if (bytes) entries = parse_ncx(*bytes, ncx->path);
    }
  }
  if (entries.empty())
    doc.report.notes.push_back(doc.path + ": no table of contents; chapters have no titles");
  std::map<std::string, std::vector<nav_entry>> by_file;
  for (nav_entry& e : entries) by_file[e.path].push_back(std::move(e));
  return by_file;
}

}  // namespace

zip_limits epub_limits(const params& p) {
  return zip_limits{p.epub.max_entries, p.epub.max_entry_bytes, p.epub.max_total_bytes,
                    p.epub.max_ratio};
}

result<document> ingest_epub(const fs::path& path, const params& p) {
  const std::string name = path.string();
  // Missing or unreadable files get the plain message first.
  {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return error(name + ": no such file");
    if (fs::is_directory(st)) return error(name + ": is a folder");
    if (::access(path.c_str(), R_OK) != 0) return error(name + ": " + errno_message(errno));
  }
  auto opened = zip_archive::open_file(path, epub_limits(p));
  if (!opened) return opened.error_status().with_context(name);
  return ingest_epub_zip(*opened, name, p);
}

result<document> ingest_epub_zip(zip_archive& zip, const std::string& name, const params& p) {
  const auto start = clock::now();
  const fs::path path(name);

  auto container = zip.read("META-INF/container.xml");
  if (!container) {
    return error(name + ": " +
                 (zip.contains("META-INF/container.xml")
                      ? container.message()
                      : std::string("no META-INF/container.xml (not an EPUB?)")));
  }
  auto opf_path = parse_container(*container);
  if (!opf_path) return opf_path.error_status().with_context(name);
  auto opf_bytes = zip.read(*opf_path);
  if (!opf_bytes) return opf_bytes.error_status().with_context(name);
  auto pkg = parse_opf(*opf_bytes, *opf_path);
  if (!pkg) return pkg.error_status().with_context(name);

  document doc;
  doc.path = name;
  doc.title = pkg->title;
  doc.report.path = name;
  doc.report.fmt = format::epub;
  const auto nav = read_navigation(zip, *pkg, doc);

  std::unordered_set<std::string> seen;
  std::string current_title;  // carried across chapters the navigation does not name
  const size_t total = pkg->spine.size();
  for (size_t i = 0; i < total; ++i) {
    if (is_cancelled(p)) return cancelled_error(path);
    const std::string& idref = pkg->spine[i];
    const opf_item* item = pkg->find(idref);
    report_progress(p, "chapters", i, total, item ? item->path : idref);
    if (!item) {
      doc.report.skipped.push_back(
          {idref, skip_reason::corrupt, "the spine names an item the manifest lacks"});
      continue;
    }
    if (item->path.empty()) {
      doc.report.skipped.push_back(
          {item->href_raw, skip_reason::unsafe_path, "leaves the archive"});
      continue;
    }
    if (!seen.insert(item->path).second) continue;  // listed twice in the spine
    if (!is_html_type(item->media_type)) {
      doc.report.skipped.push_back(
          {item->path, skip_reason::unsupported, item->media_type + " in the spine (no text)"});
      continue;
    }
    if (zip.total_limit_reached()) {
      doc.report.skipped.push_back(
          {item->path, skip_reason::limit, "total inflated size limit reached"});
      continue;
    }
    auto bytes = zip.read(item->path);
    if (!bytes) {
      const std::string& m = bytes.message();
      const bool bomb =
          m.find("limit") != std::string::npos || m.find("zip bomb") != std::string::npos;
      doc.report.skipped.push_back(
          {item->path, bomb ? skip_reason::limit : skip_reason::corrupt, m});
      continue;
    }
    // Where the navigation points into this chapter.
    std::unordered_set<std::string> wanted;
    const auto nav_it = nav.find(item->path);
    if (nav_it != nav.end()) {
      for (const nav_entry& e : nav_it->second) {
        if (!e.fragment.empty()) wanted.insert(e.fragment);
      }
    }
    html_options opt;
    opt.try_xml = true;
    opt.wanted_ids = &wanted;
    auto h = html_to_text(*bytes, opt);
    if (!h) {
      doc.report.skipped.push_back({item->path, skip_reason::corrupt, h.message()});
      continue;
    }
    std::vector<std::pair<size_t, std::string>> sections{{0, current_title}};
    if (nav_it != nav.end()) {
      for (const nav_entry& e : nav_it->second) {
        size_t at = 0;
        if (!e.fragment.empty()) {
          const auto a = h->anchors.find(e.fragment);
          if (a == h->anchors.end()) continue;
          at = a->second;
          while (at > 0 && h->text[at - 1] != '\n') --at;  // from the start of its line
        }
        if (at == sections.back().first) {
          sections.back().second = e.title;
        } else if (at > sections.back().first) {
          sections.emplace_back(at, e.title);
        }
      }
    }
    current_title = sections.back().second;
    const size_t before = doc.segments.size();
    add_text_sections(doc, h->text, sections, item->path);
    if (doc.segments.size() == before) {
      doc.report.skipped.push_back({item->path, skip_reason::empty, "no text"});
      continue;
    }
    doc.files.push_back(file_record{item->path, "", bytes->size(), hash_bytes(*bytes), before,
                                    doc.segments.size() - before});
  }
  report_progress(p, "chapters", total, total);
  doc.report.files = doc.files.size();
  if (doc.segments.empty()) {
    std::string why = name + ": no readable text in any chapter";
    for (const skipped_item& s : doc.report.skipped) {
      if (s.reason != skip_reason::empty) {
        why +=
            " (" + s.path + ": " + s.detail + (doc.report.skipped.size() > 1 ? ", ..." : "") + ")";
        break;
      }
    }
    return error(why);
  }
  finish_report(doc, p, start);
  return doc;
}

}  // namespace tome::ingest::detail
