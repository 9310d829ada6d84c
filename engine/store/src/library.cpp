// tome::store::library: opening (schema checks and migrations, WAL), the list of sessions,
// documents, threads, removal, and the model checks. Reading and writing states is in
// state_io.cpp; export and import in transfer.cpp.
#include <xxhash.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "library_impl.h"
#include "schema.h"

namespace tome::store {
namespace {

std::string file_hash_hex(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return "unreadable";
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    XXH3_128bits_update(st, buf.data(), static_cast<size_t>(f.gcount()));
  }
  const XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return out;
}

constexpr const char* k_session_cols =
    "id, name, model_name, model_fingerprint, tokenizer_fingerprint, kv_precision, self_kind, "
    "n_self_layers, dim, kv_dim, kv_storage, compression, row_tokens, target_tokens, created_at, "
    "updated_at";

session_row read_session_row(const statement& st) {
  session_row s;
  s.id = st.int64(0);
  s.name = st.text(1);
  s.model_name = st.text(2);
  s.model_fingerprint = st.text(3);
  s.tokenizer_fingerprint = st.text(4);
  s.kv_precision = st.text(5);
  s.self_kind = st.int64(6);
  s.n_self_layers = st.int64(7);
  s.dim = st.int64(8);
  s.kv_dim = st.int64(9);
  s.storage = parse_kv_storage(st.text(10)).value_or(static_cast<kv_storage>(-1));
  s.comp = parse_compression(st.text(11)).value_or(static_cast<compression>(-1));
  s.row_tokens = st.int64(12);
  s.target_tokens = st.int64(13);
  s.created_at = st.text(14);
  s.updated_at = st.text(15);
  return s;
}

constexpr const char* k_node_cols =
    "id, session_id, parent_id, name, base_tokens, n_tokens, self_rows, state_raw_bytes, "
    "created_at, updated_at";

node_row read_node_row(const statement& st) {
  node_row n;
  n.id = st.int64(0);
  n.session_id = st.int64(1);
  if (!st.is_null(2)) n.parent = st.int64(2);
  n.name = st.text(3);
  n.base_tokens = st.int64(4);
  n.n_tokens = st.int64(5);
  n.self_rows = st.int64(6);
  n.state_raw_bytes = st.int64(7);
  n.created_at = st.text(8);
  n.updated_at = st.text(9);
  return n;
}

// Bounds on what a session record may hold; far above any model or document Tome reads, and
// low enough that sizes computed from them (tokens x width x 8 bytes) fit in 64 bits.
constexpr int64_t k_max_tokens = int64_t{1} << 36;
constexpr int64_t k_max_width = int64_t{1} << 20;

// What add_document and update_document accept: a token range, JSON source map and metadata.
status check_document(const document_record& doc) {
  if (doc.token_begin < 0 || doc.token_end < doc.token_begin)
    return error("document '" + doc.title + "': invalid token range");
  if (!doc.source_map.empty() && !nlohmann::json::accept(doc.source_map))
    return error("document '" + doc.title + "': the source map is not valid JSON");
  if (!doc.metadata.empty() && !nlohmann::json::accept(doc.metadata))
    return error("document '" + doc.title + "': the metadata is not valid JSON");
  return {};
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

int64_t row_checksum(int64_t token_begin, int64_t n_tokens, kv_storage st, compression c,
                     std::span<const uint8_t> tokens, std::span<const uint8_t> kv) {
  const int64_t head[4] = {token_begin, n_tokens, static_cast<int64_t>(st),
                           static_cast<int64_t>(c)};
  XXH3_state_t* s = XXH3_createState();
  XXH3_64bits_reset(s);
  XXH3_64bits_update(s, head, sizeof head);
  XXH3_64bits_update(s, tokens.data(), tokens.size());
  XXH3_64bits_update(s, kv.data(), kv.size());
  const uint64_t h = XXH3_64bits_digest(s);
  XXH3_freeState(s);
  return static_cast<int64_t>(h);
}

int64_t state_checksum(int64_t n_tokens, int64_t self_rows, std::span<const uint8_t> state) {
  const int64_t head[2] = {n_tokens, self_rows};
  XXH3_state_t* s = XXH3_createState();
  XXH3_64bits_reset(s);
  XXH3_64bits_update(s, head, sizeof head);
  XXH3_64bits_update(s, state.data(), state.size());
  const uint64_t h = XXH3_64bits_digest(s);
  XXH3_freeState(s);
  return static_cast<int64_t>(h);
}

std::string library::tokenizer_fingerprint(const model& m) {
  if (!m.has_tokenizer()) return "none";
  return file_hash_hex(m.directory() / "tokenizer.model");
}

library::~library() {
  // The background checkpointer first (it may be copying); then the connection closes, which
  // checkpoints what is left when it is the file's last one.
  if (impl_) impl_->ckpt.reset();
}
const std::filesystem::path& library::path() const { return impl_->d->path(); }

result<std::unique_ptr<library>> library::open(const std::filesystem::path& file,
                                               const open_params& p) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(file, ec);
  if (exists && std::filesystem::is_directory(file, ec))
    return error(file.string() + ": is a folder, not a Tome library file");
  if (!exists && (p.read_only || !p.create)) return error(file.string() + ": no such file");
  auto d = db::open(file, p.read_only, p.create);
  if (!d) return d.error_status();
  db& dbr = **d;
  auto tables = dbr.query_int("SELECT count(*) FROM sqlite_master");
  if (!tables) {
    // The first read is where SQLite notices a file that is not a database at all.
    if (tables.message().find("not an SQLite file") != std::string::npos)
      return error(file.string() + ": not a Tome database (not an SQLite file)");
    return tables.error_status();
  }
  auto app = dbr.query_int("PRAGMA application_id");
  auto ver = dbr.query_int("PRAGMA user_version");
  if (!app) return app.error_status();
  if (!ver) return ver.error_status();
  if (*tables == 0 && *app == 0 && *ver == 0) {
    if (p.read_only) return error(file.string() + ": an empty file, not a Tome database");
    // Large pages suit multi-megabyte KV rows; both settings precede the first table.
    if (p.page_size < 512 || p.page_size > 65536 || (p.page_size & (p.page_size - 1)) != 0)
      return error("page_size must be a power of two between 512 and 65536");
    TOME_TRY(dbr.exec("PRAGMA page_size = " + std::to_string(p.page_size) +
                      "; PRAGMA auto_vacuum = INCREMENTAL;"));
    TOME_TRY(dbr.exec("PRAGMA journal_mode = WAL"));
    TOME_TRY(create_schema(dbr));
  } else {
    if (*app != k_application_id)
      return error(file.string() + ": not a Tome database (an SQLite file of another application)");
    if (*ver > k_schema_version)
      return error(file.string() + ": written by a newer Tome (schema " + std::to_string(*ver) +
                   "; this Tome reads schemas up to " + std::to_string(k_schema_version) + ")");
    if (*ver < 1) return error(file.string() + ": invalid schema version " + std::to_string(*ver));
    if (*ver < k_schema_version) {
      if (p.read_only)
        return error(file.string() + ": schema " + std::to_string(*ver) +
                     " is older than this Tome's; open it writable once to upgrade it");
      TOME_TRY(migrate_schema(dbr, static_cast<int>(*ver)));
    }
    if (!p.read_only) TOME_TRY(dbr.exec("PRAGMA journal_mode = WAL"));
  }
  if (!p.read_only) {
    TOME_TRY(dbr.exec(p.full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
    // After a checkpoint, truncate a WAL grown by a large save back to 64 MiB.
    TOME_TRY(dbr.exec("PRAGMA journal_size_limit = 67108864"));
  }
  // Reads through a memory map (SQLite caps it at its compile-time maximum, 2 GB on Debian).
  TOME_TRY(dbr.exec("PRAGMA mmap_size = 2147418112"));
  TOME_TRY(dbr.exec("PRAGMA cache_size = -16384"));  // 16 MiB of page cache
  std::unique_ptr<library> lib(new library());
  lib->impl_ = std::make_unique<impl>();
  lib->impl_->d = std::move(*d);
  lib->impl_->full_sync = p.full_sync;
  if (!p.read_only) {
    // Checkpoints leave the committing call: a commit that leaves the WAL past SQLite's usual
    // threshold (1000 pages) wakes the background checkpointer instead (this replaces the
    // automatic checkpoint, which would copy a large save's WAL inside its commit).
    lib->impl_->ckpt = std::make_unique<wal_checkpointer>(file);
    sqlite3_wal_hook(
        lib->impl_->d->handle(),
        [](void* arg, sqlite3*, const char*, int frames) -> int {
          if (frames >= 1000) static_cast<wal_checkpointer*>(arg)->request();
          return SQLITE_OK;
        },
        lib->impl_->ckpt.get());
  }
  return lib;
}

status library::checkpoint() {
  db& d = *impl_->d;
  if (d.read_only()) return {};
  if (impl_->ckpt) impl_->ckpt->wait_idle();
  int log = 0, done = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(d.handle(), "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
  if (rc != SQLITE_OK) return d.fail(rc, "checkpointing the WAL");
  return {};
}

result<session_row> library::impl::get_session(std::string_view name) const {
  auto st = d->prepare(std::string("SELECT ") + k_session_cols + " FROM sessions WHERE name = ?");
  if (!st) return st.error_status();
  st->bind(1, name);
  auto r = st->step();
  if (!r) return r.error_status();
  if (!*r) return error(d->path().string() + ": no session named '" + std::string(name) + "'");
  session_row s = read_session_row(*st);
  if (static_cast<int>(s.storage) < 0 || static_cast<int>(s.comp) < 0 || s.row_tokens < 1 ||
      s.row_tokens > (1 << 20) || s.kv_dim <= 0 || s.kv_dim > k_max_width || s.dim <= 0 ||
      s.dim > k_max_width || s.n_self_layers <= 0 || s.n_self_layers > 4096)
    return error(d->path().string() + ": session '" + s.name +
                 "' has an invalid record (storage, compression or shapes)");
  return s;
}

result<node_row> library::impl::get_node(const session_row& s, std::string_view thread) const {
  auto st = d->prepare(std::string("SELECT ") + k_node_cols +
                       " FROM nodes WHERE session_id = ? AND name = ?");
  if (!st) return st.error_status();
  st->bind(1, s.id).bind(2, thread);
  auto r = st->step();
  if (!r) return r.error_status();
  if (!*r) {
    if (thread.empty())
      return error(d->path().string() + ": session '" + s.name + "' has no document state");
    return error(d->path().string() + ": session '" + s.name + "' has no thread '" +
                 std::string(thread) + "'");
  }
  node_row n = read_node_row(*st);
  if (thread.empty() != !n.parent.has_value() || n.base_tokens < 0 || n.n_tokens < n.base_tokens ||
      n.n_tokens > k_max_tokens)
    return error(d->path().string() + ": session '" + s.name + "' has an invalid state record");
  return n;
}

result<std::vector<node_row>> library::impl::nodes_of(int64_t session_id) const {
  auto st = d->prepare(std::string("SELECT ") + k_node_cols +
                       " FROM nodes WHERE session_id = ? ORDER BY id");
  if (!st) return st.error_status();
  st->bind(1, session_id);
  std::vector<node_row> out;
  for (;;) {
    auto r = st->step();
    if (!r) return r.error_status();
    if (!*r) break;
    out.push_back(read_node_row(*st));
  }
  return out;
}

status library::impl::check_model(const session_row& s, const model& m) const {
  const std::string where = d->path().string() + ": session '" + s.name + "'";
  const std::string tok = tokenizer_fingerprint(m);
  if (!s.tokenizer_fingerprint.empty() && s.tokenizer_fingerprint != tok)
    return error(where + " was read with a different tokenizer (" + s.tokenizer_fingerprint +
                 "; this model's is " + tok + ")");
  if (s.model_fingerprint != m.fingerprint())
    return error(where + " was made by a different model ('" + s.model_name + "', fingerprint " +
                 s.model_fingerprint + "; this model is '" + m.config().name + "', " +
                 m.fingerprint() + ")");
  const std::string prec = kv_precision(m);
  if (s.kv_precision != prec)
    return error(where + " holds a global KV computed in " + s.kv_precision +
                 "; this backend computes it in " + prec);
  const model_config& c = m.config();
  if (s.self_kind != static_cast<int64_t>(c.self_kind) || s.n_self_layers != c.n_self_layers ||
      s.dim != c.dim || s.kv_dim != c.kv_dim())
    return error(where + " has shapes that do not match the model");
  return {};
}

result<std::vector<session_info>> library::sessions() const {
  auto st = impl_->d->prepare("SELECT name FROM sessions ORDER BY name");
  if (!st) return st.error_status();
  std::vector<std::string> names;
  for (;;) {
    auto r = st->step();
    if (!r) return r.error_status();
    if (!*r) break;
    names.push_back(st->text(0));
  }
  std::vector<session_info> out;
  for (const auto& n : names) {
    auto i = info(n);
    if (!i) return i.error_status();
    out.push_back(std::move(*i));
  }
  return out;
}

result<session_info> library::info(std::string_view name) const {
  auto s = impl_->get_session(name);
  if (!s) return s.error_status();
  return impl_->make_info(*s);
}

result<session_info> library::impl::make_info(const session_row& s) const {
  session_info i;
  i.name = s.name;
  i.model_name = s.model_name;
  i.model_fingerprint = s.model_fingerprint;
  i.tokenizer_fingerprint = s.tokenizer_fingerprint;
  i.kv_precision = s.kv_precision;
  i.storage = s.storage;
  i.comp = s.comp;
  i.row_tokens = s.row_tokens;
  i.target_tokens = s.target_tokens;
  i.created_at = s.created_at;
  i.updated_at = s.updated_at;
  auto nodes = nodes_of(s.id);
  if (!nodes) return nodes.error_status();
  auto rows = d->prepare("SELECT coalesce(sum(stored_bytes), 0) FROM kv_rows WHERE node_id = ?");
  auto state = d->prepare("SELECT length(state) FROM nodes WHERE id = ?");
  if (!rows) return rows.error_status();
  if (!state) return state.error_status();
  for (const node_row& n : *nodes) {
    rows->reset();
    rows->bind(1, n.id);
    auto r = rows->step();
    if (!r) return r.error_status();
    const int64_t kv = rows->int64(0);
    state->reset();
    state->bind(1, n.id);
    auto q = state->step();
    if (!q) return q.error_status();
    const int64_t sb = state->int64(0);
    // A damaged or hostile database can hold any number here: refuse what no write of Tome
    // produces instead of computing with it (the sums overflowed before).
    if (kv < 0 || sb < 0 || n.base_tokens < 0 || n.n_tokens < n.base_tokens ||
        n.n_tokens > k_max_tokens || __builtin_add_overflow(i.kv_bytes, kv, &i.kv_bytes) ||
        __builtin_add_overflow(i.state_bytes, sb, &i.state_bytes))
      return error(d->path().string() + ": session '" + s.name +
                   "' has an invalid state record (token counts or sizes out of range)");
    if (!n.parent) {
      i.n_tokens = n.n_tokens;
      i.raw_kv_bytes = n.n_tokens * s.kv_dim * 8;
    } else {
      thread_info t;
      t.name = n.name;
      t.base_tokens = n.base_tokens;
      t.n_tokens = n.n_tokens;
      t.stored_bytes = kv + sb;
      t.created_at = n.created_at;
      t.updated_at = n.updated_at;
      i.threads.push_back(std::move(t));
    }
  }
  auto docs = d->prepare(
      "SELECT title, path, kind, content_hash, token_begin, token_end, source_map, metadata, "
      "added_at FROM documents WHERE session_id = ? ORDER BY ord");
  if (!docs) return docs.error_status();
  docs->bind(1, s.id);
  for (;;) {
    auto r = docs->step();
    if (!r) return r.error_status();
    if (!*r) break;
    document_record dr;
    dr.title = docs->text(0);
    dr.path = docs->text(1);
    dr.kind = docs->text(2);
    dr.content_hash = docs->text(3);
    dr.token_begin = docs->int64(4);
    dr.token_end = docs->int64(5);
    const auto sm = docs->blob(6);
    dr.source_map.assign(sm.begin(), sm.end());
    dr.metadata = docs->text(7);
    dr.added_at = docs->text(8);
    i.documents.push_back(std::move(dr));
  }
  return i;
}

result<session_info> library::create_session(const model& m, const session_spec& spec) {
  if (!valid_name(spec.name))
    return error("session name '" + spec.name +
                 "' is invalid (1-200 characters, no control characters)");
  if (spec.row_tokens < 1 || spec.row_tokens > (1 << 20))
    return error("row_tokens must be between 1 and 1048576");
  const model_config& c = m.config();
  db& d = *impl_->d;
  transaction t(d);
  TOME_TRY(t.begin());
  auto exists = d.prepare("SELECT count(*) FROM sessions WHERE name = ?");
  if (!exists) return exists.error_status();
  exists->bind(1, spec.name);
  auto r = exists->step();
  if (!r) return r.error_status();
  if (exists->int64(0) > 0)
    return error(d.path().string() + ": a session named '" + spec.name + "' exists already");
  auto ins = d.prepare(
      std::string(
          "INSERT INTO sessions(name, model_name, model_fingerprint, tokenizer_fingerprint, "
          "kv_precision, self_kind, n_self_layers, dim, kv_dim, kv_storage, compression, "
          "row_tokens, "
          "target_tokens, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,0,") +
      k_now_sql + "," + k_now_sql + ")");
  if (!ins) return ins.error_status();
  ins->bind(1, spec.name)
      .bind(2, c.name)
      .bind(3, m.fingerprint())
      .bind(4, tokenizer_fingerprint(m));
  ins->bind(5, kv_precision(m)).bind(6, static_cast<int64_t>(c.self_kind)).bind(7, c.n_self_layers);
  ins->bind(8, c.dim).bind(9, c.kv_dim()).bind(10, to_string(spec.storage));
  ins->bind(11, to_string(spec.comp)).bind(12, spec.row_tokens);
  TOME_TRY(ins->run());
  const int64_t sid = d.last_insert_id();
  // The document state of an empty session: no rows, an all-zero self-decoder state.
  std::vector<uint8_t> raw(
      static_cast<size_t>((c.n_self_layers * self_layer_floats_for(c, 0) + c.dim) * 4), 0);
  const auto stored = compress_bytes(raw, spec.comp);
  auto node = d.prepare(
      std::string(
          "INSERT INTO nodes(session_id, parent_id, name, base_tokens, n_tokens, self_rows, "
          "state_raw_bytes, state, state_checksum, created_at, updated_at) VALUES(?, NULL, '', 0, "
          "0, 0, "
          "?, ?, ?, ") +
      k_now_sql + "," + k_now_sql + ")");
  if (!node) return node.error_status();
  node->bind(1, sid).bind(2, static_cast<int64_t>(raw.size())).bind_blob(3, stored);
  node->bind(4, state_checksum(0, 0, stored));
  TOME_TRY(node->run());
  TOME_TRY(t.commit());
  return info(spec.name);
}

status library::rename_session(std::string_view from, std::string_view to) {
  if (!valid_name(to))
    return error("session name '" + std::string(to) +
                 "' is invalid (1-200 characters, no control characters)");
  auto s = impl_->get_session(from);
  if (!s) return s.error_status();
  db& d = *impl_->d;
  transaction t(d);
  TOME_TRY(t.begin());
  auto taken = d.prepare("SELECT count(*) FROM sessions WHERE name = ?");
  if (!taken) return taken.error_status();
  taken->bind(1, to);
  auto r = taken->step();
  if (!r) return r.error_status();
  if (taken->int64(0) > 0)
    return error(d.path().string() + ": a session named '" + std::string(to) + "' exists already");
  auto up = d.prepare(std::string("UPDATE sessions SET name = ?, updated_at = ") + k_now_sql + " WHERE id = ?");
  if (!up) return up.error_status();
  up->bind(1, to).bind(2, s->id);
  TOME_TRY(up->run());
  return t.commit();
}

status library::remove_session(std::string_view name) {
  auto s = impl_->get_session(name);
  if (!s) return s.error_status();
  db& d = *impl_->d;
  {
    transaction t(d);
    TOME_TRY(t.begin());
    for (const char* sql :
         {"DELETE FROM kv_rows WHERE node_id IN (SELECT id FROM nodes WHERE session_id = ?)",
          "DELETE FROM checkpoints WHERE node_id IN (SELECT id FROM nodes WHERE session_id = ?)",
          "DELETE FROM nodes WHERE session_id = ?", "DELETE FROM documents WHERE session_id = ?",
          "DELETE FROM derived WHERE session_id = ?", "DELETE FROM sessions WHERE id = ?"}) {
      auto st = d.prepare(sql);
      if (!st) return st.error_status();
      st->bind(1, s->id);
      TOME_TRY(st->run());
    }
    TOME_TRY(t.commit());
  }
  // Give the freed pages back to the file system (auto_vacuum = INCREMENTAL).
  return d.exec("PRAGMA incremental_vacuum");
}

status library::add_document(std::string_view session, const document_record& doc) {
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  TOME_TRY(check_document(doc));
  db& d = *impl_->d;
  transaction t(d);
  TOME_TRY(t.begin());
  auto st = d.prepare(
      std::string(
          "INSERT INTO documents(session_id, ord, title, path, kind, content_hash, token_begin, "
          "token_end, source_map, metadata, added_at) VALUES(?, (SELECT coalesce(max(ord), -1) + 1 "
          "FROM documents WHERE session_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ") +
      k_now_sql + ")");
  if (!st) return st.error_status();
  st->bind(1, s->id).bind(2, s->id).bind(3, doc.title).bind(4, doc.path).bind(5, doc.kind);
  st->bind(6, doc.content_hash).bind(7, doc.token_begin).bind(8, doc.token_end);
  st->bind_blob(9,
                {reinterpret_cast<const uint8_t*>(doc.source_map.data()), doc.source_map.size()});
  st->bind(10, doc.metadata);
  TOME_TRY(st->run());
  return t.commit();
}

status library::update_document(std::string_view session, size_t index, const document_record& doc) {
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  TOME_TRY(check_document(doc));
  db& d = *impl_->d;
  transaction t(d);
  TOME_TRY(t.begin());
  auto id = d.prepare("SELECT id FROM documents WHERE session_id = ? ORDER BY ord LIMIT 1 OFFSET ?");
  if (!id) return id.error_status();
  id->bind(1, s->id).bind(2, static_cast<int64_t>(index));
  auto r = id->step();
  if (!r) return r.error_status();
  if (!*r)
    return error(d.path().string() + ": session '" + s->name + "' has no document number " +
                 std::to_string(index + 1));
  const int64_t doc_id = id->int64(0);
  auto up = d.prepare(
      std::string("UPDATE documents SET title = ?, path = ?, kind = ?, content_hash = ?, "
                  "token_begin = ?, token_end = ?, source_map = ?, metadata = ?, added_at = ") +
      k_now_sql + " WHERE id = ?");
  if (!up) return up.error_status();
  up->bind(1, doc.title).bind(2, doc.path).bind(3, doc.kind).bind(4, doc.content_hash);
  up->bind(5, doc.token_begin).bind(6, doc.token_end);
  up->bind_blob(7, {reinterpret_cast<const uint8_t*>(doc.source_map.data()), doc.source_map.size()});
  up->bind(8, doc.metadata).bind(9, doc_id);
  TOME_TRY(up->run());
  return t.commit();
}

result<thread_info> library::create_thread(std::string_view session, std::string_view thread) {
  if (!valid_name(thread))
    return error("thread name '" + std::string(thread) + "' is invalid (1-200 characters)");
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  db& d = *impl_->d;
  transaction t(d);
  TOME_TRY(t.begin());
  auto root = impl_->get_node(*s, "");
  if (!root) return root.error_status();
  auto dup = d.prepare("SELECT count(*) FROM nodes WHERE session_id = ? AND name = ?");
  if (!dup) return dup.error_status();
  dup->bind(1, s->id).bind(2, thread);
  if (auto r = dup->step(); !r) return r.error_status();
  if (dup->int64(0) > 0)
    return error("session '" + s->name + "' has a thread named '" + std::string(thread) +
                 "' already");
  // The thread starts from the document's self-decoder state (its own copy: it will diverge);
  // the document's KV rows are shared, never copied.
  auto st = d.prepare(
      std::string(
          "INSERT INTO nodes(session_id, parent_id, name, base_tokens, n_tokens, self_rows, "
          "state_raw_bytes, state, state_checksum, created_at, updated_at) SELECT session_id, id, "
          "?, "
          "n_tokens, n_tokens, self_rows, state_raw_bytes, state, state_checksum, ") +
      k_now_sql + ", " + k_now_sql + " FROM nodes WHERE id = ?");
  if (!st) return st.error_status();
  st->bind(1, thread).bind(2, root->id);
  TOME_TRY(st->run());
  TOME_TRY(t.commit());
  auto i = impl_->make_info(*s);
  if (!i) return i.error_status();
  for (const auto& th : i->threads)
    if (th.name == thread) return th;
  return error("thread '" + std::string(thread) + "' vanished after creation");
}

status library::remove_thread(std::string_view session, std::string_view thread) {
  if (thread.empty()) return error("remove_thread needs a thread name");
  auto s = impl_->get_session(session);
  if (!s) return s.error_status();
  auto n = impl_->get_node(*s, thread);
  if (!n) return n.error_status();
  db& d = *impl_->d;
  transaction t(d);
  TOME_TRY(t.begin());
  for (const char* sql :
       {"DELETE FROM kv_rows WHERE node_id = ?", "DELETE FROM nodes WHERE id = ?"}) {
    auto st = d.prepare(sql);
    if (!st) return st.error_status();
    st->bind(1, n->id);
    TOME_TRY(st->run());
  }
  return t.commit();
}

}  // namespace tome::store
