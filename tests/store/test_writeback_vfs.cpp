// The writeback VFS shim (engine/store/src/writeback_vfs.cpp): a WAL database written through it
// reads back byte for byte through SQLite's default VFS, passes integrity_check, names the shim in
// its VFS name, and large sequential writes did start writeback (the hints were issued).
// WAL write-behind (the same shim): reads see buffered writes, a commit frame and everything
// before it are in the file before xWrite returns, releasing a shm lock and the barrier drain the
// buffers, a failed background write fails the transaction and leaves the last committed state,
// another connection reads a commit at once (synchronous=NORMAL: no sync), and
// TOME_STORE_WRITEBEHIND=0 turns it off. The shim counts WAL frames rewritten in place.
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
#include <signal.h>
#include <sys/resource.h>
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

// The shim counts WAL frames that SQLite rewrites in place: a page of the open transaction that
// its cache spilled to the WAL and that changes again. A transaction that writes only new pages
// rewrites none; one that changes a spilled page again rewrites it (and SQLite then re-checksums
// every frame after it at commit). The file stays sound either way.
TEST(WritebackVfs, CountsWalFramesRewrittenInPlace) {
#if !defined(__linux__)
  GTEST_SKIP() << "Linux only";
#else
  const char* name = writeback_vfs_name();
  ASSERT_NE(name, nullptr);
  const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" / "writeback_vfs_rewrites";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = (dir / "r.db").string();
  sqlite3* h = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, name));
  exec(h, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA cache_size = 20;"
          "CREATE TABLE a(id INTEGER PRIMARY KEY, v INTEGER); CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB);"
          "INSERT INTO a VALUES (1, 0)");
  auto fill = [&](int first) {  // 2 MiB of new pages: the cache (20 pages) spills most of them
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "INSERT INTO t(id, b) VALUES (?, ?)", -1, &st, nullptr));
    for (int i = first; i < first + 32; ++i) {
      const auto b = row_bytes(i, size_t{64} << 10);
      sqlite3_bind_int(st, 1, i);
      sqlite3_bind_blob(st, 2, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
      ASSERT_EQ(SQLITE_DONE, sqlite3_step(st));
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
  };
  // Only new pages after the one changed page: nothing is rewritten.
  unsigned long long before = writeback_vfs_wal_rewrites();
  exec(h, "BEGIN; UPDATE a SET v = 1 WHERE id = 1");
  fill(0);
  exec(h, "COMMIT");
  EXPECT_EQ(writeback_vfs_wal_rewrites(), before) << "a transaction of new pages rewrote frames";
  // The same page changed again after the spills: its frame is rewritten in place.
  before = writeback_vfs_wal_rewrites();
  exec(h, "BEGIN; UPDATE a SET v = 2 WHERE id = 1");
  fill(100);
  exec(h, "UPDATE a SET v = 3 WHERE id = 1; COMMIT");
  EXPECT_GT(writeback_vfs_wal_rewrites(), before) << "a spilled page changed again was not counted";
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "SELECT (SELECT v FROM a WHERE id = 1), (SELECT count(*) FROM t)",
                                          -1, &st, nullptr));
  ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
  EXPECT_EQ(3, sqlite3_column_int(st, 0));
  EXPECT_EQ(64, sqlite3_column_int(st, 1));
  sqlite3_finalize(st);
  ASSERT_EQ(SQLITE_OK, sqlite3_close(h));
  ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READONLY, nullptr));
  ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr));
  ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
  EXPECT_STREQ("ok", reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(h);
#endif
}

#if defined(__linux__)

// The WAL format's big-endian fields.
void put4(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// A main database file and its WAL opened through the shim's VFS directly, with names made by
// SQLite (sqlite3_create_filename), as a connection's pager would: the WAL gets write-behind.
// The bytes written are kept in `want`, to compare with what the file holds (read with a
// descriptor of our own, so that no call on the VFS drains anything).
class wal_files {
 public:
  static constexpr int kPage = 4096;
  static constexpr sqlite3_int64 kFrame = kPage + 24;

  explicit wal_files(const std::string& tag) {
    vfs_ = sqlite3_vfs_find(writeback_vfs_name());
    dir_ = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" / ("write_behind_" + tag);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_path_ = (dir_ / "w.db").string();
    wal_path_ = db_path_ + "-wal";
    names_ = sqlite3_create_filename(db_path_.c_str(), (db_path_ + "-journal").c_str(),
                                     wal_path_.c_str(), 0, nullptr);
    db_ = static_cast<sqlite3_file*>(std::calloc(1, static_cast<size_t>(vfs_->szOsFile)));
    wal_ = static_cast<sqlite3_file*>(std::calloc(1, static_cast<size_t>(vfs_->szOsFile)));
    int out = 0;
    ok_ = vfs_->xOpen(vfs_, names_, db_,
                      SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      &out) == SQLITE_OK &&
          vfs_->xOpen(vfs_, sqlite3_filename_wal(names_), wal_,
                      SQLITE_OPEN_WAL | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      &out) == SQLITE_OK;
  }
  ~wal_files() {
    if (shm_) db_->pMethods->xShmUnmap(db_, 1);
    if (wal_->pMethods) wal_->pMethods->xClose(wal_);
    if (db_->pMethods) db_->pMethods->xClose(db_);
    std::free(wal_);
    std::free(db_);
    sqlite3_free_filename(names_);
  }
  bool ok() const { return ok_; }
  sqlite3_file* db() { return db_; }
  sqlite3_file* wal() { return wal_; }

  int write(const uint8_t* p, int n, sqlite3_int64 off) {
    if (want.size() < static_cast<size_t>(off + n)) want.resize(static_cast<size_t>(off + n));
    std::memcpy(want.data() + off, p, static_cast<size_t>(n));
    return wal_->pMethods->xWrite(wal_, p, n, off);
  }
  int header() {
    uint8_t h[32] = {};
    put4(h, 0x377f0682u);
    put4(h + 4, 3007000);
    put4(h + 8, kPage);
    put4(h + 16, 0x12345678u);  // salts
    put4(h + 20, 0x9abcdef0u);
    return write(h, 32, 0);
  }
  // Frame i (from 1): a 24-byte header (commit > 0: a commit frame), then the page, in two writes
  // as SQLite makes them.
  int frame(int i, uint32_t commit) {
    uint8_t h[24] = {};
    put4(h, static_cast<uint32_t>(i));
    put4(h + 4, commit);
    put4(h + 8, 0x12345678u);
    put4(h + 12, 0x9abcdef0u);
    const sqlite3_int64 off = 32 + (i - 1) * kFrame;
    if (const int rc = write(h, 24, off); rc != SQLITE_OK) return rc;
    const auto page = row_bytes(i, kPage);
    return write(page.data(), kPage, off + 24);
  }
  // Whether the file holds `want` (all of it), read on a descriptor of our own.
  bool file_holds_all() const {
    std::vector<uint8_t> got(want.size());
    const int fd = ::open(wal_path_.c_str(), O_RDONLY);
    if (fd < 0) return false;
    const ssize_t n = ::pread(fd, got.data(), got.size(), 0);
    ::close(fd);
    return n == static_cast<ssize_t>(want.size()) && got == want;
  }
  int map_shm() {
    void volatile* p = nullptr;
    const int rc = db_->pMethods->xShmMap(db_, 0, 32768, 1, &p);
    shm_ = rc == SQLITE_OK;
    return rc;
  }

  std::vector<uint8_t> want;

 private:
  sqlite3_vfs* vfs_ = nullptr;
  std::filesystem::path dir_;
  std::string db_path_, wal_path_;
  sqlite3_filename names_ = nullptr;
  sqlite3_file* db_ = nullptr;
  sqlite3_file* wal_ = nullptr;
  bool ok_ = false, shm_ = false;
};

TEST(WriteBehind, ReadsSeeBufferedWritesAndACommitFrameGoesStraightIntoTheFile) {
  ASSERT_NE(writeback_vfs_name(), nullptr);
  wal_files f("read");
  ASSERT_TRUE(f.ok());
  const unsigned long long before = writeback_vfs_behind_writes();
  ASSERT_EQ(SQLITE_OK, f.header());
  for (int i = 1; i <= 600; ++i) ASSERT_EQ(SQLITE_OK, f.frame(i, 0));  // 2.4 MiB: the thread runs
  // Read-after-write: the newest frame (still buffered) and one the thread may be writing.
  for (int i : {600, 300, 1}) {
    std::vector<uint8_t> page(wal_files::kPage);
    ASSERT_EQ(SQLITE_OK, f.wal()->pMethods->xRead(f.wal(), page.data(), wal_files::kPage,
                                                  32 + (i - 1) * wal_files::kFrame + 24));
    EXPECT_EQ(page, row_bytes(i, wal_files::kPage)) << "frame " << i;
  }
  EXPECT_TRUE(f.file_holds_all()) << "a read left bytes buffered";
  EXPECT_GT(writeback_vfs_behind_writes(), before) << "no buffer was written by the thread";
  // A few more frames stay in the buffer (under 1 MiB)... until a commit frame: it and all before
  // it are in the file when its xWrite returns, without any other call.
  for (int i = 601; i <= 610; ++i) ASSERT_EQ(SQLITE_OK, f.frame(i, 0));
  ASSERT_EQ(SQLITE_OK, f.frame(611, 611));
  EXPECT_TRUE(f.file_holds_all()) << "the commit frame or a frame before it is not in the file";
  ASSERT_EQ(SQLITE_OK, f.wal()->pMethods->xSync(f.wal(), SQLITE_SYNC_NORMAL));
  // After the sync buffering resumes; xSync puts everything in the file (and syncs it).
  for (int i = 612; i <= 620; ++i) ASSERT_EQ(SQLITE_OK, f.frame(i, 0));
  ASSERT_EQ(SQLITE_OK, f.wal()->pMethods->xSync(f.wal(), SQLITE_SYNC_NORMAL));
  EXPECT_TRUE(f.file_holds_all());
  sqlite3_int64 size = 0;
  ASSERT_EQ(SQLITE_OK, f.wal()->pMethods->xFileSize(f.wal(), &size));
  EXPECT_EQ(size, static_cast<sqlite3_int64>(f.want.size()));
}

TEST(WriteBehind, ReleasingAShmLockAndTheBarrierPutBufferedFramesInTheFile) {
  ASSERT_NE(writeback_vfs_name(), nullptr);
  wal_files f("unlock");
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(SQLITE_OK, f.map_shm());
  ASSERT_EQ(SQLITE_OK, f.header());
  ASSERT_EQ(SQLITE_OK,
            f.db()->pMethods->xShmLock(f.db(), 0, 1, SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE));
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(SQLITE_OK, f.frame(i, 0));  // 20 KiB: buffered
  // A rolled-back transaction releases the write lock: nothing of it may land later.
  ASSERT_EQ(SQLITE_OK,
            f.db()->pMethods->xShmLock(f.db(), 0, 1, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE));
  EXPECT_TRUE(f.file_holds_all()) << "frames stayed buffered after the lock was released";
  for (int i = 6; i <= 9; ++i) ASSERT_EQ(SQLITE_OK, f.frame(i, 0));
  f.db()->pMethods->xShmBarrier(f.db());  // before SQLite publishes a wal-index header
  EXPECT_TRUE(f.file_holds_all()) << "frames stayed buffered past the barrier";
}

// RLIMIT_FSIZE makes writes past the limit fail (EFBIG, SIGXFSZ ignored) as on a full disk.
class file_size_limit {
 public:
  explicit file_size_limit(rlim_t bytes) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit rl = old_;
    rl.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &rl) == 0;
  }
  ~file_size_limit() { lift(); }
  void lift() {
    if (lifted_) return;
    lifted_ = true;
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  sighandler_t old_handler_ = SIG_DFL;
  bool ok_ = false, lifted_ = false;
};

int64_t count_rows(sqlite3* h) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, "SELECT count(*) FROM t", -1, &st, nullptr) != SQLITE_OK) return -1;
  const int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

int insert_blob(sqlite3* h, int id, const std::vector<uint8_t>& b) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(h, "INSERT INTO t(id, b) VALUES (?, ?)", -1, &st, nullptr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int(st, 1, id);
  sqlite3_bind_blob(st, 2, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

bool blob_is(sqlite3* h, int id, const std::vector<uint8_t>& want) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, "SELECT b FROM t WHERE id = ?", -1, &st, nullptr) != SQLITE_OK)
    return false;
  sqlite3_bind_int(st, 1, id);
  bool same = false;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st, 0));
    const size_t n = static_cast<size_t>(sqlite3_column_bytes(st, 0));
    same = n == want.size() && p && std::memcmp(p, want.data(), n) == 0;
  }
  sqlite3_finalize(st);
  return same;
}

// The background thread's pwrite fails half-way through a large transaction: the transaction
// fails with an SQLite error (its commit never published), the file keeps the last committed
// state, and once there is room again the same connection commits normally. Both sync modes:
// with synchronous=NORMAL the commit has no xSync, so the error must come out of xWrite.
TEST(WriteBehind, AFailedBackgroundWriteFailsTheTransactionAndKeepsTheLastGoodState) {
  ASSERT_NE(writeback_vfs_name(), nullptr);
  for (const char* sync : {"FULL", "NORMAL"}) {
    SCOPED_TRACE(sync);
    const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" /
                     (std::string("write_behind_error_") + sync);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto file = (dir / "e.db").string();
    sqlite3* h = nullptr;
    ASSERT_EQ(SQLITE_OK,
              sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              writeback_vfs_name()));
    sqlite3_extended_result_codes(h, 1);
    exec(h,
         (std::string("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = ") +
          sync + "; PRAGMA cache_size = -1024; CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)")
             .c_str());
    const auto good = row_bytes(1, 100000);
    ASSERT_EQ(SQLITE_OK, insert_blob(h, 1, good));
    exec(h, "PRAGMA wal_checkpoint(TRUNCATE)");  // the next transaction starts the WAL afresh
    const unsigned long long before = writeback_vfs_behind_writes();
    int rc = SQLITE_OK;
    const auto big2 = row_bytes(2, size_t{16} << 20);
    {
      // While the row goes in, the WAL may grow to 6 MiB only: the background thread's writes
      // past that fail. The limit is lifted before COMMIT, so the commit's own writes (straight
      // through) succeed: only the failed background writes can fail the transaction.
      file_size_limit limit(6 << 20);
      ASSERT_TRUE(limit.ok());
      rc = sqlite3_exec(h, "BEGIN", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) rc = insert_blob(h, 2, big2);
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(h))
      sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
    EXPECT_NE(rc, SQLITE_OK) << "committed although writes of the transaction failed";
    EXPECT_TRUE((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL) << sqlite3_errstr(rc);
    EXPECT_GT(writeback_vfs_behind_writes(), before) << "the write-behind thread never wrote";
    EXPECT_EQ(count_rows(h), 1);
    EXPECT_TRUE(blob_is(h, 1, good));
    {  // another connection, SQLite's default VFS: the last good state, and a sound file
      sqlite3* r = nullptr;
      ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &r, SQLITE_OPEN_READONLY, nullptr));
      EXPECT_EQ(count_rows(r), 1);
      EXPECT_TRUE(blob_is(r, 1, good));
      sqlite3_stmt* st = nullptr;
      ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, nullptr));
      ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
      EXPECT_STREQ("ok", reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
      sqlite3_finalize(st);
      sqlite3_close(r);
    }
    // Room again: the same connection commits the large row, and it reads back whole.
    const auto big = row_bytes(3, size_t{16} << 20);
    ASSERT_EQ(SQLITE_OK, insert_blob(h, 3, big)) << sqlite3_errmsg(h);
    EXPECT_EQ(count_rows(h), 2);
    sqlite3_close(h);
    sqlite3* r = nullptr;
    ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &r, SQLITE_OPEN_READONLY, nullptr));
    EXPECT_TRUE(blob_is(r, 3, big));
    sqlite3_close(r);
  }
}

// synchronous=NORMAL: a commit has no xSync. Another connection (the default VFS, its own
// descriptors) reads the committed row right after COMMIT returns, while the writer makes no
// further call: the commit's frames must already be in the file.
TEST(WriteBehind, AnotherConnectionReadsACommitAtOnceWithoutASync) {
  ASSERT_NE(writeback_vfs_name(), nullptr);
  const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" / "write_behind_visible";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = (dir / "v.db").string();
  sqlite3* w = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                       writeback_vfs_name()));
  exec(w,
       "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
       "PRAGMA cache_size = -1024; CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
  sqlite3* r = nullptr;
  ASSERT_EQ(SQLITE_OK, sqlite3_open_v2(file.c_str(), &r, SQLITE_OPEN_READONLY, nullptr));
  for (int i = 1; i <= 6; ++i) {
    // Sizes that leave the last frames of the commit in a part-filled buffer.
    const auto b = row_bytes(i, (size_t{3} << 20) + static_cast<size_t>(i) * 12345);
    ASSERT_EQ(SQLITE_OK, insert_blob(w, i, b));
    EXPECT_EQ(count_rows(r), i);
    EXPECT_TRUE(blob_is(r, i, b)) << "row " << i;
  }
  sqlite3_close(r);
  sqlite3_close(w);
}

// TOME_STORE_WRITEBEHIND=0 (read when SQLite opens a WAL file): no write-behind; =1 or unset: on.
TEST(WriteBehind, TheKnobTurnsItOff) {
  ASSERT_NE(writeback_vfs_name(), nullptr);
  const auto dir = std::filesystem::path(TOME_BINARY_DIR) / "store-tests" / "write_behind_knob";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* knob : {"0", "1"}) {
    ::setenv("TOME_STORE_WRITEBEHIND", knob, 1);
    const auto file = (dir / (std::string("k") + knob + ".db")).string();
    const unsigned long long before = writeback_vfs_behind_writes();
    sqlite3* h = nullptr;
    ASSERT_EQ(SQLITE_OK,
              sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              writeback_vfs_name()));
    exec(h,
         "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA cache_size = -1024;"
         "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    const auto b = row_bytes(1, size_t{8} << 20);
    ASSERT_EQ(SQLITE_OK, insert_blob(h, 1, b));
    sqlite3_close(h);
    ::unsetenv("TOME_STORE_WRITEBEHIND");
    if (std::strcmp(knob, "0") == 0)
      EXPECT_EQ(writeback_vfs_behind_writes(), before) << "written behind with the knob at 0";
    else
      EXPECT_GT(writeback_vfs_behind_writes(), before) << "not written behind with the knob at 1";
  }
}

#endif  // __linux__

}  // namespace
}  // namespace tome::store
