// tome::choose: the answer restricted to a closed set of strings. Given candidate token sequences
// (e.g. the paths of a repository's files for "Which file defines X?"), finds the one the model
// gives the highest probability after the session's tokens,
//   p(c) = p(c_1 | ctx) p(c_2 | ctx c_1) ... p(end | ctx c_1 .. c_n),
// without scoring every candidate: a uniform-cost search over the candidates' prefix tree. Each
// step decodes one shared prefix (a tree node) and extends the frontier by its children; since a
// child's cost -log p only grows, the first complete candidate taken from the frontier is the
// most likely one (the same one as scoring them all: the tests check it). A confident model
// takes about one step per answer token, an unsure one more; max_steps bounds the work.
//
// A generated answer can copy a path with one token wrong ("comps/x.c" for "scripts/x.c"); an
// answer chosen this way is always one of the candidates. The session is left where it was.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/engine.h"

namespace tome {

struct choose_params {
  // Decode steps the search may run (one per expanded prefix). When they run out before a
  // candidate is proven best, the cheapest prefix on the frontier is finished greedily (its
  // most likely continuation among the candidates) and the result says it is not proven.
  int64_t max_steps = 4096;
  // Host memory for the marks of expanded prefixes (a mark holds the self-decoder state and the
  // logits), taken when the search leaves a prefix it may come back to. Past it, or where the
  // global KV rows of a prefix were overwritten by another branch, the prefix is reached again by
  // prefilling its tokens (self-decoder only) from the nearest usable mark.
  int64_t max_mark_bytes = int64_t{1} << 30;
  const std::atomic<bool>* cancel = nullptr;  // checked before every step ("cancelled")
  // Score every candidate: the search goes on past the most likely one until the whole prefix
  // tree is expanded (one step per non-terminal node), and choose_result::logprobs holds
  // log p(candidate | the session) for each. Used to calibrate a choice against the same
  // candidates' probabilities under a content-free question. Over max_steps it is an error.
  bool score_all = false;
  // Calibration (contextual calibration, Zhao et al. 2021): with `prior` set (one value per
  // candidate, typically log p(candidate) after a content-free question on the same context,
  // from score_all), the search finds the candidate maximising
  //   log p(c | session) - prior_weight * prior[c]
  // instead of log p(c | session), still without scoring every candidate: a prefix's key is
  // its cost plus prior_weight * (the least prior in its subtree), a lower bound of every
  // completion's, so the first complete candidate taken is the best (A* with a consistent
  // bound). Priors are clamped to [-1e4, 0]; prior_weight must be finite and >= 0.
  std::span<const double> prior;
  double prior_weight = 0;
};

struct choose_result {
  size_t index = 0;     // the chosen candidate (the first of equal duplicates)
  double logprob = 0;   // log p(its tokens, then `end` | the session), in double
  double score = 0;     // the objective it maximised: logprob - prior_weight * prior[index]
  bool proven = true;   // false: max_steps ran out (see choose_params::max_steps)
  int64_t steps = 0;    // decode steps run (prefixes expanded)
  int64_t replayed = 0; // tokens prefilled again to return to a prefix left earlier
  std::vector<double> logprobs;  // choose_params::score_all: one per candidate (-inf: impossible)
};

// `candidates` must be non-empty, `end` must not occur inside one, and every id must be in the
// model's vocabulary; the session needs room for the longest candidate (`end` is scored, never
// appended). The session ends where it was, also after an error or a cancel.
result<choose_result> choose(session& s, std::span<const std::vector<int32_t>> candidates,
                             int32_t end, const choose_params& p = {});

// The paths of the files in `tokens`, in order of first appearance, without duplicates: after each
// `file_start` token, the text up to the end of its line (the model's "file" template,
// "<|file|>{path}\n"). A header with no line end within 1024 bytes, or cut by a special token or
// the end of `tokens`, is skipped. Where the answer to "Which file defines X?" must be one of them,
// choose() over their encodings gives it.
std::vector<std::string> file_paths(const tokenizer& tok, std::span<const int32_t> tokens,
                                    int32_t file_start);

// ---- The attention pointer ("Which file defines X?" read from where the model looks) ----
// At a question's symbol, some cross-decoder heads (the model's config().pointer_heads) attend to
// where the context holds that symbol. Their attention (session::attention_mass(heads)) summed
// over each file's tokens names the file. training/results/pointer/README.md has the
// measurements (the file that holds the symbol, not always the one that defines it).

// One header of `tokens` (as file_paths reads them) and the positions it leads, [begin, end):
// from its file_start token to the next file_start token, the next `stop` token (the document's
// end; -1: none) or `limit`, whichever comes first. A restated header gives another span of the
// same path.
struct file_span {
  std::string path;
  int64_t begin = 0;
  int64_t end = 0;
};
std::vector<file_span> file_spans(const tokenizer& tok, std::span<const int32_t> tokens, int32_t file_start,
                                  int32_t stop, int64_t limit);

// The mass of each of `paths` (in their order): the sum of mass[begin, end) over its spans.
std::vector<double> pointer_mass(std::span<const float> mass, std::span<const file_span> spans,
                                 std::span<const std::string> paths);

// Where a which-file question names its symbol: the index in `question` (its tokens, the question
// template's included) of the symbol's last token, where the pointer heads are read. In the last
// `quoted` span: the token before the one holding the closing backtick, or that token itself
// when the backtick is merged into it. Without backticks: the last token with a letter or a digit
// (the bare "Which file defines NAME?"). None when there is no symbol (`` or no word).
std::optional<size_t> symbol_end(const tokenizer& tok, std::span<const int32_t> question);
// The symbol's tokens [first, last] (last == symbol_end): from the token holding its first byte
// (the opening backtick's token when the symbol starts in it). Without backticks, the last word's
// token alone.
std::optional<std::pair<size_t, size_t>> symbol_tokens(const tokenizer& tok, std::span<const int32_t> question);

// The symbol's name as text: the bytes between the question's last two backticks (the span
// symbol_tokens reads; spaces around it trimmed), or without backticks its last word (a run of
// [A-Za-z0-9_] and bytes >= 0x80). None where there is no symbol (`` or no word).
std::optional<std::string> symbol_name(const tokenizer& tok, std::span<const int32_t> question);

// How often `name` occurs as a word in each of `paths` (in their order): in the text of the
// path's spans after their header line, where neither the byte before nor the byte after an
// occurrence is one of [A-Za-z0-9_] (so `Foo` is not counted in `FooBar` or `my_Foo`). A path
// without a span, or an empty name, counts 0.
std::vector<int64_t> symbol_occurrences(const tokenizer& tok, std::span<const int32_t> tokens,
                                        std::span<const file_span> spans, std::span<const std::string> paths,
                                        std::string_view name);

// The pointer's answer among `paths` (the index): the path with the most mass among those whose
// files hold the symbol (occurrences > 0), since a file that does not contain the name cannot
// define it; where no file holds it, the path with the most mass. Ties: the first. `mass` and
// `occurrences` have one value per path (non-empty).
size_t pointer_choice(std::span<const double> mass, std::span<const int64_t> occurrences);

// The pointer's reading of a question: appends question[0 .. rows.second] to `s` (self-decoder
// only; the caller appends the rest) and returns the attention of the model's pointer heads
// (config().pointer_heads) at each of the rows rows.first .. rows.second (the symbol's tokens,
// symbol_tokens), averaged over them, over the positions s held on entry (the context; the
// question's own tokens are left out). On an error or a cancel the rows appended so far stay.
result<std::vector<float>> pointer_attention(session& s, std::span<const int32_t> question,
                                             std::pair<size_t, size_t> rows, const std::atomic<bool>* cancel = nullptr);

}  // namespace tome
