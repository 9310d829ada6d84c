// Running header/footer removal, hyphenation joins and blank-line squeezing for PDF pages
// (pdf_cleanup.h).
#include "pdf/pdf_cleanup.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "core/utf8.h"

namespace tome::ingest::detail {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\v'; }

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); });
}

// ASCII letters, or any byte of a multi-byte UTF-8 character (most are letters in running text).
bool letter_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80;
}

bool roman_numeral(std::string_view s) {
  if (s.empty() || s.size() > 8) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::string_view("ivxlcdm").find(c) != std::string_view::npos;
  });
}

// A key that is only a page number: "#", "page #", "# of #", "- # -", "#/#", roman numerals.
bool page_number_key(std::string_view k) {
  return k == "#" || k == "page #" || k == "# of #" || k == "page # of #" || k == "- # -" ||
         k == "#/#" || k == "# / #" || k == "[#]" || k == "(#)";
}

bool has_alnum(std::string_view k) {
  return std::any_of(k.begin(), k.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '#' || u >= 0x80;
  });
}

struct key_stats {
  std::vector<int> pages;  // pages (indices) where the key is in the zone, ascending, unique
};

}  // namespace

std::string running_line_key(std::string_view line) {
  std::string k;
  bool space = false, digits = false;
  for (const char c : line) {
    if (is_space(c)) {
      space = !k.empty();
      digits = false;
      continue;
    }
    if (space) k.push_back(' ');
    space = false;
    if (c >= '0' && c <= '9') {
      if (!digits) k.push_back('#');
      digits = true;
      continue;
    }
    digits = false;
    k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (roman_numeral(k)) return "#";
  return k;
}

page_lines split_page_text(std::string_view text) {
  std::string s;
  if (valid_utf8(text)) {
    s.reserve(text.size());
  } else {
    append_repaired_utf8(text, s);
    text = {};
  }
  // Ligatures: U+FB00..FB06 are EF AC 80..86 in UTF-8.
  static const char* const k_lig[] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};
  const std::string_view src = text.empty() ? std::string_view(s) : text;
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\xEF' && i + 2 < src.size() && src[i + 1] == '\xAC' &&
        static_cast<unsigned char>(src[i + 2]) >= 0x80 &&
        static_cast<unsigned char>(src[i + 2]) <= 0x86) {
      out += k_lig[static_cast<unsigned char>(src[i + 2]) - 0x80];
      i += 2;
    } else if (src[i] == '\f' || src[i] == '\0') {
      continue;
    } else if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  page_lines lines;
  for (size_t pos = 0; pos <= out.size();) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    size_t end = nl;
    while (end > pos && is_space(out[end - 1])) --end;
    lines.emplace_back(out, pos, end - pos);
    pos = nl + 1;
  }
  squeeze_blank_lines(lines);
  return lines;
}

void squeeze_blank_lines(page_lines& lines) {
  page_lines out;
  out.reserve(lines.size());
  for (std::string& l : lines) {
    const bool b = blank(l);
    if (b && (out.empty() || out.back().empty())) continue;
    out.push_back(b ? std::string() : std::move(l));
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  lines = std::move(out);
}

size_t drop_running_lines(std::vector<page_lines>& pages) {
  constexpr int k_zone = 3;
  // Zone line indices per page: top then bottom.
  struct zone {
    std::vector<size_t> top, bottom;
  };
  std::vector<zone> zones(pages.size());
  int text_pages = 0;
  for (size_t p = 0; p < pages.size(); ++p) {
    const page_lines& lines = pages[p];
    for (size_t i = 0; i < lines.size() && static_cast<int>(zones[p].top.size()) < k_zone; ++i) {
      if (!lines[i].empty()) zones[p].top.push_back(i);
    }
    for (size_t i = lines.size(); i-- > 0 && static_cast<int>(zones[p].bottom.size()) < k_zone;) {
      if (!lines[i].empty()) zones[p].bottom.push_back(i);
    }
    text_pages += !zones[p].top.empty();
  }
  if (text_pages < 3) return 0;
  std::unordered_map<std::string, key_stats> top, bottom;
  const auto count = [&](std::unordered_map<std::string, key_stats>& m, const std::string& k,
                         int page) {
    std::vector<int>& v = m[k].pages;
    if (v.empty() || v.back() != page) v.push_back(page);
  };
  for (size_t p = 0; p < pages.size(); ++p) {
    for (const size_t i : zones[p].top)
      count(top, running_line_key(pages[p][i]), static_cast<int>(p));
    for (const size_t i : zones[p].bottom)
      count(bottom, running_line_key(pages[p][i]), static_cast<int>(p));
  }
  const auto running = [&](const std::unordered_map<std::string, key_stats>& m,
                           const std::string& k) {
    const auto it = m.find(k);
    if (it == m.end() || !has_alnum(k)) return false;
    const std::vector<int>& v = it->second.pages;
    const int n = static_cast<int>(v.size());
    if (n < 3) return false;
    if (page_number_key(k)) return true;
    if (n * 10 >= text_pages * 3) return true;  // 30% of the pages
    const int span = v.back() - v.front() + 1;
    return n >= 4 && n * 10 >= span * 4;  // dense: a chapter's running head
  };
  size_t dropped = 0;
  for (size_t p = 0; p < pages.size(); ++p) {
    std::vector<bool> drop(pages[p].size(), false);
    for (const size_t i : zones[p].top)
      drop[i] = drop[i] || running(top, running_line_key(pages[p][i]));
    for (const size_t i : zones[p].bottom)
      drop[i] = drop[i] || running(bottom, running_line_key(pages[p][i]));
    page_lines kept;
    for (size_t i = 0; i < pages[p].size(); ++i) {
      if (drop[i]) {
        ++dropped;
      } else {
        kept.push_back(std::move(pages[p][i]));
      }
    }
    squeeze_blank_lines(kept);
    pages[p] = std::move(kept);
  }
  return dropped;
}

namespace {

// The word (letters only, lowercased ASCII) ending at `end` in s, and where it starts.
std::string_view trailing_word(std::string_view s, size_t end, size_t& begin) {
  begin = end;
  while (begin > 0 && letter_byte(s[begin - 1])) --begin;
  return s.substr(begin, end - begin);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

enum class hyphen { none, ascii, soft, unicode };

// The hyphen at the end of `line` and its byte length.
hyphen line_end_hyphen(std::string_view line, size_t& len) {
  if (line.size() >= 2 && line.substr(line.size() - 2) == "\xC2\xAD") {
    len = 2;
    return hyphen::soft;
  }
  if (line.size() >= 3 && line.substr(line.size() - 3) == "\xE2\x80\x90") {
    len = 3;
    return hyphen::unicode;
  }
  if (!line.empty() && line.back() == '-') {
    len = 1;
    return hyphen::ascii;
  }
  return hyphen::none;
}

}  // namespace

size_t join_hyphenation(std::vector<page_lines>& pages) {
  // Word and hyphenated-compound counts over the whole document.
  std::unordered_map<std::string, int> words;
  for (const page_lines& lines : pages) {
    for (const std::string& l : lines) {
      size_t i = 0;
      while (i < l.size()) {
        if (!letter_byte(l[i])) {
          ++i;
          continue;
        }
        size_t j = i;
        while (j < l.size() && (letter_byte(l[j]) || (l[j] == '-' && j + 1 < l.size() &&
                                                      letter_byte(l[j + 1]) && j > i))) {
          ++j;
        }
        const std::string w = lower(std::string_view(l).substr(i, j - i));
        ++words[w];
        // Parts of a compound count as words too.
        if (w.find('-') != std::string::npos) {
          size_t a = 0;
          for (size_t b; (b = w.find('-', a)) != std::string::npos; a = b + 1)
            ++words[w.substr(a, b - a)];
          ++words[w.substr(a)];
        }
        i = j;
      }
    }
  }
  const auto freq = [&](const std::string& w) {
    const auto it = words.find(w);
    return it == words.end() ? 0 : it->second;
  };
  size_t joins = 0;
  for (size_t p = 0; p < pages.size(); ++p) {
    page_lines& lines = pages[p];
    for (size_t i = 0; i < lines.size(); ++i) {
      size_t hlen = 0;
      const hyphen h = line_end_hyphen(lines[i], hlen);
      if (h == hyphen::none) continue;
      const size_t stem_end = lines[i].size() - hlen;
      size_t stem_begin = 0;
      const std::string_view stem = trailing_word(lines[i], stem_end, stem_begin);
      if (stem.empty()) continue;
      // The next non-empty line: on this page, or the first of the next page with text.
      page_lines* next_page = &lines;
      size_t j = i + 1;
      while (j < next_page->size() && (*next_page)[j].empty()) ++j;
      if (j >= next_page->size()) {
        if (i + 1 != lines.size()) continue;  // a blank line follows: not a continuation
        size_t q = p + 1;
        while (q < pages.size() && pages[q].empty()) ++q;
        if (q >= pages.size()) continue;
        next_page = &pages[q];
        j = 0;
      }
      std::string& next = (*next_page)[j];
      size_t cont_end = 0;
      while (cont_end < next.size() && letter_byte(next[cont_end])) ++cont_end;
      if (cont_end == 0) continue;
      const auto first = static_cast<unsigned char>(next[0]);
      if (!(first >= 'a' && first <= 'z') && first < 0x80) continue;  // "Foo-\nBar": no join
      const std::string_view cont = std::string_view(next).substr(0, cont_end);
      // The whole token before the hyphen (back to a space): URLs and identifiers keep hyphens.
      size_t token_begin = stem_begin;
      while (token_begin > 0 && !is_space(lines[i][token_begin - 1])) --token_begin;
      const std::string_view token =
          std::string_view(lines[i]).substr(token_begin, stem_end - token_begin);
      const bool code_like = token.find_first_of("/:._0123456789@=<>") != std::string_view::npos;
      bool keep = h != hyphen::soft && code_like;
      if (h != hyphen::soft && !code_like) {
        const std::string joined = lower(stem) + lower(cont);
        const std::string hyphenated = lower(stem) + "-" + lower(cont);
        keep = freq(hyphenated) > freq(joined);
      }
      std::string moved(cont);
      size_t rest = cont_end;
      // Punctuation glued to the continuation ("mation," / "mation.") moves with it.
      while (rest < next.size() && !is_space(next[rest])) ++rest;
      moved.assign(next, 0, rest);
      if (!keep) lines[i].resize(stem_end);
      lines[i] += moved;
      while (rest < next.size() && is_space(next[rest])) ++rest;
      next.erase(0, rest);
      ++joins;
      if (next.empty()) {
        next_page->erase(next_page->begin() + static_cast<std::ptrdiff_t>(j));
        squeeze_blank_lines(*next_page);
      }
    }
  }
  return joins;
}

}  // namespace tome::ingest::detail
