#include "writeback_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#endif

namespace tome::store {

#if defined(__linux__)
namespace {

// Writeback starts once this many bytes of one sequential run are dirty.
constexpr sqlite3_int64 k_kick_bytes = sqlite3_int64{8} << 20;

sqlite3_vfs* real_vfs = nullptr;  // the default VFS, set once before registration
std::atomic<unsigned long long> hints{0};
std::atomic<unsigned long long> behind_writes{0};
std::atomic<unsigned long long> wal_rewrites{0};

class write_behind;

// Our file object; the default VFS's file object follows it in the same allocation.
struct wb_file {
  sqlite3_file base;
  int fd;                    // our own descriptor (hints; write-behind writes); -1: none
  sqlite3_int64 run_begin;   // [run_begin, run_end): written since the last hint
  sqlite3_int64 run_end;
  const char* name;      // a main database file: SQLite's name pointer (pairs it with its WAL)
  wb_file* peer;         // a main database file's WAL, or a WAL's main database file
  write_behind* behind;  // a WAL file's write-behind; null: writes go straight through
  bool wal;              // a WAL file opened for writing
  sqlite3_int64 wal_end;  // a WAL file: the end of what this handle wrote since its header
};
static_assert(sizeof(wb_file) % 8 == 0);  // the real object after it stays 8-byte aligned

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<sqlite3_file*>(reinterpret_cast<wb_file*>(f) + 1); }
wb_file* wb_of(sqlite3_file* f) { return reinterpret_cast<wb_file*>(f); }

// sync_file_range(WRITE) blocks while the disk's request queue is full, so the hints go to one
// background thread: SQLite's writer never waits on them. Each request carries a dup() of the
// descriptor (closed after use), so a file may close while its hints are still queued.
class hinter {
 public:
  static hinter& get() {
    static hinter* h = new hinter();  // lives as long as the process (its thread is detached)
    return *h;
  }
  void push(int fd, sqlite3_int64 off, sqlite3_int64 len) {
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) return;
    {
      std::lock_guard lk(m_);
      if (!started_) {
        try {
          std::thread([this] { run(); }).detach();
          started_ = true;
        } catch (...) {
        }
      }
      if (!started_ || q_.size() >= 256) {  // no thread, or far behind: drop the hint
        ::close(own);
        return;
      }
      q_.push_back({own, off, len});
    }
    cv_.notify_one();
  }

 private:
  struct job {
    int fd;
    sqlite3_int64 off, len;
  };
  void run() {
    for (;;) {
      job j;
      {
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return !q_.empty(); });
        j = q_.front();
        q_.pop_front();
      }
      if (::sync_file_range(j.fd, j.off, j.len, SYNC_FILE_RANGE_WRITE) == 0)
        hints.fetch_add(1, std::memory_order_relaxed);
      ::close(j.fd);
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<job> q_;
  bool started_ = false;
};

void hint(wb_file* w) {
  if (w->fd >= 0 && w->run_end > w->run_begin)
    hinter::get().push(w->fd, w->run_begin, w->run_end - w->run_begin);
  w->run_begin = w->run_end = 0;
}

// Bytes [off, off + n) are now in the file (written by the default VFS): extend the sequential
// run, and hint once it is long enough. Called by whichever thread wrote them; never by two at
// once (write_behind's drain orders its thread's writes before the caller's).
void note_written(wb_file* w, sqlite3_int64 off, sqlite3_int64 n) {
  if (w->fd < 0) return;
  if (off != w->run_end || w->run_end == w->run_begin) {  // not a continuation: a new run
    if (w->run_end - w->run_begin >= k_kick_bytes / 4) hint(w);
    w->run_begin = off;
  }
  w->run_end = off + n;
  if (w->run_end - w->run_begin >= k_kick_bytes) hint(w);
}

// A buffer into the file at `off` on our own descriptor (the default VFS's xWrite takes at most
// 128 KiB at a time); errors as the default VFS reports them.
int write_all(int fd, const uint8_t* p, size_t n, sqlite3_int64 off) {
  while (n > 0) {
    const ssize_t k = ::pwrite(fd, p, n, off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return k < 0 && errno != ENOSPC ? SQLITE_IOERR_WRITE : SQLITE_FULL;
    p += k;
    n -= static_cast<size_t>(k);
    off += k;
  }
  return SQLITE_OK;
}

// Write-behind of one WAL file. SQLite's writer thread copies each write into a buffer of
// consecutive bytes (xWrite returns at once); full buffers go to one thread of this file, which
// writes them in order (pwrite on the shim's own read-write descriptor of the WAL; the default
// VFS's xWrite takes at most 128 KiB). So the kernel's copy into the page cache (the
// largest part of a large save on one thread) overlaps SQLite's own work. What SQLite relies on
// is kept:
//  - Order: one thread writes the buffers in the order SQLite wrote their bytes, so at any moment
//    the file holds a prefix of SQLite's writes. What a crash (SIGKILL) leaves is what SQLite
//    itself would have left had it been killed a little earlier: never a later write without an
//    earlier one.
//  - Visibility: every other call on the file (xSync, xRead, xTruncate, xFileSize, xFileControl,
//    xClose) first waits until every buffered byte is in the file (drain). So do the main database
//    file's xShmBarrier and any xShmLock unlock: other connections find frames through the
//    wal-index, which SQLite updates only after those, and a writer releasing its lock (commit or
//    rollback) leaves nothing buffered that could land on another writer's frames later.
//  - Commits: from the header of a commit frame (a frame whose "database size" field is set) to
//    the next xSync or barrier, writes go straight through after a drain. So a commit's frames are
//    in the file, and any error of an earlier buffered write is returned, before SQLite publishes
//    the commit, also without a sync (synchronous=NORMAL). Durability is SQLite's fsync, as before.
//  - Errors: the first failed background write is returned by the next call that writes or
//    drains (xWrite, xSync, xRead...), so the transaction fails and SQLite rolls it back; the file
//    then holds the last committed state plus frames SQLite ignores.
// Frame positions come from the WAL header (page size), seen when SQLite writes it or read back
// once; unknown, every write goes straight through.
class write_behind {
 public:
  // 1 MiB buffers, 4 of them: what SQLite copied in is still in the CPU's cache when the thread
  // copies it into the page cache (4 MiB buffers made that copy 3x slower on the 2-core VM).
  static constexpr size_t k_chunk = size_t{1} << 20;
  static constexpr size_t k_buffers = 4;

  write_behind(wb_file* w, sqlite3_file* real) : w_(w), real_(real) {}
  ~write_behind() {
    (void)drain();
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  int write(const void* p, int n, sqlite3_int64 off) {
    const auto* b = static_cast<const uint8_t*>(p);
    if (off == 0) {  // SQLite (re)writes the WAL header: learn the page size from it
      page_size_ = n >= 32 ? parse_header(b) : 0;
      header_read_ = true;
    }
    if (page_size_ == 0 && !header_read_ && !through_) {  // appending to a WAL we did not start
      header_read_ = true;
      if (const int rc = drain(); rc != SQLITE_OK) return rc;
      uint8_t h[32];
      if (real_->pMethods->xRead(real_, h, 32, 0) == SQLITE_OK) page_size_ = parse_header(h);
    }
    if (page_size_ > 0 && is_commit_header(b, n, off)) through_ = true;
    if (through_ || page_size_ == 0 || static_cast<size_t>(n) > k_chunk / 4)
      return write_now(p, n, off);
    if (const int rc = take_error(); rc != SQLITE_OK) return rc;
    if (cur_ && (off != cur_->off + static_cast<sqlite3_int64>(cur_->n) || cur_->n + n > k_chunk))
      submit();
    if (!cur_) {
      cur_ = get_buffer();
      if (!cur_) return write_now(p, n, off);  // no memory for a buffer: write it ourselves
      cur_->off = off;
      cur_->n = 0;
    }
    std::memcpy(cur_->data.get() + cur_->n, p, static_cast<size_t>(n));
    cur_->n += static_cast<size_t>(n);
    if (cur_->n + 24 > k_chunk) submit();
    return SQLITE_OK;
  }

  // Waits until every byte written so far is in the file; returns (and forgets) the first error
  // of a background write since the last drain.
  int drain() {
    int rc = SQLITE_OK;
    if (cur_) {
      std::unique_lock lk(m_);
      if (thread_.joinable()) {
        lk.unlock();
        submit();
      } else {  // small transactions never start the thread: write the buffer here
        lk.unlock();
        buffer* b = cur_;
        cur_ = nullptr;
        rc = write_buffer(b);
        lk.lock();
        free_.push_back(b);
      }
    }
    std::unique_lock lk(m_);
    idle_cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
    if (rc == SQLITE_OK) rc = err_;
    err_ = SQLITE_OK;
    return rc;
  }
  // The commit is published (barrier) or synced: buffering may resume.
  void end_commit() { through_ = false; }
  // The file was truncated: SQLite writes a new header before any frame.
  void truncated() {
    page_size_ = 0;
    header_read_ = false;
  }
  // An error that could not be returned yet: the next call that drains returns it.
  void keep_error(int rc) {
    std::lock_guard lk(m_);
    if (err_ == SQLITE_OK) err_ = rc;
  }

 private:
  struct buffer {
    std::unique_ptr<uint8_t[]> data;
    sqlite3_int64 off = 0;
    size_t n = 0;
  };

  static int parse_header(const uint8_t* h) {
    const uint32_t magic = get4(h);
    const uint32_t page = get4(h + 8);
    if ((magic & 0xfffffffeu) != 0x377f0682u) return 0;
    if (page < 512 || page > 65536 || (page & (page - 1)) != 0) return 0;
    return static_cast<int>(page);
  }
  static uint32_t get4(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  }
  bool is_commit_header(const uint8_t* b, int n, sqlite3_int64 off) const {
    const sqlite3_int64 frame = page_size_ + 24;
    return n >= 24 && off >= 32 && (off - 32) % frame == 0 && get4(b + 4) != 0;
  }

  int write_now(const void* p, int n, sqlite3_int64 off) {
    if (const int rc = drain(); rc != SQLITE_OK) return rc;
    const int rc = real_->pMethods->xWrite(real_, p, n, off);
    if (rc == SQLITE_OK) note_written(w_, off, n);
    return rc;
  }
  int write_buffer(const buffer* b) {
    const int rc = write_all(w_->fd, b->data.get(), b->n, b->off);
    if (rc == SQLITE_OK) note_written(w_, b->off, static_cast<sqlite3_int64>(b->n));
    return rc;
  }
  int take_error() {
    std::lock_guard lk(m_);
    const int rc = err_;
    err_ = SQLITE_OK;
    return rc;
  }
  buffer* get_buffer() {
    std::unique_lock lk(m_);
    if (free_.empty() && all_.size() < k_buffers) {
      try {
        auto b = std::make_unique<buffer>();
        b->data.reset(new (std::nothrow) uint8_t[k_chunk]);
        if (b->data) {
          free_.push_back(b.get());
          all_.push_back(std::move(b));
        }
      } catch (const std::bad_alloc&) {
      }
    }
    if (free_.empty() && all_.empty()) return nullptr;
    idle_cv_.wait(lk, [&] { return !free_.empty(); });
    buffer* b = free_.back();
    free_.pop_back();
    return b;
  }
  void submit() {
    buffer* b = cur_;
    cur_ = nullptr;
    std::unique_lock lk(m_);
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread([this] { run(); });
      } catch (const std::system_error&) {  // no thread: write it here
        lk.unlock();
        const int rc = write_buffer(b);
        lk.lock();
        if (rc != SQLITE_OK && err_ == SQLITE_OK) err_ = rc;
        free_.push_back(b);
        return;
      }
    }
    queue_.push_back(b);
    lk.unlock();
    cv_.notify_one();
  }
  void run() {
    std::unique_lock lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      buffer* b = queue_.front();
      queue_.pop_front();
      busy_ = true;
      lk.unlock();
      const int rc = write_buffer(b);
      behind_writes.fetch_add(1, std::memory_order_relaxed);
      lk.lock();
      busy_ = false;
      if (rc != SQLITE_OK && err_ == SQLITE_OK) err_ = rc;
      free_.push_back(b);
      idle_cv_.notify_all();
    }
  }

  wb_file* const w_;
  sqlite3_file* const real_;
  // The caller's (SQLite's connection thread) alone:
  buffer* cur_ = nullptr;  // being filled
  int page_size_ = 0;      // from the WAL header; 0: unknown
  bool header_read_ = false;
  bool through_ = false;  // a commit is being written: straight through
  // Shared with the thread, under m_:
  std::mutex m_;
  std::condition_variable cv_, idle_cv_;
  std::deque<buffer*> queue_;  // full buffers, in write order
  std::vector<buffer*> free_;
  std::vector<std::unique_ptr<buffer>> all_;
  bool busy_ = false;  // the thread is writing a buffer taken from queue_
  bool stop_ = false;
  int err_ = SQLITE_OK;  // first failed background write since the last drain
  std::thread thread_;
};

// Main database files and their WAL files, paired by SQLite's name pointer (a WAL's name lives in
// the same allocation as its database's: sqlite3_filename_database). Each connection has its own.
std::mutex pairs_m;
std::vector<wb_file*> mains;

int drain_of(wb_file* w) { return w->behind ? w->behind->drain() : SQLITE_OK; }

int x_close(sqlite3_file* f) {
  wb_file* w = wb_of(f);
  sqlite3_file* r = real_of(f);
  int drained = SQLITE_OK;
  if (w->behind) {
    drained = w->behind->drain();
    delete w->behind;  // joins its thread
    w->behind = nullptr;
  }
  {
    std::lock_guard lk(pairs_m);
    if (w->peer) w->peer->peer = nullptr;
    w->peer = nullptr;
    if (w->name) mains.erase(std::remove(mains.begin(), mains.end(), w), mains.end());
  }
  const int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
  if (w->fd >= 0) ::close(w->fd);
  w->fd = -1;
  return rc != SQLITE_OK ? rc : drained;
}
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  if (const int rc = drain_of(wb_of(f)); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xRead(r, p, n, off);
}
// Counts WAL pages written where this handle had written before since the WAL's header (SQLite
// rewriting a frame of the open transaction in place); frame headers (24 bytes) are not counted.
void note_wal_write(wb_file* w, int n, sqlite3_int64 off) {
  if (off == 0) {  // a new header: the WAL starts again
    w->wal_end = n;
    return;
  }
  if (n > 24 && off + n <= w->wal_end) wal_rewrites.fetch_add(1, std::memory_order_relaxed);
  w->wal_end = std::max(w->wal_end, off + n);
}

int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  wb_file* w = wb_of(f);
  if (w->wal) note_wal_write(w, n, off);
  if (w->behind) return w->behind->write(p, n, off);
  sqlite3_file* r = real_of(f);
  const int rc = r->pMethods->xWrite(r, p, n, off);
  if (rc == SQLITE_OK) note_written(w, off, n);
  return rc;
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  wb_file* w = wb_of(f);
  if (const int rc = drain_of(w); rc != SQLITE_OK) return rc;
  if (w->behind) w->behind->truncated();
  w->run_begin = w->run_end = 0;
  w->wal_end = std::min(w->wal_end, size);
  sqlite3_file* r = real_of(f);
  return r->pMethods->xTruncate(r, size);
}
int x_sync(sqlite3_file* f, int flags) {
  wb_file* w = wb_of(f);
  if (const int rc = drain_of(w); rc != SQLITE_OK) return rc;
  if (w->behind) w->behind->end_commit();
  w->run_begin = w->run_end = 0;  // the sync writes whatever is left
  sqlite3_file* r = real_of(f);
  return r->pMethods->xSync(r, flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  if (const int rc = drain_of(wb_of(f)); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xFileSize(r, size);
}
int x_lock(sqlite3_file* f, int level) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xLock(r, level);
}
int x_unlock(sqlite3_file* f, int level) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xUnlock(r, level);
}
int x_check_reserved(sqlite3_file* f, int* out) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xCheckReservedLock(r, out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  sqlite3_file* r = real_of(f);
  if (op == SQLITE_FCNTL_VFSNAME) {  // say that we are here, then what is below us
    const int rc = r->pMethods->xFileControl(r, op, arg);
    char** name = static_cast<char**>(arg);
    if (rc == SQLITE_OK && *name) {
      char* both = sqlite3_mprintf("tome-writeback/%z", *name);
      *name = both;
    } else {
      *name = sqlite3_mprintf("tome-writeback");
    }
    return SQLITE_OK;
  }
  if (const int rc = drain_of(wb_of(f)); rc != SQLITE_OK) return rc;
  return r->pMethods->xFileControl(r, op, arg);
}
int x_sector_size(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xSectorSize(r);
}
int x_device_characteristics(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xDeviceCharacteristics(r);
}
int x_shm_map(sqlite3_file* f, int pg, int pgsz, int extend, void volatile** pp) {
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return r->pMethods->xShmMap(r, pg, pgsz, extend, pp);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  // Releasing a lock (the write lock at commit or rollback among them): nothing of this
  // connection's may stay buffered. An error here belongs to a transaction that has ended
  // without a commit (a commit drains and reports before it publishes); it is dropped.
  if ((flags & SQLITE_SHM_UNLOCK) && wb_of(f)->peer && wb_of(f)->peer->behind) {
    (void)wb_of(f)->peer->behind->drain();
    wb_of(f)->peer->behind->end_commit();
  }
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return r->pMethods->xShmLock(r, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
  // SQLite is about to publish a wal-index header (a commit): the frames must be in the file.
  // (An error stays for the next call on the WAL; the commit's own frames were drained already.)
  if (wb_of(f)->peer && wb_of(f)->peer->behind) {
    wb_file* wal = wb_of(f)->peer;
    wal->behind->end_commit();
    if (const int rc = wal->behind->drain(); rc != SQLITE_OK) wal->behind->keep_error(rc);
  }
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion >= 2) r->pMethods->xShmBarrier(r);
}
int x_shm_unmap(sqlite3_file* f, int del) {
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion < 2) return SQLITE_OK;
  return r->pMethods->xShmUnmap(r, del);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion < 3) {
    *pp = nullptr;  // no mapping: SQLite reads instead
    return SQLITE_OK;
  }
  return r->pMethods->xFetch(r, off, n, pp);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion < 3) return SQLITE_OK;
  return r->pMethods->xUnfetch(r, off, p);
}

const sqlite3_io_methods io_methods = {
    3,          x_close,     x_read,        x_write,      x_truncate,
    x_sync,     x_file_size, x_lock,        x_unlock,     x_check_reserved,
    x_file_control, x_sector_size, x_device_characteristics,
    x_shm_map,  x_shm_lock,  x_shm_barrier, x_shm_unmap,  x_fetch,
    x_unfetch,
};

bool write_behind_wanted() {
  const char* e = std::getenv("TOME_STORE_WRITEBEHIND");
  return !(e && std::strcmp(e, "0") == 0);
}

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  wb_file* w = wb_of(f);
  w->base.pMethods = nullptr;
  w->fd = -1;
  w->run_begin = w->run_end = 0;
  w->name = nullptr;
  w->peer = nullptr;
  w->behind = nullptr;
  w->wal = false;
  w->wal_end = 0;
  sqlite3_file* r = real_of(f);
  const int rc = real_vfs->xOpen(real_vfs, name, r, flags, out_flags);
  if (rc != SQLITE_OK || !r->pMethods) return rc;  // SQLite calls no method of a failed open
  w->base.pMethods = &io_methods;
  if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
    w->name = name;
    std::lock_guard lk(pairs_m);
    mains.push_back(w);
  }
  // WAL files only. SQLite holds POSIX advisory locks on the database file, and closing ANY
  // descriptor of a file drops all of the process's locks on it: a second descriptor of the
  // database file would silently release SQLite's. The WAL file carries no locks (WAL-mode locks
  // live in the -shm file), so our descriptor of it can come and go.
  const bool wal =
      (flags & SQLITE_OPEN_WAL) != 0 && (flags & SQLITE_OPEN_READWRITE) != 0 && name != nullptr;
  if (!wal) return rc;
  w->wal = true;
  // Our descriptor: read-only for hints; read-write where write-behind writes through it.
  const bool behind = write_behind_wanted() && !(out_flags && (*out_flags & SQLITE_OPEN_READONLY));
  w->fd = behind ? ::open(name, O_RDWR | O_CLOEXEC) : -1;
  if (w->fd < 0) w->fd = ::open(name, O_RDONLY | O_CLOEXEC);  // a hint needs no write access
  // Write-behind needs the connection's main database file (its shm calls drain the WAL).
  if (behind && w->fd >= 0 && (::fcntl(w->fd, F_GETFL) & O_ACCMODE) == O_RDWR) {
    const char* db_name = sqlite3_filename_database(name);
    std::lock_guard lk(pairs_m);
    for (wb_file* m : mains)
      if (m->name == db_name && !m->peer) {
        w->behind = new (std::nothrow) write_behind(w, r);
        if (w->behind) {
          m->peer = w;
          w->peer = m;
        }
        break;
      }
  }
  return rc;
}
int v_delete(sqlite3_vfs*, const char* name, int sync_dir) { return real_vfs->xDelete(real_vfs, name, sync_dir); }
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) { return real_vfs->xAccess(real_vfs, name, flags, out); }
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* v_dlopen(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void v_dlerror(sqlite3_vfs*, int n, char* msg) { real_vfs->xDlError(real_vfs, n, msg); }
void (*v_dlsym(sqlite3_vfs*, void* h, const char* sym))(void) { return real_vfs->xDlSym(real_vfs, h, sym); }
void v_dlclose(sqlite3_vfs*, void* h) { real_vfs->xDlClose(real_vfs, h); }
int v_randomness(sqlite3_vfs*, int n, char* out) { return real_vfs->xRandomness(real_vfs, n, out); }
int v_sleep(sqlite3_vfs*, int us) { return real_vfs->xSleep(real_vfs, us); }
int v_current_time(sqlite3_vfs*, double* t) { return real_vfs->xCurrentTime(real_vfs, t); }
int v_get_last_error(sqlite3_vfs*, int n, char* msg) {
  return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) {
  if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64) return real_vfs->xCurrentTimeInt64(real_vfs, t);
  double d = 0;
  const int rc = real_vfs->xCurrentTime(real_vfs, &d);
  *t = static_cast<sqlite3_int64>(d * 86400000.0);
  return rc;
}

sqlite3_vfs vfs{};

const char* do_register() {
  if (const char* e = std::getenv("TOME_STORE_WRITEBACK"); e && std::strcmp(e, "0") == 0) return nullptr;
  if (sqlite3_initialize() != SQLITE_OK) return nullptr;
  real_vfs = sqlite3_vfs_find(nullptr);
  if (!real_vfs || real_vfs->szOsFile <= 0) return nullptr;
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(sizeof(wb_file)) + real_vfs->szOsFile;
  vfs.mxPathname = real_vfs->mxPathname;
  vfs.zName = "tome-writeback";
  vfs.xOpen = v_open;
  vfs.xDelete = v_delete;
  vfs.xAccess = v_access;
  vfs.xFullPathname = v_full_pathname;
  vfs.xDlOpen = v_dlopen;
  vfs.xDlError = v_dlerror;
  vfs.xDlSym = v_dlsym;
  vfs.xDlClose = v_dlclose;
  vfs.xRandomness = v_randomness;
  vfs.xSleep = v_sleep;
  vfs.xCurrentTime = v_current_time;
  vfs.xGetLastError = v_get_last_error;
  vfs.xCurrentTimeInt64 = v_current_time_int64;
  if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK) return nullptr;
  return vfs.zName;
}

}  // namespace

const char* writeback_vfs_name() {
  static std::once_flag once;
  static const char* name = nullptr;
  std::call_once(once, [] { name = do_register(); });
  return name;
}

unsigned long long writeback_vfs_hints() { return hints.load(std::memory_order_relaxed); }
unsigned long long writeback_vfs_behind_writes() {
  return behind_writes.load(std::memory_order_relaxed);
}
unsigned long long writeback_vfs_wal_rewrites() {
  return wal_rewrites.load(std::memory_order_relaxed);
}

#else

const char* writeback_vfs_name() { return nullptr; }
unsigned long long writeback_vfs_hints() { return 0; }
unsigned long long writeback_vfs_behind_writes() { return 0; }
unsigned long long writeback_vfs_wal_rewrites() { return 0; }

#endif

}  // namespace tome::store
