// The background WAL checkpointer of a library (checkpointer.h).
#include "checkpointer.h"

#include "writeback_vfs.h"

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>

namespace tome::store {

wal_checkpointer::~wal_checkpointer() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void wal_checkpointer::request() {
  {
    std::lock_guard lk(m_);
    if (stop_) return;
    pending_ = true;
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  cv_.notify_all();
}

void wal_checkpointer::wait_idle() {
  std::unique_lock lk(m_);
  idle_cv_.wait(lk, [this] { return !pending_ && !running_; });
}

void wal_checkpointer::loop() {
  std::unique_lock lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || pending_; });
    if (!pending_) return;  // stopping with nothing asked for
    pending_ = false;
    running_ = true;
    lk.unlock();
    run_once();
    lk.lock();
    running_ = false;
    idle_cv_.notify_all();
    if (stop_ && !pending_) return;
  }
}

void wal_checkpointer::run_once() {
  // A connection of its own for each run, closed after it: nothing is held open between runs
  // (an export changes its file's journal mode at the end, which needs every other one closed).
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(file_.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                           writeback_vfs_name());
  // A fresh connection learns that the file is in WAL mode on its first read.
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(h, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    int log = 0, done = 0;
    rc = sqlite3_wal_checkpoint_v2(h, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  }
  if (rc != SQLITE_OK && rc != SQLITE_BUSY && std::getenv("TOME_STORE_DEBUG"))
    std::fprintf(stderr, "%s: background checkpoint: %s\n", file_.c_str(),
                 h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
  sqlite3_close_v2(h);
}

}  // namespace tome::store
