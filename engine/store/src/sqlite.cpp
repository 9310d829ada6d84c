// The SQLite RAII layer of the session store (sqlite.h): statements, transactions and error
// messages that name the database file and say what went wrong in words.
#include "sqlite.h"

#include <memory>

#include "writeback_vfs.h"

namespace tome::store {

std::string describe_sqlite_error(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL: return "the disk is full";
    case SQLITE_READONLY: return "the database or its folder is read-only";
    case SQLITE_CANTOPEN:
      return "the file cannot be opened (missing, or its folder is read-only or inaccessible)";
    case SQLITE_PERM: return "permission denied";
    case SQLITE_NOTADB: return "not a Tome database (not an SQLite file)";
    case SQLITE_CORRUPT: return "the database file is corrupt";
    case SQLITE_IOERR: return "an I/O error (the disk failed or is full)";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "the database is locked by another process";
    case SQLITE_NOMEM: return "out of memory";
    case SQLITE_TOOBIG: return "a value is too large for SQLite";
    case SQLITE_CONSTRAINT: return "a constraint failed";
    default: return "SQLite error";
  }
}

statement& statement::operator=(statement&& o) noexcept {
  if (this != &o) {
    if (st_) sqlite3_finalize(st_);
    db_ = o.db_;
    st_ = o.st_;
    o.st_ = nullptr;
  }
  return *this;
}

statement::~statement() {
  if (st_) sqlite3_finalize(st_);
}

statement& statement::bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
statement& statement::bind(int i, double v) {
  sqlite3_bind_double(st_, i, v);
  return *this;
}
statement& statement::bind(int i, std::string_view text) {
  // A default string_view has no data pointer, which SQLite would bind as NULL: bind "" instead.
  sqlite3_bind_text64(st_, i, text.data() ? text.data() : "", text.size(), SQLITE_TRANSIENT,
                      SQLITE_UTF8);
  return *this;
}
statement& statement::bind_blob(int i, std::span<const uint8_t> bytes) {
  // A zero-length blob (not NULL) for empty spans.
  static const uint8_t empty = 0;
  sqlite3_bind_blob64(st_, i, bytes.empty() ? &empty : bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}
statement& statement::bind_null(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

result<bool> statement::step() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string sql = sqlite3_sql(st_) ? sqlite3_sql(st_) : "";
  status s = db_->fail(rc, "running \"" + sql.substr(0, 60) + (sql.size() > 60 ? "…" : "") + "\"");
  sqlite3_reset(st_);
  return s;
}

status statement::run() {
  for (;;) {
    auto r = step();
    if (!r) return r.error_status();
    if (!*r) break;
  }
  sqlite3_reset(st_);
  return {};
}

void statement::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

int64_t statement::int64(int col) const { return sqlite3_column_int64(st_, col); }
double statement::real(int col) const { return sqlite3_column_double(st_, col); }
std::string statement::text(int col) const {
  const auto* p = sqlite3_column_text(st_, col);
  const int n = sqlite3_column_bytes(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}
std::span<const uint8_t> statement::blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st_, col));
  const int n = sqlite3_column_bytes(st_, col);
  return p ? std::span<const uint8_t>(p, static_cast<size_t>(n)) : std::span<const uint8_t>();
}
bool statement::is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

result<std::unique_ptr<db>> db::open(const std::filesystem::path& path, bool read_only,
                                     bool create) {
  std::unique_ptr<db> d(new db());
  d->path_ = path;
  d->read_only_ = read_only;
  int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (!read_only && create) flags |= SQLITE_OPEN_CREATE;
  flags |= SQLITE_OPEN_NOMUTEX;  // one owner thread (sqlite.h)
  const int rc = sqlite3_open_v2(path.c_str(), &d->h_, flags, writeback_vfs_name());
  if (rc != SQLITE_OK) {
    status s = d->fail(rc, "opening");
    return s;
  }
  sqlite3_extended_result_codes(d->h_, 1);
  // Files may come from elsewhere (.tome imports): no schema-defined side effects, no writes
  // that could corrupt the file on purpose (PRAGMA writable_schema and the like).
  sqlite3_db_config(d->h_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(d->h_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_busy_timeout(d->h_, 5000);
  return d;
}

db::~db() {
  if (h_) sqlite3_close_v2(h_);
}

result<statement> db::prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  const int rc = sqlite3_prepare_v2(h_, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
  if (rc != SQLITE_OK) return fail(rc, "preparing \"" + std::string(sql.substr(0, 60)) + "\"");
  return statement(this, st);
}

status db::exec(std::string_view sql) {
  char* msg = nullptr;
  const std::string s(sql);
  const int rc = sqlite3_exec(h_, s.c_str(), nullptr, nullptr, &msg);
  if (msg) sqlite3_free(msg);
  if (rc != SQLITE_OK)
    return fail(rc, "running \"" + s.substr(0, 60) + (s.size() > 60 ? "…" : "") + "\"");
  return {};
}

result<int64_t> db::query_int(std::string_view sql) {
  auto st = prepare(sql);
  if (!st) return st.error_status();
  auto r = st->step();
  if (!r) return r.error_status();
  if (!*r) return error(path_.string() + ": no result for \"" + std::string(sql) + "\"");
  return st->int64(0);
}

status db::fail(int rc, std::string_view what) const {
  std::string detail = h_ ? sqlite3_errmsg(h_) : sqlite3_errstr(rc);
  if (!h_ || detail == "not an error") detail = sqlite3_errstr(rc);
  return error(path_.string() + ": " + std::string(what) + ": " + describe_sqlite_error(rc) + " (" +
               detail + ")");
}

status transaction::begin() {
  TOME_TRY(d_.exec("BEGIN IMMEDIATE"));
  open_ = true;
  return {};
}

status transaction::commit() {
  if (!open_) return error(d_.path().string() + ": commit without a transaction");
  status s = d_.exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

transaction::~transaction() {
  if (open_ && d_.in_transaction())
    sqlite3_exec(d_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace tome::store
