// Shared device helpers for Tome's kernels: bf16 conversion, warp/block reductions, status.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "tome/kernels.h"

namespace tome::kernels {

__device__ __forceinline__ float ld(const uint16_t* p, int64_t i) {
  return __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
__device__ __forceinline__ void st(uint16_t* p, int64_t i, float v) {
  reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024).
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int n_warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < n_warps ? partial[threadIdx.x] : 0.0f;
  if (warp == 0) v = warp_sum(v);
  __shared__ float total;
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  return total;
}

// Waits for the kernel before this one to complete and its writes to be visible, when this grid
// was launched as a programmatic dependent launch (PDL); returns at once otherwise.
__device__ __forceinline__ void griddep_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the next kernel start its CTAs now if it is a programmatic dependent launch (the decode
// GEMVs: they prefetch their weights, then griddepcontrol.wait for this grid to complete and its
// writes to be visible before reading x, and store only after that). No effect on kernels launched
// the ordinary way. Called first thing by the small kernels that precede GEMVs in a decode step.
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// 8 bf16 values in one 16-byte word (the vectorised elementwise kernels: one load or store per 8
// values; each value converted exactly as ld() / st() convert it, so results are bit-identical).
__device__ __forceinline__ void unpack_bf16x8(const uint4& v, float f[8]) {
  const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 t = __bfloat1622float2(p[j]);
    f[2 * j] = t.x;
    f[2 * j + 1] = t.y;
  }
}
__device__ __forceinline__ uint4 pack_bf16x8(const float f[8]) {
  uint4 v;
  __nv_bfloat162* p = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
  for (int j = 0; j < 4; ++j) p[j] = __floats2bfloat162_rn(f[2 * j], f[2 * j + 1]);
  return v;
}
// One RoPE pair's rotation, (x0 c - x1 s, x1 c + x0 s), with its roundings spelled out (a product,
// then a fused multiply-add) so every kernel that rotates (rope.cu, rope_qk.cu, kv_fp8.cu, the
// decode GEMVs' epilogue) gives the same bits, whatever the compiler would contract.
__device__ __forceinline__ float rope_lo(float x0, float x1, float c, float s) {
  return __fmaf_rn(x0, c, -__fmul_rn(x1, s));
}
__device__ __forceinline__ float rope_hi(float x0, float x1, float c, float s) {
  return __fmaf_rn(x1, c, __fmul_rn(x0, s));
}
__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }
// 2^x by the SFU (ex2.approx.ftz: 2^-inf = +0), the softmax exponent of the attention kernels.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
// Two floats rounded to a bf16 pair (lo in the low half), as a tensor-core operand register.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
inline bool is_aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

inline status launch_status() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? status{} : status{static_cast<int>(e), cudaGetErrorString(e)};
}
inline status bad_argument(const char* what) { return status{-1, what}; }

// The current GPU's SM count, queried once per process (132, an H100's, if the query fails): the
// size of persistent grids and split counts. Defined in common/device.cu.
int sm_count();

inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535LL * 1024 ? 65535LL * 1024 : b));
}

}  // namespace tome::kernels
