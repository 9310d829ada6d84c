// Pieces shared by the decode GEMVs (gemv.cu: bf16 weights; gemv_i8.cu: int8 weights with row
// scales): the streaming 16-byte weight load, the SwiGLU prologue's 8-value step, the output
// store (bf16 or f32), the alignment check and the PDL switch. Device helpers and host helpers;
// no kernels here.
#pragma once

#include <cstdint>
#include <cstdlib>

#include "common/common.cuh"

namespace tome::kernels::gemv_detail {

// 16 bytes of a weight row that is read once: non-coherent, no L1 allocation.
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}

// 8 SwiGLU values, the same f32 expression as swiglu_kernel, rounded to bf16.
__device__ __forceinline__ uint4 swiglu8(const uint4& a, const uint4& b) {
  uint4 r;
  const __nv_bfloat16* ap = reinterpret_cast<const __nv_bfloat16*>(&a);
  const __nv_bfloat16* bp = reinterpret_cast<const __nv_bfloat16*>(&b);
  __nv_bfloat16* rp = reinterpret_cast<__nv_bfloat16*>(&r);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float x = __bfloat162float(ap[i]);
    rp[i] = __float2bfloat16_rn(x / (1.0f + __expf(-x)) * __bfloat162float(bp[i]));
  }
  return r;
}

__device__ __forceinline__ void store_out(uint16_t* y, int64_t i, float v) { st(y, i, v); }
__device__ __forceinline__ void store_out(float* y, int64_t i, float v) { y[i] = v; }

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// PDL needs compute capability 9.0 (the attribute is left off below it); TOME_GEMV_PDL=0 turns it
// off.
inline bool use_pdl() {
  static const bool on = [] {
    const char* e = std::getenv("TOME_GEMV_PDL");
    if (e && e[0] == '0') return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return on;
}

}  // namespace tome::kernels::gemv_detail
