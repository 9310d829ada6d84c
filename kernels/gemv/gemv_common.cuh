// Pieces shared by the decode GEMVs (gemv.cu: bf16 weights; gemv_i8.cu: int8 weights with row
// scales): the streaming 16-byte weight load, the staging of x (plain, SwiGLU or RMSNorm
// prologue), the output store (bf16 or f32), the alignment check and the PDL switch. Device
// helpers and host helpers; no kernels here.
#pragma once

#include <cstdint>
#include <cstdlib>

#include "common/common.cuh"
#include "rms_norm/row_norm.cuh"

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

// What a GEMV stages as x: x itself, swiglu(a = x, b), or rms_norm(x (+ r)) * w (the norm as
// the GEMV's prologue: each CTA normalises the rows itself, with row_rms_norm, so the bits are
// those of kernels::rms_norm / add_rms_norm followed by the plain GEMV; CTA 0 also writes x + r
// to x_out, the residual stream's next value).
enum class prologue { plain, swiglu, norm };
// The staged rows of the norm prologue leave room for its partial sums (static shared memory):
// dynamic + static must stay within the 48 KiB a launch gets without opting in.
constexpr int64_t kNormMaxStagedBytes = 47 * 1024;
struct norm_in {
  const uint16_t* r;  // residual delta rows (nullptr: none)
  const uint16_t* w;  // the norm's weight [k] (nullptr: none)
  uint16_t* x_out;    // x + r rows, written by CTA 0 (nullptr: not written)
  float eps;
};

// Stages M rows of x (rows at x + m * x_stride; b, r and x_out rows alike) into shared memory:
// word c of row m at xs[at(m, c)], k8 words a row. The caller syncs the CTA before reading xs.
template <int M, prologue P, int kThreads, class At>
__device__ __forceinline__ void stage_x(uint4* xs, const uint16_t* x, const uint16_t* b, int64_t x_stride,
                                        const norm_in& nin, int k8, At at) {
  if constexpr (P == prologue::norm) {
    static_assert(kThreads == kRowNormThreads, "the separate norm kernel sums with the same CTA size");
    __shared__ float red[M][kThreads / 32];
    const bool first = blockIdx.x == 0 && nin.x_out;
#pragma unroll 1
    for (int m = 0; m < M; ++m)
      row_rms_norm<kThreads>(
          x + m * x_stride, nin.r ? nin.r + m * x_stride : nullptr, nin.w, first ? nin.x_out + m * x_stride : nullptr,
          k8, nin.eps, red[m], [&](int c, const uint4& v) { xs[at(m, c)] = v; }, [&](int c) { return xs[at(m, c)]; });
  } else {
    for (int i = threadIdx.x; i < M * k8; i += kThreads) {
      const int m = i / k8, c = i - m * k8;
      uint4 v = reinterpret_cast<const uint4*>(x + m * x_stride)[c];
      if constexpr (P == prologue::swiglu) v = swiglu8(v, reinterpret_cast<const uint4*>(b + m * x_stride)[c]);
      xs[at(m, c)] = v;
    }
  }
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
