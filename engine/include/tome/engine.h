// The public API of Tome's YOCO inference engine.
//   model    immutable: config, tokenizer, weights on one backend; shared by many sessions.
//   session  one document's composite memory: a gated-retention state or SWA ring per
//            self-decoder layer plus the single global KV cache; prefill, decode, snapshots.
// Threads: a model may be shared across threads; a session is used by one thread at a time.
// No Qt, SQLite or Poppler types here; errors are values (tome/status.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/model_config.h"
#include "tome/sampling.h"
#include "tome/status.h"
#include "tome/tokenizer.h"

namespace tome {

const char* version_string();

enum class backend_kind { automatic, cpu, cuda };
const char* to_string(backend_kind kind);

// The precision of the global KV: native (f32 on the CPU backend, bf16 on CUDA) or fp8 e4m3 with
// one f32 scale per (token, KV head) for K and for V (CUDA, YOCO models: about half the bytes of
// bf16 and of its decode traffic; the CPU backend refuses it). Snapshots and the session store
// exchange dequantised f32 values; a session stays within one precision (kv_precision()).
enum class kv_format { native, fp8 };
const char* to_string(kv_format f);  // "native", "fp8"

// How a model's matrices are held on the CUDA backend: automatic (int8 where the file stores I8
// matrices, else bf16), bf16 (int8 matrices widened at load), or int8 weight-only (int8 with one
// f32 scale per output row, about half the bytes of bf16; float matrices are quantised at load as
// training/export.py does: scale = max|row| / 127, q = round-half-even(w / scale)). Activations
// stay bf16. The CPU backend always computes in f32 from the stored values: it accepts automatic
// and bf16, and int8 only for a file whose matrices are int8. model::create_random with int8
// builds an int8 image (the random matrices quantised so), the same on every backend.
enum class weight_format { automatic, bf16, int8 };
const char* to_string(weight_format f);  // "auto", "bf16", "int8"

struct load_params {
  backend_kind backend = backend_kind::automatic;
  int n_threads = 0;  // CPU threads for BLAS and the rest; 0 = all cores
  kv_format kv = kv_format::native;
  weight_format weights = weight_format::automatic;
};

// Bytes held by one model or session, for memory plans and `tome bench`.
struct memory_breakdown {
  int64_t weights = 0;
  int64_t embedding = 0;   // of weights: the token embedding table, of which a decode step reads one row
  int64_t global_kv = 0;
  int64_t self_state = 0;  // retention states or SWA rings
  int64_t workspace = 0;
};

// What a session of n_tokens needs on a model's backend (model::plan_memory), to refuse early with
// a clear message instead of failing midway: "needs 3.1 GiB (global KV 3.0 GiB, ...), 2.0 GiB free".
struct memory_plan {
  int64_t n_tokens = 0;
  memory_breakdown need;   // weights: already loaded (shown, not counted again in additional())
  int64_t available = -1;  // bytes free now on the backend's device (CPU: MemAvailable); -1 unknown
  int64_t additional() const { return need.global_kv + need.self_state + need.workspace; }
  bool fits() const { return available < 0 || additional() <= available; }
  std::string describe() const;
};
std::string format_bytes(int64_t bytes);  // "512 B", "3.4 MiB", "2.50 GiB"

// Device memory held by the backend's own allocations (weights, KV, states, workspaces, library
// workspaces): now and the peak since the last reset; device_used: the whole device's used memory
// (CUDA context and other processes included). -1 where unknown (the CPU backend).
struct device_memory_usage {
  int64_t current = -1, peak = -1, device_used = -1;
};

class backend;           // engine/src/backend/backend.h
class safetensors_file;  // engine/src/model/safetensors.h
struct safetensors_index;

class model {
 public:
  // Loads a model directory (config.json, model.safetensors, tokenizer.model). Every tensor's
  // name, shape and dtype is checked against the config; errors name the file and the problem.
  static result<std::shared_ptr<model>> load(const std::filesystem::path& dir,
                                             const load_params& params = {});
  // A model with random weights for benchmarks (no tokenizer: tok() must not be called).
  // Matrices are uniform with variance 1/fan-in, norms 1; the same seed gives the same model.
  static result<std::shared_ptr<model>> create_random(const model_config& config, uint64_t seed,
                                                      const load_params& params = {});
  ~model();
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  const model_config& config() const { return config_; }
  const tokenizer& tok() const { return *tokenizer_; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // 32 hex digits: a hash over config.json, model.safetensors and tokenizer.model bytes.
  const std::string& fingerprint() const { return fingerprint_; }
  const std::filesystem::path& directory() const { return dir_; }
  std::string weights_dtype() const;  // "bf16", "f16", "f32", "int8" (the stored matrix dtype)
  int64_t n_parameters() const;
  backend_kind backend_in_use() const;
  std::string backend_description() const;  // e.g. "CPU (2 threads, OpenBLAS)"
  memory_breakdown memory() const;
  // The memory a session of n_tokens will need here (prefill in chunks of chunk_tokens), and
  // what is free; the session refuses a prefill that does not fit with plan.describe(). The
  // global KV counts the rows the backend reserves for n_tokens (on the GPU: up to 4,096 more,
  // room for an answer).
  memory_plan plan_memory(int64_t n_tokens, int64_t chunk_tokens = 32768) const;
  int64_t kv_bytes_per_token() const;  // global KV bytes of one token on this backend

  // Internal: the backend the model runs on.
  const backend& be() const { return *backend_; }
  device_memory_usage device_memory() const;
  void reset_peak_memory() const;

 private:
  model() = default;
  status init_backend(const safetensors_index& index, const std::string& source,
                      const load_params& params);
  std::filesystem::path dir_;
  model_config config_;
  std::unique_ptr<tokenizer> tokenizer_;
  std::unique_ptr<safetensors_file> weights_;
  std::vector<uint8_t> owned_weights_;  // create_random's safetensors image
  std::unique_ptr<backend> backend_;
  std::string weights_dtype_;
  int64_t n_parameters_ = 0;
  std::string fingerprint_;
};

struct prefill_progress {
  int64_t done = 0;   // tokens of this call completed
  int64_t total = 0;  // tokens of this call
  double tokens_per_second = 0;
  double elapsed_seconds = 0;
};
using progress_fn = std::function<void(const prefill_progress&)>;

struct prefill_params {
  int64_t chunk_tokens = 32768;  // self-decoder chunk; progress and cancel are checked per chunk
  bool compute_logits = true;    // run the cross-decoder for the last position afterwards
  progress_fn on_progress;       // called after every chunk (on the calling thread)
  const std::atomic<bool>* cancel = nullptr;
};

struct prefill_result {
  int64_t tokens_done = 0;  // tokens of this call now in the session
  bool cancelled = false;   // stopped early; the session is valid at tokens_done
  double seconds = 0;
};

enum class stop_reason { eos, stop_string, max_tokens, cancelled, callback };
const char* to_string(stop_reason reason);

struct generate_params {
  int max_tokens = 256;
  sampling_params sampling;
  std::vector<std::string> stop;  // stop strings; the text stops before the match
  bool stop_at_eos = true;
  const std::atomic<bool>* cancel = nullptr;
  // If set: for every generated token, the attention mass of the step that predicted it
  // (session::attention_mass) is added here, indexed by session position (resized to fit): which
  // parts of the document the answer drew on. Costs one more cross-decoder pass per token.
  std::vector<float>* attention = nullptr;
  // Steps pre-select up to this many candidates where the backend computed the logits (on the
  // GPU for CUDA, where the logits then stay unless needed; tome/sampling.h) and finish the chain
  // on them when that provably gives the same token as the full logits (greedy: one candidate;
  // top_k in 1..preselect_k: top_k of them; min_p with top_p off), else on the full logits.
  // 0 = always the full logits. Either way the tokens are the same.
  int preselect_k = kPreselectK;
};

// Receives each new token and the UTF-8 text it completes (may be empty: a partial character,
// or bytes held back because they may start a stop string). Return false to stop. After the last
// token, one call with id -1 delivers any text still held back.
using token_fn = std::function<bool(int32_t id, std::string_view text)>;

struct generate_result {
  std::vector<int32_t> tokens;
  std::string text;
  stop_reason reason = stop_reason::max_tokens;
  double seconds = 0;
};

struct session_state;  // engine/src/memory/session_state.h
struct session_mark_data;

// A position of a session to return to (session::mark, session::rewind): its token count, a hash
// of the tokens up to there, the self-decoder state and the logits. Constant size whatever the
// session's length, because the global KV is not copied: rewinding keeps the KV prefix in place.
// Immutable and cheap to copy (shared).
class session_mark {
 public:
  session_mark();
  ~session_mark();
  session_mark(const session_mark&);
  session_mark& operator=(const session_mark&);
  bool valid() const { return d_ != nullptr; }
  int64_t n_tokens() const;
  int64_t bytes() const;  // host memory it holds

 private:
  friend class session;
  std::shared_ptr<const session_mark_data> d_;
};

class session {
 public:
  static result<std::unique_ptr<session>> create(std::shared_ptr<const model> m);
  // Restores a session from serialize()'s bytes; refuses bytes made by another model
  // (fingerprint), a newer format version, or anything truncated or corrupt.
  static result<std::unique_ptr<session>> deserialize(std::shared_ptr<const model> m,
                                                      std::span<const uint8_t> bytes);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Appends tokens: the self-decoder runs in chunks carrying its state, the global KV is written
  // in place, and the cross-decoder runs only for the last position (if compute_logits).
  result<prefill_result> prefill(std::span<const int32_t> tokens, const prefill_params& p = {});
  // One decode step: appends `token` and returns the logits for the next position.
  result<std::span<const float>> decode(int32_t token);
  // Batched decode: one step for each of several sessions of one model, with one pass over the
  // weights per step (the CUDA backend; the CPU backend steps them one after another):
  // sessions[i] appends tokens[i], and then sessions[i]->logits() are its next-token logits, what
  // decode(tokens[i]) would have returned up to rounding (docs/performance.md, "Batched decode").
  // Sessions must be distinct and share one model; any number (run in groups of at most 32).
  // Ids, context room and the model are checked first (a refused call changes nothing); an error
  // inside the backend leaves the sessions as an error of decode() would.
  static status decode_batch(std::span<session* const> sessions, std::span<const int32_t> tokens);
  // The same step with greedy sampling: next[i] = the greedy choice after sessions[i]'s new token
  // (tome::sampler at temperature 0 without a repetition penalty: the largest logit, ties to the
  // lowest id). The CUDA backend picks it on the device and copies one int per session instead of
  // the logits, which then stay on the device (logits() computes them again if asked).
  static status decode_batch_greedy(std::span<session* const> sessions, std::span<const int32_t> tokens,
                                    std::span<int32_t> next);
  // Appends tokens like prefill, but runs the cross-decoder at EVERY appended position and writes
  // their logits to `out` ([tokens.size(), V] f32, row i predicts the token after tokens[i]):
  // teacher-forced scoring (`tome score`). Prefill the part that needs no logits first (the early
  // exit), and call this in pieces to bound `out` (V floats per token). Afterwards logits() is the
  // last row. On a refused call (context, vocabulary, memory) nothing is appended.
  status logits_for(std::span<const int32_t> tokens, std::vector<float>& out);
  // Logits after the last token (computed on demand if the last prefill skipped them).
  result<std::span<const float>> logits();
  // Where the model looks to predict the next token: the attention of the last cross-decoder
  // layer from the last position over every position of the global KV, averaged over heads
  // ([n_tokens()], sums to 1). The desktop app aggregates it to source spans.
  result<std::vector<float>> attention_mass();
  // The same from the given cross-decoder heads (each at its layer, averaged over them; the
  // model's config().pointer_heads for a which-file question's symbol, tome::pointer_mass). Empty:
  // as above.
  result<std::vector<float>> attention_mass(std::span<const attention_head> heads);
  // Samples up to max_tokens; every returned token is appended to the session.
  result<generate_result> generate(const generate_params& p, const token_fn& on_token = {});

  int64_t n_tokens() const;
  const std::vector<int32_t>& tokens() const;
  const model& get_model() const { return *model_; }
  memory_breakdown memory() const;

  // The snapshot format (versioned, with the model's fingerprint); see docs/model-format.md.
  std::vector<uint8_t> serialize() const;

  // Remembers the current position (e.g. the end of a document) to rewind to later.
  result<session_mark> mark() const;
  // Returns to `m`, taken on this session (or on one holding the same tokens) at or before the
  // current position: the tokens after it are dropped, the self-decoder state and logits are
  // restored, and the global KV prefix stays where it is (nothing is recomputed or copied). Used to
  // answer many requests against one resident document. Refused, leaving the session unchanged,
  // if the tokens up to the mark differ from the session's (it was rewound further and went on).
  status rewind(const session_mark& m);

  // Internal: composite memory for the graph and tests.
  session_state& state() { return *state_; }
  const session_state& state() const { return *state_; }

 private:
  session() = default;
  status check_append(std::span<const int32_t> tokens, int64_t chunk_tokens);
  static status decode_batch_impl(std::span<session* const> sessions, std::span<const int32_t> tokens,
                                  std::span<int32_t> next);
  std::shared_ptr<const model> model_;
  std::unique_ptr<session_state> state_;
};

}  // namespace tome
