#include "writeback_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#if defined(__linux__)
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

// Our file object; the default VFS's file object follows it in the same allocation.
struct wb_file {
  sqlite3_file base;
  int fd;                    // our own descriptor for sync_file_range; -1: no hints
  sqlite3_int64 run_begin;   // [run_begin, run_end): written since the last hint
  sqlite3_int64 run_end;
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

int x_close(sqlite3_file* f) {
  wb_file* w = wb_of(f);
  sqlite3_file* r = real_of(f);
  const int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
  if (w->fd >= 0) ::close(w->fd);
  w->fd = -1;
  return rc;
}
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xRead(r, p, n, off);
}
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  sqlite3_file* r = real_of(f);
  const int rc = r->pMethods->xWrite(r, p, n, off);
  wb_file* w = wb_of(f);
  if (rc != SQLITE_OK || w->fd < 0) return rc;
  if (off != w->run_end || w->run_end == w->run_begin) {  // not a continuation: a new run
    if (w->run_end - w->run_begin >= k_kick_bytes / 4) hint(w);
    w->run_begin = off;
  }
  w->run_end = off + n;
  if (w->run_end - w->run_begin >= k_kick_bytes) hint(w);
  return rc;
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  wb_of(f)->run_begin = wb_of(f)->run_end = 0;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xTruncate(r, size);
}
int x_sync(sqlite3_file* f, int flags) {
  wb_of(f)->run_begin = wb_of(f)->run_end = 0;  // the sync writes whatever is left
  sqlite3_file* r = real_of(f);
  return r->pMethods->xSync(r, flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
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
  sqlite3_file* r = real_of(f);
  if (r->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return r->pMethods->xShmLock(r, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
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

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  wb_file* w = wb_of(f);
  w->base.pMethods = nullptr;
  w->fd = -1;
  w->run_begin = w->run_end = 0;
  sqlite3_file* r = real_of(f);
  const int rc = real_vfs->xOpen(real_vfs, name, r, flags, out_flags);
  if (rc != SQLITE_OK || !r->pMethods) return rc;  // SQLite calls no method of a failed open
  w->base.pMethods = &io_methods;
  // WAL files only. SQLite holds POSIX advisory locks on the database file, and closing ANY
  // descriptor of a file drops all of the process's locks on it: a second descriptor of the
  // database file would silently release SQLite's. The WAL file carries no locks (WAL-mode locks
  // live in the -shm file), so our descriptor of it can come and go.
  const bool hinted = (flags & SQLITE_OPEN_WAL) != 0 && (flags & SQLITE_OPEN_READWRITE) != 0 &&
                      name != nullptr;
  if (hinted) w->fd = ::open(name, O_RDONLY | O_CLOEXEC);  // a hint needs no write access
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

#else

const char* writeback_vfs_name() { return nullptr; }
unsigned long long writeback_vfs_hints() { return 0; }

#endif

}  // namespace tome::store
