// The backend interface: how one YOCO model runs on one device (CPU now, CUDA next).
// The session decides WHAT runs (chunking, progress, cancel, sampling, snapshots); a backend
// decides HOW: it owns the weights in its own layout and each session's device memory
// (backend_state), and exchanges that memory with the host in one canonical layout (host_state)
// so snapshots are backend-independent. Not thread-safe per state; a model's backend is shared.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tome/engine.h"
#include "tome/model_config.h"
#include "tome/sampling.h"
#include "tome/session_parts.h"
#include "tome/status.h"

namespace tome {

struct safetensors_index;

// backend::attention_mass's heads: each a cross-decoder layer and a query head, none repeated.
inline status check_heads(const model_config& c, std::span<const attention_head> heads) {
  for (size_t i = 0; i < heads.size(); ++i) {
    const attention_head& h = heads[i];
    if (h.layer < 0 || h.layer >= c.n_cross_layers || h.head < 0 || h.head >= c.n_heads)
      return error("attention_mass: head (" + std::to_string(h.layer) + ", " + std::to_string(h.head) +
                   ") is not a cross-decoder head of the model");
    for (size_t j = 0; j < i; ++j)
      if (heads[j] == h) return error("attention_mass: a head is named twice");
  }
  return {};
}

// The weights of `heads` (each 1 / heads.size()), [n_cross_layers][n_heads] flat; any[l]: the
// layer has one; last: the last such layer (-1: none).
struct head_weight_table {
  std::vector<float> w;
  std::vector<bool> any;
  int64_t last = -1;
};
inline head_weight_table head_weights(const model_config& c, std::span<const attention_head> heads) {
  head_weight_table t;
  t.w.assign(static_cast<size_t>(c.n_cross_layers * c.n_heads), 0.0f);
  t.any.assign(static_cast<size_t>(c.n_cross_layers), false);
  for (const attention_head& h : heads) {
    t.w[static_cast<size_t>(h.layer * c.n_heads + h.head)] = 1.0f / static_cast<float>(heads.size());
    t.any[static_cast<size_t>(h.layer)] = true;
    t.last = std::max<int64_t>(t.last, h.layer);
  }
  return t;
}

// Device memory of one session: self-decoder states, the global KV, the last hidden row.
class backend_state {
 public:
  virtual ~backend_state() = default;
  virtual int64_t n_tokens() const = 0;
  virtual memory_breakdown memory() const = 0;
  // Host memory for this session's logits (V floats) that the backend fills fastest: the session
  // keeps its logits there and passes it to decode(). CUDA: page-locked, so a decode step's copy
  // lands in it directly. Empty (the default, or where it could not be allocated): the session
  // keeps them in ordinary memory.
  virtual std::span<float> host_logits() { return {}; }
};

// A session's memory in host form, canonical layout (what snapshots hold):
//   self_state[l]  gated retention: S [H_s, dk, dv] f32 (S_t = γ S_{t-1} + k'ᵀ v)
//                  sliding window:  K then V of the last min(n, W-1) positions, oldest first,
//                                   [m, D] each (K post-RoPE), m = self_rows
//   global_k/v     [n, kv_dim] f32, K post-RoPE, V plain
//   last_hidden    [D] f32: self-decoder output X_s of the last token (cross-decoder input)
struct host_state {
  int64_t n_tokens = 0;
  int64_t self_rows = 0;  // SWA: rows held per layer; gated retention: 0
  std::vector<std::vector<float>> self_state;
  std::vector<float> global_k, global_v;
  std::vector<float> last_hidden;
};

class backend {
 public:
  virtual ~backend() = default;
  virtual backend_kind kind() const = 0;
  virtual std::string description() const = 0;
  virtual int64_t weight_bytes() const = 0;
  // Of weight_bytes(): the token embedding table, set by the backend's load (a decode step reads
  // one row of it, so the bandwidth floor of a step leaves the rest out).
  int64_t embedding_bytes() const { return embedding_bytes_; }

  virtual std::unique_ptr<backend_state> new_state() const = 0;
  // For memory plans: global KV bytes per token, self-decoder state bytes of one session,
  // transient bytes of a prefill chunk (an estimate from the buffer shapes), bytes free now on
  // the device (-1: unknown).
  virtual int64_t kv_bytes_per_token() const = 0;
  // The KV rows reserve(n_tokens) allocates when it grows (the CUDA backends add room for an answer).
  virtual int64_t kv_rows_reserved(int64_t n_tokens) const { return n_tokens; }
  virtual int64_t self_state_bytes() const = 0;
  virtual int64_t workspace_bytes(int64_t chunk_tokens) const = 0;
  virtual int64_t available_memory() const = 0;
  // The backend's own device allocations now and at their peak (tome bench); -1 where not tracked.
  virtual device_memory_usage device_memory() const { return {}; }
  virtual void reset_peak_memory() const {}
  // Makes room for `n_tokens` in total (the global KV is preallocated and written in place).
  virtual status reserve(backend_state& st, int64_t n_tokens) const = 0;
  // Self-decoder over tokens at positions st.n_tokens() .. + tokens.size()-1 (any length: the
  // chunkwise form runs inside), writes their global K/V and the last hidden row. No
  // cross-decoder. `cancel` is checked between layers; a cancelled call leaves st unchanged.
  virtual status prefill(backend_state& st, std::span<const int32_t> tokens,
                         const std::atomic<bool>* cancel) const = 0;
  // Cross-decoder + head for the last token of st (from its last hidden row): V logits.
  virtual status last_logits(backend_state& st, std::span<float> logits) const = 0;
  // One step: appends `token` (self-decoder recurrent form, K/V append) and writes the logits
  // for the next position.
  virtual status decode(backend_state& st, int32_t token, std::span<float> logits) const = 0;
  // Batched decode: one step for each of several distinct sessions of this backend, with one pass
  // over the weights where the backend can: states[i] appends tokens[i] and logits[i] (V floats)
  // receives its next-token logits. Each session gets what decode() alone gives it, up to
  // rounding (CUDA: the products of more than kGemvMaxRows rows run in cuBLAS, and the attention
  // splits its keys differently). At most max_decode_batch() states per call. The default calls
  // decode() for each in order (the CPU backend); on an error the states before it have stepped.
  virtual status decode_batch(std::span<backend_state* const> states, std::span<const int32_t> tokens,
                              std::span<const std::span<float>> logits) const;
  virtual int max_decode_batch() const { return 32; }
  // decode_batch with greedy sampling on the device: next[i] gets the index of session i's largest
  // logit (NaN ignored, ties to the lowest id: tome::sampler at temperature 0 without a repetition
  // penalty) and the logits stay on the device (one int per session crosses to the host instead
  // of V floats). Backends without it (device_greedy() false) refuse; the session then samples
  // on the host.
  virtual bool device_greedy() const { return false; }
  virtual status decode_batch_greedy(std::span<backend_state* const>, std::span<const int32_t>,
                                     std::span<int32_t>) const {
    return error(description() + " has no device-side greedy sampling");
  }

  // A sampled decode step with pre-selection (tome/sampling.h): decode(st, token, logits), then
  // out = the candidates of those logits (the repetition penalty on `penalized`, sorted distinct
  // ids from tome::penalized_tokens, then the k first in the sampler's order), for
  // sampler::sample_candidates. The logits (the exact fallback when the candidates cannot decide)
  // are either written to `logits` (logits_kept false) or kept by the backend (logits_kept true):
  // then step_logits(st, ...) gives exactly them until st changes. The default selects on the host
  // (tome::select_candidates, the reference); CUDA selects on the device, where the logits are,
  // and keeps them there.
  virtual status decode_select(backend_state& st, int32_t token, std::span<float> logits,
                               std::span<const int32_t> penalized, float penalty, int k,
                               candidate_set& out, bool& logits_kept) const;
  // The logits a decode_select that set logits_kept kept for st's current position (V floats);
  // an error where it kept none for that position.
  virtual status step_logits(backend_state& st, std::span<float> logits) const;

  // For tests and golden checks: a full forward over `tokens` appended to st, returning logits at
  // every new position ([tokens.size(), V]) — the cross-decoder runs for every position.
  virtual status forward_all(backend_state& st, std::span<const int32_t> tokens,
                             std::vector<float>& logits, std::vector<float>* x_s = nullptr) const = 0;

  // Where the last token looks: the attention of the last cross-decoder layer's query for the
  // last position over all st.n_tokens() global KV positions, averaged over heads (sums to 1).
  // With `heads` (valid (layer, head) pairs, no repeats): the attention of those heads instead,
  // each at its own layer, averaged over them (still sums to 1).
  virtual status attention_mass(backend_state& st, std::span<float> mass,
                                std::span<const attention_head> heads) const = 0;
  virtual status export_state(const backend_state& st, host_state& out) const = 0;
  virtual status import_state(backend_state& st, const host_state& in) const = 0;
  // The self-decoder part only (self_state, self_rows, last_hidden, n_tokens; global_k/v left
  // empty): constant size whatever the length, what session::mark keeps.
  virtual status export_self(const backend_state& st, host_state& out) const = 0;
  // Returns st to an earlier position `self` (from export_self at self.n_tokens <= now, with the
  // same tokens up to there): the global KV rows beyond it are dropped in place (the prefix is
  // kept, not copied) and the self-decoder state and last hidden row are restored.
  virtual status rewind(backend_state& st, const host_state& self) const = 0;

  // Ranged exchange of global-KV rows (the session store's save and restore: rows go straight
  // between the caller's buffers and the backend's own, with no host_state copy of the whole KV).
  // Rows are K and V [n, kv_dim] each, K post-RoPE, in the wire format w (tome/session_parts.h);
  // native_kv_wire() is the one the backend keeps (no conversion: f32 on the CPU, bf16 on CUDA).
  // The YOCO backends (CPU, CUDA) implement all of them; the defaults below export through
  // export_state (O(n_tokens) per call) and refuse the ranged import.
  virtual kv_wire native_kv_wire() const { return kv_wire::f32; }
  // The precision the global KV is kept in ("f32", "bf16", "fp8-e4m3"): sessions of different
  // precisions are not exchanged through the session store (tome::kv_precision).
  virtual std::string kv_precision() const { return native_kv_wire() == kv_wire::bf16 ? "bf16" : "f32"; }
  // Starts an import: like import_state without the global KV. Reserves self.n_tokens rows, sets
  // the self-decoder state, the last hidden row and the token count (self as from export_self;
  // global_k/v empty). The KV rows are undefined until import_kv_rows fills them all.
  virtual status begin_kv_import(backend_state& st, const host_state& self) const;
  // Rows [row0, row0 + n) of st (inside its token count). May be called from several threads at
  // once for disjoint rows; the caller's buffers may be reused as soon as it returns.
  virtual status import_kv_rows(backend_state& st, int64_t row0, int64_t n, kv_wire w,
                                const void* k, const void* v) const;
  // Returns when every imported row is in place (the CUDA backend uploads asynchronously).
  virtual status finish_kv_import(backend_state& st) const;
  // Copies rows [row0, row0 + n) of st into k and v. May be called from several threads at once.
  virtual status export_kv_rows(const backend_state& st, int64_t row0, int64_t n, kv_wire w,
                                void* k, void* v) const;

 protected:
  int64_t embedding_bytes_ = 0;  // set by load when it reaches tok_embeddings.weight
};

// Host memory available now (MemAvailable of /proc/meminfo; -1 where unknown).
int64_t host_available_memory();

// The CPU backend (engine/src/backend/cpu/cpu_backend.cpp).
// `source` names the weights file in error messages.
result<std::unique_ptr<backend>> make_cpu_backend(const model_config& config,
                                                  const safetensors_index& weights,
                                                  const std::string& source, int n_threads);

// The Transformer baseline (model_config kind transformer) on the CPU
// (engine/src/backend/cpu/transformer.cpp); make_cpu_backend hands such configs to it.
result<std::unique_ptr<backend>> make_cpu_transformer_backend(const model_config& config,
                                                              const safetensors_index& weights,
                                                              const std::string& source, int n_threads);

#ifdef TOME_HAVE_CUDA
// The CUDA backend (engine/src/backend/cuda/cuda_backend.cpp): needs a CUDA device and cuBLAS,
// which is loaded at run time; `why` says what is missing.
bool cuda_backend_available(std::string* why);
// kv: the global KV's precision (kv_format::fp8: YOCO configs with head_dim 16/32/64/128 only).
// matrices: bf16 or int8 weight-only (engine.h weight_format; int8: YOCO configs only).
result<std::unique_ptr<backend>> make_cuda_backend(const model_config& config,
                                                   const safetensors_index& weights,
                                                   const std::string& source,
                                                   kv_format kv = kv_format::native,
                                                   weight_format matrices = weight_format::automatic);
// The Transformer baseline on the GPU (engine/src/backend/cuda/transformer.cpp); make_cuda_backend
// hands configs of kind transformer to it.
result<std::unique_ptr<backend>> make_cuda_transformer_backend(const model_config& config,
                                                               const safetensors_index& weights,
                                                               const std::string& source);
#endif

}  // namespace tome
