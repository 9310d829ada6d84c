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

namespace tome {

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
