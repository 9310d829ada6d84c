// PDF ingest on real documents (tests/data/ingest: the dot(1) manual page from graphviz-doc,
// R's "R Data Import/Export" from r-doc-pdf, an encrypted copy of dot(1)) and on synthetic PDFs
// (blank pages, running headers, hyphenation), plus the clean-up functions on their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ingest_test_util.h"
#include "pdf/pdf_cleanup.h"
#include "tome/ingest/ingest.h"

namespace tome::ingest {
namespace {

using test::ingest_data;
using test::scratch_dir;

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST(IngestPdf, ManPageTextPagesAndNoRunningHeaders) {
  auto doc = ingest(ingest_data("dot.1.pdf"));
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.fmt, format::pdf);
  EXPECT_EQ(doc->report.pages, 9u);
  EXPECT_EQ(doc->report.pages_without_text, 0u);
  const std::string text = doc->text();
  EXPECT_TRUE(contains(text, "dot \u2212 filter for drawing directed graphs"));
  EXPECT_TRUE(contains(text, "SYNOPSIS"));
  // Every page carries "DOT(1)  General Commands Manual  DOT(1)" and "12 January 2015  <n>".
  EXPECT_FALSE(contains(text, "General Commands Manual"));
  EXPECT_FALSE(contains(text, "12 January 2015"));
  // Pages in order, each segment on one page, lines counted on the page.
  int32_t last = 0;
  for (const segment& s : doc->segments) {
    EXPECT_GE(s.source.page, last);
    EXPECT_GE(s.source.page, 1);
    EXPECT_LE(s.source.page, 9);
    EXPECT_GE(s.source.line_begin, 1);
    EXPECT_GE(s.source.line_end, s.source.line_begin);
    EXPECT_EQ(s.source.file, "dot.1.pdf");
    last = s.source.page;
  }
  EXPECT_EQ(last, 9);
  // The URL broken across pages 2 and 3 ("dot-" / "language.") is joined, hyphen kept.
  EXPECT_TRUE(contains(text, "http://www.graphviz.org/content/dot-language."));
  ASSERT_EQ(doc->files.size(), 1u);
  EXPECT_EQ(doc->files[0].size, 55476u);
}

TEST(IngestPdf, OutlineGivesSectionTitlesOnTheirPages) {
  auto doc = ingest(ingest_data("R-data.pdf"));
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.pages, 41u);
  EXPECT_EQ(doc->title, "");  // pdfTeX wrote no /Title
  // Page 15 holds three sections of chapter 2; the outline splits it where their headings are.
  std::vector<std::string> p15;
  for (const segment& s : doc->segments) {
    if (s.source.page == 15) p15.push_back(s.source.title);
  }
  const std::vector<std::string> want = {"2 Spreadsheet-like data > Fixed-width-format files",
                                         "2 Spreadsheet-like data > Data Interchange Format (DIF)",
                                         "2 Spreadsheet-like data > Using scan directly"};
  for (const std::string& w : want) {
    EXPECT_NE(std::find(p15.begin(), p15.end(), w), p15.end()) << w;
  }
  // The segment titled "... > Fixed-width-format files" starts with its heading.
  for (const segment& s : doc->segments) {
    if (s.source.title == want[0]) {
      EXPECT_EQ(s.text.rfind("2.2 Fixed-width-format files", 0), 0u) << s.text.substr(0, 80);
      break;
    }
  }
  // Running heads ("Chapter 1: Introduction" over every page of chapter 1) are gone.
  EXPECT_FALSE(contains(doc->text(), "Chapter 1: Introduction\n"));
}

TEST(IngestPdf, EncryptedNeedsThePassword) {
  const auto path = ingest_data("dot.1-encrypted.pdf");
  auto none = ingest(path);
  ASSERT_FALSE(none);
  EXPECT_TRUE(contains(none.message(), "dot.1-encrypted.pdf")) << none.message();
  EXPECT_TRUE(contains(none.message(), "encrypted PDF: a password is needed")) << none.message();

  params p;
  p.pdf.password = "not it";
  auto wrong = ingest(path, p);
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(contains(wrong.message(), "the password is wrong")) << wrong.message();

  p.pdf.password = "tome-secret";
  auto right = ingest(path, p);
  ASSERT_TRUE(right) << right.message();
  EXPECT_EQ(right->report.pages, 9u);
  auto plain = ingest(ingest_data("dot.1.pdf"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(right->text(), plain->text());
}

TEST(IngestPdf, PagesWithoutTextAreReported) {
  scratch_dir dir;
  const auto path = dir / "scan.pdf";
  test::write_bytes(
      path, test::make_pdf({{"The first page has text."}, {}, {}, {"So does the fourth."}, {}}));
  auto doc = ingest(path);
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->report.pages, 5u);
  EXPECT_EQ(doc->report.pages_without_text, 3u);
  ASSERT_FALSE(doc->report.notes.empty());
  EXPECT_TRUE(contains(doc->report.notes[0], "pages 2\u20133, 5 have no text layer"))
      << doc->report.notes[0];
  EXPECT_EQ(doc->segments.size(), 2u);
  EXPECT_EQ(doc->segments[1].source.page, 4);
  EXPECT_TRUE(contains(format_report(doc->report), "no text layer"));
}

TEST(IngestPdf, OnlyScannedPagesGiveAnEmptyDocumentWithAReason) {
  scratch_dir dir;
  const auto path = dir / "all-scanned.pdf";
  test::write_bytes(path, test::make_pdf({{}, {}}));
  auto doc = ingest(path);
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_TRUE(doc->segments.empty());
  EXPECT_EQ(doc->report.pages_without_text, 2u);
}

TEST(IngestPdf, SyntheticRunningHeadersAndCrossPageHyphenation) {
  const char* fruit[] = {"Apples", "Pears", "Plums", "Cherries", "Grapes", "Lemons"};
  const char* color[] = {"red", "green", "blue", "yellow", "purple", "orange"};
  std::vector<std::vector<std::string>> pages;
  for (int i = 0; i < 6; ++i) {
    std::vector<std::string> lines = {"A Book About Testing"};
    lines.push_back(std::string(fruit[i]) + " are discussed here");
    lines.push_back(std::string("Some ") + color[i] + " words.");
    lines.push_back(i == 0 ? "and this sentence ends in a cross-page exam-" : "A closing line.");
    lines.resize(lines.size() + 40);  // the footer sits at the bottom of the page
    lines.push_back(std::to_string(i + 1));
    if (i == 1) lines[1] = "ple of joining; pears are discussed here";
    pages.push_back(lines);
  }
  scratch_dir dir;
  const auto path = dir / "book.pdf";
  test::write_bytes(path, test::make_pdf(pages));
  auto doc = ingest(path);
  ASSERT_TRUE(doc) << doc.message();
  const std::string text = doc->text();
  EXPECT_FALSE(contains(text, "A Book About Testing")) << text;
  EXPECT_FALSE(contains(text, "\n3\n")) << text;
  EXPECT_TRUE(contains(text, "cross-page example\n")) << text;
  EXPECT_FALSE(contains(text, "exam-")) << text;
  // The continuation moved to page 1; page 2 goes on after it.
  for (const segment& s : doc->segments) {
    if (s.source.page == 2) {
      EXPECT_EQ(s.text.rfind("of joining; pears", 0), 0u) << s.text;
    }
  }
  EXPECT_TRUE(contains(text, "Cherries are discussed here"));

  params p;
  p.pdf.drop_headers_footers = false;
  p.pdf.join_hyphenation = false;
  auto raw = ingest(path, p);
  ASSERT_TRUE(raw);
  EXPECT_TRUE(contains(raw->text(), "A Book About Testing"));
  EXPECT_TRUE(contains(raw->text(), "exam-\n"));
}

TEST(IngestPdf, TruncatedPdfNeverCrashesAndNamesTheFile) {
  scratch_dir dir;
  const std::string bytes = test::read_bytes(ingest_data("R-data.pdf"));
  for (const size_t keep :
       {bytes.size() / 2, bytes.size() / 10, size_t{2000}, size_t{100}, size_t{8}}) {
    const auto path = dir / ("cut-" + std::to_string(keep) + ".pdf");
    test::write_bytes(path, bytes.substr(0, keep));
    auto doc = ingest(path);
    if (doc) {
      EXPECT_LE(doc->report.pages, 41u);  // Poppler rebuilt what it could
    } else {
      EXPECT_TRUE(contains(doc.message(), path.filename().string())) << doc.message();
    }
  }
  const auto tiny = dir / "cut-8.pdf";
  auto doc = ingest(tiny);
  ASSERT_FALSE(doc);
  EXPECT_TRUE(contains(doc.message(), "corrupt PDF")) << doc.message();
}

TEST(IngestPdf, NotAPdfAndMissingFilesAreClearErrors) {
  scratch_dir dir;
  const auto fake = dir / "fake.pdf";
  test::write_bytes(fake, "just some words, no PDF header\n");
  auto doc = ingest(fake);
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.message(), fake.string() + ": not a PDF (no %PDF- header)");

  auto missing = ingest(dir / "nowhere.pdf");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.message(), (dir / "nowhere.pdf").string() + ": no such file or folder");
}

TEST(IngestPdf, ProgressOnTheCallingThreadAndCancel) {
  const auto caller = std::this_thread::get_id();
  uint64_t last = 0, calls = 0;
  bool other_thread = false;
  params p;
  p.pdf.threads = 2;
  p.on_progress = [&](const progress& pr) {
    if (pr.stage != "pages") return;
    other_thread |= std::this_thread::get_id() != caller;
    EXPECT_GE(pr.done, last);
    EXPECT_EQ(pr.total, 41u);
    last = pr.done;
    ++calls;
  };
  auto doc = ingest(ingest_data("R-data.pdf"), p);
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_GT(calls, 0u);
  EXPECT_FALSE(other_thread);

  std::atomic<bool> cancel{false};
  params c;
  c.cancel = &cancel;
  c.on_progress = [&](const progress& pr) {
    if (pr.stage == "pages" && pr.done >= 3) cancel = true;
  };
  auto stopped = ingest(ingest_data("R-data.pdf"), c);
  ASSERT_FALSE(stopped);
  EXPECT_TRUE(contains(stopped.message(), "cancelled")) << stopped.message();
}

TEST(IngestPdf, SameTextWithOneOrManyThreads) {
  params one, four;
  one.pdf.threads = 1;
  four.pdf.threads = 4;
  auto a = ingest(ingest_data("R-data.pdf"), one);
  auto b = ingest(ingest_data("R-data.pdf"), four);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->text(), b->text());
  EXPECT_EQ(a->segments.size(), b->segments.size());
}

// Poppler's process-wide colour-management state is built on first use, unguarded: ingest sets
// it up from one thread (prepare_pdf_library) before any two read pages. Here the process's first
// PDF work is four ingests of four threads each, started together (ctest runs each case in a
// process of its own). Under the tsan preset this case reported the double build before the
// fix; in other builds the race corrupted the heap now and then.
TEST(IngestPdf, ConcurrentFirstIngestsInAProcess) {
  params p;
  p.pdf.threads = 4;
  std::vector<std::string> texts(4);
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (size_t i = 0; i < texts.size(); ++i)
    pool.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < static_cast<int>(texts.size())) std::this_thread::yield();
      auto doc = ingest(ingest_data(i % 2 ? "R-data.pdf" : "dot.1.pdf"), p);
      if (doc) texts[i] = doc->text();
    });
  for (std::thread& t : pool) t.join();
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_FALSE(texts[i].empty()) << "ingest " << i;
  EXPECT_EQ(texts[0], texts[2]);
  EXPECT_EQ(texts[1], texts[3]);
  EXPECT_TRUE(prepare_pdf_library()) << "Tome's own one-page PDF did not read";
}

// The clean-up functions on their own.
namespace cleanup = tome::ingest::detail;

TEST(PdfCleanup, SplitExpandsLigaturesAndDropsFormFeeds) {
  const auto lines = cleanup::split_page_text(
      "e\xEF\xAC\x83"
      "cient   \n\n\n\nsecond\r\nthird\f");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "efficient");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2], "second");
  EXPECT_EQ(lines[3], "third");
}

TEST(PdfCleanup, RunningLinesNeedRepetition) {
  const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon",
                         "zeta",  "eta",  "theta", "iota",  "kappa"};
  std::vector<cleanup::page_lines> pages;
  for (int i = 0; i < 10; ++i) {
    pages.push_back({"Journal of Tests, vol. " + std::to_string(i), "",
                     std::string("Body about ") + words[i], std::string("more on ") + words[9 - i],
                     "Page " + std::to_string(i + 1) + " of 10"});
  }
  pages[4].insert(pages[4].begin(), "}");  // punctuation alone is never a running line
  pages[5].insert(pages[5].begin(), "}");
  pages[6].insert(pages[6].begin(), "}");
  const size_t dropped = cleanup::drop_running_lines(pages);
  EXPECT_EQ(dropped, 20u);
  EXPECT_EQ(pages[0].front(), "Body about alpha");
  EXPECT_EQ(pages[0].back(), "more on kappa");
  EXPECT_EQ(pages[4].front(), "}");
}

TEST(PdfCleanup, TooFewPagesKeepEverything) {
  std::vector<cleanup::page_lines> pages = {{"Header", "a"}, {"Header", "b"}};
  EXPECT_EQ(cleanup::drop_running_lines(pages), 0u);
}

TEST(PdfCleanup, HyphenationUsesTheDocumentsOwnSpelling) {
  std::vector<cleanup::page_lines> pages = {{"a well-known fact is well-", "known; the exam-",
                                             "ple is an example.", "Soft hyph\xC2\xAD", "enation."},
                                            {"see http://example.org/some-", "path and re-"},
                                            {"enter the data, re-enter it."}};
  EXPECT_EQ(cleanup::join_hyphenation(pages), 5u);
  EXPECT_EQ(pages[0][0], "a well-known fact is well-known;");
  EXPECT_EQ(pages[0][1], "the example");
  EXPECT_EQ(pages[0][2], "is an example.");
  EXPECT_EQ(pages[0][3], "Soft hyphenation.");
  EXPECT_EQ(pages[1][0], "see http://example.org/some-path");
  EXPECT_EQ(pages[1][1], "and re-enter");  // moved up from the next page, hyphen kept
  EXPECT_EQ(pages[2][0], "the data, re-enter it.");
}

TEST(PdfCleanup, CapitalisedContinuationIsNotJoined) {
  std::vector<cleanup::page_lines> pages = {{"Smith-", "Jones wrote it."}};
  EXPECT_EQ(cleanup::join_hyphenation(pages), 0u);
  EXPECT_EQ(pages[0][0], "Smith-");
}

}  // namespace
}  // namespace tome::ingest
