// libFuzzer target: the token map's byte image (token_map::parse) and its lookups. A parsed map
// must serialize back to the same bytes, and locate/find must stay in range. Inputs that do not
// parse are also used as document text: tokenized with a byte tokenizer, mapped, round-tripped.
#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "tome/ingest/token_map.h"

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

void check_lookups(const tome::ingest::token_map& m) {
  const uint64_t n = m.token_count();
  for (uint64_t t : {uint64_t{0}, n / 3, n / 2, n > 0 ? n - 1 : 0, n, n + 1}) {
    const auto loc = m.locate(t);
    if (t >= n && loc) fail("locate past the end");
    if (t < n && !loc) fail("locate inside");
    if (loc) {
      const auto r = m.segment_tokens(loc->segment);
      if (t < r.begin || t >= r.end) fail("segment range");
      const auto back = m.find(loc->source.file, loc->source.page, loc->source.line_begin);
      if (back && *back >= n) fail("find out of range");
    }
  }
}
// A tokenized map of file "f" page 3 with `lines` lines: its byte image round-trips, and every
// sampled line is found at a content token that locates back to it.
void check_map(const tome::ingest::token_map& m, int32_t lines) {
  using namespace tome::ingest;
  auto back = token_map::parse(m.serialize());
  if (!back || !(*back == m)) fail("round trip");
  for (int32_t line = 1; line <= lines; line += 1 + lines / 16) {
    const auto t = back->find("f", 3, line);
    if (!t) fail("find line");
    const auto loc = back->locate(*t);
    if (!loc || loc->source.line_begin != line || loc->kind != segment_kind::content)
      fail("line round trip");
  }
  check_lookups(*back);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome::ingest;
  // As is (the checksum guards it), then with the checksum fixed up so that mutations reach the
  // field checks behind it.
  (void)token_map::parse(std::span(data, size));
  std::vector<uint8_t> fixed(data, data + size);
  if (size >= 8) {
    const uint64_t h = XXH3_64bits(fixed.data(), size - 8);
    for (int i = 0; i < 8; ++i)
      fixed[size - 8 + static_cast<size_t>(i)] = static_cast<uint8_t>(h >> (8 * i));
  }
  auto m = token_map::parse(fixed);
  if (m) {
    const auto again = m->serialize();
    if (again != fixed) fail("not canonical");
    check_lookups(*m);
    return 0;
  }
  // As text: lines of one document, one byte per token.
  std::string text;
  detail::append_repaired_utf8(std::string_view(reinterpret_cast<const char*>(data), size), text);
  if (text.empty()) return 0;
  if (text.back() != '\n') text.push_back('\n');
  int32_t lines = 0;
  for (const char c : text) lines += c == '\n';
  document doc;
  doc.path = "fuzz";
  doc.segments.push_back({segment_kind::file_header, "==> f <==\n", {"f", 0, 0, 0, "", ""}});
  doc.segments.push_back({segment_kind::content, text, {"f", 3, 1, lines, "t", "C"}});
  tokenizer_fns fns;
  static const std::string k_bytes = [] {
    std::string b;
    for (int i = 0; i < 256; ++i) b.push_back(static_cast<char>(i));
    return b;
  }();
  fns.encode = [](std::string_view s) {
    std::vector<int32_t> ids;
    for (const char c : s) ids.push_back(static_cast<uint8_t>(c));
    return ids;
  };
  fns.token_bytes = [](int32_t id) {
    return std::string_view(k_bytes).substr(static_cast<size_t>(id), 1);
  };
  auto td = tokenize(doc, fns);
  if (!td || !td->map.exact()) fail("tokenize");
  check_map(td->map, lines);
  // The file's header restated inside it every few tokens: each line still found and placed,
  // and without the copies the tokens are the same.
  tokenize_params rp;
  rp.restate_header_every = 1 + static_cast<int64_t>(size % 13);
  auto rd = tokenize(doc, fns, rp);
  if (!rd || !rd->map.exact()) fail("tokenize with restated headers");
  const auto h = td->map.segment_tokens(0);
  std::vector<int32_t> body;
  for (size_t seg = 1; seg < rd->map.segment_count(); ++seg) {
    const auto r = rd->map.segment_tokens(seg);
    if (r.begin == r.end) continue;
    const auto loc = rd->map.locate(r.begin);
    if (!loc) fail("segment start");
    if (loc->kind == segment_kind::file_header) {
      if (r.end - r.begin != h.end - h.begin ||
          !std::equal(rd->tokens.begin() + static_cast<ptrdiff_t>(r.begin),
                      rd->tokens.begin() + static_cast<ptrdiff_t>(r.end), td->tokens.begin()))
        fail("a restated header differs from the header");
      continue;
    }
    body.insert(body.end(), rd->tokens.begin() + static_cast<ptrdiff_t>(r.begin),
                rd->tokens.begin() + static_cast<ptrdiff_t>(r.end));
  }
  if (body.size() != td->tokens.size() - h.end ||
      !std::equal(body.begin(), body.end(), td->tokens.begin() + static_cast<ptrdiff_t>(h.end)))
    fail("restated headers change the text's tokens");
  check_map(rd->map, lines);
  return 0;
}
