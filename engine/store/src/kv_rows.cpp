// The KV row pipelines of the session store. Saving: worker threads take rows in order, copy them
// out of the session (export_kv_rows, in the backend's own precision where the storage matches),
// encode, compress and checksum them into a ring of buffers; the calling thread (the connection's
// owner) inserts them in order as soon as each is ready. Loading: the calling thread lists the
// rows, then reads each K/V blob straight into a free buffer (sqlite3_blob_read, no intermediate
// copy) while workers check checksums, decompress, decode and hand rows to a sink (a backend's
// import_kv_rows, or f32 vectors), in any order; large loads from a file instead give every worker
// a read-only connection of its own, so the reading itself runs in parallel too.
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "library_impl.h"

namespace tome::store {
namespace {

std::span<const uint8_t> as_bytes(const void* p, size_t n) {
  return {static_cast<const uint8_t*>(p), n};
}

// Threads that run fn(worker index) and are joined by the destructor. Starts as many of n as the
// system allows (size() says how many; no exception leaves it).
class thread_group {
 public:
  thread_group(int n, const std::function<void(int)>& fn) {
    for (int i = 0; i < n; ++i) {
      try {
        threads_.emplace_back(fn, i);
      } catch (const std::system_error&) {
        break;
      }
    }
  }
  ~thread_group() {
    for (auto& t : threads_) t.join();
  }
  size_t size() const { return threads_.size(); }

 private:
  std::vector<std::thread> threads_;
};

// The first error of several threads, and a stop flag for all of them.
struct first_error {
  std::mutex m;
  status st;
  std::atomic<bool> failed{false};
  void set(status s) {
    std::lock_guard lk(m);
    if (st.ok()) st = std::move(s);
    failed = true;
  }
};

// A row's payload before compression, as the stored layout wants it, in `raw`; or, where the
// session's export already is that layout (f32 rows, bf16 rows from a bf16 backend), in `out`
// directly. Returns the bytes that make the stored blob.
struct encode_scratch {
  std::vector<float> k, v;
  std::vector<uint8_t> raw;
};

status encode_row(const tome::session& s, const session_row& srow, kv_wire native, int64_t tb,
                  int64_t cnt, encode_scratch& sc, std::vector<uint8_t>& out) {
  const int64_t kvd = srow.kv_dim;
  const size_t count = static_cast<size_t>(cnt * kvd);
  const size_t payload = kv_payload_bytes(cnt, kvd, srow.storage);
  const bool direct = srow.storage == kv_storage::f32 ||
                      (srow.storage == kv_storage::bf16 && native == kv_wire::bf16);
  std::vector<uint8_t>& raw = srow.comp == compression::none ? out : sc.raw;
  raw.resize(payload);
  if (direct) {
    const kv_wire w = srow.storage == kv_storage::f32 ? kv_wire::f32 : kv_wire::bf16;
    const size_t half = count * kv_wire_bytes(w);
    TOME_TRY(export_kv_rows(s, tb, cnt, w, raw.data(), raw.data() + half));
  } else {
    sc.k.resize(count);
    sc.v.resize(count);
    TOME_TRY(export_kv_rows(s, tb, cnt, kv_wire::f32, sc.k.data(), sc.v.data()));
    encode_kv_payload(sc.k, sc.v, cnt, kvd, srow.storage, raw);
  }
  if (srow.comp != compression::none) compress_bytes_into(sc.raw, srow.comp, out);
  return {};
}

// Rows from this size on are written in place (write_kv_rows).
constexpr size_t k_in_place_bytes = size_t{1} << 20;

status write_blob(db& d, int64_t rowid, std::span<const uint8_t> bytes) {
  sqlite3_blob* b = nullptr;
  int rc = sqlite3_blob_open(d.handle(), "main", "kv_rows", "kv", rowid, 1, &b);
  if (rc == SQLITE_OK) rc = sqlite3_blob_write(b, bytes.data(), static_cast<int>(bytes.size()), 0);
  const int rc_close = b ? sqlite3_blob_close(b) : SQLITE_OK;
  if (rc == SQLITE_OK) rc = rc_close;
  if (rc != SQLITE_OK) return d.fail(rc, "saving KV rows");
  return {};
}

// The page cache during a save of large rows: two rows and 2 MiB. A row written in place must
// still be in the cache when its bytes arrive (else its zero pages are spilled to the WAL and
// written twice), so at least one row; and no more than that: a row's pages are zero-filled,
// written and checksummed into the WAL by SQLite's one thread, which runs fastest while they stay
// in the CPU's cache (tome_store_bench, docs/performance.md: with rows of 4 MiB, 3 rows + 16 MiB
// of cache made the saving thread ~20% slower than this; rows of 32 MiB cannot stay in it at all).
struct cache_for_rows {
  db& d;
  bool changed = false;
  cache_for_rows(db& x, size_t row_bytes) : d(x) {
    const int64_t kib = static_cast<int64_t>(2 * row_bytes / 1024) + 2048;
    if (row_bytes >= k_in_place_bytes)
      changed = d.exec("PRAGMA cache_size = -" + std::to_string(kib)).ok();
  }
  ~cache_for_rows() {
    if (changed) (void)d.exec("PRAGMA cache_size = -16384");  // library::open's
  }
};

}  // namespace

int store_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(hw, 1, 8));
}

status library::impl::write_kv_rows(const session_row& srow, const node_row& n,
                                    const tome::session& s, int64_t row_begin, int64_t total,
                                    statement& ins) {
  const int64_t R = srow.row_tokens;
  const int64_t rows = (total - row_begin + R - 1) / R;
  if (rows <= 0) return {};
  const kv_wire native = native_kv_wire(s.get_model());
  const auto& tokens = s.tokens();
  struct slot {
    std::vector<uint8_t> kv;
    int64_t checksum = 0;
    int64_t ready = -1;  // the row index held, once encoded
  };
  const int workers = static_cast<int>(std::min<int64_t>(store_threads(), rows));
  const int64_t depth = workers + 2;  // rows in flight
  std::vector<slot> ring(static_cast<size_t>(depth));
  std::mutex m;
  std::condition_variable cv;
  int64_t consumed = 0;  // rows inserted
  std::atomic<int64_t> next{0};
  first_error err;
  auto row_of = [&](int64_t i, int64_t& tb, int64_t& cnt) {
    tb = row_begin + i * R;
    cnt = std::min(R, total - tb);
  };
  auto work = [&](int) {
    encode_scratch sc;
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= rows) return;
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return err.failed || i < consumed + depth; });
      }
      if (err.failed) return;
      slot& sl = ring[static_cast<size_t>(i % depth)];
      int64_t tb = 0, cnt = 0;
      row_of(i, tb, cnt);
      status st = encode_row(s, srow, native, tb, cnt, sc, sl.kv);
      if (!st.ok()) {
        err.set(std::move(st));
        cv.notify_all();
        return;
      }
      sl.checksum = row_checksum(tb, cnt, srow.storage, srow.comp,
                                 as_bytes(tokens.data() + tb, static_cast<size_t>(cnt) * 4), sl.kv);
      {
        std::lock_guard lk(m);
        sl.ready = i;
      }
      cv.notify_all();
    }
  };
  cache_for_rows cache(*d,
                       kv_payload_bytes(std::min(R, total - row_begin), srow.kv_dim, srow.storage));
  {
    thread_group group(workers, work);
    if (group.size() == 0) err.set(error("saving KV rows: cannot start a thread"));
    for (int64_t i = 0; i < rows; ++i) {
      slot& sl = ring[static_cast<size_t>(i % depth)];
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return err.failed || sl.ready == i; });
      }
      if (err.failed) break;
      int64_t tb = 0, cnt = 0;
      row_of(i, tb, cnt);
      const auto tok = as_bytes(tokens.data() + tb, static_cast<size_t>(cnt) * 4);
      ins.reset();
      ins.bind(1, n.id).bind(2, tb).bind(3, cnt).bind(4, sl.checksum);
      ins.bind(5, static_cast<int64_t>(tok.size() + sl.kv.size()));
      ins.bind_blob(6, tok);
      // A large row goes in as a zeroblob and is written into its pages in place: SQLite would
      // otherwise copy a bound blob into a record buffer first (a fresh multi-megabyte
      // allocation per row), then into the pages.
      const bool in_place = sl.kv.size() >= k_in_place_bytes;
      if (in_place)
        sqlite3_bind_zeroblob64(ins.handle(), 7, sl.kv.size());
      else
        ins.bind_blob(7, sl.kv);
      status st = ins.run().with_context("saving KV rows");
      if (st.ok() && in_place) st = write_blob(*d, d->last_insert_id(), sl.kv);
      if (!st.ok()) {
        err.set(std::move(st));
        cv.notify_all();
        break;
      }
      {
        std::lock_guard lk(m);
        consumed = i + 1;
      }
      cv.notify_all();
    }
  }  // workers joined
  if (err.failed) return err.st;
  return {};
}

status library::impl::list_rows(const session_row& s, const node_row& n, bool own_only,
                                std::vector<row_ref>& rows, std::vector<int32_t>& tokens) const {
  const std::string where = d->path().string() + ": session '" + s.name + "'" +
                            (n.name.empty() ? "" : " thread '" + n.name + "'");
  // Root first: follow parents (bounded, same session).
  std::vector<node_row> chain{n};
  if (!own_only) {
    auto all = nodes_of(s.id);
    if (!all) return all.error_status();
    while (chain.back().parent) {
      if (chain.size() > 64) return error(where + ": thread chain too deep or cyclic");
      const int64_t pid = *chain.back().parent;
      const node_row* p = nullptr;
      for (const auto& x : *all)
        if (x.id == pid) p = &x;
      if (!p) return error(where + ": its parent state is missing");
      chain.push_back(*p);
    }
    std::reverse(chain.begin(), chain.end());
  }
  const int64_t first = chain.front().base_tokens;  // 0 unless own_only on a thread
  const int64_t total = n.n_tokens - first;
  tokens.clear();
  tokens.reserve(static_cast<size_t>(total));
  rows.clear();
  auto st = d->prepare(
      "SELECT id, token_begin, n_tokens, checksum, tokens, length(kv) FROM kv_rows "
      "WHERE node_id = ? AND token_begin < ? ORDER BY token_begin");
  if (!st) return st.error_status();
  for (size_t i = 0; i < chain.size(); ++i) {
    const node_row& x = chain[i];
    const bool last = i + 1 == chain.size();
    const int64_t lo = x.base_tokens;
    const int64_t hi = last ? x.n_tokens : chain[i + 1].base_tokens;
    if (hi > x.n_tokens || hi < lo)
      return error(where + ": a thread branches outside its parent's tokens");
    st->reset();
    st->bind(1, x.id).bind(2, hi);
    int64_t expect = lo;
    for (;;) {
      auto r = st->step();
      if (!r) return r.error_status();
      if (!*r) break;
      const int64_t tb = st->int64(1), cnt = st->int64(2);
      const auto tok = st->blob(4);
      if (tb != expect)
        return error(where + ": KV rows are missing or overlap at token " + std::to_string(expect));
      if (cnt < 1 || cnt > s.row_tokens || tok.size() != static_cast<size_t>(cnt) * 4)
        return error(where + ": the KV row at token " + std::to_string(tb) +
                     " has an invalid size");
      if (last && tb + cnt > hi)
        return error(where + ": the KV row at token " + std::to_string(tb) +
                     " runs past the saved token count");
      const int64_t use = std::min(cnt, hi - tb);
      row_ref ref;
      ref.rowid = st->int64(0);
      ref.token_begin = tb;
      ref.n_tokens = cnt;
      ref.use = use;
      ref.dst = static_cast<int64_t>(tokens.size());
      ref.checksum = st->int64(3);
      ref.kv_bytes = st->int64(5);
      ref.tokens.assign(tok.begin(), tok.end());
      const size_t at = tokens.size();
      tokens.resize(at + static_cast<size_t>(use));
      std::memcpy(tokens.data() + at, tok.data(), static_cast<size_t>(use) * 4);
      rows.push_back(std::move(ref));
      expect = tb + cnt;
    }
    if (expect < hi)
      return error(where + ": KV rows are missing from token " + std::to_string(expect));
  }
  if (static_cast<int64_t>(tokens.size()) != total)
    return error(where + ": the rows hold the wrong number of tokens");
  return {};
}

status library::impl::read_kv_rows(const session_row& s, std::span<const row_ref> rows,
                                   kv_wire prefer, const kv_sink& sink,
                                   const std::string& where) const {
  if (rows.empty()) return {};
  const int64_t kvd = s.kv_dim;
  auto row_error = [&](const row_ref& r, const std::string& what) {
    return error(where + ": the KV row at token " + std::to_string(r.token_begin) + what);
  };
  // Buffers in flight: read by the caller, processed and handed back by a worker.
  const int workers =
      static_cast<int>(std::min<int64_t>(store_threads(), static_cast<int64_t>(rows.size())));
  const size_t depth = static_cast<size_t>(workers) + 2;
  std::vector<std::vector<uint8_t>> bufs(depth);
  std::vector<size_t> free_bufs;
  for (size_t i = 0; i < depth; ++i) free_bufs.push_back(i);
  std::vector<std::pair<size_t, size_t>> queue;  // (row, buffer), taken from the front
  size_t queue_head = 0;
  bool reading_done = false;
  std::mutex m;
  std::condition_variable cv;
  first_error err;

  auto process = [&](const row_ref& r, std::span<const uint8_t> stored, std::vector<uint8_t>& raw,
                     std::vector<float>& fk, std::vector<float>& fv) -> status {
    if (row_checksum(r.token_begin, r.n_tokens, s.storage, s.comp, r.tokens, stored) != r.checksum)
      return row_error(r, " fails its checksum (the file is corrupt)");
    const size_t payload = kv_payload_bytes(r.n_tokens, kvd, s.storage);
    std::span<const uint8_t> p = stored;
    if (s.comp != compression::none) {
      status ds = decompress_bytes(stored, s.comp, payload, raw);
      if (!ds.ok()) return row_error(r, ": " + ds.message());
      p = raw;
    }
    if (p.size() != payload)
      return row_error(r, ": KV row holds " + std::to_string(p.size()) + " bytes, expected " +
                              std::to_string(payload));
    const size_t count = static_cast<size_t>(r.n_tokens * kvd);
    status ss;
    if (s.storage == kv_storage::f32) {
      ss = sink(r, kv_wire::f32, p.data(), p.data() + 4 * count);
    } else if (s.storage == kv_storage::bf16 && prefer == kv_wire::bf16) {
      ss = sink(r, kv_wire::bf16, p.data(), p.data() + 2 * count);
    } else {
      fk.resize(count);
      fv.resize(count);
      status ds = decode_kv_payload(p, r.n_tokens, kvd, s.storage, fk, fv);
      if (!ds.ok()) return row_error(r, ": " + ds.message());
      ss = sink(r, kv_wire::f32, fk.data(), fv.data());
    }
    if (!ss.ok()) return row_error(r, ": " + ss.message());
    return {};
  };
  auto work = [&](int) {
    std::vector<uint8_t> raw;
    std::vector<float> fk, fv;
    for (;;) {
      std::pair<size_t, size_t> job;
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return err.failed || queue_head < queue.size() || reading_done; });
        if (err.failed || queue_head == queue.size()) return;
        job = queue[queue_head++];
      }
      const row_ref& r = rows[job.first];
      status st = process(r, bufs[job.second], raw, fk, fv);
      if (!st.ok()) {
        err.set(std::move(st));
        cv.notify_all();
        return;
      }
      {
        std::lock_guard lk(m);
        free_bufs.push_back(job.second);
      }
      cv.notify_all();
    }
  };

  // Sizes first: nothing is read from a row whose recorded length cannot be right.
  auto check_size = [&](const row_ref& r) -> status {
    const size_t payload = kv_payload_bytes(r.n_tokens, kvd, s.storage);
    const int64_t most =
        static_cast<int64_t>(s.comp == compression::none ? payload : ZSTD_compressBound(payload));
    if (r.kv_bytes < 0 || r.kv_bytes > INT32_MAX ||
        (s.comp == compression::none ? r.kv_bytes != most : r.kv_bytes > most))
      return row_error(r, ": KV row holds " + std::to_string(r.kv_bytes) + " bytes, " +
                              (s.comp == compression::none ? "expected " : "at most ") +
                              std::to_string(most));
    return {};
  };
  // One row's stored bytes into buf through a connection's (re)used blob handle.
  auto read_blob = [&](db& con, sqlite3_blob*& blob, const row_ref& r,
                       std::vector<uint8_t>& buf) -> status {
    buf.resize(static_cast<size_t>(r.kv_bytes));
    int rc = blob ? sqlite3_blob_reopen(blob, r.rowid)
                  : sqlite3_blob_open(con.handle(), "main", "kv_rows", "kv", r.rowid, 0, &blob);
    if (rc == SQLITE_OK && sqlite3_blob_bytes(blob) != r.kv_bytes)
      return row_error(r, " changed while it was read");
    if (rc == SQLITE_OK && r.kv_bytes > 0)
      rc = sqlite3_blob_read(blob, buf.data(), static_cast<int>(r.kv_bytes), 0);
    if (rc != SQLITE_OK)
      return con.fail(rc, "reading the KV row at token " + std::to_string(r.token_begin));
    return {};
  };

  // Large loads from a file: every worker reads its rows through a read-only connection of its
  // own (WAL readers run in parallel; with the file in the page cache one reading thread was the
  // limit). Rows are immutable once written and each is checked against the checksum listed under
  // the caller's snapshot, so a worker seeing a later snapshot cannot pass off other bytes. Not
  // inside the caller's write transaction (its rows are invisible to other connections).
  // TOME_STORE_PARALLEL_READ=0 turns it off, =1 on for any size (the tests use both).
  int64_t stored_bytes = 0;
  for (const row_ref& r : rows) stored_bytes += std::max<int64_t>(r.kv_bytes, 0);
  const char* knob = std::getenv("TOME_STORE_PARALLEL_READ");
  const bool big = workers >= 2 && rows.size() >= 2 * static_cast<size_t>(workers) &&
                   stored_bytes >= (int64_t{64} << 20);
  const bool parallel = (knob ? std::strcmp(knob, "1") == 0 : big) && !d->path().empty() &&
                        d->path() != ":memory:" &&
                        sqlite3_txn_state(d->handle(), "main") != SQLITE_TXN_WRITE;
  if (parallel) {
    std::atomic<size_t> next{0};
    auto read_work = [&](int) {
      auto con = db::open(d->path(), /*read_only=*/true, /*create=*/false);
      if (!con) {
        err.set(con.error_status().with_context(where + ": reading KV rows"));
        return;
      }
      sqlite3_blob* blob = nullptr;
      std::vector<uint8_t> buf, raw;
      std::vector<float> fk, fv;
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= rows.size() || err.failed) break;
        const row_ref& r = rows[i];
        status st = check_size(r);
        if (st.ok()) st = read_blob(**con, blob, r, buf);
        if (st.ok()) st = process(r, buf, raw, fk, fv);
        if (!st.ok()) {
          err.set(std::move(st));
          break;
        }
      }
      if (blob) sqlite3_blob_close(blob);
    };
    {
      thread_group group(workers, read_work);
      if (group.size() == 0) return error(where + ": reading KV rows: cannot start a thread");
    }
    if (err.failed) return err.st;
    return {};
  }

  status read_status;
  sqlite3_blob* blob = nullptr;
  {
    thread_group group(workers, work);
    if (group.size() == 0) read_status = error(where + ": reading KV rows: cannot start a thread");
    for (size_t i = 0; i < rows.size() && read_status.ok(); ++i) {
      const row_ref& r = rows[i];
      read_status = check_size(r);
      if (!read_status.ok()) break;
      size_t b = 0;
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return err.failed || !free_bufs.empty(); });
        if (err.failed) break;
        b = free_bufs.back();
        free_bufs.pop_back();
      }
      read_status = read_blob(*d, blob, r, bufs[b]);
      if (!read_status.ok()) break;
      {
        std::lock_guard lk(m);
        queue.emplace_back(i, b);
      }
      cv.notify_one();
    }
    {
      std::lock_guard lk(m);
      reading_done = true;
      if (!read_status.ok()) err.failed = true;  // workers stop; read_status is reported
    }
    cv.notify_all();
  }  // workers joined
  if (blob) sqlite3_blob_close(blob);
  if (!read_status.ok()) return read_status;
  if (err.failed) return err.st;
  return {};
}

}  // namespace tome::store
