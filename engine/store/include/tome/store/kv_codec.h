// At-rest encodings of the global KV in the session store: f32 (exact, the default), bf16
// (round to nearest even, half the bytes) and fp8 e4m3 with one scale per token row and per K/V
// (a quarter of the bytes), each optionally compressed with zstd. Only f32 gives a resumed
// session bit-identical logits; the documented error bounds of the lossy forms are below.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tome/status.h"

namespace tome::store {

enum class kv_storage { f32 = 0, bf16 = 1, fp8_e4m3 = 2 };
enum class compression { none = 0, zstd = 1 };

const char* to_string(kv_storage s);
const char* to_string(compression c);
std::optional<kv_storage> parse_kv_storage(std::string_view name);    // "f32", "bf16", "fp8"
std::optional<compression> parse_compression(std::string_view name);  // "none", "zstd"

// bf16: round to nearest even; relative error <= 2^-8 for normal values.
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t h);

// fp8 e4m3 (the "fn" variant: no infinities, 0x7f/0xff are NaN, max 448), round to nearest
// even, saturating. A row of values x is stored as q = e4m3(x / s) with s = max|x| / 448, so
// decoding gives s * e4m3_value(q). Error per element, documented and tested:
//   |x| >= s * 2^-6 (normal range): relative error <= 2^-4 (3 mantissa bits, half an ulp);
//   smaller |x| (subnormals):        absolute error <= s * 2^-10.
// Non-finite inputs are stored as NaN (they never occur in a healthy KV).
uint8_t f32_to_e4m3(float x);
float e4m3_to_f32(uint8_t q);
void encode_fp8_row(std::span<const float> x, float& scale, std::span<uint8_t> q);
void decode_fp8_row(std::span<const uint8_t> q, float scale, std::span<float> x);

// A row payload: K and V of n tokens ([n, kv_dim] f32 each) in the chosen storage, then the
// chosen compression. decode_kv checks every size and fails (never crashes) on bad bytes.
std::vector<uint8_t> encode_kv(std::span<const float> k, std::span<const float> v, int64_t n,
                               int64_t kv_dim, kv_storage s, compression c);
status decode_kv(std::span<const uint8_t> bytes, int64_t n, int64_t kv_dim, kv_storage s,
                 compression c, std::span<float> k, std::span<float> v);

// The same in parts, without allocations, for the store's row pipelines: the payload size before
// compression; encoding into exactly that many bytes; checking and decoding an uncompressed
// payload (decode_kv = decompress_bytes + decode_kv_payload).
size_t kv_payload_bytes(int64_t n, int64_t kv_dim, kv_storage s);
void encode_kv_payload(std::span<const float> k, std::span<const float> v, int64_t n,
                       int64_t kv_dim, kv_storage s, std::span<uint8_t> out);
status decode_kv_payload(std::span<const uint8_t> raw, int64_t n, int64_t kv_dim, kv_storage s,
                         std::span<float> k, std::span<float> v);

// Generic byte compression (state blobs): none = copy; zstd = a frame with its content size.
std::vector<uint8_t> compress_bytes(std::span<const uint8_t> raw, compression c);
// The same into `out` (its capacity reused).
void compress_bytes_into(std::span<const uint8_t> raw, compression c, std::vector<uint8_t>& out);
// Fails unless the bytes decompress to exactly `expected_size` bytes.
status decompress_bytes(std::span<const uint8_t> stored, compression c, size_t expected_size,
                        std::vector<uint8_t>& raw);

}  // namespace tome::store
