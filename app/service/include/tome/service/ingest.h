// tome::service ingest: a path (book, PDF, EPUB, HTML/Markdown/text file, code repository) to a
// session, in two steps that the CLI and the desktop app share:
//   plan_ingest  reads and tokenizes the document (ingest/ + the model's tokenizer), wraps it in the
//                model's document template, and says what reading it will take: tokens, memory on
//                the backend (global KV, state, workspace) and what is free, disk, the expected
//                time from a short measured probe, and a plain refusal when it will not fit.
//   read_plan    the checkpointed prefill of that plan into a session (service::read_document):
//                progress, cancel at a chunk, resumed by running it again.
// Only built with ingest/ (TOME_HAVE_INGEST); no Qt.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tome/engine.h"
#include "tome/ingest/ingest.h"
#include "tome/ingest/token_map.h"
#include "tome/service/service.h"
#include "tome/store/library.h"

namespace tome::service {

struct plan_params {
  ingest::params ingest;          // password, limits, cancel and progress of the reading itself
  int64_t chunk_tokens = 32768;   // the prefill chunk the plan's workspace is sized for
  int64_t probe_tokens = 512;     // measured prefill to estimate the time; 0: no estimate
  store::kv_storage storage = store::kv_storage::f32;  // for the disk estimate
  std::filesystem::path library;  // where the session will be stored (free disk); empty: not checked
};

struct ingest_plan {
  ingest::document doc;          // segments, files and the pre-ingest report (doc.report)
  ingest::token_map map;         // text token offsets <-> sources (page, line, file)
  std::vector<int32_t> tokens;   // what is read: the model's document template around the text
  int64_t token_offset = 0;      // tokens before the text: map offset t is tokens[token_offset + t]
  store::document_record record; // title, path, kind, content hash, source map (JSON)
  memory_plan memory;            // on the model's backend, for tokens.size()
  int64_t disk_bytes = 0;        // what the session will add to the library (KV rows, tokens)
  int64_t disk_free = -1;        // free bytes where the library is; -1: not checked
  double probe_tokens_per_second = 0;  // measured on this backend (0: not measured)
  double expected_seconds = -1;  // prefill time extrapolated from the probe; -1: unknown
  std::string refusal;           // empty: it can be read; else the reason, with the numbers
  bool fits() const { return refusal.empty(); }
  std::string summary() const;   // a few lines for a person: sizes, needs, time, refusal
};

// Reads the document and plans its prefill. Errors (missing, unreadable, corrupt or unsupported
// file, nothing to read) name the file; a plan that does not fit is returned with its refusal.
result<ingest_plan> plan_ingest(const std::filesystem::path& path, std::shared_ptr<const model> m,
                                const plan_params& p = {});

// Reads a plan into `session` (created if needed) with a checkpoint every chunk. Refuses a plan
// whose refusal is set. A cancel leaves the last checkpoint; calling again resumes from it.
// A changed document (a repository with edited files) is re-read from the last checkpoint before
// its first changed token: see read_document.
result<store::checkpoint_result> read_plan(store::library& lib, std::shared_ptr<const model> m,
                                           const std::string& session, const ingest_plan& plan,
                                           const read_params& p = {});

// The token map stored with a document record (its source_map JSON), and the offset of the map's
// first token in the session's tokens.
struct stored_map {
  ingest::token_map map;
  int64_t token_offset = 0;  // session token = record.token_begin + token_offset + map token
};
result<stored_map> parse_source_map(const store::document_record& rec);

// A passage an answer drew on: a line range of one of the session's documents and its share of
// the attention mass (generate_params::attention, summed over the answer's tokens).
struct source_span {
  size_t document = 0;        // index into session_info::documents
  ingest::source_ref source;  // file, page, line_begin..line_end, title
  double mass = 0;            // share of the answer's attention on the documents (0..1)
  int64_t token_begin = 0, token_end = 0;  // session positions [begin, end)
};

// The attention mass (indexed by session position) aggregated to the lines of the session's
// documents through their source maps; the `max_spans` heaviest lines, adjacent ones merged,
// heaviest first. Positions outside the documents (template tokens, the question, the answer)
// are not counted; a document whose source map is damaged is an error naming it.
result<std::vector<source_span>> attention_sources(const store::session_info& info,
                                                   std::span<const float> mass,
                                                   size_t max_spans = 5);

}  // namespace tome::service
