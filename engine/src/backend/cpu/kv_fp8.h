// CPU twins of the fp8 e4m3 global KV codec (tome/kernels.h "fp8 global KV";
// kernels/kv_fp8/kv_fp8.cuh): one f32 scale per (token, KV head), s = max|x| / 448 rounded up to
// 16 significant bits, q = e4m3(x / s) (round to nearest even, saturating at 448, the same bits
// as tome::store::f32_to_e4m3), dequantised value e4m3_value(q) * s, exact in f32. So a
// dequantised row quantises back to the same codes and scale: an fp8 KV exported as f32 and
// imported again is bit-identical. Header-only (the CUDA backend and the tests use it; the CPU
// backend keeps its KV in f32 and refuses the fp8 option).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace tome::cpu {

inline uint8_t e4m3_encode(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);  // NaN, inf
  if (a >= 0x3c800000u) {  // >= 2^-6: normal; round the 23-bit mantissa to 3 bits
    const uint32_t r = (a + 0x7ffffu + ((a >> 20) & 1u)) >> 20;
    const int code = static_cast<int>(r) - (120 << 3);
    return static_cast<uint8_t>(sign | static_cast<uint32_t>(code > 0x7e ? 0x7e : code));
  }
  const float m = std::nearbyint(std::bit_cast<float>(a) * 512.0f);  // subnormals: multiples of 2^-9
  return static_cast<uint8_t>(sign | static_cast<uint32_t>(m));
}

inline float e4m3_decode(uint8_t q) {
  const int e = (q >> 3) & 15, m = q & 7;
  float v = e == 0 ? static_cast<float>(m) / 512.0f : std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
  if ((q & 0x7f) == 0x7f) v = std::nanf("");
  return (q & 0x80) ? -v : v;
}

inline float kv_fp8_scale(float amax) {
  const float s = amax / 448.0f;
  const uint32_t u = std::bit_cast<uint32_t>(s);
  if (!(s > 0.0f) || u >= 0x7f800000u) return s;
  return std::bit_cast<float>((u + 0xffu) & ~0xffu);
}

// x f32 [rows, heads*hd] -> q u8 [rows, heads*hd], scale [rows, heads].
inline void kv_quantize_fp8(const float* x, int64_t rows, int64_t heads, int64_t hd, uint8_t* q, float* scale) {
  for (int64_t rh = 0; rh < rows * heads; ++rh) {
    const float* xr = x + rh * hd;
    float amax = 0.0f;
    for (int64_t d = 0; d < hd; ++d) amax = std::fmax(amax, std::fabs(xr[d]));
    const float s = kv_fp8_scale(amax);
    for (int64_t d = 0; d < hd; ++d) q[rh * hd + d] = s > 0.0f ? e4m3_encode(xr[d] / s) : 0;
    scale[rh] = s;
  }
}

// f32 out [rows, heads*hd] = e4m3_value(q) * scale.
inline void kv_dequantize_fp8(const uint8_t* q, const float* scale, int64_t rows, int64_t heads, int64_t hd,
                              float* out) {
  for (int64_t i = 0; i < rows * heads * hd; ++i) out[i] = e4m3_decode(q[i]) * scale[i / hd];
}

}  // namespace tome::cpu
