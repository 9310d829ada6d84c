// The session store's schema history. Schema 1 (the store's first layout) kept one state per
// session: the self-decoder state in `sessions`, KV rows keyed by session. Schema 2 adds threads:
// states live in `nodes` (a session's document state is its root node; a thread is a child that
// stores only its own suffix), KV rows are keyed by node, and sessions record the tokenizer's
// fingerprint and the at-rest compression. Schema 3 adds the self-decoder state of every prefill
// checkpoint (table checkpoints). Schema 4 adds values derived from a session's document tokens
// (table derived: the paths' prior of the calibrated which-file choice). See
// docs/model-format.md, "Session store".
#include "schema.h"

#include <string>

#include "tome/store/library.h"

namespace tome::store {
namespace {

// Exactly what schema 1 created; never edit (old files were made with it).
constexpr const char* k_schema_1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model_name TEXT NOT NULL,
  model_fingerprint TEXT NOT NULL,
  self_kind INTEGER NOT NULL,
  n_self_layers INTEGER NOT NULL,
  dim INTEGER NOT NULL,
  kv_dim INTEGER NOT NULL,
  kv_precision TEXT NOT NULL,
  kv_storage TEXT NOT NULL,
  row_tokens INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL DEFAULT 0,
  target_tokens INTEGER NOT NULL DEFAULT 0,
  self_rows INTEGER NOT NULL DEFAULT 0,
  state_raw_bytes INTEGER NOT NULL DEFAULT 0,
  state BLOB NOT NULL DEFAULT x'',
  state_checksum INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE documents(
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL,
  ord INTEGER NOT NULL,
  title TEXT NOT NULL,
  path TEXT NOT NULL,
  kind TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  token_begin INTEGER NOT NULL,
  token_end INTEGER NOT NULL,
  source_map BLOB NOT NULL,
  metadata TEXT NOT NULL,
  added_at TEXT NOT NULL);
CREATE INDEX documents_by_session ON documents(session_id, ord);
CREATE TABLE kv_rows(
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL,
  token_begin INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  checksum INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL,
  tokens BLOB NOT NULL,
  kv BLOB NOT NULL,
  UNIQUE(session_id, token_begin));
INSERT INTO meta(key, value) VALUES('created_by', 'tome');
PRAGMA application_id = 1416588645;
PRAGMA user_version = 1;
)sql";

constexpr const char* k_migrate_1_to_2 = R"sql(
ALTER TABLE sessions ADD COLUMN tokenizer_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN compression TEXT NOT NULL DEFAULT 'none';
CREATE TABLE nodes(
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL,
  parent_id INTEGER,
  name TEXT NOT NULL,
  base_tokens INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  self_rows INTEGER NOT NULL,
  state_raw_bytes INTEGER NOT NULL,
  state BLOB NOT NULL,
  state_checksum INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE(session_id, name));
INSERT INTO nodes(id, session_id, parent_id, name, base_tokens, n_tokens, self_rows,
                  state_raw_bytes, state, state_checksum, created_at, updated_at)
  SELECT id, id, NULL, '', 0, n_tokens, self_rows, state_raw_bytes, state, state_checksum,
         created_at, updated_at FROM sessions;
ALTER TABLE sessions DROP COLUMN state;
ALTER TABLE sessions DROP COLUMN state_checksum;
ALTER TABLE sessions DROP COLUMN state_raw_bytes;
ALTER TABLE sessions DROP COLUMN self_rows;
ALTER TABLE sessions DROP COLUMN n_tokens;
ALTER TABLE kv_rows RENAME COLUMN session_id TO node_id;
PRAGMA user_version = 2;
)sql";

// Schema 3: the self-decoder state at every prefill checkpoint of a document state, so that a
// re-read of a changed repository starts again from the last checkpoint before the first change.
constexpr const char* k_migrate_2_to_3 = R"sql(
CREATE TABLE checkpoints(
  node_id INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  self_rows INTEGER NOT NULL,
  state_raw_bytes INTEGER NOT NULL,
  state BLOB NOT NULL,
  state_checksum INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY(node_id, n_tokens));
PRAGMA user_version = 3;
)sql";

// Schema 4: small values derived from a session's document tokens [0, n_tokens) that are costly to
// compute again (library::put_derived), kept until a rewind cuts below n_tokens.
constexpr const char* k_migrate_3_to_4 = R"sql(
CREATE TABLE derived(
  session_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  n_tokens INTEGER NOT NULL,
  value BLOB NOT NULL,
  checksum INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY(session_id, key, n_tokens));
PRAGMA user_version = 4;
)sql";

static_assert(k_application_id == 1416588645, "schema-1 DDL spells the application id");

}  // namespace

status create_schema(db& d) {
  transaction t(d);
  TOME_TRY(t.begin());
  TOME_TRY(d.exec(k_schema_1).with_context("creating the schema"));
  TOME_TRY(d.exec(k_migrate_1_to_2).with_context("creating the schema"));
  TOME_TRY(d.exec(k_migrate_2_to_3).with_context("creating the schema"));
  TOME_TRY(d.exec(k_migrate_3_to_4).with_context("creating the schema"));
  return t.commit();
}

status migrate_schema(db& d, int from) {
  if (from >= k_schema_version) return {};
  transaction t(d);
  TOME_TRY(t.begin());
  if (from <= 1) TOME_TRY(d.exec(k_migrate_1_to_2).with_context("migrating schema 1 to 2"));
  if (from <= 2) TOME_TRY(d.exec(k_migrate_2_to_3).with_context("migrating schema 2 to 3"));
  if (from <= 3) TOME_TRY(d.exec(k_migrate_3_to_4).with_context("migrating schema 3 to 4"));
  TOME_TRY(t.commit());
  return {};
}

}  // namespace tome::store
