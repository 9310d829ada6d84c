// The writeback VFS shim (engine/store/src/writeback_vfs.cpp): a WAL database written through it
// reads back byte for byte through SQLite's default VFS, passes integrity_check, names the shim in
// its VFS name, and large sequential writes did start writeback (the hints were issued).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "writeback_vfs.h"

#if defined(__linux__)
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace tome::store {
namespace {

std::vector<uint8_t> row_bytes(int i, size_t n) {
  std::vector<uint8_t> b(n);
  std::mt19937 rng(static_cast<uint32_t>(i) * 7919u + 1);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

void exec(sqlite3* h, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql, nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  ASSERT_EQ(SQLITE_OK, rc) << sql << ": " << msg;
}

TEST(WritebackVfs, WalWrittenThroughItReadsBackThroughTheDefaultVfs) {
#if !defined(__linux__)
  GTEST_SKIP() << "sync_file_range is Linux only; the default VFS is used elsewhere";
#endif
  const char* name = writeback_vfs_name();
  ASSERT_NE(name, nullptr) << "not registered (TOME_STORE_WRITEBACK=0 in the environment?)";
  const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" / "writeback_vfs";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = (dir / "w.db").string();
  constexpr int kRows = 24;
  constexpr size_t kBytes = size_t{1} << 20;  // 24 MiB in one transaction: several hints
  const unsigned long long hints_before = writeback_vfs_hints();
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, name));
    exec(h, "PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
            "PRAGMA cache_size = -4096; CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    char* vfs_name = nullptr;
    ASSERT_EQ(SQLITE_OK, sqlite3_file_control(h, "main", SQLITE_FCNTL_VFSNAME, &vfs_name));
    ASSERT_NE(vfs_name, nullptr);
    EXPECT_NE(std::string(vfs_name).find("tome-writeback"), std::string::npos) << vfs_name;
    sqlite3_free(vfs_name);
    exec(h, "BEGIN");
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "INSERT INTO t(id, b) VALUES (?, ?)", -1, &st, nullptr));
    for (int i = 0; i < kRows; ++i) {
      const auto b = row_bytes(i, kBytes);
      sqlite3_bind_int(st, 1, i);
      sqlite3_bind_blob(st, 2, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
      ASSERT_EQ(SQLITE_DONE, sqlite3_step(st));
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec(h, "COMMIT");
    exec(h, "PRAGMA wal_checkpoint(PASSIVE)");  // half of the rows copied into the database file
    exec(h, "UPDATE t SET b = zeroblob(10) WHERE id % 2 = 1");
    ASSERT_EQ(SQLITE_OK, sqlite3_close(h));
  }
  // The hints run on the shim's background thread: give it a moment.
  for (int i = 0; i < 500 && writeback_vfs_hints() == hints_before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(writeback_vfs_hints(), hints_before) << "24 MiB of sequential writes gave no writeback hint";
  sqlite3* h = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READONLY, nullptr));
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr));
  ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
  EXPECT_STREQ("ok", reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "SELECT id, b FROM t ORDER BY id", -1, &st, nullptr));
  int n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const int id = sqlite3_column_int(st, 0);
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st, 1));
    const size_t len = static_cast<size_t>(sqlite3_column_bytes(st, 1));
    if (id % 2 == 1) {
      EXPECT_EQ(len, 10u) << "row " << id;
    } else {
      const auto want = row_bytes(id, kBytes);
      ASSERT_EQ(len, want.size()) << "row " << id;
      EXPECT_EQ(0, std::memcmp(p, want.data(), len)) << "row " << id;
    }
    ++n;
  }
  EXPECT_EQ(n, kRows);
  sqlite3_finalize(st);
  sqlite3_close(h);
}

// SQLite keeps its POSIX advisory locks on the database file; closing any other descriptor of
// that file in the same process drops all of them. After the shim has hinted (WAL writes, a
// checkpoint into the database file) and closed its descriptors, another process must still see
// the open connection's SHARED lock on the database file.
TEST(WritebackVfs, SqliteKeepsItsDatabaseFileLocks) {
#if !defined(__linux__)
  GTEST_SKIP() << "Linux only";
#else
  const char* name = writeback_vfs_name();
  ASSERT_NE(name, nullptr);
  const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" / "writeback_vfs_locks";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = (dir / "l.db").string();
  sqlite3* h = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, name));
  exec(h, "PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
  exec(h, "BEGIN");
  for (int i = 0; i < 24; ++i) {
    const auto b = row_bytes(i, size_t{1} << 20);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "INSERT INTO t(id, b) VALUES (?, ?)", -1, &st, nullptr));
    sqlite3_bind_int(st, 1, i);
    sqlite3_bind_blob(st, 2, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(SQLITE_DONE, sqlite3_step(st));
    sqlite3_finalize(st);
  }
  exec(h, "COMMIT");
  exec(h, "PRAGMA wal_checkpoint(PASSIVE)");  // 24 MiB written into the database file
  exec(h, "BEGIN");
  exec(h, "SELECT count(*) FROM t");  // a read transaction: SHARED on the database file
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // queued hints done, fds closed
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // another process: is any lock held on SQLite's shared byte range?
    const int fd = ::open(file.c_str(), O_RDONLY);
    struct flock lk {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    lk.l_start = 0x40000000 + 2;  // SQLite's SHARED range (PENDING_BYTE + 2, 510 bytes)
    lk.l_len = 510;
    const bool seen = fd >= 0 && ::fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
    ::_exit(seen ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(pid, ::waitpid(pid, &wstatus, 0));
  exec(h, "COMMIT");
  sqlite3_close(h);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(0, WEXITSTATUS(wstatus)) << "the connection's SHARED lock on the database file is gone";
#endif
}

}  // namespace
}  // namespace tome::store
