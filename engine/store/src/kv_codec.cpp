// At-rest KV encodings of the session store (tome/store/kv_codec.h): bf16 and fp8 e4m3 with
// per-row scales, and zstd framing. Payload layouts (little-endian):
//   f32   K f32[n*kv_dim] | V f32[n*kv_dim]
//   bf16  K u16[n*kv_dim] | V u16[n*kv_dim]
//   fp8   scales f32[n][2] (K, V of each token) | K u8[n*kv_dim] | V u8[n*kv_dim]
// then, with zstd, one zstd frame of that payload (its content size recorded in the frame).
#include "tome/store/kv_codec.h"

#include <zstd.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

namespace tome::store {

const char* to_string(kv_storage s) {
  switch (s) {
    case kv_storage::f32: return "f32";
    case kv_storage::bf16: return "bf16";
    case kv_storage::fp8_e4m3: return "fp8";
  }
  return "?";
}

const char* to_string(compression c) { return c == compression::zstd ? "zstd" : "none"; }

std::optional<kv_storage> parse_kv_storage(std::string_view name) {
  if (name == "f32") return kv_storage::f32;
  if (name == "bf16") return kv_storage::bf16;
  if (name == "fp8" || name == "fp8_e4m3" || name == "e4m3") return kv_storage::fp8_e4m3;
  return std::nullopt;
}

std::optional<compression> parse_compression(std::string_view name) {
  if (name == "none") return compression::none;
  if (name == "zstd") return compression::zstd;
  return std::nullopt;
}

uint16_t f32_to_bf16(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint8_t f32_to_e4m3(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u || a == 0x7f800000u) return static_cast<uint8_t>(sign | 0x7f);  // NaN, inf
  if (a >= 0x3c800000u) {  // >= 2^-6: normal in e4m3; round the 23-bit mantissa to 3 bits
    const uint32_t r = (a + 0x7ffffu + ((a >> 20) & 1u)) >> 20;       // (exp32 << 3) | m3
    const int64_t code = static_cast<int64_t>(r) - (120 << 3);        // rebias 127 -> 7
    return static_cast<uint8_t>(sign | (code > 0x7e ? 0x7e : code));  // saturate at 448
  }
  // Subnormal range: multiples of 2^-9; code 8 is exactly 2^-6 (the smallest normal).
  const float m = std::nearbyint(std::bit_cast<float>(a) * 512.0f);
  return static_cast<uint8_t>(sign | static_cast<uint8_t>(m));
}

namespace {

std::array<float, 256> make_e4m3_table() {
  std::array<float, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const int e = (c >> 3) & 15, m = c & 7;
    float v = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                     : std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
    if ((c & 0x7f) == 0x7f) v = std::nanf("");
    t[static_cast<size_t>(c)] = (c & 0x80) ? -v : v;
  }
  return t;
}

const std::array<float, 256>& e4m3_table() {
  static const std::array<float, 256> t = make_e4m3_table();
  return t;
}

}  // namespace

float e4m3_to_f32(uint8_t q) { return e4m3_table()[q]; }

void encode_fp8_row(std::span<const float> x, float& scale, std::span<uint8_t> q) {
  float amax = 0;
  for (float v : x)
    if (std::isfinite(v)) amax = std::max(amax, std::abs(v));
  scale = amax > 0 ? amax / 448.0f : 1.0f;
  const float inv = 1.0f / scale;
  for (size_t i = 0; i < x.size(); ++i) {
    float y = x[i] * inv;
    if (std::isfinite(x[i]) && std::abs(y) > 448.0f)
      y = std::copysign(448.0f, y);  // rounding of inv
    q[i] = f32_to_e4m3(y);
  }
}

void decode_fp8_row(std::span<const uint8_t> q, float scale, std::span<float> x) {
  const auto& t = e4m3_table();
  for (size_t i = 0; i < q.size(); ++i) x[i] = scale * t[q[i]];
}

std::vector<uint8_t> compress_bytes(std::span<const uint8_t> raw, compression c) {
  std::vector<uint8_t> out;
  compress_bytes_into(raw, c, out);
  return out;
}

void compress_bytes_into(std::span<const uint8_t> raw, compression c, std::vector<uint8_t>& out) {
  if (c == compression::none) {
    out.assign(raw.begin(), raw.end());
    return;
  }
  out.resize(ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  out.resize(ZSTD_isError(n) ? 0 : n);  // cannot fail with a bound-sized buffer
}

status decompress_bytes(std::span<const uint8_t> stored, compression c, size_t expected_size,
                        std::vector<uint8_t>& raw) {
  if (c == compression::none) {
    if (stored.size() != expected_size)
      return error("stored size " + std::to_string(stored.size()) + " bytes, expected " +
                   std::to_string(expected_size));
    raw.assign(stored.begin(), stored.end());
    return {};
  }
  const unsigned long long content = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
    return error("not a zstd frame with a recorded size");
  if (content != expected_size)
    return error("zstd frame holds " + std::to_string(content) + " bytes, expected " +
                 std::to_string(expected_size));
  raw.resize(expected_size);
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(n)) return error(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != expected_size) return error("zstd frame decompressed to the wrong size");
  return {};
}

size_t kv_payload_bytes(int64_t n, int64_t kv_dim, kv_storage s) {
  const size_t count = static_cast<size_t>(n) * static_cast<size_t>(kv_dim);
  switch (s) {
    case kv_storage::f32: return 8 * count;
    case kv_storage::bf16: return 4 * count;
    case kv_storage::fp8_e4m3: return 8 * static_cast<size_t>(n) + 2 * count;
  }
  return 0;
}

void encode_kv_payload(std::span<const float> k, std::span<const float> v, int64_t n,
                       int64_t kv_dim, kv_storage s, std::span<uint8_t> out) {
  const size_t count = static_cast<size_t>(n * kv_dim);
  switch (s) {
    case kv_storage::f32:
      if (count > 0) {
        std::memcpy(out.data(), k.data(), 4 * count);
        std::memcpy(out.data() + 4 * count, v.data(), 4 * count);
      }
      break;
    case kv_storage::bf16: {
      auto* h = reinterpret_cast<uint16_t*>(out.data());  // vector storage: aligned
      for (size_t i = 0; i < count; ++i) h[i] = f32_to_bf16(k[i]);
      for (size_t i = 0; i < count; ++i) h[count + i] = f32_to_bf16(v[i]);
      break;
    }
    case kv_storage::fp8_e4m3: {
      const size_t d = static_cast<size_t>(kv_dim), rows = static_cast<size_t>(n);
      uint8_t* qk = out.data() + 2 * rows * 4;
      uint8_t* qv = qk + count;
      for (size_t r = 0; r < rows; ++r) {
        float sc[2];
        encode_fp8_row(k.subspan(r * d, d), sc[0], {qk + r * d, d});
        encode_fp8_row(v.subspan(r * d, d), sc[1], {qv + r * d, d});
        std::memcpy(out.data() + 8 * r, sc, 8);
      }
      break;
    }
  }
}

std::vector<uint8_t> encode_kv(std::span<const float> k, std::span<const float> v, int64_t n,
                               int64_t kv_dim, kv_storage s, compression c) {
  std::vector<uint8_t> raw(kv_payload_bytes(n, kv_dim, s));
  encode_kv_payload(k, v, n, kv_dim, s, raw);
  if (c == compression::none) return raw;
  return compress_bytes(raw, c);
}

status decode_kv_payload(std::span<const uint8_t> raw, int64_t n, int64_t kv_dim, kv_storage s,
                         std::span<float> k, std::span<float> v) {
  if (n < 0 || kv_dim <= 0) return error("invalid KV row shape");
  const size_t count = static_cast<size_t>(n) * static_cast<size_t>(kv_dim);
  if (k.size() != count || v.size() != count) return error("KV row output has the wrong size");
  const size_t raw_size = kv_payload_bytes(n, kv_dim, s);
  if (raw.size() != raw_size)
    return error("KV row holds " + std::to_string(raw.size()) + " bytes, expected " +
                 std::to_string(raw_size));
  switch (s) {
    case kv_storage::f32:
      if (count > 0) {
        std::memcpy(k.data(), raw.data(), 4 * count);
        std::memcpy(v.data(), raw.data() + 4 * count, 4 * count);
      }
      break;
    case kv_storage::bf16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        k[i] = bf16_to_f32(h);
        std::memcpy(&h, raw.data() + 2 * (count + i), 2);
        v[i] = bf16_to_f32(h);
      }
      break;
    case kv_storage::fp8_e4m3: {
      const size_t d = static_cast<size_t>(kv_dim), rows = static_cast<size_t>(n);
      const uint8_t* qk = raw.data() + 8 * rows;
      const uint8_t* qv = qk + count;
      for (size_t r = 0; r < rows; ++r) {
        float sk, sv;
        std::memcpy(&sk, raw.data() + 8 * r, 4);
        std::memcpy(&sv, raw.data() + 8 * r + 4, 4);
        if (!std::isfinite(sk) || !std::isfinite(sv) || sk <= 0 || sv <= 0)
          return error("fp8 KV row " + std::to_string(r) + " has an invalid scale");
        decode_fp8_row({qk + r * d, d}, sk, k.subspan(r * d, d));
        decode_fp8_row({qv + r * d, d}, sv, v.subspan(r * d, d));
      }
      break;
    }
  }
  return {};
}

status decode_kv(std::span<const uint8_t> bytes, int64_t n, int64_t kv_dim, kv_storage s,
                 compression c, std::span<float> k, std::span<float> v) {
  if (n < 0 || kv_dim <= 0) return error("invalid KV row shape");
  const size_t count = static_cast<size_t>(n) * static_cast<size_t>(kv_dim);
  if (k.size() != count || v.size() != count) return error("KV row output has the wrong size");
  if (c == compression::none) return decode_kv_payload(bytes, n, kv_dim, s, k, v);
  std::vector<uint8_t> raw;
  TOME_TRY(decompress_bytes(bytes, c, kv_payload_bytes(n, kv_dim, s), raw));
  return decode_kv_payload(raw, n, kv_dim, s, k, v);
}

}  // namespace tome::store
