// tome::store::library: Tome's session store, one SQLite file (WAL, schema versioned with
// PRAGMA user_version and migrated on open). It lists sessions (name, documents and their source
// maps, the model's and tokenizer's fingerprints, token count, KV precision, sizes, dates) and
// holds each session's state: token ids and global KV as chunk rows (row_tokens tokens each, one
// XXH3-64 checksum per row) plus the self-decoder state. Threads branch from a session's document
// state and store only their own suffix. A prefill commits a checkpoint every chunk, so a cancel,
// crash or power cut resumes from the last one. Every write is one transaction: a failed write
// (disk full, read-only folder) reports an error and leaves the last good state intact. A commit
// is durable in the WAL; copying the WAL into the database file runs on a background thread of
// the library (its own connection), so a large save writes its bytes once on its own time.
// Rows are encoded, checked and decoded on several threads (at most 8); SQLite is only used by
// the calling thread.
// Threads: a library object belongs to one thread at a time; several processes may open the same
// file (SQLite locking; writers wait up to 5 s).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/engine.h"
#include "tome/status.h"
#include "tome/store/kv_codec.h"

namespace tome::store {

class db;

// The schema this build writes (PRAGMA user_version). Older files are migrated on open; newer
// ones are refused ("written by a newer Tome").
inline constexpr int k_schema_version = 4;
// Tokens per KV row of new sessions: 4 MiB rows of f32 K+V at kv_dim 1024 (YOCO-3B). A save's
// rows pass through SQLite's page cache one by one; rows this small keep that work in the CPU's
// cache (4096-token rows, 32 MiB each, saved ~25% slower on SQLite's thread; docs/performance.md).
inline constexpr int64_t k_default_row_tokens = 512;

struct open_params {
  bool read_only = false;  // no writes, no migration; the file must exist
  bool create = true;      // create the file when missing (ignored when read_only)
  // true: fsync the WAL at every commit, so a power cut keeps the last checkpoint; false: a power
  // cut may lose the last few commits but never corrupts (WAL, synchronous=NORMAL).
  bool full_sync = true;
  // Page size of a new file (512 .. 65536, a power of two): large pages suit multi-megabyte rows.
  int page_size = 65536;
};

// A document of a session (the store keeps what ingest/the caller provides; it does not read
// documents). Tokens [token_begin, token_end) of the session's document state are this document.
struct document_record {
  std::string title;
  std::string path;
  std::string kind;          // "pdf", "epub", "text", "repo" …
  std::string content_hash;  // of the source bytes, to detect a changed file
  int64_t token_begin = 0, token_end = 0;
  std::string source_map;  // JSON (stored as a blob; checked to be valid JSON)
  std::string metadata;    // JSON object or empty
  std::string added_at;    // set by the store (UTC, ISO 8601)
};

struct thread_info {
  std::string name;
  int64_t base_tokens = 0;   // the document tokens it branched after (shared, not copied)
  int64_t n_tokens = 0;      // base + its own tokens
  int64_t stored_bytes = 0;  // its own rows and state only
  std::string created_at, updated_at;
};

struct session_info {
  std::string name;
  std::string model_name;
  std::string model_fingerprint;
  std::string tokenizer_fingerprint;  // "" for sessions migrated from schema 1 (not recorded)
  std::string kv_precision;           // the engine backend's KV precision ("f32")
  kv_storage storage = kv_storage::f32;
  compression comp = compression::none;
  int64_t row_tokens = k_default_row_tokens;
  int64_t n_tokens = 0;       // committed tokens of the document state
  int64_t target_tokens = 0;  // tokens the last prefill aimed for; > n_tokens: unfinished
  bool complete() const { return n_tokens >= target_tokens; }
  int64_t kv_bytes = 0;      // stored KV and token rows, threads included
  int64_t state_bytes = 0;   // stored self-decoder states, threads included
  int64_t raw_kv_bytes = 0;  // the document's global KV in f32 (what it occupies in memory)
  std::vector<document_record> documents;
  std::vector<thread_info> threads;
  std::string created_at, updated_at;
};

struct session_spec {
  std::string name;
  kv_storage storage = kv_storage::f32;  // f32 is exact; bf16 and fp8 are lossy (kv_codec.h)
  compression comp = compression::none;
  int64_t row_tokens = k_default_row_tokens;  // tokens per KV row (1 .. 1,048,576)
};

struct checkpoint_params {
  int64_t chunk_tokens = 32768;  // tokens per prefill chunk = per checkpoint
  bool compute_logits = true;    // the last position's logits after the prefill
  progress_fn on_progress;       // after every committed checkpoint; done/total count all tokens
  const std::atomic<bool>* cancel = nullptr;
  std::string thread;  // empty: the document state; else that thread
};

struct checkpoint_result {
  std::unique_ptr<session> s;  // the session in memory, at the last checkpoint
  int64_t resumed_from = 0;    // tokens already committed when the call began
  int64_t tokens_done = 0;     // tokens prefilled by this call
  int64_t checkpoints = 0;     // commits made by this call
  bool cancelled = false;
  double seconds = 0;
};

class library {
 public:
  // Opens or creates a library (or a .tome export: the same format). Refuses a file that is not
  // SQLite or not Tome's, and a newer schema; migrates an older one (in one transaction).
  static result<std::unique_ptr<library>> open(const std::filesystem::path& file,
                                               const open_params& p = {});
  ~library();
  library(const library&) = delete;
  library& operator=(const library&) = delete;
  const std::filesystem::path& path() const;

  result<std::vector<session_info>> sessions() const;
  result<session_info> info(std::string_view name) const;
  // Creates an empty session for model m; fails if the name exists.
  result<session_info> create_session(const model& m, const session_spec& spec);
  // Removes a session, its documents, threads and rows; frees the pages for reuse.
  status remove_session(std::string_view name);
  // Renames a session in place (one row; nothing is copied). Refuses an invalid or taken name.
  status rename_session(std::string_view from, std::string_view to);

  // Records a document of the session (its token range in the document state).
  status add_document(std::string_view session, const document_record& d);

  // Prefills `tokens`, the complete token list the document state (or p.thread) must hold, with a
  // checkpoint every chunk. What is committed must be a prefix of `tokens`: a cancelled or killed
  // run continues from its last checkpoint; a longer list appends (another document). The
  // in-memory session at the last checkpoint is returned.
  result<checkpoint_result> prefill(std::string_view session, std::shared_ptr<const model> m,
                                    std::span<const int32_t> tokens,
                                    const checkpoint_params& p = {});
  // Returns the document state to its last prefill checkpoint at or before `n_tokens` (the first
  // token a re-read document changes): the KV rows after it are dropped (a row it cuts is
  // rewritten), the state becomes the checkpoint's, threads that branch after it and documents
  // that start after it are removed (they were about the old text). Returns the checkpoint's
  // token count (0: nothing is kept). One transaction: on error nothing changed.
  result<int64_t> rewind(std::string_view session, int64_t n_tokens);
  // Replaces the record of the session's document number `index` (session_info::documents order),
  // e.g. a re-read repository's new content hash, token range and source map.
  status update_document(std::string_view session, size_t index, const document_record& d);
  // Saves s as the document state (thread empty) or a thread: s must extend what is committed;
  // only rows from the last partial row on are written.
  status save(std::string_view session, const tome::session& s, std::string_view thread = {});
  // Puts the document state (or a thread: the document's rows up to its branch point + its own)
  // on m's backend. Checks model, tokenizer, KV precision, shapes and every row's checksum.
  result<std::unique_ptr<tome::session>> load(std::string_view session,
                                              std::shared_ptr<const model> m,
                                              std::string_view thread = {}) const;
  // The committed token ids of the document state (or a thread: its base + its own).
  result<std::vector<int32_t>> tokens(std::string_view session, std::string_view thread = {}) const;
  // Reads and checks every row and state of a session (and its threads) without building one.
  status verify(std::string_view session, const model& m) const;

  // A thread branching from the document state as committed now; no rows are copied.
  result<thread_info> create_thread(std::string_view session, std::string_view thread);
  status remove_thread(std::string_view session, std::string_view thread);

  // Writes one session (threads included) to a standalone .tome file (SQLite, this schema),
  // atomically (a temporary file renamed at the end). Refuses to overwrite an existing file.
  // page_size: of the new file (smaller pages make small exports smaller).
  status export_session(std::string_view session, const std::filesystem::path& file,
                        int page_size = 65536) const;
  // Imports a .tome file after checking everything against m (format, schema, fingerprints, KV
  // precision, shapes, every checksum, documents' JSON). new_name renames it.
  result<session_info> import_session(const std::filesystem::path& file, const model& m,
                                      std::string_view new_name = {});

  // Values derived from a session's document tokens [0, n_tokens) that are costly to compute again
  // (the service keeps the paths' prior of the calibrated which-file choice here): opaque bytes
  // (at most 64 MiB) under a key, with an XXH3-64 checksum, exported and imported with the session.
  // A rewind below n_tokens or the session's removal drops them. put_derived replaces the value of
  // (key, n_tokens); n_tokens must not exceed the document state's committed tokens.
  status put_derived(std::string_view session, std::string_view key, int64_t n_tokens,
                     std::string_view value);
  // The value kept for (key, n_tokens); nullopt when there is none. A value failing its checksum
  // is an error naming the file (put_derived over it replaces it).
  result<std::optional<std::string>> derived(std::string_view session, std::string_view key,
                                             int64_t n_tokens) const;

  // Copies the write-ahead log into the database file now and waits (truncating the WAL). A save
  // is durable when it returns (its WAL frames are synced); this second copy of large saves
  // otherwise runs in the background after the commit (and at the latest when the last connection
  // to the file closes). For benchmarks and tools that want the file self-contained now.
  status checkpoint();

  // The fingerprint of m's tokenizer as the store records it ("none" without one).
  static std::string tokenizer_fingerprint(const model& m);

 private:
  library() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tome::store
