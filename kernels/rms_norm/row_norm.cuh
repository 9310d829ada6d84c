// One row's RMSNorm computed by a whole CTA, shared by the block-per-row norm kernels
// (kernels::rms_norm / add_rms_norm below 128 rows: decode steps) and the decode GEMVs' norm
// prologue (kernels::gemv_norm, gemv_i8_norm), so a norm fused into a GEMV gives the bits of the
// separate kernel followed by the plain GEMV.
#pragma once

#include "common/common.cuh"

namespace tome::kernels {

// The CTA size of both users: the sum's order depends on it, so they must agree.
constexpr int kRowNormThreads = 256;
// The most bytes of rows either user stages in shared memory beside its partial sums (static
// shared memory): together they stay within the 48 KiB a launch gets without opting in.
constexpr int64_t kRowNormMaxBytes = 47 * 1024;

// RMSNorm of one row of nv 16-byte words (dim = 8 * nv) by the kThreads threads of a CTA: thread
// t takes words t, t + kThreads, ...; v = x, or bf16(x + r) (kernels::add's rounding) when r is
// given, and x_out (when given) receives v; the sum of squares is each thread's in word and
// element order, then warp_sum, then the kThreads / 32 warp sums in warp order (red: that many
// floats of shared memory that no one else uses until the caller's next barrier). Word c of the
// result, bf16(bf16(v * inv) * w) (without w: bf16(v * inv)), inv = rsqrt(mean(v^2) + eps), the
// expression of cpu::rms_norm, goes to put(c, word); get(c) returns what the same thread put at c
// (the first pass stores v there). x and x_out may be the same row (in place).
// w_smem (optional): w already on its way into shared memory through cp.async groups this thread
// committed (the decode GEMVs copy it before griddepcontrol.wait: it does not depend on the
// kernel before them); they are waited for before the CTA barrier between the passes, and the
// second pass reads w there instead of from global memory. Same values, same bits.
template <int kThreads, class Put, class Get>
__device__ __forceinline__ void row_rms_norm(const uint16_t* x, const uint16_t* r, const uint16_t* w,
                                             uint16_t* x_out, int nv, float eps, float* red, Put put, Get get,
                                             const uint4* w_smem = nullptr) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "whole warps");
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  const uint4* rv = reinterpret_cast<const uint4*>(r);
  uint4* ov = reinterpret_cast<uint4*>(x_out);
  float ss = 0.0f;
  for (int c = threadIdx.x; c < nv; c += kThreads) {
    float a[8];
    unpack_bf16x8(xv[c], a);
    if (rv) {
      float b[8];
      unpack_bf16x8(rv[c], b);
#pragma unroll
      for (int e = 0; e < 8; ++e) a[e] = round_bf16(a[e] + b[e]);
    }
    const uint4 v = pack_bf16x8(a);  // exact: the values are bf16 already
    if (ov) ov[c] = v;
    put(c, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) ss += a[e] * a[e];
  }
  ss = warp_sum(ss);
  if (lane == 0) red[warp] = ss;
  if (w_smem) asm volatile("cp.async.wait_all;\n" ::: "memory");
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < kThreads / 32; ++i) total += red[i];
  const float inv = rsqrtf(total / static_cast<float>(nv * 8) + eps);
  const uint4* wv = w_smem ? w_smem : reinterpret_cast<const uint4*>(w);
  for (int c = threadIdx.x; c < nv; c += kThreads) {
    float f[8];
    unpack_bf16x8(get(c), f);
    if (wv) {
      float g[8];
      unpack_bf16x8(wv[c], g);
#pragma unroll
      for (int e = 0; e < 8; ++e) f[e] = round_bf16(f[e] * inv) * g[e];
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) f[e] = round_bf16(f[e] * inv);
    }
    put(c, pack_bf16x8(f));
  }
}

}  // namespace tome::kernels
