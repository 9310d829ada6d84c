// PDF outline entries with their pages through poppler-glib (pdf_outline.h). GLib objects are
// owned by small RAII wrappers; nothing GLib leaks out of this file.
#include "pdf/pdf_outline.h"

#include <poppler.h>

#include <memory>

#include "core/utf8.h"

namespace tome::ingest::detail {

namespace {

constexpr int k_max_depth = 32;
constexpr size_t k_max_entries = 100'000;

struct gobject_unref {
  void operator()(void* p) const { g_object_unref(p); }
};
struct iter_free {
  void operator()(PopplerIndexIter* p) const { poppler_index_iter_free(p); }
};
struct action_free {
  void operator()(PopplerAction* p) const { poppler_action_free(p); }
};
struct dest_free {
  void operator()(PopplerDest* p) const { poppler_dest_free(p); }
};
using iter_ptr = std::unique_ptr<PopplerIndexIter, iter_free>;

int32_t dest_page(PopplerDocument* doc, PopplerDest* d) {
  if (!d) return 0;
  if (d->type == POPPLER_DEST_NAMED) {
    if (!d->named_dest) return 0;
    std::unique_ptr<PopplerDest, dest_free> r(poppler_document_find_dest(doc, d->named_dest));
    return r ? r->page_num : 0;
  }
  return d->page_num;
}

std::string clean_title(const char* t) { return t ? collapse_spaces(t) : std::string(); }

void walk(PopplerDocument* doc, PopplerIndexIter* it, const std::string& parent, int depth,
          int32_t n_pages, std::vector<outline_entry>& out) {
  if (depth > k_max_depth) return;
  do {
    if (out.size() >= k_max_entries) return;
    std::unique_ptr<PopplerAction, action_free> a(poppler_index_iter_get_action(it));
    std::string leaf;
    int32_t page = 0;
    if (a) {
      leaf = clean_title(a->any.title);
      if (a->type == POPPLER_ACTION_GOTO_DEST) page = dest_page(doc, a->goto_dest.dest);
    }
    const std::string title =
        parent.empty() ? leaf : (leaf.empty() ? parent : parent + " > " + leaf);
    if (page >= 1 && page <= n_pages && !leaf.empty()) out.push_back({page, leaf, title});
    iter_ptr child(poppler_index_iter_get_child(it));
    if (child) walk(doc, child.get(), title, depth + 1, n_pages, out);
  } while (poppler_index_iter_next(it));
}

}  // namespace

std::vector<outline_entry> read_outline(std::string_view pdf_bytes, const std::string& password) {
  std::vector<outline_entry> out;
  GBytes* bytes = g_bytes_new_static(pdf_bytes.data(), pdf_bytes.size());
  GError* err = nullptr;
  PopplerDocument* raw =
      poppler_document_new_from_bytes(bytes, password.empty() ? nullptr : password.c_str(), &err);
  g_bytes_unref(bytes);  // the document holds its own reference
  if (err) g_error_free(err);
  if (!raw) return out;
  std::unique_ptr<PopplerDocument, gobject_unref> doc(raw);
  iter_ptr it(poppler_index_iter_new(doc.get()));
  if (it) walk(doc.get(), it.get(), "", 0, poppler_document_get_n_pages(doc.get()), out);
  return out;
}

}  // namespace tome::ingest::detail
