// fp8 e4m3 ("fn": max 448, 0x7f/0xff NaN) codec of the global KV, device side (tome/kernels.h,
// "fp8 global KV"). Bit for bit the CPU twin's (engine/src/backend/cpu/kv_fp8.h) and the session
// store's host codec (engine/store/src/kv_codec.cpp: f32_to_e4m3): round to nearest even,
// saturating at 448, NaN/inf stored as NaN.
#pragma once

#include <cstdint>

namespace tome::kernels::fp8 {

constexpr float kMax = 448.0f;

__device__ __forceinline__ uint8_t encode(float x) {
  const uint32_t u = __float_as_uint(x);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);
  if (a >= 0x3c800000u) {  // >= 2^-6: normal; round the 23-bit mantissa to 3 bits
    const uint32_t r = (a + 0x7ffffu + ((a >> 20) & 1u)) >> 20;
    const int code = static_cast<int>(r) - (120 << 3);
    return static_cast<uint8_t>(sign | static_cast<uint32_t>(code > 0x7e ? 0x7e : code));
  }
  const float m = rintf(__uint_as_float(a) * 512.0f);  // subnormals: multiples of 2^-9
  return static_cast<uint8_t>(sign | static_cast<uint32_t>(m));
}

__device__ __forceinline__ float decode(uint8_t q) {
  const int e = (q >> 3) & 15, m = q & 7;
  float v = e == 0 ? static_cast<float>(m) * (1.0f / 512.0f) : ldexpf(1.0f + static_cast<float>(m) * 0.125f, e - 7);
  if ((q & 0x7f) == 0x7f) v = __int_as_float(0x7fc00000);
  return (q & 0x80) ? -v : v;
}

// The row scale: max|x| / 448 rounded up to 16 significant bits (so that e4m3 value * scale is
// exact in f32 and a dequantised row quantises back to the same codes and scale).
__device__ __forceinline__ float scale_for(float amax) {
  const float s = amax / kMax;
  const uint32_t u = __float_as_uint(s);
  if (!(s > 0.0f) || u >= 0x7f800000u) return s;
  return __uint_as_float((u + 0xffu) & ~0xffu);
}

}  // namespace tome::kernels::fp8
