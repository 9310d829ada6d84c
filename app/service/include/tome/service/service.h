// tome::service: the one orchestration layer over the engine and the session store, used by the
// CLI and (later) the desktop app; no Qt. Reading a document's tokens into a session with a
// checkpoint every chunk (resumed when run again after a cancel or crash), and asking a question
// in a thread that branches from the document state. Ingest (path -> text) is not wired in yet:
// callers pass token ids. Runs on the calling thread; progress and tokens are delivered there.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "tome/engine.h"
#include "tome/store/library.h"

namespace tome::service {

// $TOME_LIBRARY, else $XDG_DATA_HOME/tome/library.db, else ~/.local/share/tome/library.db.
std::filesystem::path default_library_path();

struct read_params {
  store::session_spec spec;  // used when the session is new (spec.name is set by the call)
  store::checkpoint_params checkpoint;
};

// Reads one document (its token ids) into `session`, creating the session if needed. The document
// record is written before the prefill, so running the same call again after a cancel or crash
// resumes at the last checkpoint; a document already read completely is not read again. A
// document read before whose content changed (same path and kind, other hash: a repository with
// edited files) is re-read from the last checkpoint at or before its first changed token
// (store::library::rewind); the result's resumed_from says how many tokens were kept. Only the
// session's last document can change this way.
result<store::checkpoint_result> read_document(store::library& lib, std::shared_ptr<const model> m,
                                               const std::string& session,
                                               const store::document_record& doc,
                                               std::span<const int32_t> doc_tokens,
                                               const read_params& p = {});

struct ask_params {
  std::string thread;  // empty: a new thread "q<N>"; an existing name continues that thread
  generate_params gen;
  bool attention = false;  // collect the answer's attention mass (one more pass per token)
  // Answer with one of the session's file paths (the "<|file|>{path}" headers of its repositories):
  // the one the model finds most likely after the question (tome::choose), instead of generating
  // text, which can copy a path with a wrong token. For "Which file defines X?"-style questions.
  // The answer (the path, then the end token) is streamed and saved like a generated one; gen's
  // cancel is honoured, its sampling settings and `attention` are not used.
  bool choose_path = false;
  // With choose_path: calibrate the choice against the paths' prior (contextual calibration).
  // Every path is scored after content-free questions in the training form, "Which file defines
  // `N/A`?" and "Which file defines ``?", on the document's context; the answer is the path
  // maximising log p(path | question) - path_prior_weight * (their mean log p). The model's
  // choices otherwise pile onto a few files whatever the symbol (training/results/question-form/:
  // 0.5 raised which-file from 10.6 to 16.7% on whole repositories and from 42 to 54% on 16K
  // windows). The prior costs two passes over the paths' prefix tree (one decode step a node),
  // once per document: it is kept in the session library (store::library::put_derived, until the
  // document changes). 0: the plain most likely path.
  double path_prior_weight = 0.5;
  // The longest the prior may take, in seconds, estimated before it is computed from one timed
  // decode step and the size of the paths' tree (a 1M-token repository on a CPU would take over an
  // hour); beyond it this question is answered uncalibrated (nothing is kept, the next question
  // estimates again). <= 0: no limit.
  double path_prior_budget_s = 300;
  // Called when the paths' prior is not kept yet, before it is computed or skipped (the slow part
  // of a first calibrated question; a caller shows a notice).
  struct path_prior_event {
    bool skipped = false;          // over path_prior_budget_s: this answer is not calibrated
    double estimated_seconds = 0;  // the estimated cost of computing it
    int64_t paths = 0;             // the paths scored
    int64_t steps = 0;             // decode steps (nodes of the paths' token tree) per question
    int64_t questions = 0;         // content-free questions (a pass over the tree each)
  };
  std::function<void(const path_prior_event&)> on_path_prior;
  // With choose_path: when the model names pointer heads (config().pointer_heads) and the question
  // names a symbol (tome::symbol_tokens: `quoted`, or its last word), the answer is the file whose
  // tokens those heads attend to most from the symbol's tokens (tome::pointer_attention, summed
  // per file by tome::pointer_mass) among the files that contain the symbol's name as a word
  // (tome::symbol_occurrences, tome::pointer_choice; all files when none does): the model finds
  // where the context holds the symbol, the files' spans say which file that is. No prior is
  // computed then. Where several files hold the name, the heads choose among its uses and its
  // definition: training/results/pointer/README.md. false: the path choice above (over every path).
  bool pointer = true;
  // What the pointer read, passed to on_pointer when it decided the answer.
  struct pointer_event {
    std::string symbol;                // the name searched for (tome::symbol_name)
    std::vector<std::string> paths;    // the context's paths, in order of first appearance
    std::vector<double> mass;          // the heads' attention summed over each path's tokens
    std::vector<int64_t> occurrences;  // how often each path's text holds the name as a word
    size_t chosen = 0;                 // the answer (tome::pointer_choice)
  };
  std::function<void(const pointer_event&)> on_pointer;
};

// One line about a pointer answer, for a status bar or stderr (no final period): where the heads
// looked, among how many files holding the name, and the runner-up, e.g.
//   "`Square` occurs in 3 files; the model's pointer heads attend most to src/shapes.py (62% of
//    their attention); next src/draw.py (20%)".
std::string describe_pointer(const ask_params::pointer_event& e);

struct ask_result {
  std::string thread;
  generate_result answer;
  // With ask_params::attention: the answer's attention mass by session position (attention_sources
  // in ingest.h turns it into passages of the documents). For an answer the pointer chose
  // (ask_params::pointer): its heads' attention from the question's symbol over the context, where
  // the model found the symbol.
  std::vector<float> attention;
  int64_t context_tokens = 0;  // tokens in the thread after the answer
};

// Asks `question` (the model's "question" template when it has one) in a thread of `session`,
// generates the answer (streamed to on_token) and saves the thread (only its own suffix).
result<ask_result> ask(store::library& lib, std::shared_ptr<const model> m,
                       const std::string& session, const std::string& question,
                       const ask_params& p = {}, const token_fn& on_token = {});

// ask() on a session kept on the backend between questions (the desktop app keeps the open
// session resident): `s` holds the document state of `session`, marked at its end by
// `document_end`. The thread's own earlier turns are prefilled after the document (its rows in the
// library are not read), then the question; the answer is streamed and the thread saved exactly
// as ask() does, and `s` is rewound to the document's end whatever happens. In a new thread the
// answer is ask()'s, bit for bit; in a continued thread the earlier turns are recomputed by one
// prefill instead of read back (equal up to rounding). Refused if the library's document state
// no longer matches `s` (read again since): reopen it.
result<ask_result> ask_resident(store::library& lib, session& s, const session_mark& document_end,
                                const std::string& session_name, const std::string& question,
                                const ask_params& p = {}, const token_fn& on_token = {});

struct complete_params {
  generate_params gen;  // defaults for code: max_tokens 64, greedy; stops at EOS
};

// Fill-in-the-middle at a cursor with the whole session (e.g. a repository) in context: the
// model's "completion" template with {prefix} and {suffix} (the text before and after the cursor
// in the file being edited) is appended to the session's document state and the middle is
// generated. Nothing is saved: the library is only read.
result<generate_result> complete(const store::library& lib, std::shared_ptr<const model> m,
                                 const std::string& session, const std::string& prefix,
                                 const std::string& suffix, const complete_params& p = {},
                                 const token_fn& on_token = {});

}  // namespace tome::service
