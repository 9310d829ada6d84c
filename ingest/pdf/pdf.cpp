// PDF files to a document with poppler-cpp: text per page in reading order (Poppler's
// non-raw, non-physical layout), extracted by a few worker threads that each open their own
// poppler::document on the same bytes (Poppler documents are not shared between threads);
// then pdf_cleanup (headers/footers, hyphenation), the outline (pdf_outline) as section titles,
// and one segment per page or per outline section within a page.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "core/common.h"
#include "pdf/pdf_cleanup.h"
#include "pdf/pdf_outline.h"

namespace tome::ingest::detail {

namespace {

void quiet_poppler(const std::string&, void*) {}

std::string to_utf8(const poppler::ustring& u) {
  const poppler::byte_array b = u.to_utf8();
  return std::string(b.begin(), b.end());
}

struct page_result {
  std::string text;
  bool failed = false;  // Poppler could not load the page
};

// Poppler sets up process-wide LittleCMS state (GfxState's sRGB and XYZ profiles, the lcms2
// error handler) in the first GfxState it constructs, behind a plain null check: two threads
// that read their first pages at once can both build it, and one frees what the other
// installed (heap corruption; Poppler work item 1800; ThreadSanitizer reported the double
// build here, the `tsan` preset's test_ingest_pdf). So the first page a process reads is read
// alone, under this lock: a one-page PDF of Tome's own (prepare_pdf_library), or, should that
// fail, the document's first readable page before its workers start.
std::mutex g_first_page_m;
std::atomic<bool> g_poppler_ready{false};

// A valid one-page PDF (an empty 72 x 72 page), its cross-reference offsets computed.
std::string tiny_pdf() {
  const char* objs[] = {"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] /Resources << >> >>"};
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> at;
  for (int i = 0; i < 3; ++i) {
    at.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 4\n0000000000 65535 f \n";
  for (const size_t o : at) {
    char line[24];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", o);
    pdf += line;
  }
  pdf += "trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

// Pages [0, n) into out, `threads` workers including the calling thread, which alone calls
// on_progress. Returns false when cancelled (or when a worker cannot open the document).
bool extract_pages(std::string_view bytes, const std::string& password, int n, int threads,
                   const params& p, const std::string& item, std::vector<page_result>& out) {
  out.assign(static_cast<size_t>(n), {});
  std::atomic<int> next{0}, done{0};
  std::atomic<bool> stop{false};
  // The calling thread's pages, or a worker's. warm_up: only until one page has been read.
  const auto work = [&](bool main_thread, bool warm_up) {
    std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(
        bytes.data(), static_cast<int>(bytes.size()), password, password));
    if (!doc || doc->is_locked()) {
      stop = true;  // cannot happen after the first open succeeded; be safe anyway
      return;
    }
    for (int i; !stop && !(warm_up && g_poppler_ready.load()) && (i = next.fetch_add(1)) < n;) {
      if (is_cancelled(p)) {
        stop = true;
        break;
      }
      page_result& r = out[static_cast<size_t>(i)];
      try {
        std::unique_ptr<poppler::page> page(doc->create_page(i));
        if (page) {
          r.text =
              to_utf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout));
          if (warm_up) g_poppler_ready.store(true, std::memory_order_release);
        } else {
          r.failed = true;
        }
      } catch (...) {
        r.failed = true;
      }
      const int d = done.fetch_add(1) + 1;
      if (main_thread)
        report_progress(p, "pages", static_cast<uint64_t>(d), static_cast<uint64_t>(n), item);
    }
  };
  // (Also with one thread: another ingest may be reading its first page on another thread.)
  prepare_pdf_library();
  if (!g_poppler_ready.load(std::memory_order_acquire)) {
    std::lock_guard lk(g_first_page_m);
    if (!g_poppler_ready.load()) work(true, true);  // one document, pages until one reads
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, false, false);
  work(true, false);
  for (std::thread& t : pool) t.join();
  return !is_cancelled(p) && done.load() == n;
}

// A heading's key without its numbering: "Chapter 2: Foo" and "2.1 Foo" and "A.3 Foo" -> "foo".
std::string heading_key(std::string_view line) {
  std::string k = running_line_key(line);
  std::string_view v = k;
  for (const std::string_view word : {"chapter ", "appendix ", "section ", "part "}) {
    if (v.substr(0, word.size()) == word) {
      v.remove_prefix(word.size());
      break;
    }
  }
  // One numbering token: "#", "#.#.#", "a.#", "a", "iv" (running_line_key made roman "#" only
  // for whole lines), followed by '.', ':' or ')' and a space.
  const size_t space = v.find(' ');
  if (space != std::string_view::npos && space <= 12) {
    std::string_view tok = v.substr(0, space);
    while (!tok.empty() && (tok.back() == '.' || tok.back() == ':' || tok.back() == ')'))
      tok.remove_suffix(1);
    size_t letters = 0, marks = 0;
    bool other = false;
    for (const char c : tok) {
      if (c >= 'a' && c <= 'z') {
        ++letters;
      } else if (c == '#' || c == '.') {
        ++marks;
      } else {
        other = true;
      }
    }
    const bool roman = !tok.empty() && tok.size() <= 6 &&
                       tok.find_first_not_of("ivxlcdm") == std::string_view::npos;
    const bool numbering = !other && !tok.empty() &&
                           ((tok.find('#') != std::string_view::npos && letters <= 1) ||
                            (letters == 1 && marks == 0) || roman);
    if (numbering) v.remove_prefix(space + 1);
  }
  return std::string(v);
}

// Splits one page's lines into segments at the outline entries that point to it.
void add_page_segments(document& doc, const std::string& file, int32_t page,
                       const page_lines& lines, const std::vector<const outline_entry*>& entries,
                       std::string& current_title) {
  // (first line index, title)
  std::vector<std::pair<size_t, std::string>> cuts{{0, current_title}};
  size_t search_from = 0;
  for (const outline_entry* e : entries) {
    const std::string want = heading_key(e->leaf);
    size_t at = lines.size();
    for (size_t i = search_from; i < lines.size(); ++i) {
      const std::string k = heading_key(lines[i]);
      if (!want.empty() && k.compare(0, want.size(), want) == 0) {
        at = i;
        break;
      }
    }
    if (at == lines.size()) at = search_from;  // not found: from the top (or the last cut)
    search_from = at;
    if (at == cuts.back().first) {
      cuts.back().second = e->title;
    } else {
      cuts.emplace_back(at, e->title);
    }
  }
  for (size_t c = 0; c < cuts.size(); ++c) {
    const size_t end = c + 1 < cuts.size() ? cuts[c + 1].first : lines.size();
    std::string text;
    for (size_t i = cuts[c].first; i < end; ++i) {
      text += lines[i];
      text.push_back('\n');
    }
    add_segment(
        doc, segment_kind::content, std::move(text),
        source_ref{file, page, static_cast<int32_t>(cuts[c].first + 1), 0, cuts[c].second, ""});
  }
  current_title = cuts.back().second;
}

}  // namespace

result<document> ingest_pdf(const fs::path& path, const params& p) {
  const auto start = clock::now();
  const std::string name = path.string();
  auto bytes = read_file(path, 4ull << 30);
  if (!bytes) return bytes.error_status();
  if (bytes->size() > static_cast<size_t>(INT32_MAX))
    return error(name + ": over 2 GiB, too large for Poppler");
  if (bytes->substr(0, 1024).find("%PDF-") == std::string::npos) {
    return error(name + ": not a PDF (no %PDF- header)");
  }
  {
    static std::once_flag once;
    std::call_once(once, [] { poppler::set_debug_error_function(quiet_poppler, nullptr); });
  }
  const std::string& pw = p.pdf.password;
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(
      bytes->data(), static_cast<int>(bytes->size()), pw, pw));
  if (!doc) return error(name + ": corrupt PDF (Poppler cannot open it)");
  if (doc->is_locked()) {
    return error(name + (pw.empty() ? ": encrypted PDF: a password is needed"
                                    : ": encrypted PDF: the password is wrong"));
  }
  const int n = doc->pages();
  if (n <= 0) return error(name + ": corrupt PDF (no pages)");

  document out;
  out.path = name;
  out.title = to_utf8(doc->get_title());
  out.report.path = name;
  out.report.fmt = format::pdf;
  out.report.files = 1;
  out.report.pages = static_cast<size_t>(n);
  // `doc` stays open while the workers open theirs: Poppler's global state is set up once and
  // never torn down and rebuilt under them.

  const std::vector<outline_entry> outline = read_outline(*bytes, pw);
  if (is_cancelled(p)) return cancelled_error(path);

  int threads = p.pdf.threads > 0
                    ? p.pdf.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::clamp(std::min(threads, (n + 7) / 8), 1, 8);
  std::vector<page_result> raw;
  if (!extract_pages(*bytes, pw, n, threads, p, name, raw)) {
    if (is_cancelled(p)) return cancelled_error(path);
    return error(name + ": corrupt PDF (Poppler could not open it again for a worker thread)");
  }

  std::vector<page_lines> pages(raw.size());
  std::vector<int32_t> failed, empty;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].failed) failed.push_back(static_cast<int32_t>(i + 1));
    pages[i] = split_page_text(raw[i].text);
    raw[i].text = std::string();
  }
  if (p.pdf.drop_headers_footers) drop_running_lines(pages);
  if (p.pdf.join_hyphenation) join_hyphenation(pages);

  std::vector<std::vector<const outline_entry*>> by_page(pages.size());
  for (const outline_entry& e : outline) by_page[static_cast<size_t>(e.page - 1)].push_back(&e);
  const std::string file = path.filename().string();
  std::string title;
  for (size_t i = 0; i < pages.size(); ++i) {
    const auto page = static_cast<int32_t>(i + 1);
    if (pages[i].empty() && !raw[i].failed) empty.push_back(page);
    add_page_segments(out, file, page, pages[i], by_page[i], title);
  }
  out.report.pages_without_text = empty.size();
  if (!empty.empty()) {
    out.report.notes.push_back(std::string(empty.size() == 1 ? "page " : "pages ") +
                               page_ranges(empty) + (empty.size() == 1 ? " has" : " have") +
                               " no text layer (scanned, or blank?)");
  }
  if (!failed.empty()) {
    out.report.notes.push_back(std::string(failed.size() == 1 ? "page " : "pages ") +
                               page_ranges(failed) + " could not be read (damaged PDF?)");
  }
  if (out.segments.empty()) {
    out.report.notes.push_back(name +
                               ": no page has a text layer: nothing to read (a scan? "
                               "Tome does not run OCR)");
  }
  out.files.push_back(
      file_record{file, "", bytes->size(), hash_bytes(*bytes), 0, out.segments.size()});
  finish_report(out, p, start);
  return out;
}

}  // namespace tome::ingest::detail

namespace tome::ingest {

bool prepare_pdf_library() {
  if (detail::g_poppler_ready.load(std::memory_order_acquire)) return true;
  std::lock_guard lk(detail::g_first_page_m);
  if (detail::g_poppler_ready.load(std::memory_order_relaxed)) return true;
  const std::string bytes = detail::tiny_pdf();
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!doc || doc->pages() != 1) return false;  // then ingest reads a document's first page alone
  try {
    std::unique_ptr<poppler::page> page(doc->create_page(0));
    if (!page) return false;
    (void)page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout);  // a GfxState
  } catch (...) {
    return false;
  }
  detail::g_poppler_ready.store(true, std::memory_order_release);
  return true;
}

}  // namespace tome::ingest
