// tome::ingest::document helpers and the report's rendering (document.h, report.h).
#include "tome/ingest/document.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/common.h"
#include "tome/ingest/report.h"

namespace tome::ingest {

std::string document::text() const {
  std::string out;
  out.reserve(size_bytes());
  for (const segment& s : segments) out += s.text;
  return out;
}

uint64_t document::size_bytes() const {
  uint64_t n = 0;
  for (const segment& s : segments) n += s.text.size();
  return n;
}

size_t first_changed_file(std::span<const file_record> before, std::span<const file_record> after) {
  for (size_t i = 0; i < after.size(); ++i) {
    if (i >= before.size() || before[i].path != after[i].path || before[i].hash != after[i].hash)
      return i;
  }
  return after.size();
}

std::string_view format_name(format f) {
  switch (f) {
    case format::text: return "text";
    case format::markdown: return "markdown";
    case format::html: return "html";
    case format::pdf: return "pdf";
    case format::epub: return "epub";
    case format::repository: return "repository";
  }
  return "unknown";
}

std::string_view skip_reason_name(skip_reason r) {
  switch (r) {
    case skip_reason::unreadable: return "unreadable";
    case skip_reason::corrupt: return "corrupt";
    case skip_reason::unsupported: return "unsupported";
    case skip_reason::binary: return "binary";
    case skip_reason::too_large: return "too large";
    case skip_reason::vendored: return "vendored";
    case skip_reason::generated: return "generated";
    case skip_reason::symlink: return "symbolic link";
    case skip_reason::unsafe_path: return "unsafe path";
    case skip_reason::limit: return "limit reached";
    case skip_reason::empty: return "no text";
  }
  return "unknown";
}

// 1234567 -> "1,234,567"
static std::string grouped(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string format_report(const ingest_report& r, size_t max_listed) {
  std::string out = r.path + " (" + std::string(format_name(r.fmt)) + ")\n";
  if (r.fmt == format::pdf) {
    out += "  pages:      " + grouped(r.pages);
    if (r.pages_without_text) out += " (" + grouped(r.pages_without_text) + " without text)";
    out += "\n";
  } else {
    out += "  files:      " + grouped(r.files) + "\n";
  }
  out += "  characters: " + grouped(r.characters) + " (" + detail::human_bytes(r.bytes) + ", " +
         grouped(r.lines) + " lines)\n";
  out += std::string("  tokens:     ") + (r.tokens_exact ? "" : "~") + grouped(r.estimated_tokens) +
         (r.tokens_exact ? "" : " (estimated)") + "\n";
  if (r.ignored) out += "  ignored:    " + grouped(r.ignored) + " paths (.gitignore)\n";
  if (!r.skipped.empty()) {
    std::map<skip_reason, std::vector<const skipped_item*>> by_reason;
    for (const skipped_item& s : r.skipped) by_reason[s.reason].push_back(&s);
    out += "  skipped:    " + grouped(r.skipped.size()) + "\n";
    for (const auto& [reason, items] : by_reason) {
      out += "    " + std::string(skip_reason_name(reason)) + " (" + grouped(items.size()) + "):\n";
      for (size_t i = 0; i < items.size() && i < max_listed; ++i) {
        out += "      " + items[i]->path;
        if (!items[i]->detail.empty()) out += ": " + items[i]->detail;
        out += "\n";
      }
      if (items.size() > max_listed) {
        out += "      ... and " + grouped(items.size() - max_listed) + " more\n";
      }
    }
  }
  for (const std::string& n : r.notes) out += "  note: " + n + "\n";
  char t[64];
  std::snprintf(t, sizeof t, "  time:       %.2f s\n", r.seconds);
  out += t;
  return out;
}

}  // namespace tome::ingest
