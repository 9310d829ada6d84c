// Markdown headings to sections (markdown.h): a line scanner for ATX and setext headings that
// skips fenced code blocks. Not a Markdown renderer: the text stays as written.
#include "text/markdown.h"

#include <cstdint>
#include <utility>

namespace tome::ingest::detail {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Up to 3 leading spaces allowed (CommonMark); returns the rest or nullopt-like empty + false.
bool strip_indent(std::string_view& line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  if (n > 3) return false;
  line.remove_prefix(n);
  return true;
}

// "```" or "~~~" (3 or more): the fence character and length, or 0.
size_t fence(std::string_view line, char& ch) {
  if (!strip_indent(line) || line.size() < 3) return 0;
  ch = line[0];
  if (ch != '`' && ch != '~') return 0;
  size_t n = 0;
  while (n < line.size() && line[n] == ch) ++n;
  return n >= 3 ? n : 0;
}

// ATX heading level (1-6) and title, or 0.
int atx_heading(std::string_view line, std::string& title) {
  if (!strip_indent(line)) return 0;
  int level = 0;
  while (level < static_cast<int>(line.size()) && line[static_cast<size_t>(level)] == '#') ++level;
  if (level == 0 || level > 6) return 0;
  std::string_view rest = line.substr(static_cast<size_t>(level));
  if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') return 0;
  rest = trim(rest);
  // A closing sequence of #s (preceded by a space) is not part of the title.
  size_t end = rest.size();
  while (end > 0 && rest[end - 1] == '#') --end;
  if (end == 0 || rest[end - 1] == ' ' || rest[end - 1] == '\t') rest = trim(rest.substr(0, end));
  title.assign(rest);
  return level;
}

// Setext underline: 1 for "===", 2 for "---", else 0.
int setext_underline(std::string_view line) {
  if (!strip_indent(line)) return 0;
  line = trim(line);
  if (line.empty() || (line[0] != '=' && line[0] != '-')) return 0;
  for (const char c : line) {
    if (c != line[0]) return 0;
  }
  return line[0] == '=' ? 1 : 2;
}

}  // namespace

std::vector<text_section> markdown_sections(std::string_view text) {
  std::vector<std::pair<size_t, std::string_view>> lines;  // offset, line without '\n'
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(pos, text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::vector<text_section> out{text_section{0, 1, ""}};
  std::vector<std::pair<int, std::string>> stack;  // open headings: level, title
  const auto open = [&](size_t line_index, int level, std::string title) {
    while (!stack.empty() && stack.back().first >= level) stack.pop_back();
    stack.emplace_back(level, std::move(title));
    std::string path;
    for (const auto& [l, t] : stack) path += (path.empty() ? "" : " > ") + t;
    text_section s{lines[line_index].first, static_cast<int32_t>(line_index + 1), std::move(path)};
    if (out.size() == 1 && out[0].offset == s.offset) {
      out[0] = std::move(s);
    } else {
      out.push_back(std::move(s));
    }
  };
  char fence_char = 0;
  size_t fence_len = 0;
  bool prev_paragraph = false;  // the previous line is a paragraph line (setext candidate)
  for (size_t i = 0; i < lines.size() && i < static_cast<size_t>(INT32_MAX); ++i) {
    const std::string_view line = lines[i].second;
    char ch = 0;
    const size_t f = fence(line, ch);
    if (fence_len > 0) {
      if (f >= fence_len && ch == fence_char && trim(line).size() == f) fence_len = 0;
      prev_paragraph = false;
      continue;
    }
    if (f > 0) {
      fence_char = ch;
      fence_len = f;
      prev_paragraph = false;
      continue;
    }
    std::string title;
    if (const int level = atx_heading(line, title); level > 0) {
      if (!title.empty()) open(i, level, std::move(title));
      prev_paragraph = false;
      continue;
    }
    if (prev_paragraph) {
      if (const int level = setext_underline(line); level > 0) {
        open(i - 1, level, std::string(trim(lines[i - 1].second)));
        prev_paragraph = false;
        continue;
      }
    }
    const std::string_view t = trim(line);
    // A paragraph line: not blank, not indented code, not a list/quote/table marker line.
    prev_paragraph = !t.empty() && line.substr(0, 4) != "    " && line[0] != '\t' && t[0] != '>' &&
                     t[0] != '|' && t[0] != '-' && t[0] != '*' && t[0] != '+';
  }
  return out;
}

}  // namespace tome::ingest::detail
