// The streaming-read kernel of the decode-step ceiling (bench_step_ceiling.cu) and of the GEMV
// benchmark's "bytes only" rows: reads a buffer in 16-byte words and keeps nothing, the fastest a
// kernel that must read those bytes can be. Launched as a programmatic dependent launch (PDL), it
// issues its first round of loads before griddepcontrol.wait, as Tome's GEMVs do.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>

#include "bench_util.cuh"

namespace tome::bench::stream {

constexpr int kThreads = 256;
constexpr int kUnroll = 8;  // 16-byte loads in flight per thread (the GEMV's default)
// Bytes per CTA in the chain: two rounds of loads by default (a GEMV CTA of 8 rows of K = 3072
// reads 48 KiB); TOME_CEILING_TILE_KIB sets it.
inline int64_t tile_bytes() {
  static const int64_t t = [] {
    const char* e = std::getenv("TOME_CEILING_TILE_KIB");
    const int64_t kib = e ? std::atoll(e) : 0;
    return kib > 0 ? kib * 1024 : int64_t{kThreads} * kUnroll * 16 * 2;
  }();
  return t;
}

struct op {
  const uint4* p;
  int64_t words;  // 16-byte words
};

__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}
__device__ __forceinline__ uint32_t fold(const uint4& v) { return v.x ^ v.y ^ v.z ^ v.w; }

// One op of the chain: CTA b reads words [b * tile, (b + 1) * tile). The first round of loads goes
// out before griddepcontrol.wait (a no-op without PDL), the rest after; one word a CTA is stored
// (only if the sum hits a value it never has, so the loads cannot be dropped).
// (Each benchmark is one translation unit, so the kernel is defined here.)
__global__ void __launch_bounds__(kThreads) stream_op(const uint4* __restrict__ p, int64_t words, int64_t tile_words,
                                                      uint32_t* __restrict__ sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  const int64_t w0 = static_cast<int64_t>(blockIdx.x) * tile_words;
  const int64_t w1 = w0 + tile_words < words ? w0 + tile_words : words;
  uint4 v[kUnroll];
  int64_t i = w0 + threadIdx.x;
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int64_t j = i + static_cast<int64_t>(u) * kThreads;
    v[u] = j < w1 ? ld_stream(p + j) : make_uint4(0, 0, 0, 0);
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  uint32_t acc = 0;
  for (;;) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc += fold(v[u]);
    i += int64_t{kUnroll} * kThreads;
    if (i >= w1) break;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t j = i + static_cast<int64_t>(u) * kThreads;
      v[u] = j < w1 ? ld_stream(p + j) : make_uint4(0, 0, 0, 0);
    }
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

inline void launch_op(const op& o, uint32_t* sink, bool pdl, cudaStream_t s) {
  const int64_t tile_words = tile_bytes() / 16;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>((o.words + tile_words - 1) / tile_words));
  cfg.blockDim = dim3(kThreads);
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  BENCH_CHECK(cudaLaunchKernelEx(&cfg, stream_op, o.p, o.words, tile_words, sink));
}

}  // namespace tome::bench::stream
