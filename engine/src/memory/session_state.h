// A session's composite memory as the engine holds it: the backend's device state (self-decoder
// states + global KV + last hidden row), the token ids, and the logits for the next position.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "tome/status.h"

namespace tome {

struct session_state {
  std::unique_ptr<backend_state> dev;
  std::vector<int32_t> tokens;
  // The logits for the next position ([V], valid when logits_valid): the device state's own host
  // buffer where it offers one (backend_state::host_logits; CUDA: page-locked, so a decode step's
  // copy lands there directly), else logits_store.
  std::span<float> logits;
  std::vector<float> logits_store;
  bool logits_valid = false;
  // Not logits_valid, but the backend kept this position's logits (backend::decode_select):
  // backend::step_logits gives them. Every change of the state clears it with logits_valid.
  bool logits_kept = false;
};

// The snapshot format (docs/model-format.md, "Session snapshots"): little-endian binary with a
// magic, a version, the model fingerprint, shapes, tokens, the host_state and an XXH3-64 checksum.
std::vector<uint8_t> encode_snapshot(const model_config& c, const std::string& fingerprint,
                                     const std::vector<int32_t>& tokens, const host_state& hs);
// Decodes and checks everything: magic, version, checksum, fingerprint, shapes, lengths.
status decode_snapshot(std::span<const uint8_t> bytes, const model_config& c,
                       const std::string& fingerprint, std::vector<int32_t>& tokens,
                       host_state& hs);

}  // namespace tome
