// EPUB ingest on real books (developers-reference: EPUB 3 with a nav document; live-manual:
// EPUB 2 with an NCX) and on hostile archives built here: zip bombs (by ratio, by a lying size
// field, by entry count), paths leaving the archive, missing or broken package files.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "epub/epub_package.h"
#include "ingest_test_util.h"
#include "tome/ingest/ingest.h"

namespace tome::ingest {
namespace {

using test::ingest_data;
using test::scratch_dir;

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool has_title(const document& d, const std::string& title) {
  return std::any_of(d.segments.begin(), d.segments.end(),
                     [&](const segment& s) { return s.source.title == title; });
}

const skipped_item* find_skip(const document& d, const std::string& path) {
  for (const skipped_item& s : d.report.skipped) {
    if (s.path == path) return &s;
  }
  return nullptr;
}

TEST(IngestEpub, Epub3SpineOrderAndNavTitles) {
  auto doc = ingest(ingest_data("developers-reference.epub"));
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.fmt, format::epub);
  EXPECT_EQ(doc->title, "developers-reference");  // the package document's dc:title
  ASSERT_GE(doc->files.size(), 10u);
  // Spine order: index, scope, new-maintainer, developer-duties, resources, ...
  EXPECT_EQ(doc->files[0].path, "index.xhtml");
  EXPECT_EQ(doc->files[1].path, "scope.xhtml");
  EXPECT_EQ(doc->files[2].path, "new-maintainer.xhtml");
  EXPECT_EQ(doc->files[3].path, "developer-duties.xhtml");
  // Section titles from the nav document, split where its fragments point.
  EXPECT_TRUE(has_title(*doc, "Applying to Become a Member > Getting started"));
  EXPECT_TRUE(has_title(*doc, "Debian Developer's Duties > Administrative Duties > Voting"));
  for (const segment& s : doc->segments) {
    if (s.source.title == "Applying to Become a Member > Debian mentors and sponsors") {
      EXPECT_EQ(s.source.file, "new-maintainer.xhtml");
      EXPECT_EQ(s.text.rfind("2.2. Debian mentors and sponsors", 0), 0u) << s.text.substr(0, 60);
      EXPECT_GT(s.source.line_begin, 1);
    }
  }
  const std::string text = doc->text();
  EXPECT_TRUE(contains(text, "The mailing list debian-mentors@lists.debian.org has been set up"));
  EXPECT_FALSE(contains(text, "<p>"));
  EXPECT_TRUE(doc->report.skipped.empty() ||
              std::all_of(doc->report.skipped.begin(), doc->report.skipped.end(),
                          [](const skipped_item& s) { return s.reason == skip_reason::empty; }));
}

TEST(IngestEpub, Epub2NcxTitles) {
  auto doc = ingest(ingest_data("live-manual.en.epub"));
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->files[0].path, "OEBPS/index.xhtml");
  EXPECT_TRUE(has_title(
      *doc,
      "Live Systems Manual > About this manual > 1. About this manual > 1.1 For the impatient"));
  EXPECT_TRUE(contains(doc->text(), "live-build"));
  // Lines count the extracted text of each chapter, contiguous across its sections.
  int32_t next_line = 1;
  std::string file;
  for (const segment& s : doc->segments) {
    if (s.source.file != file) {
      file = s.source.file;
      next_line = s.source.line_begin;
    }
    EXPECT_GE(s.source.line_begin, next_line - 1) << s.source.file;
    next_line = s.source.line_end + 1;
  }
}

TEST(IngestEpub, ZipBombByRatioIsRefusedBeforeInflating) {
  scratch_dir dir;
  auto entries = test::epub_entries({{"c1.xhtml", "<p>A real chapter.</p>"}, {"c2.xhtml", ""}});
  // c2: 40 MiB of spaces in a paragraph, about 40 KiB deflated (ratio ~1000:1).
  entries.back().data =
      "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>" +
      std::string(40u << 20, ' ') + "</p></body></html>";
  const auto path = dir / "bomb.epub";
  test::write_bytes(path, test::make_zip(entries));
  const auto t0 = std::chrono::steady_clock::now();
  auto doc = ingest(path);
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  const skipped_item* s = find_skip(*doc, "OEBPS/c2.xhtml");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->reason, skip_reason::limit);
  EXPECT_TRUE(contains(s->detail, "zip bomb?")) << s->detail;
  EXPECT_TRUE(contains(doc->text(), "A real chapter."));
}

TEST(IngestEpub, SizeLimitsPerEntryAndInTotal) {
  scratch_dir dir;
  std::string big = "<p>";
  for (int i = 0; i < 20000; ++i)
    big += "word" + std::to_string(i) + " ";  // ~200 KB, compresses ~4:1
  big += "</p>";
  auto entries =
      test::epub_entries({{"a.xhtml", big}, {"b.xhtml", big}, {"c.xhtml", "<p>small</p>"}});
  const auto path = dir / "big.epub";
  test::write_bytes(path, test::make_zip(entries));
  params p;
  p.epub.max_entry_bytes = 100'000;
  auto doc = ingest(path, p);
  ASSERT_TRUE(doc) << doc.message();
  ASSERT_NE(find_skip(*doc, "OEBPS/a.xhtml"), nullptr);
  EXPECT_TRUE(contains(find_skip(*doc, "OEBPS/a.xhtml")->detail, "limit per entry"));
  EXPECT_TRUE(contains(doc->text(), "small"));

  params q;
  q.epub.max_total_bytes = 300'000;
  auto doc2 = ingest(path, q);
  ASSERT_TRUE(doc2) << doc2.message();
  EXPECT_EQ(find_skip(*doc2, "OEBPS/a.xhtml"), nullptr);
  const skipped_item* b = find_skip(*doc2, "OEBPS/b.xhtml");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->reason, skip_reason::limit);
}

TEST(IngestEpub, LyingSizeFieldDoesNotInflateMore) {
  scratch_dir dir;
  auto entries = test::epub_entries({{"c1.xhtml", "<p>Honest chapter.</p>"}, {"c2.xhtml", ""}});
  entries.back().data = std::string(8u << 20, 'x');  // 8 MiB of 'x' claiming to be 100 bytes
  entries.back().claimed_size = 100;
  const auto path = dir / "liar.epub";
  test::write_bytes(path, test::make_zip(entries));
  auto doc = ingest(path);
  if (doc) {
    const skipped_item* s = find_skip(*doc, "OEBPS/c2.xhtml");
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->reason == skip_reason::corrupt || s->reason == skip_reason::limit) << s->detail;
    EXPECT_LT(doc->size_bytes(), 1000u);
  } else {
    EXPECT_TRUE(contains(doc.message(), "liar.epub")) << doc.message();
  }
}

TEST(IngestEpub, TooManyEntries) {
  scratch_dir dir;
  auto entries = test::epub_entries({{"c1.xhtml", "<p>x</p>"}});
  for (int i = 0; i < 10'050; ++i) entries.push_back({"junk/" + std::to_string(i), "", false});
  const auto path = dir / "many.epub";
  test::write_bytes(path, test::make_zip(entries));
  auto doc = ingest(path);
  ASSERT_FALSE(doc);
  EXPECT_TRUE(contains(doc.message(), "many.epub: 10055 zip entries, over the limit of 10000"))
      << doc.message();
}

TEST(IngestEpub, PathsLeavingTheArchiveAreRefused) {
  scratch_dir dir;
  auto entries = test::epub_entries(
      {{"c1.xhtml", "<p>Inside.</p>"}},
      "<item id=\"evil\" href=\"../../../../etc/passwd\" media-type=\"application/xhtml+xml\"/>"
      "<item id=\"abs\" href=\"/etc/hostname\" media-type=\"application/xhtml+xml\"/>",
      "<itemref idref=\"evil\"/><itemref idref=\"abs\"/>");
  const auto path = dir / "escape.epub";
  test::write_bytes(path, test::make_zip(entries));
  auto doc = ingest(path);
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->files.size(), 1u);
  size_t unsafe = 0;
  for (const skipped_item& s : doc->report.skipped) unsafe += s.reason == skip_reason::unsafe_path;
  EXPECT_EQ(unsafe, 2u);
  EXPECT_FALSE(contains(doc->text(), "root:"));
}

TEST(IngestEpub, ResolveHref) {
  using detail::resolve_href;
  std::string frag;
  EXPECT_EQ(resolve_href("OEBPS/content.opf", "text/ch%201.xhtml#sec-2", &frag),
            "OEBPS/text/ch 1.xhtml");
  EXPECT_EQ(frag, "sec-2");
  EXPECT_EQ(resolve_href("OEBPS/text/nav.xhtml", "../images/../ch2.xhtml"), "OEBPS/ch2.xhtml");
  EXPECT_EQ(resolve_href("OEBPS/nav.xhtml", "#top", &frag), "OEBPS/nav.xhtml");
  EXPECT_EQ(resolve_href("content.opf", "../x.xhtml"), std::nullopt);
  EXPECT_EQ(resolve_href("a/b.opf", "../../x"), std::nullopt);
  EXPECT_EQ(resolve_href("a/b.opf", "%2E%2E/%2E%2E/x"), std::nullopt);
  EXPECT_EQ(resolve_href("a/b.opf", "/etc/passwd"), std::nullopt);
  EXPECT_EQ(resolve_href("a/b.opf", "file:///etc/passwd"), std::nullopt);
  EXPECT_EQ(resolve_href("a/b.opf", "http://example.org/x.html"), std::nullopt);
  EXPECT_EQ(resolve_href("a/b.opf", "x%00.xhtml"), std::nullopt);
}

TEST(IngestEpub, BrokenContainersAreClearErrors) {
  scratch_dir dir;
  // No container.xml.
  auto entries = test::epub_entries({{"c1.xhtml", "<p>x</p>"}});
  entries.erase(entries.begin() + 1);
  test::write_bytes(dir / "nocontainer.epub", test::make_zip(entries));
  auto a = ingest(dir / "nocontainer.epub");
  ASSERT_FALSE(a);
  EXPECT_TRUE(contains(a.message(), "nocontainer.epub: no META-INF/container.xml")) << a.message();

  // container.xml pointing outside the archive.
  entries = test::epub_entries({{"c1.xhtml", "<p>x</p>"}});
  entries[1].data =
      "<container><rootfiles><rootfile full-path=\"../../content.opf\"/></rootfiles></container>";
  test::write_bytes(dir / "outside.epub", test::make_zip(entries));
  auto b = ingest(dir / "outside.epub");
  ASSERT_FALSE(b);
  EXPECT_TRUE(contains(b.message(), "leaves the archive")) << b.message();

  // A package document that is not XML.
  entries = test::epub_entries({{"c1.xhtml", "<p>x</p>"}});
  entries[2].data = "this is not xml <<<";
  test::write_bytes(dir / "badopf.epub", test::make_zip(entries));
  auto c = ingest(dir / "badopf.epub");
  ASSERT_FALSE(c);
  EXPECT_TRUE(contains(c.message(),
                       "badopf.epub: OEBPS/content.opf (package document) is not well-formed XML"))
      << c.message();

  // Truncated real book, and a text file named .epub.
  const std::string real = test::read_bytes(ingest_data("live-manual.en.epub"));
  test::write_bytes(dir / "cut.epub", real.substr(0, real.size() / 2));
  auto d = ingest(dir / "cut.epub");
  ASSERT_FALSE(d);
  EXPECT_TRUE(contains(d.message(), "cut.epub: ")) << d.message();
  test::write_bytes(dir / "text.epub", "Hello, I am not a zip.\n");
  auto e = ingest(dir / "text.epub");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.message(), (dir / "text.epub").string() + ": not a zip archive");
}

TEST(IngestEpub, BrokenChapterIsSkippedNotFatal) {
  scratch_dir dir;
  auto entries =
      test::epub_entries({{"c1.xhtml", "<p>Good one.</p>"}, {"c2.xhtml", "<p>Second.</p>"}},
                         "<item id=\"img\" href=\"cover.png\" media-type=\"image/png\"/>",
                         "<itemref idref=\"missing\"/><itemref idref=\"img\"/>");
  entries.pop_back();  // c2.xhtml is in the manifest but not in the archive
  test::write_bytes(dir / "partial.epub", test::make_zip(entries));
  auto doc = ingest(dir / "partial.epub");
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->text(), "Good one.\n");
  EXPECT_TRUE(has_title(*doc, "Chapter 1"));
  ASSERT_NE(find_skip(*doc, "OEBPS/c2.xhtml"), nullptr);
  EXPECT_EQ(find_skip(*doc, "OEBPS/c2.xhtml")->reason, skip_reason::corrupt);
  ASSERT_NE(find_skip(*doc, "missing"), nullptr);
  ASSERT_NE(find_skip(*doc, "OEBPS/cover.png"), nullptr);
  EXPECT_EQ(find_skip(*doc, "OEBPS/cover.png")->reason, skip_reason::unsupported);
}

TEST(IngestEpub, NavigationParsers) {
  const auto nav = detail::parse_nav(
      "<html xmlns=\"http://www.w3.org/1999/xhtml\" "
      "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body>"
      "<nav epub:type=\"landmarks\"><ol><li><a href=\"x.xhtml\">Landmark</a></li></ol></nav>"
      "<nav epub:type=\"toc\"><ol><li><a href=\"ch1.xhtml\">One</a><ol><li><a "
      "href=\"ch1.xhtml#s2\">"
      "Two</a></li></ol></li><li><span>Part</span><ol><li><a href=\"../../out.xhtml\">Out</a></li>"
      "</ol></li></ol></nav></body></html>",
      "OEBPS/nav.xhtml");
  ASSERT_EQ(nav.size(), 2u);
  EXPECT_EQ(nav[0].path, "OEBPS/ch1.xhtml");
  EXPECT_EQ(nav[0].title, "One");
  EXPECT_EQ(nav[1].fragment, "s2");
  EXPECT_EQ(nav[1].title, "One > Two");

  const auto ncx = detail::parse_ncx(
      "<ncx><navMap><navPoint><navLabel><text>A</text></navLabel><content src=\"a.html\"/>"
      "<navPoint><navLabel><text> B  b </text></navLabel><content src=\"a.html#b\"/></navPoint>"
      "</navPoint></navMap></ncx>",
      "toc.ncx");
  ASSERT_EQ(ncx.size(), 2u);
  EXPECT_EQ(ncx[1].title, "A > B b");
  EXPECT_EQ(ncx[1].path, "a.html");
  EXPECT_EQ(ncx[1].fragment, "b");

  // Deep nesting is cut off, not followed into a stack overflow.
  std::string deep = "<ncx><navMap>";
  for (int i = 0; i < 5000; ++i)
    deep += "<navPoint><navLabel><text>x</text></navLabel><content src=\"a.html\"/>";
  for (int i = 0; i < 5000; ++i) deep += "</navPoint>";
  deep += "</navMap></ncx>";
  const auto cut = detail::parse_ncx(deep, "toc.ncx");
  EXPECT_LE(cut.size(), 40u);
}

}  // namespace
}  // namespace tome::ingest
