// Session snapshot encoding: the bytes the store persists. Layout (all little-endian):
//   "TOMESNAP" | u32 version | u32 flags | 32 bytes fingerprint (hex) | u32 self kind |
//   i64 n_tokens, self_rows, n_self_layers, self_layer_floats, dim, kv_dim | u32 kv dtype (0 f32) |
//   i32 tokens[n] | per self layer f32[self_layer_floats] | f32 K[n*kv_dim] | f32 V[n*kv_dim] |
//   f32 last_hidden[dim] | u64 XXH3-64 of everything before it.
#include <cstring>
#include <limits>
#include <string>

#include "memory/session_state.h"
#include "util/hash.h"

namespace tome {
namespace {

constexpr char kMagic[8] = {'T', 'O', 'M', 'E', 'S', 'N', 'A', 'P'};
constexpr uint32_t kVersion = 1;

class writer {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  template <class T>
  void put_array(const T* data, size_t n) {
    const auto* p = reinterpret_cast<const uint8_t*>(data);
    out.insert(out.end(), p, p + n * sizeof(T));
  }
  std::vector<uint8_t> out;
};

class reader {
 public:
  explicit reader(std::span<const uint8_t> b) : b_(b) {}
  template <class T>
  bool get(T& v) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  template <class T>
  bool get_array(std::vector<T>& v, int64_t n) {
    if (n < 0 || static_cast<uint64_t>(n) > (b_.size() - pos_) / sizeof(T)) return false;
    v.resize(static_cast<size_t>(n));
    std::memcpy(v.data(), b_.data() + pos_, static_cast<size_t>(n) * sizeof(T));
    pos_ += static_cast<size_t>(n) * sizeof(T);
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

int64_t self_layer_floats(const model_config& c, int64_t self_rows) {
  if (c.self_kind == self_decoder_kind::gated_retention)
    return c.n_self_heads * c.self_head_dim() * c.self_head_dim();
  return 2 * self_rows * c.dim;
}

}  // namespace

std::vector<uint8_t> encode_snapshot(const model_config& c, const std::string& fingerprint,
                                     const std::vector<int32_t>& tokens, const host_state& hs) {
  writer w;
  w.put_array(kMagic, 8);
  w.put(kVersion);
  w.put(uint32_t{0});
  char fp[32] = {};
  std::memcpy(fp, fingerprint.data(), std::min<size_t>(32, fingerprint.size()));
  w.put_array(fp, 32);
  w.put(static_cast<uint32_t>(c.self_kind));
  const int64_t layer_floats = self_layer_floats(c, hs.self_rows);
  for (int64_t v : {hs.n_tokens, hs.self_rows, c.n_self_layers, layer_floats, c.dim, c.kv_dim()}) w.put(v);
  w.put(uint32_t{0});  // kv dtype: f32
  w.put_array(tokens.data(), tokens.size());
  for (const auto& layer : hs.self_state) w.put_array(layer.data(), layer.size());
  w.put_array(hs.global_k.data(), hs.global_k.size());
  w.put_array(hs.global_v.data(), hs.global_v.size());
  w.put_array(hs.last_hidden.data(), hs.last_hidden.size());
  const uint64_t sum = hash64(w.out);
  w.put(sum);
  return std::move(w.out);
}

status decode_snapshot(std::span<const uint8_t> bytes, const model_config& c,
                       const std::string& fingerprint, std::vector<int32_t>& tokens,
                       host_state& hs) {
  if (bytes.size() < 8 + 8 + 32 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return error("not a Tome session snapshot (bad magic or too short)");
  reader r(bytes);
  char magic[8];
  for (char& m : magic) r.get(m);
  uint32_t version = 0, flags = 0, kind = 0, kv_dtype = 0;
  r.get(version);
  r.get(flags);
  if (version > kVersion)
    return error("snapshot format version " + std::to_string(version) +
                 " was written by a newer Tome (this one reads up to " + std::to_string(kVersion) + ")");
  if (version < 1) return error("snapshot format version 0 is invalid");
  // Checksum first: every later check then reads bytes known to be as written.
  uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (hash64(bytes.first(bytes.size() - 8)) != stored)
    return error("snapshot checksum mismatch: the data is corrupt or truncated");
  char fp[32];
  for (char& ch : fp) r.get(ch);
  const std::string file_fp(fp, 32);
  if (file_fp != fingerprint.substr(0, 32))
    return error("snapshot was made by a different model (fingerprint " + file_fp + ", this model " +
                 fingerprint + ")");
  r.get(kind);
  int64_t n = 0, self_rows = 0, layers = 0, layer_floats = 0, dim = 0, kv_dim = 0;
  for (int64_t* v : {&n, &self_rows, &layers, &layer_floats, &dim, &kv_dim})
    if (!r.get(*v)) return error("snapshot header is truncated");
  r.get(kv_dtype);
  if (kind != static_cast<uint32_t>(c.self_kind) || layers != c.n_self_layers || dim != c.dim ||
      kv_dim != c.kv_dim())
    return error("snapshot shapes do not match the model (self-decoder kind, layers or widths)");
  if (kv_dtype != 0) return error("snapshot KV dtype " + std::to_string(kv_dtype) + " is not supported");
  if (n < 0 || n > c.max_context) return error("snapshot token count " + std::to_string(n) + " is invalid");
  const int64_t want_rows = c.self_kind == self_decoder_kind::sliding_window
                                ? std::min<int64_t>(n, std::max<int64_t>(c.window - 1, 0))
                                : 0;
  if (self_rows != want_rows || layer_floats != self_layer_floats(c, self_rows))
    return error("snapshot self-decoder state has the wrong size");
  hs.n_tokens = n;
  hs.self_rows = self_rows;
  if (!r.get_array(tokens, n)) return error("snapshot is truncated (tokens)");
  for (int32_t t : tokens)
    if (t < 0 || t >= c.vocab_size) return error("snapshot holds token id " + std::to_string(t) + " outside the vocabulary");
  hs.self_state.assign(static_cast<size_t>(layers), {});
  for (auto& layer : hs.self_state)
    if (!r.get_array(layer, layer_floats)) return error("snapshot is truncated (self-decoder state)");
  if (!r.get_array(hs.global_k, n * kv_dim) || !r.get_array(hs.global_v, n * kv_dim))
    return error("snapshot is truncated (global KV)");
  if (!r.get_array(hs.last_hidden, dim)) return error("snapshot is truncated (last hidden row)");
  if (r.pos() + 8 != bytes.size()) return error("snapshot has trailing bytes");
  return {};
}

}  // namespace tome
