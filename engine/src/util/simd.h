// Helpers for the CPU backend's own hot loops: function multi-versioning (one build runs on any
// x86-64 and uses AVX2/AVX-512 where present) and a vectorisable exp.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

// Not under gcc's sanitizers, nor clang's ThreadSanitizer, whose instrumented ifunc resolvers run
// before the runtime is up (a crash at load: the `tsan` preset). clang 14 defines neither
// __SANITIZE_ macro; __has_feature tells. clang's ASan runs the clones (the `asan` preset).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TOME_TSAN_BUILD 1
#endif
#endif
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    !defined(TOME_TSAN_BUILD)
#define TOME_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TOME_CPU_CLONES
#endif

// Hot helpers always inline into the multi-versioned (TOME_CPU_CLONES) kernels.
#define TOME_INLINE inline __attribute__((always_inline))

namespace tome {

// Helpers on fixed 16-float groups. They take and return plain floats and pointers (no vector
// types in signatures: a 64-byte vector crossing a function boundary changes the ABI between
// clones, and clang refuses it), and their fixed-size loops vectorise in every clone.

// Sum of t[0..16) by halving (no scalar reduction loop); t is clobbered.
TOME_INLINE float hsum16(float* t) {
  for (int k = 0; k < 8; ++k) t[k] += t[k + 8];
  for (int k = 0; k < 4; ++k) t[k] += t[k + 4];
  for (int k = 0; k < 2; ++k) t[k] += t[k + 2];
  return t[0] + t[1];
}

// Dot product of n floats: 16 partial sums, one tree reduction at the end.
TOME_INLINE float dot16(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
#pragma omp simd
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float s = hsum16(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Sum of n floats (same scheme).
TOME_INLINE float sum16(const float* a, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
#pragma omp simd
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k];
  float s = hsum16(acc);
  for (; i < n; ++i) s += a[i];
  return s;
}

// exp(x) for x in [-87, 88] (clamped outside), within ~2 ulp: Cephes' expf polynomial. Written
// branch-free so `#pragma omp simd` loops vectorise it (GCC needs -fno-trapping-math for the
// float-to-int conversion; cmake/TomeCompileOptions.cmake sets it).
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float fl = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  x = x - fl * 0.693359375f + fl * 2.12194440e-4f;
  const float z = x * x;
  float y = 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  return y * std::bit_cast<float>((static_cast<int32_t>(fl) + 127) << 23);
}

}  // namespace tome
