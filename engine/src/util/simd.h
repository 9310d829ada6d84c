// Helpers for the CPU backend's own hot loops: function multi-versioning (one build runs on any
// x86-64 and uses AVX2/AVX-512 where present) and a vectorisable exp.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define TOME_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TOME_CPU_CLONES
#endif

// The v16f helpers must always inline: called out of line from a clone of another ISA, a
// 64-byte vector argument would cross an ABI boundary.
#define TOME_INLINE inline __attribute__((always_inline))

namespace tome {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// 16 floats as one value (an AVX-512 register, or 2 AVX / 4 SSE registers in other clones).
typedef float v16f __attribute__((vector_size(64)));

TOME_INLINE v16f load16(const float* p) {
  v16f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Sum of the 16 lanes by halving (4 shuffles + adds, no scalar loop).
TOME_INLINE float hsum16(v16f v) {
  v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  return v[0];
}

// Dot product of n floats: 16-wide partial products, one tree reduction at the end.
TOME_INLINE float dot16(const float* a, const float* b, int64_t n) {
  v16f acc = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc += load16(a + i) * load16(b + i);
  float s = hsum16(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Sum of n floats (same scheme).
TOME_INLINE float sum16(const float* a, int64_t n) {
  v16f acc = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc += load16(a + i);
  float s = hsum16(acc);
  for (; i < n; ++i) s += a[i];
  return s;
}

typedef int32_t v16i __attribute__((vector_size(64)));

// exp_approx on 16 lanes with vector operations only (vectorised in every clone).
TOME_INLINE v16f exp16(v16f x) {
  const v16f lo = v16f{} - 87.0f, hi = v16f{} + 88.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const v16f fx = x * 1.44269504088896341f + 0.5f;
  v16f fl = __builtin_convertvector(__builtin_convertvector(fx, v16i), v16f);
  fl = fl > fx ? fl - 1.0f : fl;  // floor
  const v16i n = __builtin_convertvector(fl, v16i);
  x = x - fl * 0.693359375f + fl * 2.12194440e-4f;
  const v16f z = x * x;
  v16f y = v16f{} + 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  const v16i bits = (n + 127) << 23;
  v16f scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// exp(x) for x in [-87, 88] (clamped outside), within ~2 ulp: Cephes' expf polynomial. Written
// branch-free so `#pragma omp simd` loops vectorise it.
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float fx = x * 1.44269504088896341f + 0.5f;
  const int32_t n0 = static_cast<int32_t>(fx);
  float fl = static_cast<float>(n0);
  fl = fl > fx ? fl - 1.0f : fl;  // floor
  const int32_t n = static_cast<int32_t>(fl);
  x = x - fl * 0.693359375f + fl * 2.12194440e-4f;
  const float z = x * x;
  float y = 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return y * scale;
}

}  // namespace tome
