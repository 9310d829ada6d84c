// Teacher-forced scoring of token rows through the engine (`tome score`): the rows file format
// (docs/model-format.md, "Scoring rows"), its reader, and the per-row cross-entropy / exact-match
// computation. Uses the public engine API only (tome::session::logits_for); no sampling, no text.
//
// A row is tokens [T+1] (inputs tokens[0..T-1], targets tokens[1..T]), an LM mask [T] and an answer
// mask [T] over the targets, as training/data/tasks.py builds them. Only the positions from the
// first masked target to the last one need logits: the prefix before is prefilled (self-decoder
// only, YOCO's early exit), the rest goes through the cross-decoder in pieces.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tome/engine.h"

namespace tome::cli {

// Rows file: little-endian, "TOMEROWS" + u32 version (1) + u32 n_rows, then per row u32 T (>= 1),
// i32 tokens[T+1], u8 lm[T], u8 answer[T] (each 0 or 1); nothing after the last row.
inline constexpr char kRowsMagic[8] = {'T', 'O', 'M', 'E', 'R', 'O', 'W', 'S'};
inline constexpr uint32_t kRowsVersion = 1;

struct score_row {
  std::vector<int32_t> tokens;  // [T+1]
  std::vector<uint8_t> lm;      // [T]: target t+1 counts in ce
  std::vector<uint8_t> answer;  // [T]: target t+1 is part of the answer (exact match, answer_ce)
  int64_t length() const { return static_cast<int64_t>(lm.size()); }
};

// Parses a rows file held in memory; `name` is the file named in errors. vocab_size > 0: every
// token id is checked to lie in [0, vocab_size). Every size is checked against the bytes present.
result<std::vector<score_row>> parse_rows(const std::vector<uint8_t>& bytes,
                                          const std::string& name, int64_t vocab_size);
// Reads and parses `path` (errors name it).
result<std::vector<score_row>> read_rows_file(const std::filesystem::path& path,
                                              int64_t vocab_size);
// The file image of `rows` (tests and tools; the Python writer is training/eval_rows.py).
std::vector<uint8_t> encode_rows(const std::vector<score_row>& rows);

struct row_score {
  double ce = 0;              // sum of -log p(target) over lm targets (log-softmax in double)
  int64_t n = 0;              // lm targets
  std::optional<bool> exact;  // every answer target is the argmax (incl. the EOS); none: no answer
  std::optional<bool> exact_text;   // the same without the EOS targets
  std::optional<double> answer_ce;  // sum of -log p over answer targets
  int64_t answer_n = 0;
  int64_t prefilled = 0;  // tokens run through the self-decoder only
  int64_t scored = 0;     // positions run through the cross-decoder too
  // score_params::choose_paths: the answer restricted to the paths of the files in the row's
  // context (tome::choose over tome::file_paths of the tokens before the answer). choice_exact:
  // the chosen path is the answer's text; none where the row has no answer or no file header.
  std::optional<bool> choice_exact;
  std::string choice;        // the chosen path
  int64_t choices = 0;       // paths it chose from
  int64_t choice_steps = 0;  // decode steps the search ran
  // score_params::path_scores: log p(path, EOS | the row before its answer) for each path of
  // the context, in order of first appearance (`choice` is the most likely of them).
  std::vector<std::pair<std::string, double>> path_logprobs;
  // score_params::pointer: the file the model's pointer heads attend to most from the question's
  // symbol (their attention averaged over the symbol's tokens, tome::pointer_attention, summed per
  // file, tome::pointer_mass) among the files whose text holds the symbol (tome::pointer_choice: as
  // `tome ask --choose-path` answers), every path's mass, the file with the most mass of all
  // (pointer_top) and the paths holding the symbol with their occurrences; none where the row has
  // no question, no symbol or no file header.
  std::optional<bool> pointer_exact;
  std::string pointer_choice;
  std::string pointer_top;
  std::optional<bool> pointer_top_exact;
  std::vector<std::pair<std::string, double>> pointer_mass;
  std::vector<std::pair<std::string, int64_t>> pointer_occurrences;
};

struct score_params {
  int64_t prefill_chunk = 32768;  // self-decoder chunk of the prefix
  int64_t logits_chunk = 512;     // positions per logits_for call (V floats each are held)
  int32_t eos = -1;               // the model's EOS id: left out of exact_text
  progress_fn on_prefill;         // prefill progress of long prefixes
  // Also choose each answer among the context's file paths (row_score::choice_exact); needs the
  // model's tokenizer and its file_start token.
  bool choose_paths = false;
  // With choose_paths: score every path, not only the most likely (row_score::path_logprobs;
  // one decode step per node of the paths' prefix tree).
  bool path_scores = false;
  // Also the pointer's choice (row_score::pointer_exact): the model's config().pointer_heads read
  // at the question's symbol (tome::symbol_tokens in the tokens from the row's last question token).
  bool pointer = false;
};

// Scores one row in a fresh session of `m`.
result<row_score> score_one(const std::shared_ptr<const model>& m, const score_row& row,
                            const score_params& p);

// {"row": i, "ce": …, "n": …, "exact": …, "exact_text": …, "answer_ce": …, "answer_n": …, …,
// "choice_exact": …, "choice": "path", "choices": …, "choice_steps": …[, "path_logprobs": {"path":
// logprob, …}]}: one JSON line (no newline); doubles printed
// with 17 significant digits.
std::string score_json(int64_t index, const row_score& s, double seconds);

}  // namespace tome::cli
