// Internals of tome::store::library shared by its source files: the open database, the rows of
// `sessions` and `nodes` as structs, and the state reader/writer (state_io.cpp). A session's
// document state is its root node (parent NULL, name ''); a thread is a child node that reads its
// parent's rows below base_tokens and stores only rows from base_tokens on.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpointer.h"
#include "sqlite.h"
#include "tome/session_parts.h"
#include "tome/store/library.h"

namespace tome::store {

struct session_row {
  int64_t id = 0;
  std::string name, model_name, model_fingerprint, tokenizer_fingerprint, kv_precision;
  int64_t self_kind = 0, n_self_layers = 0, dim = 0, kv_dim = 0;
  kv_storage storage = kv_storage::f32;
  compression comp = compression::none;
  int64_t row_tokens = k_default_row_tokens, target_tokens = 0;
  std::string created_at, updated_at;
};

struct node_row {
  int64_t id = 0, session_id = 0;
  std::optional<int64_t> parent;
  std::string name;
  int64_t base_tokens = 0, n_tokens = 0, self_rows = 0, state_raw_bytes = 0;
  std::string created_at, updated_at;
};

// What a node's state reads back as (tokens and KV from its chain, its own self-decoder state).
struct node_state {
  std::vector<int32_t> tokens;
  std::vector<float> k, v;  // [n, kv_dim] when read with KV
  std::vector<std::vector<float>> self_state;
  std::vector<float> last_hidden;
};

// One stored KV row of a node's chain as listed before its K/V is read (read_kv_rows): where it
// is, its checksum and stored size, and which tokens of it the chain uses (the first `use`, at
// token `dst` of what is read). `tokens`: all its token ids as stored, for the checksum.
struct row_ref {
  int64_t rowid = 0, token_begin = 0, n_tokens = 0, use = 0, dst = 0, checksum = 0, kv_bytes = 0;
  std::vector<uint8_t> tokens;
};
// Receives rows [r.dst, r.dst + r.use) of K and V (row stride kv_dim, in w; V starts r.n_tokens
// rows after K when the row is cut), on any of read_kv_rows' threads.
using kv_sink =
    std::function<status(const row_ref& r, kv_wire w, const void* k, const void* v)>;

struct library::impl {
  std::unique_ptr<db> d;
  bool full_sync = true;
  // After commits that leave a large WAL (wal hook, library.cpp): copies it into the database
  // file on its own thread and connection. Declared after d: stopped before d closes.
  std::unique_ptr<wal_checkpointer> ckpt;

  result<session_row> get_session(std::string_view name) const;
  result<node_row> get_node(const session_row& s, std::string_view thread) const;
  result<std::vector<node_row>> nodes_of(int64_t session_id) const;
  // Model, tokenizer, KV precision and shapes of m against the session's.
  status check_model(const session_row& s, const model& m) const;

  // Reads the node's tokens (and, with_kv, its K/V decoded, every checksum checked) over its
  // chain: ancestors' rows below each child's base, then its own rows. own_only: just rows from
  // its base on (verify). Always checks that the rows tile the range exactly.
  status read_chain(const session_row& s, const node_row& n, bool with_kv, bool own_only,
                    node_state& out) const;
  status read_state_blob(const session_row& s, const node_row& n, node_state& out) const;
  // The rows of n's chain (own_only: its own rows), checked to tile [first, n.n_tokens) exactly,
  // and the token ids they hold. No K/V is read.
  status list_rows(const session_row& s, const node_row& n, bool own_only,
                   std::vector<row_ref>& rows, std::vector<int32_t>& tokens) const;
  // Reads the rows' K/V (the calling thread reads blobs straight from SQLite, in order), checks
  // every checksum and size, decodes (zstd, fp8) and hands the rows to `sink` on several threads,
  // overlapped with the reading. `prefer`: the wire the sink takes without conversion.
  status read_kv_rows(const session_row& s, std::span<const row_ref> rows, kv_wire prefer,
                      const kv_sink& sink, const std::string& where) const;
  // Encodes rows [row_begin, total) of s on several threads and inserts them in order with `ins`
  // (INSERT INTO kv_rows ..., 7 parameters), inside the caller's transaction.
  status write_kv_rows(const session_row& srow, const node_row& n, const tome::session& s,
                       int64_t row_begin, int64_t total, statement& ins);
  // Writes rows [row start of the partial last row, s.n_tokens()) and the state of `n` in one
  // transaction. check_prefix: compare the stored tokens with s's first (skip when just read).
  status commit(const session_row& srow, node_row& n, const tome::session& s, bool check_prefix);
  result<std::unique_ptr<tome::session>> load_node(const session_row& s, const node_row& n,
                                                   std::shared_ptr<const model> m) const;
  status verify_session(const session_row& s, const model& m) const;
  result<session_info> make_info(const session_row& s) const;
};

// Threads for the row pipelines: the hardware's, at most 8.
int store_threads();

// Checksums (XXH3-64, stored bit-cast as SQLite integers).
int64_t row_checksum(int64_t token_begin, int64_t n_tokens, kv_storage st, compression c,
                     std::span<const uint8_t> tokens, std::span<const uint8_t> kv);
int64_t state_checksum(int64_t n_tokens, int64_t self_rows, std::span<const uint8_t> state);
int64_t derived_checksum(int64_t n_tokens, std::string_view key, std::span<const uint8_t> value);

inline constexpr const char* k_now_sql = "strftime('%Y-%m-%dT%H:%M:%SZ','now')";

}  // namespace tome::store
