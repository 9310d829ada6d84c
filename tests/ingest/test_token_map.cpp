// The token map: tokenize documents (a PDF, a repository, Markdown) with the engine's real
// SentencePiece tokenizer (tests/data/tokenizer/tiny.model) and with a synthetic one, then go
// from every line to its first token and back; the approximate mode without token_bytes; the
// byte image (round trip, corruption, truncation).
#include <gtest/gtest.h>

#include <algorithm>

#include "ingest_test_util.h"
#include "tome/ingest/ingest.h"
#include "tome/ingest/token_map.h"
#include "tome/model_config.h"
#include "tome/tokenizer.h"

namespace tome::ingest {
namespace {

using test::ingest_data;
using test::scratch_dir;
namespace fs = std::filesystem;

// The engine's test tokenizer (512 pieces, byte fallback), loaded once.
const tome::tokenizer& real_tokenizer() {
  static std::unique_ptr<tome::tokenizer> tok = [] {
    auto cfg = load_model_config(fs::path(TOME_SOURCE_DIR) / "tests/golden/gret-f32/config.json");
    EXPECT_TRUE(cfg) << cfg.message();
    auto t =
        tome::tokenizer::load(fs::path(TOME_SOURCE_DIR) / "tests/data/tokenizer/tiny.model", *cfg);
    EXPECT_TRUE(t) << t.message();
    return std::move(*t);
  }();
  return *tok;
}

tokenizer_fns real_fns() {
  const tome::tokenizer& t = real_tokenizer();
  tokenizer_fns f;
  f.encode = [&t](std::string_view s) { return t.encode(s); };
  f.token_bytes = [&t](int32_t id) { return t.token_bytes(id); };
  return f;
}

// Synthetic: tokens of 1, 2 or 3 bytes in turn; id = the token's byte length (its bytes are
// looked up in a table built while encoding, so token_bytes works).
struct chunk_tokenizer {
  std::vector<std::string> pieces;
  tokenizer_fns fns() {
    tokenizer_fns f;
    f.encode = [this](std::string_view s) {
      std::vector<int32_t> ids;
      size_t i = 0, k = 0;
      while (i < s.size()) {
        const size_t len = std::min<size_t>(1 + (k++ % 3), s.size() - i);
        ids.push_back(static_cast<int32_t>(pieces.size()));
        pieces.emplace_back(s.substr(i, len));
        i += len;
      }
      return ids;
    };
    f.token_bytes = [this](int32_t id) -> std::string_view {
      return pieces[static_cast<size_t>(id)];
    };
    return f;
  }
};

// For every line of every content segment: find() gives a token whose locate() is that line,
// or a later line that starts inside the same token (a token spanning a line break belongs to
// the later line).
void check_round_trip(const document& doc, const tokenized_document& td) {
  const token_map& m = td.map;
  ASSERT_EQ(m.segment_count(), doc.segments.size());
  ASSERT_EQ(m.token_count(), td.tokens.size());
  size_t checked = 0;
  for (size_t si = 0; si < doc.segments.size(); ++si) {
    const segment& s = doc.segments[si];
    const auto range = m.segment_tokens(si);
    if (s.kind != segment_kind::content || range.begin == range.end) continue;
    for (int32_t line = s.source.line_begin; line <= s.source.line_end; ++line) {
      const auto t = m.find(s.source.file, s.source.page, line);
      // A line may sit in an earlier segment of the same file and page (PDF sections): find()
      // returns the first segment holding it, which is this one for every line of it.
      ASSERT_TRUE(t) << s.source.file << " p" << s.source.page << " line " << line;
      ASSERT_GE(*t, range.begin);
      ASSERT_LT(*t, range.end);
      const auto loc = m.locate(*t);
      ASSERT_TRUE(loc);
      EXPECT_EQ(loc->segment, si);
      EXPECT_EQ(loc->source.file, s.source.file);
      EXPECT_EQ(loc->source.page, s.source.page);
      EXPECT_EQ(loc->source.title, s.source.title);
      EXPECT_GE(loc->source.line_begin, line);
      if (loc->source.line_begin != line) {
        // Only when the lines in between start inside the same token.
        EXPECT_EQ(m.find(s.source.file, s.source.page, loc->source.line_begin), *t);
      } else {
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0u);
}

TEST(TokenMap, RealTokenizerOnAPdfRoundTrips) {
  auto doc = ingest(ingest_data("R-data.pdf"));
  ASSERT_TRUE(doc) << doc.message();
  auto td = tokenize(*doc, real_fns());
  ASSERT_TRUE(td) << td.message();
  EXPECT_TRUE(td->map.exact());
  // The tokens spell the document exactly (no dummy prefix, byte fallback).
  EXPECT_EQ(real_tokenizer().decode(td->tokens), doc->text());
  check_round_trip(*doc, *td);
  // Page 15 -> its first token -> page 15.
  const auto t = td->map.find("R-data.pdf", 15);
  ASSERT_TRUE(t);
  EXPECT_EQ(td->map.locate(*t)->source.page, 15);
  EXPECT_EQ(td->map.locate(*t)->source.line_begin, 1);
  EXPECT_FALSE(td->map.locate(td->tokens.size()));
  EXPECT_FALSE(td->map.find("R-data.pdf", 42));
  EXPECT_FALSE(td->map.find("other.pdf"));
  update_report(doc->report, td->map);
  EXPECT_TRUE(doc->report.tokens_exact);
  EXPECT_EQ(doc->report.estimated_tokens, td->tokens.size());
}

TEST(TokenMap, RepositoryWithHeaderTemplate) {
  scratch_dir dir;
  test::write_bytes(dir / "r/a.py", "def a():\n    return 1\n\n\nx = a()\n");
  test::write_bytes(dir / "r/b/c.cpp", "int c() {\n  return 2;\n}\n");
  auto doc = ingest(dir / "r");
  ASSERT_TRUE(doc) << doc.message();
  tokenizer_fns f = real_fns();
  f.encode_header = [](const segment& s) {  // a stand-in for the model's "file" template
    return std::vector<int32_t>{6, static_cast<int32_t>(s.source.file.size())};
  };
  auto td = tokenize(*doc, f);
  ASSERT_TRUE(td) << td.message();
  check_round_trip(*doc, *td);
  const auto range = td->map.file_tokens("b/c.cpp");
  ASSERT_TRUE(range);
  EXPECT_EQ(td->tokens[range->begin], 6);  // the header's tokens come first
  const auto loc = td->map.locate(range->begin);
  EXPECT_EQ(loc->kind, segment_kind::file_header);
  EXPECT_EQ(loc->source.line_begin, 0);
  const auto line2 = td->map.find("b/c.cpp", 0, 2);
  ASSERT_TRUE(line2);
  EXPECT_EQ(td->map.locate(*line2)->source.line_begin, 2);
  EXPECT_EQ(td->map.find("b/c.cpp"), range->begin + 2);  // the first content token
}

// The rule of tokenize_params::restate_header_every on one file's header + content tokens, as
// training/data/tasks.py restate_headers writes it: the header again after a token ending a
// line once `every` content tokens have passed since the last header, when more follows.
std::vector<int32_t> restate_reference(const std::vector<int32_t>& header,
                                       const std::vector<int32_t>& body, int64_t every,
                                       const tokenizer_fns& f) {
  std::vector<int32_t> out = header;
  int64_t run = 0;
  for (size_t t = 0; t < body.size(); ++t) {
    out.push_back(body[t]);
    ++run;
    const std::string_view b = f.token_bytes(body[t]);
    if (run >= every && !b.empty() && b.back() == '\n' && t + 1 < body.size()) {
      out.insert(out.end(), header.begin(), header.end());
      run = 0;
    }
  }
  return out;
}

TEST(TokenMap, RestatedFileHeaders) {
  scratch_dir dir;
  std::string big;  // 120 lines, some long, some empty
  for (int i = 1; i <= 120; ++i)
    big += i % 7 == 0
               ? "\n"
               : "int value_" + std::to_string(i) + " = " + std::string(i % 5 * 9, 'x') + ";\n";
  test::write_bytes(dir / "r/a/big.c", big);
  test::write_bytes(dir / "r/a/small.h", "int f(void);\n");
  test::write_bytes(dir / "r/z.py", "def g():\n    return 1\n\n\nx = g()\n");
  auto doc = ingest(dir / "r");
  ASSERT_TRUE(doc) << doc.message();
  tokenizer_fns f = real_fns();
  const tome::tokenizer& tk = real_tokenizer();
  f.encode_header = [&tk](const segment& s) {  // the app's: <|file|> + encode(path + "\n")
    std::vector<int32_t> ids{6};
    const auto rest = tk.encode(s.source.file + "\n");
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  };
  auto once = tokenize(*doc, f);
  ASSERT_TRUE(once) << once.message();
  for (const int64_t every : {1, 16, 40, 100000}) {
    tokenize_params p;
    p.restate_header_every = every;
    auto td = tokenize(*doc, f, p);
    ASSERT_TRUE(td) << td.message();
    const token_map& m = td->map;
    EXPECT_TRUE(m.exact());
    ASSERT_EQ(m.token_count(), td->tokens.size());
    // Tokens: each file's header + content as the reference rule lays them out.
    std::vector<int32_t> want;
    for (const auto& file : {"a/big.c", "a/small.h", "z.py"}) {
      const auto r = once->map.file_tokens(file);
      ASSERT_TRUE(r) << file;
      const auto h =
          once->map.segment_tokens(once->map.locate(r->begin)->segment);  // the header segment
      const std::vector<int32_t> header(once->tokens.begin() + static_cast<ptrdiff_t>(h.begin),
                                        once->tokens.begin() + static_cast<ptrdiff_t>(h.end));
      const std::vector<int32_t> body(once->tokens.begin() + static_cast<ptrdiff_t>(h.end),
                                      once->tokens.begin() + static_cast<ptrdiff_t>(r->end));
      const auto laid = restate_reference(header, body, every, f);
      want.insert(want.end(), laid.begin(), laid.end());
      const auto got = m.file_tokens(file);
      ASSERT_TRUE(got) << file;
      EXPECT_EQ(got->end - got->begin, laid.size()) << file << " every " << every;
    }
    EXPECT_EQ(td->tokens, want) << "every " << every;
    if (every == 100000) {
      EXPECT_EQ(td->tokens, once->tokens);
    }
    // Every restated header is a file_header entry naming its file; every line still found.
    size_t headers = 0;
    for (uint64_t t = 0; t < td->tokens.size(); ++t) {
      const auto loc = m.locate(t);
      ASSERT_TRUE(loc);
      if (td->tokens[t] == 6) {
        EXPECT_EQ(loc->kind, segment_kind::file_header);
        ++headers;
      }
    }
    if (every == 16) {
      EXPECT_GT(headers, 3u + 10u);
    }
    for (const segment& s : doc->segments) {
      if (s.kind != segment_kind::content) continue;
      for (int32_t line = s.source.line_begin; line <= s.source.line_end; ++line) {
        const auto t = m.find(s.source.file, 0, line);
        ASSERT_TRUE(t) << s.source.file << " line " << line << " every " << every;
        const auto loc = m.locate(*t);
        ASSERT_TRUE(loc);
        EXPECT_EQ(loc->kind, segment_kind::content);
        EXPECT_EQ(loc->source.file, s.source.file);
        EXPECT_EQ(loc->source.line_begin, line) << s.source.file << " every " << every;
        // The same line's first token as without restated headers (shifted by them).
        const auto t0 = once->map.find(s.source.file, 0, line);
        EXPECT_EQ(td->tokens[*t], once->tokens[*t0]);
      }
    }
    // The byte image keeps the split entries.
    auto back = token_map::parse(m.serialize());
    ASSERT_TRUE(back) << back.message();
    EXPECT_TRUE(*back == m);
  }
  // Refusals: no token_bytes; a header that does not end a line.
  tokenize_params p;
  p.restate_header_every = 8;
  tokenizer_fns nobytes = f;
  nobytes.token_bytes = nullptr;
  EXPECT_FALSE(tokenize(*doc, nobytes, p));
  tokenizer_fns flat = f;
  flat.encode_header = [](const segment&) { return std::vector<int32_t>{6}; };
  const auto r = tokenize(*doc, flat, p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("does not end a line"), std::string::npos) << r.message();
}

TEST(TokenMap, SyntheticTokensSpanningLineBreaks) {
  auto doc = ingest(ingest_data("shellmath-README.md"));
  ASSERT_TRUE(doc);
  chunk_tokenizer ct;
  auto td = tokenize(*doc, ct.fns());
  ASSERT_TRUE(td) << td.message();
  EXPECT_TRUE(td->map.exact());
  check_round_trip(*doc, *td);
}

TEST(TokenMap, WithoutTokenBytesLinesAreApproximate) {
  auto doc = ingest(ingest_data("GPL-3.txt"));
  ASSERT_TRUE(doc);
  tokenizer_fns f = real_fns();
  f.token_bytes = nullptr;
  auto td = tokenize(*doc, f);
  ASSERT_TRUE(td);
  EXPECT_FALSE(td->map.exact());
  // Monotonic and in range: later lines never map to earlier tokens.
  uint64_t prev = 0;
  for (int32_t line = 1; line <= 674; ++line) {
    const auto t = td->map.find("GPL-3.txt", 0, line);
    ASSERT_TRUE(t);
    EXPECT_GE(*t, prev);
    prev = *t;
  }
  // Close to the exact answer (proportional placement): within a few lines.
  auto exact = tokenize(*doc, real_fns());
  ASSERT_TRUE(exact);
  const auto t = td->map.find("GPL-3.txt", 0, 300);
  const int32_t exact_line = exact->map.locate(*t)->source.line_begin;
  EXPECT_LE(std::abs(exact_line - 300), 10);
}

TEST(TokenMap, SerializeRoundTripAndHostileImages) {
  auto doc = ingest(ingest_data("developers-reference.epub"));
  ASSERT_TRUE(doc);
  auto td = tokenize(*doc, real_fns());
  ASSERT_TRUE(td);
  const std::vector<uint8_t> bytes = td->map.serialize();
  auto back = token_map::parse(bytes);
  ASSERT_TRUE(back) << back.message();
  EXPECT_TRUE(*back == td->map);
  EXPECT_EQ(back->serialize(), bytes);

  std::vector<uint8_t> flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  auto bad = token_map::parse(flipped);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "token map: checksum mismatch (corrupt)");
  for (const size_t keep : {size_t{0}, size_t{7}, size_t{31}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(token_map::parse(std::span(bytes).first(keep))) << keep;
  }
  std::vector<uint8_t> magic = bytes;
  magic[0] = 'X';
  EXPECT_EQ(token_map::parse(magic).message(), "token map: not a token map (bad magic)");
  const token_map empty;
  auto e = token_map::parse(empty.serialize());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->token_count(), 0u);
  EXPECT_FALSE(e->locate(0));
}

TEST(TokenMap, TokenizerErrorsAndCancel) {
  document doc;
  doc.path = "x";
  doc.segments.push_back({segment_kind::content, "hello\n", {"x", 0, 1, 1, "", ""}});
  EXPECT_FALSE(tokenize(doc, tokenizer_fns{}));
  tokenizer_fns throws;
  throws.encode = [](std::string_view) -> std::vector<int32_t> {
    throw std::runtime_error("boom");
  };
  auto r = tokenize(doc, throws);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.message(), "x: the tokenizer failed on x: boom");
  std::atomic<bool> cancel{true};
  tokenize_params p;
  p.cancel = &cancel;
  EXPECT_EQ(tokenize(doc, real_fns(), p).message(), "x: cancelled");
}

}  // namespace
}  // namespace tome::ingest
