// EPUB container, package document and navigation parsing with libxml2 (epub_package.h).
// Elements are matched by local name (namespaces vary between producers); traversal depth is
// capped so hostile nesting cannot exhaust the stack.
#include "epub/epub_package.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>
#include <functional>
#include <memory>

#include "core/utf8.h"

namespace tome::ingest::detail {

namespace {

struct doc_deleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using doc_ptr = std::unique_ptr<xmlDoc, doc_deleter>;

constexpr int k_max_depth = 32;

doc_ptr parse_xml(std::string_view bytes) {
  if (bytes.size() > (1u << 30)) return nullptr;
  return doc_ptr(
      xmlReadMemory(bytes.data(), static_cast<int>(bytes.size()), nullptr, nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA));
}

// XML first; the forgiving HTML parser when the document is not well-formed (nav documents are
// sometimes HTML with XHTML's name).
doc_ptr parse_xhtml(std::string_view bytes) {
  doc_ptr d = parse_xml(bytes);
  if (d || bytes.size() > (1u << 30)) return d;
  return doc_ptr(htmlReadMemory(
      bytes.data(), static_cast<int>(bytes.size()), nullptr, nullptr,
      HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING));
}

bool is(const xmlNode* n, const char* local) {
  return n && n->type == XML_ELEMENT_NODE &&
         strcasecmp(reinterpret_cast<const char*>(n->name), local) == 0;
}

std::string attr(const xmlNode* n, const char* name) {
  // Any namespace: epub:type, opf:role ... are matched by local name.
  for (const xmlAttr* a = n->properties; a; a = a->next) {
    if (strcasecmp(reinterpret_cast<const char*>(a->name), name) != 0) continue;
    xmlChar* v = xmlNodeListGetString(n->doc, a->children, 1);
    std::string s = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    return s;
  }
  return "";
}

std::string clean(const std::string& s) { return collapse_spaces(s); }

std::string text_of(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  std::string s = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  return clean(s);
}

// Depth-first, document order, depth-capped: the first element named `local`.
const xmlNode* find_first(const xmlNode* n, const char* local, int depth = 0) {
  for (; n; n = n->next) {
    if (is(n, local)) return n;
    if (depth < k_max_depth) {
      if (const xmlNode* r = find_first(n->children, local, depth + 1)) return r;
    }
  }
  return nullptr;
}

void find_all(const xmlNode* n, const char* local, std::vector<const xmlNode*>& out,
              int depth = 0) {
  for (; n; n = n->next) {
    if (is(n, local)) out.push_back(n);
    if (depth < k_max_depth) find_all(n->children, local, out, depth + 1);
  }
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> resolve_href(std::string_view base_file, std::string_view href,
                                        std::string* fragment) {
  while (!href.empty() && (href.front() == ' ' || href.front() == '\t' || href.front() == '\n'))
    href.remove_prefix(1);
  while (!href.empty() && (href.back() == ' ' || href.back() == '\t' || href.back() == '\n'))
    href.remove_suffix(1);
  std::string_view frag;
  if (const size_t h = href.find('#'); h != std::string_view::npos) {
    frag = href.substr(h + 1);
    href = href.substr(0, h);
  }
  if (const size_t q = href.find('?'); q != std::string_view::npos) href = href.substr(0, q);
  if (fragment) *fragment = percent_decode(frag);
  // A scheme ("http:", "file:", "C:") or an absolute path leaves the archive.
  const size_t colon = href.find(':');
  if (colon != std::string_view::npos && href.find('/') > colon) return std::nullopt;
  const std::string decoded = percent_decode(href);
  if (decoded.find('\0') != std::string::npos || decoded.find('\\') != std::string::npos) {
    return std::nullopt;
  }
  if (!decoded.empty() && decoded[0] == '/') return std::nullopt;
  // The folder of base_file, then the href, with "." and ".." applied; above the root: refused.
  std::vector<std::string> parts;
  const auto push = [&parts](std::string_view path) {
    for (size_t pos = 0; pos <= path.size();) {
      size_t next = path.find('/', pos);
      if (next == std::string_view::npos) next = path.size();
      const std::string_view part = path.substr(pos, next - pos);
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.emplace_back(part);
      }
      pos = next + 1;
    }
    return true;
  };
  if (decoded.empty()) {  // "#frag" alone: the base file itself
    if (!push(base_file)) return std::nullopt;
  } else {
    const size_t slash = base_file.rfind('/');
    if (slash != std::string_view::npos && !push(base_file.substr(0, slash))) return std::nullopt;
    if (!push(decoded)) return std::nullopt;
  }
  if (parts.empty()) return std::nullopt;
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

result<std::string> parse_container(std::string_view xml) {
  doc_ptr d = parse_xml(xml);
  if (!d) return error("META-INF/container.xml is not well-formed XML");
  std::vector<const xmlNode*> roots;
  find_all(xmlDocGetRootElement(d.get()), "rootfile", roots);
  std::string first;
  for (const xmlNode* r : roots) {
    const std::string path = attr(r, "full-path");
    if (path.empty()) continue;
    const std::string type = attr(r, "media-type");
    if (first.empty() || type == "application/oebps-package+xml") {
      auto resolved = resolve_href("", path);
      if (!resolved)
        return error("META-INF/container.xml: rootfile " + clean(path) + " leaves the archive");
      if (type == "application/oebps-package+xml") return *resolved;
      first = *resolved;
    }
  }
  if (first.empty()) return error("META-INF/container.xml names no package document (rootfile)");
  return first;
}

const opf_item* opf_package::find(std::string_view id) const {
  for (const opf_item& i : manifest) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

const opf_item* opf_package::nav_item() const {
  for (const opf_item& i : manifest) {
    // properties is a space-separated list: "nav", "scripted nav" ...
    const std::string p = " " + i.properties + " ";
    if (p.find(" nav ") != std::string::npos) return &i;
  }
  return nullptr;
}

const opf_item* opf_package::ncx_item() const {
  if (!toc_id.empty()) {
    if (const opf_item* i = find(toc_id)) return i;
  }
  for (const opf_item& i : manifest) {
    if (i.media_type == "application/x-dtbncx+xml") return &i;
  }
  return nullptr;
}

result<opf_package> parse_opf(std::string_view xml, std::string_view opf_path) {
  doc_ptr d = parse_xml(xml);
  if (!d) return error(std::string(opf_path) + " (package document) is not well-formed XML");
  const xmlNode* root = xmlDocGetRootElement(d.get());
  opf_package pkg;
  if (const xmlNode* t = find_first(root, "title")) pkg.title = text_of(t);
  const xmlNode* manifest = find_first(root, "manifest");
  const xmlNode* spine = find_first(root, "spine");
  if (!manifest || !spine) {
    return error(std::string(opf_path) + ": no " + (manifest ? "spine" : "manifest") +
                 " (not an EPUB package document?)");
  }
  for (const xmlNode* n = manifest->children; n; n = n->next) {
    if (!is(n, "item")) continue;
    opf_item it;
    it.id = attr(n, "id");
    it.href_raw = clean(attr(n, "href"));
    it.media_type = attr(n, "media-type");
    it.properties = attr(n, "properties");
    if (auto p = resolve_href(opf_path, attr(n, "href"))) it.path = *p;
    if (!it.id.empty()) pkg.manifest.push_back(std::move(it));
  }
  pkg.toc_id = attr(spine, "toc");
  for (const xmlNode* n = spine->children; n; n = n->next) {
    if (is(n, "itemref")) {
      std::string idref = attr(n, "idref");
      if (!idref.empty()) pkg.spine.push_back(std::move(idref));
    }
  }
  return pkg;
}

namespace {

// <ol> of a nav document: li > (a | span) + nested ol.
void nav_list(const xmlNode* ol, std::string_view nav_path, const std::string& parent, int depth,
              std::vector<nav_entry>& out) {
  if (depth > k_max_depth) return;
  for (const xmlNode* li = ol->children; li; li = li->next) {
    if (!is(li, "li")) continue;
    std::string title = parent;
    for (const xmlNode* c = li->children; c; c = c->next) {
      if (is(c, "a") || is(c, "span")) {
        const std::string t = text_of(c);
        title = parent.empty() ? t : parent + " > " + t;
        if (is(c, "a")) {
          std::string frag;
          if (auto p = resolve_href(nav_path, attr(c, "href"), &frag); p && !t.empty()) {
            out.push_back({*p, frag, title});
          }
        }
      } else if (is(c, "ol") || is(c, "ul")) {
        nav_list(c, nav_path, title, depth + 1, out);
      }
    }
  }
}

void ncx_points(const xmlNode* parent_node, std::string_view ncx_path, const std::string& parent,
                int depth, std::vector<nav_entry>& out) {
  if (depth > k_max_depth) return;
  for (const xmlNode* p = parent_node->children; p; p = p->next) {
    if (!is(p, "navPoint")) continue;
    std::string label;
    std::string src;
    for (const xmlNode* c = p->children; c; c = c->next) {
      if (is(c, "navLabel")) label = text_of(c);
      if (is(c, "content")) src = attr(c, "src");
    }
    const std::string title = parent.empty() ? label : parent + " > " + label;
    std::string frag;
    if (auto path = resolve_href(ncx_path, src, &frag); path && !label.empty()) {
      out.push_back({*path, frag, title});
    }
    ncx_points(p, ncx_path, title, depth + 1, out);
  }
}

}  // namespace

std::vector<nav_entry> parse_nav(std::string_view xhtml, std::string_view nav_path) {
  std::vector<nav_entry> out;
  doc_ptr d = parse_xhtml(xhtml);
  if (!d) return out;
  std::vector<const xmlNode*> navs;
  find_all(xmlDocGetRootElement(d.get()), "nav", navs);
  const xmlNode* toc = nullptr;
  for (const xmlNode* n : navs) {
    if (attr(n, "type") == "toc") {
      toc = n;
      break;
    }
  }
  if (!toc && !navs.empty()) toc = navs[0];
  if (!toc) toc = xmlDocGetRootElement(d.get());
  if (!toc) return out;
  const xmlNode* ol = find_first(toc->children, "ol");
  if (!ol) ol = find_first(toc->children, "ul");
  if (ol) nav_list(ol, nav_path, "", 0, out);
  return out;
}

std::vector<nav_entry> parse_ncx(std::string_view xml, std::string_view ncx_path) {
  std::vector<nav_entry> out;
  doc_ptr d = parse_xml(xml);
  if (!d) return out;
  if (const xmlNode* map = find_first(xmlDocGetRootElement(d.get()), "navMap")) {
    ncx_points(map, ncx_path, "", 0, out);
  }
  return out;
}

}  // namespace tome::ingest::detail
