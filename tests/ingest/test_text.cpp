// Plain text, Markdown and HTML ingest, text decoding (UTF-8 repair, UTF-16, legacy encodings
// through uchardet), format detection and the messages for files Tome cannot read. Real files:
// the GPL-3 text (base-files), shellmath's README.md (bash-doc), debmake-doc's chapter 1 in
// English and German (HTML).
#include <gtest/gtest.h>
#include <iconv.h>

#include "core/utf8.h"
#include "ingest_test_util.h"
#include "text/markdown.h"
#include "text/text_decode.h"
#include "tome/ingest/ingest.h"

namespace tome::ingest {
namespace {

using test::ingest_data;
using test::scratch_dir;

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string iconv_to(const std::string& utf8, const char* to) {
  iconv_t cd = iconv_open(to, "UTF-8");
  EXPECT_NE(cd, reinterpret_cast<iconv_t>(-1));
  std::string out(utf8.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(utf8.data());
  size_t in_left = utf8.size(), out_left = out.size();
  char* o = out.data();
  EXPECT_NE(iconv(cd, &in, &in_left, &o, &out_left), static_cast<size_t>(-1));
  iconv_close(cd);
  out.resize(out.size() - out_left);
  return out;
}

TEST(IngestText, PlainTextIsOneSegmentWithLines) {
  const auto path = ingest_data("GPL-3.txt");
  auto doc = ingest(path);
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.fmt, format::text);
  ASSERT_EQ(doc->segments.size(), 1u);
  EXPECT_EQ(doc->text(), test::read_bytes(path));
  EXPECT_EQ(doc->segments[0].source.line_begin, 1);
  EXPECT_EQ(doc->segments[0].source.line_end, 674);
  EXPECT_EQ(doc->report.lines, 674u);
  EXPECT_EQ(doc->report.files, 1u);
  EXPECT_TRUE(doc->report.notes.empty());
  EXPECT_EQ(doc->report.estimated_tokens, static_cast<uint64_t>((35149 + 3.6 - 1) / 3.6));
}

TEST(IngestText, MarkdownSectionsFromHeadings) {
  auto doc = ingest(ingest_data("shellmath-README.md"));
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.fmt, format::markdown);
  EXPECT_EQ(doc->title, "Shellmath");
  ASSERT_EQ(doc->segments.size(), 8u);
  EXPECT_EQ(doc->segments[1].source.title, "Shellmath > Quick-start guide");
  EXPECT_EQ(doc->segments[1].source.line_begin, 9);
  EXPECT_EQ(doc->segments[1].text.rfind("## Quick-start guide", 0), 0u);
  // Contiguous line ranges covering the file.
  for (size_t i = 1; i < doc->segments.size(); ++i) {
    EXPECT_EQ(doc->segments[i].source.line_begin, doc->segments[i - 1].source.line_end + 1);
  }
  EXPECT_EQ(doc->text(), test::read_bytes(ingest_data("shellmath-README.md")));
}

TEST(IngestText, MarkdownHeadingRules) {
  const auto s = detail::markdown_sections(
      "Intro\n\n# One #\ntext\n```\n# not a heading\n```\nTwo\n===\n## Sub\n    # indented code\n"
      "para\n---\n#nospace\n");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].title, "");
  EXPECT_EQ(s[1].title, "One");
  EXPECT_EQ(s[1].first_line, 3);
  EXPECT_EQ(s[2].title, "Two");
  EXPECT_EQ(s[2].first_line, 8);
  EXPECT_EQ(s[3].title, "Two > Sub");
  EXPECT_EQ(s[4].title, "Two > para");  // setext level 2
}

TEST(IngestText, LegacyEncodingsAreDetected) {
  // German text (umlauts, ß, typographic quotes) from debmake-doc, written as Windows-1252.
  auto html = ingest(ingest_data("debmake-ch01.de.html"));
  ASSERT_TRUE(html) << html.message();
  const std::string utf8 = html->text();
  ASSERT_TRUE(contains(utf8, "\xC3\xBC"));  // ü
  scratch_dir dir;
  test::write_bytes(dir / "latin1.txt", iconv_to(utf8, "WINDOWS-1252"));
  auto doc = ingest(dir / "latin1.txt");
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->text(), utf8);
  ASSERT_EQ(doc->report.notes.size(), 1u);
  EXPECT_TRUE(contains(doc->report.notes[0], "latin1.txt: decoded as ")) << doc->report.notes[0];
}

TEST(IngestText, Utf16WithAndWithoutBom) {
  const std::string text = "Grüße, 世界.\nSecond line.\n";
  scratch_dir dir;
  test::write_bytes(dir / "bom.txt", "\xFF\xFE" + iconv_to(text, "UTF-16LE"));
  test::write_bytes(dir / "be.txt", "\xFE\xFF" + iconv_to(text, "UTF-16BE"));
  test::write_bytes(dir / "nobom.txt", iconv_to(text, "UTF-16LE"));
  for (const char* name : {"bom.txt", "be.txt", "nobom.txt"}) {
    auto doc = ingest(dir / name);
    ASSERT_TRUE(doc) << name << ": " << doc.message();
    EXPECT_EQ(doc->text(), text) << name;
  }
}

TEST(IngestText, InvalidUtf8IsRepairedAndReported) {
  scratch_dir dir;
  // Valid UTF-8 ("café", "naïve") with two broken sequences: a lone continuation byte and a
  // truncated three-byte sequence.
  const std::string bad = "caf\xC3\xA9 and na\xC3\xAFve\nbroken \x80 here\nand \xE2\x82 there\n";
  test::write_bytes(dir / "broken.txt", bad);
  auto doc = ingest(dir / "broken.txt");
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->text(),
            "caf\xC3\xA9 and na\xC3\xAFve\nbroken \xEF\xBF\xBD here\nand \xEF\xBF\xBD there\n");
  ASSERT_EQ(doc->report.notes.size(), 1u);
  EXPECT_EQ(doc->report.notes[0],
            (dir / "broken.txt").string() + ": 2 invalid UTF-8 sequence(s) replaced with U+FFFD");
}

TEST(IngestText, Utf8RepairFollowsTheMaximalSubpartRule) {
  const auto repair = [](std::string_view in) {
    std::string out;
    detail::append_repaired_utf8(in, out);
    return out;
  };
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(repair("a\xF0\x9F\x98"), "a" + r);           // truncated 4-byte: one U+FFFD
  EXPECT_EQ(repair("\xC0\xAF"), r + r);                  // overlong: two
  EXPECT_EQ(repair("\xED\xA0\x80"), r + r + r);          // surrogate: three
  EXPECT_EQ(repair("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(repair("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
  EXPECT_TRUE(detail::valid_utf8(repair("\xFF\xFE\xFD")));
}

TEST(IngestText, CrLfAndCrBecomeLf) {
  scratch_dir dir;
  test::write_bytes(dir / "dos.txt", "one\r\ntwo\rthree\n");
  auto doc = ingest(dir / "dos.txt");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->text(), "one\ntwo\nthree\n");
  EXPECT_EQ(doc->segments[0].source.line_end, 3);
}

TEST(IngestText, BinaryNamedTxtIsRefused) {
  scratch_dir dir;
  std::string elf =
      "\x7F"
      "ELF\x02\x01\x01";
  elf += std::string(64, '\0');
  elf += "some strings in a binary";
  test::write_bytes(dir / "notes.txt", elf);
  auto doc = ingest(dir / "notes.txt");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.message(), (dir / "notes.txt").string() +
                               ": binary data (NUL bytes), not a document Tome can read");
  // The same content given as text explicitly: still refused, by the decoder.
  auto forced = ingest_as(dir / "notes.txt", format::text);
  ASSERT_FALSE(forced);
  EXPECT_TRUE(contains(forced.message(), "notes.txt: binary data (NUL bytes), not text"));
}

TEST(IngestText, EmptyFileGivesAnEmptyDocument) {
  scratch_dir dir;
  test::write_bytes(dir / "empty.txt", "");
  auto doc = ingest(dir / "empty.txt");
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_TRUE(doc->segments.empty());
  ASSERT_EQ(doc->report.skipped.size(), 1u);
  EXPECT_EQ(doc->report.skipped[0].reason, skip_reason::empty);
}

TEST(IngestText, UnknownAndUnreadableFiles) {
  scratch_dir dir;
  test::write_bytes(dir / "report.docx", "PK\x03\x04 not really");
  auto a = ingest(dir / "report.docx");
  ASSERT_FALSE(a);
  EXPECT_TRUE(contains(a.message(), "report.docx: a zip archive, not an EPUB")) << a.message();
  test::write_bytes(dir / "photo.png", "\x89PNG\r\n\x1a\n");
  auto b = ingest(dir / "photo.png");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.message(),
            (dir / "photo.png").string() +
                ": .png files are not supported (Tome reads PDF, EPUB, HTML, Markdown, "
                "text and folders)");
  auto c = ingest(dir / "missing.md");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.message(), (dir / "missing.md").string() + ": no such file or folder");
  std::filesystem::create_symlink(dir / "nowhere", dir / "dangling.txt");
  auto d = ingest(dir / "dangling.txt");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.message(), (dir / "dangling.txt").string() + ": a broken symbolic link");
  if (::geteuid() != 0) {  // root reads anything
    test::write_bytes(dir / "secret.txt", "x");
    std::filesystem::permissions(dir / "secret.txt", std::filesystem::perms::none);
    auto e = ingest(dir / "secret.txt");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.message(), (dir / "secret.txt").string() + ": permission denied");
  }
}

TEST(IngestHtml, TextHeadingsAndTitle) {
  auto doc = ingest(ingest_data("debmake-ch01.en.html"));
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.fmt, format::html);
  EXPECT_EQ(doc->title, "Chapter 1. Overview");
  const std::string text = doc->text();
  EXPECT_TRUE(contains(text, "The Debian packaging of the package-1.0.tar.gz"));
  EXPECT_TRUE(contains(text, "\n $ tar -xvzf package-1.0.tar.gz\n"));  // <pre> kept as is
  EXPECT_FALSE(contains(text, "<div"));
  EXPECT_FALSE(contains(text, "&amp;"));
  bool titled = false;
  for (const segment& s : doc->segments) titled |= s.source.title == "Chapter 1. Overview";
  EXPECT_TRUE(titled);
}

TEST(IngestHtml, MarkupRules) {
  scratch_dir dir;
  test::write_bytes(dir / "page.html",
                    "<!DOCTYPE html><html><head><title>T</title><style>p{}</style>"
                    "<script>var x = 1;</script></head><body><h1>Top</h1><p>One  two\nthree "
                    "&amp; &lt;four&gt;<br>five</p><ul><li>a</li><li>b</li></ul><ol start=3>"
                    "<li>c</li></ol><table><tr><td>x</td><td>y</td></tr></table>"
                    "<h2>Sub</h2><p>last</p></body></html>");
  auto doc = ingest(dir / "page.html");
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->text(),
            "Top\n\nOne two three & <four>\nfive\n\n- a\n- b\n\n3. c\n\nx | y\n\nSub\n\nlast\n");
  ASSERT_EQ(doc->segments.size(), 2u);
  EXPECT_EQ(doc->segments[0].source.title, "Top");
  EXPECT_EQ(doc->segments[1].source.title, "Top > Sub");
  EXPECT_EQ(doc->segments[1].source.line_begin, 13);
}

TEST(IngestDetect, ByContentThenExtension) {
  scratch_dir dir;
  test::write_bytes(dir / "a.bin", test::read_bytes(ingest_data("dot.1.pdf")));
  EXPECT_EQ(*detect_format(dir / "a.bin"), format::pdf);
  test::write_bytes(dir / "book", test::read_bytes(ingest_data("live-manual.en.epub")));
  EXPECT_EQ(*detect_format(dir / "book"), format::epub);
  test::write_bytes(dir / "page", "  <!doctype html><p>x</p>");
  EXPECT_EQ(*detect_format(dir / "page"), format::html);
  test::write_bytes(dir / "notes.markdown", "# x\n");
  EXPECT_EQ(*detect_format(dir / "notes.markdown"), format::markdown);
  test::write_bytes(dir / "main.cpp", "int main() {}\n");
  EXPECT_EQ(*detect_format(dir / "main.cpp"), format::text);
  EXPECT_EQ(*detect_format(dir.path()), format::repository);
}

}  // namespace
}  // namespace tome::ingest
