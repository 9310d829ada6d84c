// Export of one session (threads included) to a standalone .tome file and its import: the file is
// a Tome library holding one session, written to a temporary name and renamed when complete;
// import treats it as untrusted input and checks everything (format, schema, that its tables are
// plain tables, model, tokenizer, KV precision, shapes, every row and state checksum, JSON).
#include <system_error>

#include "library_impl.h"

namespace tome::store {
namespace {

void remove_db_files(const std::filesystem::path& p) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::path x = p;
    x += suffix;
    std::filesystem::remove(x, ec);
  }
}

// DETACHes `src` when it goes out of scope (after any transaction ended).
struct attached {
  db& d;
  bool on = false;
  status attach(const std::filesystem::path& file) {
    auto st = d.prepare("ATTACH DATABASE ? AS src");
    if (!st) return st.error_status();
    st->bind(1, file.string());
    TOME_TRY(st->run());
    on = true;
    return {};
  }
  ~attached() {
    if (on) sqlite3_exec(d.handle(), "DETACH DATABASE src", nullptr, nullptr, nullptr);
  }
};

constexpr const char* k_session_copy_cols =
    "model_name, model_fingerprint, self_kind, n_self_layers, dim, kv_dim, kv_precision, "
    "kv_storage, row_tokens, target_tokens, created_at, updated_at, tokenizer_fingerprint, "
    "compression";
constexpr const char* k_node_copy_cols =
    "name, base_tokens, n_tokens, self_rows, state_raw_bytes, state, state_checksum, created_at, "
    "updated_at";
constexpr const char* k_row_copy_cols = "token_begin, n_tokens, checksum, stored_bytes, tokens, kv";
constexpr const char* k_doc_copy_cols =
    "ord, title, path, kind, content_hash, token_begin, token_end, source_map, metadata, added_at";

}  // namespace

status library::export_session(std::string_view session, const std::filesystem::path& file,
                               int page_size) const {
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  std::error_code ec;
  if (std::filesystem::exists(file, ec))
    return error(file.string() + ": exists already (export does not overwrite)");
  std::filesystem::path tmp = file;
  tmp += ".partial";
  remove_db_files(tmp);
  status result = [&]() -> status {
    open_params op;
    op.page_size = page_size;
    auto out = library::open(tmp, op);
    if (!out) return out.error_status();
    db& o = *(*out)->impl_->d;
    // No background checkpoint on this file: it is folded and leaves WAL mode below, which needs
    // its connection to be the only one.
    sqlite3_wal_hook(o.handle(), nullptr, nullptr);
    (*out)->impl_->ckpt.reset();
    {
      attached src{o};
      TOME_TRY(src.attach(impl_->d->path()));
      transaction t(o);
      TOME_TRY(t.begin());
      const std::string sid = std::to_string(s->id);
      for (const std::string& sql :
           {"INSERT INTO main.sessions SELECT * FROM src.sessions WHERE id = " + sid,
            "INSERT INTO main.documents SELECT * FROM src.documents WHERE session_id = " + sid,
            "INSERT INTO main.nodes SELECT * FROM src.nodes WHERE session_id = " + sid,
            "INSERT INTO main.derived SELECT * FROM src.derived WHERE session_id = " + sid,
            "INSERT INTO main.kv_rows SELECT * FROM src.kv_rows WHERE node_id IN "
            "(SELECT id FROM src.nodes WHERE session_id = " +
                sid + ")"})
        TOME_TRY(o.exec(sql).with_context("exporting"));
      TOME_TRY(t.commit());
    }
    // One self-contained file: fold the WAL back and leave WAL mode.
    TOME_TRY(o.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    TOME_TRY(o.exec("PRAGMA journal_mode = DELETE"));
    return {};
  }();
  if (!result.ok()) {
    remove_db_files(tmp);
    return result;
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    remove_db_files(tmp);
    return error(file.string() + ": cannot be written: " + ec.message());
  }
  return {};
}

result<session_info> library::import_session(const std::filesystem::path& file, const model& m,
                                             std::string_view new_name) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return error(file.string() + ": no such file");
  // An older schema is upgraded on a private copy; the file given is never written.
  std::filesystem::path source = file, upgraded;
  open_params ro;
  ro.read_only = true;
  auto src = library::open(file, ro);
  if (!src && src.message().find("is older than this Tome") != std::string::npos) {
    upgraded = path();
    upgraded += ".import-upgrade";
    remove_db_files(upgraded);
    std::filesystem::copy_file(file, upgraded, ec);
    if (ec) return error(file.string() + ": cannot copy it for upgrading: " + ec.message());
    src = library::open(upgraded);
    source = upgraded;
  }
  struct cleanup {
    std::filesystem::path p;
    ~cleanup() {
      if (!p.empty()) remove_db_files(p);
    }
  } remove_upgraded{upgraded};
  if (!src) return src.error_status();
  // Inspect the file; every statement on it ends with this block, so that closing it below
  // releases its read lock (SQLite keeps a connection with live statements open).
  std::string src_name;
  int64_t src_id = 0;
  TOME_TRY([&]() -> status {
    db& sd = *(*src)->impl_->d;
    // Plain tables only (a crafted file could hold views with the same names).
    auto tables = sd.query_int(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
        "('sessions', 'documents', 'nodes', 'kv_rows', 'meta', 'derived')");
    auto others =
        sd.query_int("SELECT count(*) FROM sqlite_master WHERE type IN ('view', 'trigger')");
    if (!tables) return tables.error_status();
    if (!others) return others.error_status();
    if (*tables != 6 || *others != 0)
      return error(file.string() + ": not a Tome export (unexpected tables, views or triggers)");
    auto count = sd.query_int("SELECT count(*) FROM sessions");
    if (!count) return count.error_status();
    if (*count != 1)
      return error(file.string() + ": not a single-session .tome export (it holds " +
                   std::to_string(*count) + " sessions)");
    auto name_st = sd.prepare("SELECT name FROM sessions");
    if (!name_st) return name_st.error_status();
    if (auto r = name_st->step(); !r) return r.error_status();
    src_name = name_st->text(0);
    auto srow = (*src)->impl_->get_session(src_name);
    if (!srow) return srow.error_status();
    TOME_TRY((*src)->impl_->check_model(*srow, m));
    src_id = srow->id;
    return {};
  }());
  src->reset();  // close: the copy below reads it through ATTACH

  const std::string target(new_name.empty() ? std::string_view(src_name) : new_name);
  db& d = *impl_->d;
  {
    auto exists = d.prepare("SELECT count(*) FROM sessions WHERE name = ?");
    if (!exists) return exists.error_status();
    exists->bind(1, target);
    if (auto r = exists->step(); !r) return r.error_status();
    if (exists->int64(0) > 0)
      return error(path().string() + ": a session named '" + target +
                   "' exists already (import it under another name)");
  }
  attached att{d};
  TOME_TRY(att.attach(source));
  transaction t(d);
  TOME_TRY(t.begin());
  auto ins = d.prepare(std::string("INSERT INTO sessions(name, ") + k_session_copy_cols +
                       ") SELECT ?, " + k_session_copy_cols + " FROM src.sessions WHERE id = ?");
  if (!ins) return ins.error_status();
  ins->bind(1, target).bind(2, src_id);
  TOME_TRY(ins->run().with_context("importing"));
  const int64_t sid = d.last_insert_id();
  auto nodes = d.prepare("SELECT id, parent_id FROM src.nodes WHERE session_id = ? ORDER BY id");
  if (!nodes) return nodes.error_status();
  nodes->bind(1, src_id);
  std::vector<std::pair<int64_t, std::optional<int64_t>>> src_nodes;
  for (;;) {
    auto r = nodes->step();
    if (!r) return r.error_status();
    if (!*r) break;
    src_nodes.emplace_back(nodes->int64(0), nodes->is_null(1)
                                                ? std::nullopt
                                                : std::optional<int64_t>(nodes->int64(1)));
  }
  std::vector<std::pair<int64_t, int64_t>> mapping;  // source id -> new id
  auto node_ins =
      d.prepare(std::string("INSERT INTO nodes(session_id, parent_id, ") + k_node_copy_cols +
                ") SELECT ?, ?, " + k_node_copy_cols + " FROM src.nodes WHERE id = ?");
  auto row_ins =
      d.prepare(std::string("INSERT INTO kv_rows(node_id, ") + k_row_copy_cols + ") SELECT ?, " +
                k_row_copy_cols + " FROM src.kv_rows WHERE node_id = ?");
  if (!node_ins) return node_ins.error_status();
  if (!row_ins) return row_ins.error_status();
  for (const auto& [old_id, old_parent] : src_nodes) {
    node_ins->reset();
    node_ins->bind(1, sid).bind(3, old_id);
    if (old_parent) {
      int64_t np = -1;
      for (const auto& [a, b] : mapping)
        if (a == *old_parent) np = b;
      if (np < 0) return error(file.string() + ": a thread's parent state is missing");
      node_ins->bind(2, np);
    } else {
      node_ins->bind_null(2);
    }
    TOME_TRY(node_ins->run().with_context("importing"));
    const int64_t nid = d.last_insert_id();
    mapping.emplace_back(old_id, nid);
    row_ins->reset();
    row_ins->bind(1, nid).bind(2, old_id);
    TOME_TRY(row_ins->run().with_context("importing KV rows"));
  }
  auto doc_ins =
      d.prepare(std::string("INSERT INTO documents(session_id, ") + k_doc_copy_cols +
                ") SELECT ?, " + k_doc_copy_cols + " FROM src.documents WHERE session_id = ?");
  if (!doc_ins) return doc_ins.error_status();
  doc_ins->bind(1, sid).bind(2, src_id);
  TOME_TRY(doc_ins->run().with_context("importing"));
  auto der_ins = d.prepare(
      "INSERT INTO derived(session_id, key, n_tokens, value, checksum, created_at) SELECT ?, key, "
      "n_tokens, value, checksum, created_at FROM src.derived WHERE session_id = ?");
  if (!der_ins) return der_ins.error_status();
  der_ins->bind(1, sid).bind(2, src_id);
  TOME_TRY(der_ins->run().with_context("importing"));
  // Everything is checked on the copy, inside the transaction: nothing lands unless it passes.
  auto row = impl_->get_session(target);
  if (!row) return row.error_status();
  status v = impl_->verify_session(*row, m);
  if (!v.ok()) return error(file.string() + ": refused: " + v.message());
  TOME_TRY(t.commit());
  return info(target);
}

}  // namespace tome::store
