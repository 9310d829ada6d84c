// A thin RAII layer over SQLite's C API for the session store: a connection, prepared statements
// with typed binds and columns, and a transaction guard that rolls back unless committed.
// Errors become tome::status values whose messages name the database file and say what failed
// in words (disk full, read-only, not a database, corrupt). Not thread-safe: one owner thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "tome/status.h"

namespace tome::store {

class db;

class statement {
 public:
  statement() = default;
  statement(statement&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  statement& operator=(statement&& o) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  statement& bind(int i, int64_t v);
  statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  statement& bind(int i, double v);
  statement& bind(int i, std::string_view text);
  statement& bind(int i, const char* text) { return bind(i, std::string_view(text)); }
  statement& bind_blob(int i, std::span<const uint8_t> bytes);  // not copied: keep alive to step
  statement& bind_null(int i);
  // Steps once: true with a row, false when done; error on failure.
  result<bool> step();
  // Steps to the end (for statements without rows).
  status run();
  void reset();
  sqlite3_stmt* handle() const { return st_; }

  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::span<const uint8_t> blob(int col) const;  // valid until the next step/reset
  bool is_null(int col) const;

 private:
  friend class db;
  statement(db* d, sqlite3_stmt* st) : db_(d), st_(st) {}
  db* db_ = nullptr;
  sqlite3_stmt* st_ = nullptr;
};

class db {
 public:
  // Opens (read-write, creating the file unless create is false) or opens read-only.
  static result<std::unique_ptr<db>> open(const std::filesystem::path& path, bool read_only,
                                          bool create);
  ~db();
  db(const db&) = delete;
  db& operator=(const db&) = delete;

  result<statement> prepare(std::string_view sql);
  status exec(std::string_view sql);  // one or more statements, no rows
  result<int64_t> query_int(std::string_view sql);
  // A status for SQLite result code rc with the connection's message and `what` (e.g. "saving
  // rows"), e.g. "lib.db: saving rows: the disk is full (database or disk is full)".
  status fail(int rc, std::string_view what) const;
  const std::filesystem::path& path() const { return path_; }
  bool read_only() const { return read_only_; }
  bool in_transaction() const { return sqlite3_get_autocommit(h_) == 0; }
  sqlite3* handle() const { return h_; }
  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(h_); }

 private:
  db() = default;
  sqlite3* h_ = nullptr;
  std::filesystem::path path_;
  bool read_only_ = false;
};

// BEGIN IMMEDIATE on construction; ROLLBACK in the destructor unless commit() succeeded.
class transaction {
 public:
  explicit transaction(db& d) : d_(d) {}
  status begin();
  status commit();
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

 private:
  db& d_;
  bool open_ = false;
};

// Words for an SQLite result code, for messages ("the disk is full", "read-only" …).
std::string describe_sqlite_error(int rc);

}  // namespace tome::store
