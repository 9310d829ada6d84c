// Pieces shared by the decode GEMVs (gemv.cu: bf16 weights; gemv_i8.cu: int8 weights with row
// scales): the streaming 16-byte weight load, the staging of x (plain, SwiGLU or RMSNorm
// prologue), the output store (bf16 or f32), the alignment check and the PDL switch. Device
// helpers and host helpers; no kernels here.
#pragma once

#include <algorithm>
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
// norm_scaled (kernels::norm_form::scaled): the rows staged are bf16(v * w), v = x (+ r), and each
// output's f32 sum is multiplied by its row's inv = rsqrt(mean(v^2) + eps) in the epilogue
// (norm_inv), so the products need not wait for the sum of squares (stage_norm_scaled).
enum class prologue { plain, swiglu, norm, norm_scaled };
__host__ __device__ constexpr bool is_norm(prologue p) { return p == prologue::norm || p == prologue::norm_scaled; }
constexpr int64_t kNormMaxStagedBytes = kRowNormMaxBytes;  // the norm prologue's staged rows
struct norm_in {
  const uint16_t* r;  // residual delta rows (nullptr: none)
  const uint16_t* w;  // the norm's weight [k] (nullptr: none)
  uint16_t* x_out;    // x + r rows, written by CTA 0 (nullptr: not written)
  float eps;
  bool prefetch_w = false;  // w may be copied to shared memory before griddepcontrol.wait (prefetch_norm_w)
};

// The norm prologue's weight, early. Before griddepcontrol.wait a CTA copies the norm's weight (k8
// words) into shared memory with cp.async: weights do not depend on the kernel before, so after
// the wait only x and r cost a round trip to L2 (the second pass used to load w after the first
// pass's barrier). Same values, same bits. Where the M staged rows and w fit in the launch's
// shared memory without opting in (host and device decide alike, prefetch_norm_w_at); else w is
// read from global memory as before. Measured on the H100 at YOCO-3B, 32K, decode tokens/s, same
// binary and call (docs/performance.md, session 20, device run 6): 309.2 without, 312.6 with.
// Also copying x and r by cp.async (one round trip for all of a thread's words) measured 306.7
// against 307.1 for the weight alone (run 5): not kept.
__host__ __device__ constexpr bool prefetch_norm_w_fits(int rows, int64_t k) {
  return (static_cast<int64_t>(rows) + 1) * k * 2 <= kNormMaxStagedBytes;
}
// TOME_NORM_PREFETCH=0 turns it off (comparisons).
inline bool prefetch_norm_w_on() {
  static const bool on = [] {
    const char* e = std::getenv("TOME_NORM_PREFETCH");
    return !(e && e[0] == '0');
  }();
  return on;
}
// Whether a launch prefetches: a norm with a weight, allowed, and room.
__host__ __device__ inline bool prefetch_norm_w_at(bool norm, const norm_in& nin, int rows, int64_t k) {
  return norm && nin.w && nin.prefetch_w && prefetch_norm_w_fits(rows, k);
}

// Issues the weight's copies to ws (one cp.async group per thread; row_rms_norm waits for it).
template <int kThreads>
__device__ __forceinline__ void prefetch_norm_w(uint4* ws, const uint16_t* w, int k8) {
  const uint4* src = reinterpret_cast<const uint4*>(w);
  for (int c = threadIdx.x; c < k8; c += kThreads) {
    const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(ws + c));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src + c) : "memory");
  }
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Stages M rows of x (rows at x + m * x_stride; b, r and x_out rows alike) into shared memory:
// word c of row m at xs[at(m, c)], k8 words a row. The caller syncs the CTA before reading xs.
// ws: the norm's weight prefetched by prefetch_norm_w (nullptr: read from nin.w).
template <int M, prologue P, int kThreads, class At>
__device__ __forceinline__ void stage_x(uint4* xs, const uint16_t* x, const uint16_t* b, int64_t x_stride,
                                        const norm_in& nin, int k8, At at, const uint4* ws = nullptr) {
  if constexpr (P == prologue::norm) {
    static_assert(kThreads == kRowNormThreads, "the separate norm kernel sums with the same CTA size");
    __shared__ float red[M][kThreads / 32];
    const bool first = blockIdx.x == 0 && nin.x_out;
#pragma unroll 1
    for (int m = 0; m < M; ++m)
      row_rms_norm<kThreads>(
          x + m * x_stride, nin.r ? nin.r + m * x_stride : nullptr, nin.w, first ? nin.x_out + m * x_stride : nullptr,
          k8, nin.eps, red[m], [&](int c, const uint4& v) { xs[at(m, c)] = v; }, [&](int c) { return xs[at(m, c)]; },
          ws);
  } else {
    // kBatch words a thread are loaded before any is stored (measured faster: the down projection
    // went from 61% to 67% of HBM; likely because a store to shared memory keeps the next load
    // through the generic pointer x from going out first, one L2 round trip per word).
    constexpr int kBatch = 4;
    for (int i0 = threadIdx.x; i0 < M * k8; i0 += kBatch * kThreads) {
      uint4 v[kBatch], g[kBatch];
#pragma unroll
      for (int j = 0; j < kBatch; ++j) {
        const int i = i0 + j * kThreads;
        if (i < M * k8) {
          const int m = i / k8, c = i - m * k8;
          v[j] = reinterpret_cast<const uint4*>(x + m * x_stride)[c];
          if constexpr (P == prologue::swiglu) g[j] = reinterpret_cast<const uint4*>(b + m * x_stride)[c];
        }
      }
#pragma unroll
      for (int j = 0; j < kBatch; ++j) {
        const int i = i0 + j * kThreads;
        if (i < M * k8) {
          const int m = i / k8, c = i - m * k8;
          if constexpr (P == prologue::swiglu) v[j] = swiglu8(v[j], g[j]);
          xs[at(m, c)] = v[j];
        }
      }
    }
  }
}

// The scaled norm's staging (prologue::norm_scaled): row m word c of xs = bf16(v * w), v = x or
// bf16(x + r) (kernels::add's rounding; CTA 0 writes v to x_out), in one round of loads (kBatch
// words a thread in flight, as the plain staging) with no barrier or second pass before the
// products. Each thread adds its words' v^2 in word and element order; the warps' sums go to
// red[m][warp] (warp_sum), which norm_inv reads after the caller's CTA barrier. ws: the norm's
// weight prefetched by prefetch_norm_w (waited for here, then read from shared memory).
template <int M, int kThreads, class At>
__device__ __forceinline__ void stage_norm_scaled(uint4* xs, const uint16_t* x, int64_t x_stride, const norm_in& nin,
                                                  int k8, At at, const uint4* ws, float (*red)[kThreads / 32]) {
  if (ws) {
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    __syncthreads();  // a thread stages words of w that other threads copied (rows m > 0)
  }
  const uint4* wv = ws ? ws : reinterpret_cast<const uint4*>(nin.w);
  const bool first = blockIdx.x == 0 && nin.x_out;
  float ss[M];
#pragma unroll
  for (int m = 0; m < M; ++m) ss[m] = 0.0f;
  // Two words of x and r a thread in flight: a 3,072-wide row is 384 words, so 256 threads load
  // it in one round; more would cost the registers that keep 4 CTAs on an SM.
  constexpr int kBatch = 2;
  for (int i0 = threadIdx.x; i0 < M * k8; i0 += kBatch * kThreads) {
    uint4 v[kBatch], rv[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int i = i0 + j * kThreads;
      if (i < M * k8) {
        const int m = i / k8, c = i - m * k8;
        v[j] = reinterpret_cast<const uint4*>(x + m * x_stride)[c];
        if (nin.r) rv[j] = reinterpret_cast<const uint4*>(nin.r + m * x_stride)[c];
      }
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int i = i0 + j * kThreads;
      if (i < M * k8) {
        const int m = i / k8, c = i - m * k8;
        // In place, a bf16 pair at a time (registers: the weight loads in flight hold 32).
        __nv_bfloat162* vp = reinterpret_cast<__nv_bfloat162*>(&v[j]);
        const __nv_bfloat162* rp = reinterpret_cast<const __nv_bfloat162*>(&rv[j]);
        float sq = 0.0f;
#pragma unroll
        for (int p = 0; p < 4; ++p) {
          float2 a = __bfloat1622float2(vp[p]);
          if (nin.r) {
            const float2 b = __bfloat1622float2(rp[p]);
            a.x = round_bf16(a.x + b.x);
            a.y = round_bf16(a.y + b.y);
            vp[p] = __floats2bfloat162_rn(a.x, a.y);  // exact: a is bf16 already
          }
          sq += a.x * a.x;
          sq += a.y * a.y;
        }
        if (first) reinterpret_cast<uint4*>(nin.x_out + m * x_stride)[c] = v[j];
#pragma unroll
        for (int mm = 0; mm < M; ++mm)
          if (mm == m) ss[mm] += sq;
        if (wv) {
          const uint4 g = wv[c];
          const __nv_bfloat162* gp = reinterpret_cast<const __nv_bfloat162*>(&g);
#pragma unroll
          for (int p = 0; p < 4; ++p) {
            const float2 a = __bfloat1622float2(vp[p]), f = __bfloat1622float2(gp[p]);
            vp[p] = __floats2bfloat162_rn(a.x * f.x, a.y * f.y);
          }
        }
        xs[at(m, c)] = v[j];
      }
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const float t = warp_sum(ss[m]);
    if (lane == 0) red[m][warp] = t;
  }
}

// Row m's 1/rms from the scaled staging's warp sums (after the CTA barrier that follows it): the
// warps' sums in warp order, rsqrt(mean + eps), as row_rms_norm computes it.
template <int kThreads>
__device__ __forceinline__ float norm_inv(const float* red, int k, float eps) {
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < kThreads / 32; ++i) total += red[i];
  return rsqrtf(total / static_cast<float>(k) + eps);
}

__device__ __forceinline__ void store_out(uint16_t* y, int64_t i, float v) { st(y, i, v); }
__device__ __forceinline__ void store_out(float* y, int64_t i, float v) { y[i] = v; }

// RoPE epilogue (kernels::gemv_rope), in the kernels' terms: pairs of outputs (2i, 2i + 1) are the
// sums of warps 2j and 2j + 1 of a CTA (a CTA's first row is a multiple of its even row count).
struct rope_out {
  const int64_t* pos;
  const float* inv_freq;
  int rows, scale_from, half;
  float k_scale;
};
// Stores the M sums s[m] of this warp's output `row` (y [M, n]); outputs below ro.rows are
// rotated first: the two warps of the pair swap their bf16-rounded sums through shared memory
// (a 64-thread named barrier per pair), then each computes its own half, as rope_qk_at does.
// kSwiGlu (gemv_norm_swiglu): warp w < kRowsPerBlock / 2 summed row j = `row` of w1 and warp
// w + kRowsPerBlock / 2 row j of w3; warp w stores y[m, j] = swiglu(a, b) of their bf16-rounded
// sums (swiglu8's expression: the bits of a bf16 a|b output followed by swiglu); y [M, n].
template <int M, int kRowsPerBlock, bool kRope, class Out, bool kSwiGlu = false>
__device__ __forceinline__ void store_rows(Out* y, int n, int row, const float* s, const rope_out& ro) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if constexpr (kSwiGlu) {
    constexpr int kHalf = kRowsPerBlock / 2;
    __shared__ float pv[M][kRowsPerBlock];
    if (lane == 0)
#pragma unroll
      for (int m = 0; m < M; ++m) pv[m][warp] = round_bf16(s[m]);
    asm volatile("bar.sync %0, 64;" ::"r"(1 + warp % kHalf) : "memory");  // warps w and w + kHalf
    if (lane == 0 && warp < kHalf)
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float a = pv[m][warp], b = pv[m][warp + kHalf];
        store_out(y, static_cast<int64_t>(m) * n + row, a / (1.0f + __expf(-a)) * b);
      }
    return;
  }
  if constexpr (kRope) {
    if (row < ro.rows) {  // and so is its partner (ro.rows is even)
      __shared__ float pv[M][kRowsPerBlock];
      if (lane == 0)
#pragma unroll
        for (int m = 0; m < M; ++m) pv[m][warp] = round_bf16(s[m]);
      asm volatile("bar.sync %0, 64;" ::"r"(1 + (warp >> 1)) : "memory");
      if (lane == 0) {
        const float f = ro.inv_freq[(row >> 1) % ro.half];
#pragma unroll
        for (int m = 0; m < M; ++m) {
          const float x0 = pv[m][warp & ~1], x1 = pv[m][warp | 1];
          float sn, cs;
          sincosf(static_cast<float>(ro.pos[m]) * f, &sn, &cs);
          float v = (row & 1) ? rope_hi(x0, x1, cs, sn) : rope_lo(x0, x1, cs, sn);
          if (row >= ro.scale_from) v = round_bf16(v) * ro.k_scale;
          store_out(y, static_cast<int64_t>(m) * n + row, v);
        }
      }
      return;
    }
  }
  if (lane == 0)
#pragma unroll
    for (int m = 0; m < M; ++m) store_out(y, static_cast<int64_t>(m) * n + row, s[m]);
}

// The epilogue's arguments from a gemv_rope, checked.
inline status check_rope(const gemv_rope* r, bool y_f32, int64_t n, rope_out& out) {
  if (y_f32 || !r->pos || !r->inv_freq || r->rows < 0 || r->rows % 2 != 0 || r->rows > n || r->head_dim < 2 ||
      r->head_dim % 2 != 0 || r->scale_from < 0)
    return status{-1, "gemv rope: needs bf16 y, pos and inv_freq, an even row count <= n, an even head_dim"};
  out = rope_out{r->pos, r->inv_freq, static_cast<int>(r->rows), static_cast<int>(std::min(r->scale_from, r->rows)),
                 static_cast<int>(r->head_dim / 2), r->k_scale};
  return {};
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// PDL needs compute capability 9.0 and kernels compiled for it (programmatic_launch_ok: the
// attribute is left off otherwise, e.g. for the compute_80 PTX run on an H100); TOME_GEMV_PDL=0
// turns it off.
inline bool use_pdl() {
  static const bool on = [] {
    const char* e = std::getenv("TOME_GEMV_PDL");
    if (e && e[0] == '0') return false;
    return programmatic_launch_ok();  // sm_90+ device running sm_90+ code (kernels.h)
  }();
  return on;
}

}  // namespace tome::kernels::gemv_detail
