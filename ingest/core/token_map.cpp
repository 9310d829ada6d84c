// tokenize() and the token map's lookups (token_map.h). Lines are placed with the tokenizer's
// token_bytes when it has one (exact), by byte proportion otherwise.
#include "tome/ingest/token_map.h"

#include <algorithm>
#include <exception>

#include "core/common.h"

namespace tome::ingest {

namespace {

// Byte offsets where the lines of `text` start (text ends with '\n').
std::vector<size_t> line_starts(std::string_view text) {
  std::vector<size_t> out{0};
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '\n') out.push_back(i + 1);
  }
  return out;
}

// line_token from exact token lengths; false when the tokens do not spell the text's length.
bool exact_line_tokens(const std::vector<size_t>& starts, const std::vector<int32_t>& ids,
                       const tokenizer_fns& fns, size_t text_size, std::vector<uint32_t>& out) {
  out.assign(starts.size(), 0);
  size_t pos = 0, line = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const size_t len = fns.token_bytes(ids[t]).size();
    // Every line starting inside [pos, pos + len) starts in token t.
    while (line < starts.size() && starts[line] < pos + len) out[line++] = static_cast<uint32_t>(t);
    pos += len;
  }
  if (pos != text_size) return false;
  while (line < starts.size())
    out[line++] = ids.empty() ? 0 : static_cast<uint32_t>(ids.size() - 1);
  return true;
}

void proportional_line_tokens(const std::vector<size_t>& starts, size_t n_tokens, size_t text_size,
                              std::vector<uint32_t>& out) {
  out.assign(starts.size(), 0);
  if (n_tokens == 0 || text_size == 0) return;
  for (size_t i = 0; i < starts.size(); ++i) {
    const auto t =
        static_cast<uint64_t>(static_cast<double>(starts[i]) * static_cast<double>(n_tokens) /
                              static_cast<double>(text_size));
    out[i] = static_cast<uint32_t>(std::min<uint64_t>(t, n_tokens - 1));
  }
}

bool ends_line(const tokenizer_fns& fns, int32_t id) {
  const std::string_view b = fns.token_bytes(id);
  return !b.empty() && b.back() == '\n';
}

// The entry of tokens [a, b) of content entry `whole` (a relative to its first token), placed at
// token `begin`: the lines from the one holding token a to the last starting before b.
token_map::segment_entry content_piece(const token_map::segment_entry& whole, uint64_t begin,
                                       uint32_t a, uint32_t b) {
  token_map::segment_entry e;
  e.token_begin = begin;
  e.token_end = begin + (b - a);
  e.kind = whole.kind;
  e.source = whole.source;
  if (whole.line_token.empty()) return e;
  const auto& lt = whole.line_token;
  // The first line starting at token a, else the one started before it and running into it.
  size_t i0 = static_cast<size_t>(std::lower_bound(lt.begin(), lt.end(), a) - lt.begin());
  if ((i0 == lt.size() || lt[i0] > a) && i0 > 0) --i0;
  size_t i1 = static_cast<size_t>(std::lower_bound(lt.begin(), lt.end(), b) - lt.begin());
  i1 = std::max(i1, i0 + 1);
  for (size_t i = i0; i < i1; ++i) e.line_token.push_back(lt[i] > a ? lt[i] - a : 0);
  e.source.line_begin = whole.source.line_begin + static_cast<int32_t>(i0);
  e.source.line_end = whole.source.line_begin + static_cast<int32_t>(i1 - 1);
  return e;
}

}  // namespace

result<tokenized_document> tokenize(const document& doc, const tokenizer_fns& fns,
                                    const tokenize_params& p) {
  if (!fns.encode) return error(doc.path + ": tokenize: no encode function given");
  const int64_t every = p.restate_header_every;
  if (every > 0 && !fns.token_bytes)
    return error(doc.path + ": tokenize: restating file headers needs the tokenizer's token_bytes");
  tokenized_document out;
  token_map& m = out.map;
  m.segments_.reserve(doc.segments.size());
  // Restating headers: the current file's header tokens and entry, the content tokens since the
  // last header, and whether a header is due before the file's next content token.
  std::vector<int32_t> header;
  token_map::segment_entry header_entry;
  int64_t run = 0;
  bool due = false;
  const size_t n = doc.segments.size();
  for (size_t i = 0; i < n; ++i) {
    if (p.cancel && p.cancel->load(std::memory_order_relaxed))
      return error(doc.path + ": cancelled");
    if (p.on_progress && i % 64 == 0)
      p.on_progress(progress{"tokenize", i, n, doc.segments[i].source.file});
    const segment& s = doc.segments[i];
    std::vector<int32_t> ids;
    try {
      ids = (s.kind == segment_kind::file_header && fns.encode_header) ? fns.encode_header(s)
                                                                       : fns.encode(s.text);
    } catch (const std::exception& e) {
      return error(doc.path + ": the tokenizer failed on " + s.source.file + ": " + e.what());
    }
    if (ids.size() > UINT32_MAX) return error(doc.path + ": a segment of over 4G tokens");
    token_map::segment_entry e;
    e.token_begin = out.tokens.size();
    e.token_end = e.token_begin + ids.size();
    e.kind = s.kind;
    e.source = s.source;
    if (s.kind == segment_kind::content && s.source.line_begin > 0) {
      std::vector<size_t> starts = line_starts(s.text);
      // The source's line count is authoritative (add_segment set it from the same text).
      starts.resize(static_cast<size_t>(s.source.line_end - s.source.line_begin + 1),
                    starts.empty() ? 0 : starts.back());
      if (!(fns.token_bytes && exact_line_tokens(starts, ids, fns, s.text.size(), e.line_token))) {
        m.exact_ = false;
        proportional_line_tokens(starts, ids.size(), s.text.size(), e.line_token);
      }
    } else {
      e.source.line_begin = e.source.line_end = 0;
    }
    const bool restating = every > 0 && s.kind == segment_kind::content && !header.empty() &&
                           s.source.file == header_entry.source.file;
    if (every > 0 && s.kind == segment_kind::file_header) {
      if (ids.empty() || !ends_line(fns, ids.back()))
        return error(doc.path + ": the header of " + s.source.file +
                     " does not end a line: it cannot be restated inside the file");
      header = ids;
      header_entry = e;
      run = 0;
      due = false;
    } else if (every > 0 && !restating) {
      header.clear();
    }
    if (!restating) {
      out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
      m.segments_.push_back(std::move(e));
      continue;
    }
    // Content of the current file: cut before each token at which a header is due.
    uint32_t a = 0;
    for (uint32_t t = 0; t < ids.size(); ++t) {
      if (due) {
        if (t > a) {
          m.segments_.push_back(content_piece(e, out.tokens.size(), a, t));
          out.tokens.insert(out.tokens.end(), ids.begin() + a, ids.begin() + t);
        }
        token_map::segment_entry h = header_entry;
        h.token_begin = out.tokens.size();
        h.token_end = h.token_begin + header.size();
        out.tokens.insert(out.tokens.end(), header.begin(), header.end());
        m.segments_.push_back(std::move(h));
        a = t;
        run = 0;
        due = false;
      }
      ++run;
      if (run >= every && ends_line(fns, ids[t])) due = true;
    }
    if (a == 0) {  // no cut: the segment's entry as it is
      e.token_begin = out.tokens.size();
      e.token_end = e.token_begin + ids.size();
      out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
      m.segments_.push_back(std::move(e));
    } else if (a < ids.size()) {
      m.segments_.push_back(
          content_piece(e, out.tokens.size(), a, static_cast<uint32_t>(ids.size())));
      out.tokens.insert(out.tokens.end(), ids.begin() + a, ids.end());
    }
  }
  if (p.on_progress) p.on_progress(progress{"tokenize", n, n, {}});
  return out;
}

void update_report(ingest_report& report, const token_map& map) {
  report.estimated_tokens = map.token_count();
  report.tokens_exact = true;
}

uint64_t token_map::token_count() const {
  return segments_.empty() ? 0 : segments_.back().token_end;
}

token_map::token_range token_map::segment_tokens(size_t segment) const {
  if (segment >= segments_.size()) return {};
  return {segments_[segment].token_begin, segments_[segment].token_end};
}

std::optional<token_map::location> token_map::locate(uint64_t token) const {
  if (token >= token_count()) return std::nullopt;
  // The first segment ending after `token` holds it (empty segments end where they begin).
  const auto it =
      std::upper_bound(segments_.begin(), segments_.end(), token,
                       [](uint64_t t, const segment_entry& s) { return t < s.token_end; });
  if (it == segments_.end()) return std::nullopt;
  location loc;
  loc.segment = static_cast<size_t>(it - segments_.begin());
  loc.kind = it->kind;
  loc.source = it->source;
  if (!it->line_token.empty()) {
    const auto rel = static_cast<uint32_t>(token - it->token_begin);
    const auto lt = std::upper_bound(it->line_token.begin(), it->line_token.end(), rel);
    const auto index =
        static_cast<int32_t>(std::max<ptrdiff_t>(0, lt - it->line_token.begin() - 1));
    loc.source.line_begin = loc.source.line_end = it->source.line_begin + index;
  } else {
    loc.source.line_begin = loc.source.line_end = 0;
  }
  return loc;
}

std::optional<uint64_t> token_map::find(std::string_view file, int32_t page, int32_t line) const {
  for (const segment_entry& s : segments_) {
    if (s.kind != segment_kind::content || s.source.file != file) continue;
    if (page != 0 && s.source.page != page) continue;
    if (s.token_end == s.token_begin) continue;
    if (line == 0) return s.token_begin;
    if (s.line_token.empty() || line < s.source.line_begin || line > s.source.line_end) continue;
    return s.token_begin + s.line_token[static_cast<size_t>(line - s.source.line_begin)];
  }
  return std::nullopt;
}

std::optional<token_map::token_range> token_map::file_tokens(std::string_view file) const {
  std::optional<token_range> r;
  for (const segment_entry& s : segments_) {
    if (s.source.file != file) continue;
    if (!r) {
      r = token_range{s.token_begin, s.token_end};
    } else {
      r->begin = std::min(r->begin, s.token_begin);
      r->end = std::max(r->end, s.token_end);
    }
  }
  return r;
}

}  // namespace tome::ingest
