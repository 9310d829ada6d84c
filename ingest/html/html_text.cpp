// HTML/XHTML to text with libxml2 (html_text.h): parse, then one iterative walk of the tree (no
// recursion: hostile nesting cannot overflow the stack) that writes text with collapsed
// whitespace and block-level line breaks.
#include "html/html_text.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <utility>

#include "core/utf8.h"

namespace tome::ingest::detail {

namespace {

struct doc_deleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using doc_ptr = std::unique_ptr<xmlDoc, doc_deleter>;

const char* name_of(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }

bool is_one_of(const char* name, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (strcasecmp(name, n) == 0) return true;
  }
  return false;
}

bool skipped_element(const char* n) {
  return is_one_of(n, {"script", "style", "head", "noscript", "template", "svg", "object", "iframe",
                       "select", "button", "canvas", "audio", "video"});
}
// Elements followed by a blank line.
bool paragraph_element(const char* n) {
  return is_one_of(n, {"p",      "h1",         "h2",      "h3",       "h4",     "h5",     "h6",
                       "pre",    "blockquote", "table",   "ul",       "ol",     "dl",     "hr",
                       "figure", "section",    "article", "aside",    "header", "footer", "nav",
                       "main",   "address",    "details", "fieldset", "form"});
}
// Elements on lines of their own.
bool block_element(const char* n) {
  return paragraph_element(n) ||
         is_one_of(n, {"div", "li", "dd", "dt", "tr", "caption", "figcaption", "summary", "thead",
                       "tbody", "tfoot", "body", "html", "dialog", "hgroup", "legend", "option",
                       "center", "title"});
}
int heading_level(const char* n) {
  if ((n[0] == 'h' || n[0] == 'H') && n[1] >= '1' && n[1] <= '6' && n[2] == 0) return n[1] - '0';
  return 0;
}

std::string attribute(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  if (!v) return "";
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::string collapse(std::string_view s) { return collapse_spaces(s); }

// The first <title> below `n` (depth-capped), for documents whose <head> is skipped.
const xmlNode* find_title(const xmlNode* n, int depth = 0) {
  for (; n && depth < 8; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && n->name && strcasecmp(name_of(n), "title") == 0) return n;
    if (const xmlNode* t = find_title(n->children, depth + 1)) return t;
  }
  return nullptr;
}

class text_writer {
 public:
  explicit text_writer(html_text& out) : out_(out) {}

  void text(std::string_view s, bool preformatted) {
    for (const char c : s) {
      if (preformatted) {
        if (c == '\n') {
          flush();
          out_.text.push_back('\n');
          at_line_start_ = true;
          continue;
        }
        if (c == '\r') continue;
        flush();
        out_.text.push_back(c);
        at_line_start_ = false;
        continue;
      }
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') {
        if (!at_line_start_) space_ = true;
        continue;
      }
      flush();
      out_.text.push_back(c);
      at_line_start_ = false;
    }
  }
  // Text that must appear as is at the current place ("- ", " | ").
  void marker(std::string_view s) {
    space_ = false;
    flush();
    out_.text.append(s);
    at_line_start_ = false;
    space_ = false;
  }
  void line_break(int n) {
    newlines_ = std::max(newlines_, n);
    space_ = false;
  }
  void hard_break() {  // <br>: one newline now, even after another
    flush();
    out_.text.push_back('\n');
    at_line_start_ = true;
    space_ = false;
  }
  void space() {
    if (!at_line_start_) space_ = true;
  }
  // A slot for the offset the next text will have (resolved at the next flush); read it with
  // offset(slot): npos until resolved.
  size_t want_offset() {
    slots_.push_back(std::string::npos);
    unresolved_.push_back(slots_.size() - 1);
    return slots_.size() - 1;
  }
  size_t offset(size_t slot) const { return slots_[slot]; }
  bool at_line_start() const { return at_line_start_ && newlines_ == 0; }
  void finish() {
    if (!out_.text.empty() && out_.text.back() != '\n') out_.text.push_back('\n');
    resolve();
  }
  size_t size() const { return out_.text.size(); }

 private:
  void flush() {
    if (newlines_ > 0) {
      if (!out_.text.empty()) {
        size_t have = 0;  // newlines already at the end
        while (have < out_.text.size() && out_.text[out_.text.size() - 1 - have] == '\n') ++have;
        for (size_t k = have; k < static_cast<size_t>(newlines_); ++k) out_.text.push_back('\n');
      }
      newlines_ = 0;
      at_line_start_ = true;
      space_ = false;
    } else if (space_) {
      out_.text.push_back(' ');
      space_ = false;
    }
    resolve();
  }
  void resolve() {
    for (const size_t i : unresolved_) slots_[i] = out_.text.size();
    unresolved_.clear();
  }

  html_text& out_;
  int newlines_ = 0;
  bool space_ = false;
  bool at_line_start_ = true;
  std::vector<size_t> slots_;
  std::vector<size_t> unresolved_;
};

struct frame {
  xmlNode* node;
  bool entered;
};

void walk(xmlNode* root, const html_options& opt, html_text& out) {
  text_writer w(out);
  std::vector<frame> stack{{root, false}};
  std::vector<int> list_counters;  // per open list: next number (ol), or -1 (ul)
  int pre_depth = 0;
  struct open_heading {
    size_t slot;  // text_writer offset slot
    int level;
    xmlNode* node;
  };
  std::vector<open_heading> headings;
  std::vector<std::pair<std::string, size_t>> anchors;  // id, offset slot
  bool first_cell = true;
  while (!stack.empty()) {
    frame& f = stack.back();
    xmlNode* n = f.node;
    if (f.entered) {  // leaving an element (or the document node)
      stack.pop_back();
      if (n->type != XML_ELEMENT_NODE || !n->name) continue;
      const char* name = name_of(n);
      if (is_one_of(name, {"pre", "textarea", "listing", "xmp"})) --pre_depth;
      if (is_one_of(name, {"ul", "ol", "menu"}) && !list_counters.empty()) list_counters.pop_back();
      if (const int level = heading_level(name);
          level > 0 && !headings.empty() && headings.back().node == n) {
        const size_t at = w.offset(headings.back().slot);  // npos: no text inside
        if (at <= w.size()) {
          std::string t = collapse(std::string_view(out.text).substr(at));
          if (!t.empty()) out.headings.push_back({at, level, std::move(t)});
        }
        headings.pop_back();
      }
      if (block_element(name)) w.line_break(paragraph_element(name) ? 2 : 1);
      if (is_one_of(name, {"td", "th"})) w.space();
      continue;
    }
    f.entered = true;
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      stack.pop_back();
      if (!n->content) continue;
      const std::string_view t = reinterpret_cast<const char*>(n->content);
      if (valid_utf8(t)) {
        w.text(t, pre_depth > 0);
      } else {  // libxml2 gives UTF-8; a lying charset declaration must not leak through anyway
        std::string fixed;
        append_repaired_utf8(t, fixed);
        w.text(fixed, pre_depth > 0);
      }
      continue;
    }
    if (n->type != XML_ELEMENT_NODE && n->type != XML_DOCUMENT_NODE &&
        n->type != XML_HTML_DOCUMENT_NODE) {
      stack.pop_back();
      continue;
    }
    if (n->type == XML_ELEMENT_NODE && n->name) {
      const char* name = name_of(n);
      const xmlNode* title = strcasecmp(name, "title") == 0  ? n
                             : strcasecmp(name, "head") == 0 ? find_title(n->children)
                                                             : nullptr;
      if (title && out.title.empty()) {
        xmlChar* c = xmlNodeGetContent(title);
        if (c) out.title = collapse(reinterpret_cast<const char*>(c));
        xmlFree(c);
      }
      if (skipped_element(name)) {
        stack.pop_back();
        continue;
      }
      for (const char* attr : {"id", "name"}) {
        if (strcmp(attr, "name") == 0 && strcasecmp(name, "a") != 0) continue;
        std::string id = attribute(n, attr);
        if (id.empty() || (opt.wanted_ids && !opt.wanted_ids->count(id))) continue;
        anchors.emplace_back(std::move(id), w.want_offset());
      }
      if (block_element(name)) w.line_break(paragraph_element(name) ? 2 : 1);
      if (strcasecmp(name, "br") == 0) w.hard_break();
      if (is_one_of(name, {"pre", "textarea", "listing", "xmp"})) ++pre_depth;
      if (is_one_of(name, {"ul", "menu"})) list_counters.push_back(-1);
      if (strcasecmp(name, "ol") == 0) {
        const std::string start = attribute(n, "start");
        list_counters.push_back(
            start.empty() ? 1 : std::clamp(std::atoi(start.c_str()), -1000000, 1000000));
        if (list_counters.back() == -1) list_counters.back() = 1;
      }
      if (strcasecmp(name, "li") == 0) {
        if (!list_counters.empty() && list_counters.back() != -1) {
          w.marker(std::to_string(list_counters.back()++) + ". ");
        } else {
          w.marker("- ");
        }
      }
      if (strcasecmp(name, "tr") == 0) first_cell = true;
      if (is_one_of(name, {"td", "th"})) {
        if (!first_cell) w.marker(" | ");
        first_cell = false;
      }
      if (const int level = heading_level(name); level > 0) {
        headings.push_back(open_heading{w.want_offset(), level, n});
      }
      if (strcasecmp(name, "img") == 0) {
        const std::string alt = collapse(attribute(n, "alt"));
        if (!alt.empty()) {
          std::string fixed;
          append_repaired_utf8("[" + alt + "]", fixed);
          w.text(fixed, false);
        }
      }
    }
    // Children in document order: push in reverse.
    std::vector<xmlNode*> kids;
    for (xmlNode* c = n->children; c; c = c->next) kids.push_back(c);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back({*it, false});
  }
  w.finish();
  for (auto& [id, slot] : anchors) out.anchors.emplace(std::move(id), w.offset(slot));
}

}  // namespace

result<html_text> html_to_text(std::string_view bytes, const html_options& opt) {
  if (bytes.size() > (1u << 30)) return error("HTML document over 1 GiB");
  const int size = static_cast<int>(bytes.size());
  doc_ptr doc;
  if (opt.try_xml) {
    doc.reset(xmlReadMemory(
        bytes.data(), size, nullptr, nullptr,
        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA));
  }
  if (!doc) {
    doc.reset(htmlReadMemory(bytes.data(), size, nullptr, nullptr,
                             HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                                 HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT));
  }
  if (!doc) return error("not HTML that libxml2 can parse");
  html_text out;
  walk(reinterpret_cast<xmlNode*>(doc.get()), opt, out);
  if (!valid_utf8(out.title)) {
    std::string fixed;
    append_repaired_utf8(out.title, fixed);
    out.title = std::move(fixed);
  }
  return out;
}

std::vector<std::pair<size_t, std::string>> html_sections(const html_text& h) {
  std::vector<std::pair<size_t, std::string>> out{{0, ""}};
  std::vector<std::pair<int, std::string>> stack;
  for (const html_heading& hd : h.headings) {
    while (!stack.empty() && stack.back().first >= hd.level) stack.pop_back();
    stack.emplace_back(hd.level, hd.text);
    std::string path;
    for (const auto& [l, t] : stack) path += (path.empty() ? "" : " > ") + t;
    // The section starts at the beginning of the heading's line.
    size_t at = std::min(hd.offset, h.text.size());
    while (at > 0 && h.text[at - 1] != '\n') --at;
    if (out.back().first == at) {
      out.back().second = std::move(path);
    } else if (at > out.back().first) {
      out.emplace_back(at, std::move(path));
    }
  }
  return out;
}

}  // namespace tome::ingest::detail
