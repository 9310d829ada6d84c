// Matrix-vector products for decode steps (batch 1..4 rows): y[m, n] = x[m, :] · W[n, :], W bf16
// [N, K] row-major (a Linear's weight), f32 accumulation. CPU twin: cpu::linear.
// At M = 1 the work is reading W once, so the kernel is written for HBM bandwidth: one warp per
// weight row, each lane streaming 16-byte chunks (8 in flight per lane, L1 bypassed), x staged
// once per block in shared memory (as bf16, 16-byte reads, conflict-free), a warp reduction at the
// end. Blocks of 8 rows are many and short, so the block scheduler balances them over the SMs
// (no tail of a persistent grid). Deterministic: a row's sum depends only on that row and x, not
// on N, the grid or where the row sits in a concatenated weight, so a fused q|k|v|g GEMV gives
// the same bits as separate ones.
// On sm_90 the launches are programmatic dependent launches (PDL): a GEMV lets the next kernel's
// CTAs start once all of its own CTAs run, and a GEMV waits for the kernel before it only after
// its first weight loads are out (griddepcontrol.wait before x is read). Weights do not depend on
// the previous kernel, so a GEMV's ramp-up overlaps the tail of the kernel before it (in a CUDA
// graph too: captured PDL launches become programmatic edges).
// gemv_swiglu stages x = bf16(silu(a) * b) instead (the expression of kernels::swiglu, bit for
// bit), so the FFN's down projection needs no separate SwiGLU launch; gemv_norm stages
// rms_norm(x (+ r)) * w (row_rms_norm, the bits of kernels::rms_norm / add_rms_norm), so a decode
// step's norms need no launches of their own.
#include <cstdlib>

#include "common/common.cuh"
#include "gemv/gemv_common.cuh"

namespace tome::kernels {
namespace {

using gemv_detail::aligned16;
using gemv_detail::ld_stream;
using gemv_detail::norm_in;
using gemv_detail::prologue;
using gemv_detail::rope_out;
using gemv_detail::stage_x;
using gemv_detail::store_out;
using gemv_detail::use_pdl;

constexpr int kThreads = 256;  // 8 warps: 8 weight rows per block
constexpr int kRowsPerBlock = kThreads / 32;
// 16-byte weight loads in flight per lane: 8 (64 registers, 4 CTAs per SM, a K = 3072 row in two
// round trips) or 16 (TOME_GEMV_UNROLL=16: one round trip, but ~120 registers, 2 CTAs per SM).
// Measured on the H100, YOCO-3B decode at 32K: 265.9 tokens/s with 8, 255.5 with 16.
constexpr int kUnrollDefault = 8;
constexpr int64_t kMaxSmemBytes = 48 * 1024;

__device__ __forceinline__ float dot8(const uint4& w, const uint4& x, float acc) {
  const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&w);
  const __nv_bfloat162* xp = reinterpret_cast<const __nv_bfloat162*>(&x);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 a = __bfloat1622float2(wp[i]), b = __bfloat1622float2(xp[i]);
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
  }
  return acc;
}

// x (or a, with b for SwiGLU) rows m at x + m * x_stride; y [M, n].
template <int M, prologue P, class Out, int kUnroll, bool kRope, bool kSwiGlu>
__global__ void __launch_bounds__(kThreads) gemv_kernel(const uint16_t* __restrict__ w, const uint16_t* x,
                                                        const uint16_t* __restrict__ b, int64_t x_stride,
                                                        norm_in nin, rope_out ro, Out* __restrict__ y, int n, int k) {
  extern __shared__ uint4 xs[];  // [M, k/8]
  const int k8 = k >> 3;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  // kSwiGlu: the CTA's first half of warps takes rows j of w1 = W[0, n/2), the second half the
  // same j of w3 = W[n/2, n) (the pair meets in the epilogue); n/2 outputs.
  constexpr int kHalf = kRowsPerBlock / 2;
  const int j = blockIdx.x * kHalf + warp % kHalf;
  const int row = kSwiGlu ? (warp < kHalf ? j : (n >> 1) + j) : blockIdx.x * kRowsPerBlock + warp;
  const bool active = kSwiGlu ? j < (n >> 1) : row < n;  // a pair is active or idle together
  const uint4* wr = reinterpret_cast<const uint4*>(w + static_cast<int64_t>(active ? row : 0) * k);
  uint4 wv[kUnroll];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  // The first weight loads go out before x is staged (and before waiting for the kernel that
  // writes x), so their latency overlaps the staging and the previous kernel's tail.
  if (active) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = lane + u * 32;
      if (c < k8) wv[u] = ld_stream(wr + c);
    }
  }
  uint4* ws = nullptr;  // the norm's weight in shared memory, after x's M rows
  if constexpr (gemv_detail::is_norm(P)) {
    if (gemv_detail::prefetch_norm_w_at(true, nin, M, k)) {
      ws = xs + M * k8;
      gemv_detail::prefetch_norm_w<kThreads>(ws, nin.w, k8);
    }
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");  // x (and y's old readers) are done
#endif
  const auto at = [k8](int m, int c) { return m * k8 + c; };
  __shared__ float red[P == prologue::norm_scaled ? M : 1][kThreads / 32];  // the scaled norm's warp sums
  if constexpr (P == prologue::norm_scaled) gemv_detail::stage_norm_scaled<M, kThreads>(xs, x, x_stride, nin, k8, at, ws, red);
  else stage_x<M, P, kThreads>(xs, x, b, x_stride, nin, k8, at, ws);
  __syncthreads();
  if (!active) return;
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  for (int c0 = lane;;) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c < k8) {
#pragma unroll
        for (int m = 0; m < M; ++m) acc[m] = dot8(wv[u], xs[m * k8 + c], acc[m]);
      }
    }
    c0 += kUnroll * 32;
    if (c0 >= k8) break;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c < k8) wv[u] = ld_stream(wr + c);
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    acc[m] = warp_sum(acc[m]);
    if constexpr (P == prologue::norm_scaled) acc[m] *= gemv_detail::norm_inv<kThreads>(red[m], k, nin.eps);
  }
  gemv_detail::store_rows<M, kRowsPerBlock, kRope, Out, kSwiGlu>(y, kSwiGlu ? n >> 1 : n, row, acc, ro);
}

int unroll() {
  static const int u = [] {
    const char* e = std::getenv("TOME_GEMV_UNROLL");
    return e && std::atoi(e) == 16 ? 16 : kUnrollDefault;
  }();
  return u;
}

template <int M, prologue P, class Out, bool kRope = false, bool kSwiGlu = false>
status launch_rows(const uint16_t* w, const uint16_t* x, const uint16_t* b, int64_t x_stride, const norm_in& nin,
                   const rope_out& ro, Out* y, int n, int k, stream_t stream) {
  cudaLaunchConfig_t cfg = {};
  constexpr int kRowsPerCta = kSwiGlu ? kRowsPerBlock / 2 : kRowsPerBlock;  // outputs a CTA
  const int outs = kSwiGlu ? n / 2 : n;
  cfg.gridDim = dim3(static_cast<unsigned>((outs + kRowsPerCta - 1) / kRowsPerCta));
  cfg.blockDim = dim3(kThreads);
  const bool pre = gemv_detail::prefetch_norm_w_at(gemv_detail::is_norm(P), nin, M, k);  // as the kernel decides
  cfg.dynamicSmemBytes = static_cast<size_t>(M + (pre ? 1 : 0)) * static_cast<size_t>(k) * 2;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = use_pdl() ? 1 : 0;
  const cudaError_t e =
      unroll() == 16
          ? cudaLaunchKernelEx(&cfg, gemv_kernel<M, P, Out, 16, kRope, kSwiGlu>, w, x, b, x_stride, nin, ro, y, n, k)
          : cudaLaunchKernelEx(&cfg, gemv_kernel<M, P, Out, 8, kRope, kSwiGlu>, w, x, b, x_stride, nin, ro, y, n, k);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return status{static_cast<int>(e), cudaGetErrorString(e)};
  }
  return launch_status();
}

template <prologue P, class Out, bool kRope = false, bool kSwiGlu = false>
status launch(const uint16_t* w, const uint16_t* x, const uint16_t* b, int64_t x_stride, const norm_in& nin, Out* y,
              int64_t rows, int64_t n, int64_t k, stream_t stream, const rope_out& ro = {}) {
  const int ni = static_cast<int>(n), ki = static_cast<int>(k);
  switch (rows) {
    case 1: return launch_rows<1, P, Out, kRope, kSwiGlu>(w, x, b, x_stride, nin, ro, y, ni, ki, stream);
    case 2: return launch_rows<2, P, Out, kRope, kSwiGlu>(w, x, b, x_stride, nin, ro, y, ni, ki, stream);
    case 3: return launch_rows<3, P, Out, kRope, kSwiGlu>(w, x, b, x_stride, nin, ro, y, ni, ki, stream);
    default: return launch_rows<4, P, Out, kRope, kSwiGlu>(w, x, b, x_stride, nin, ro, y, ni, ki, stream);
  }
}

// The norm prologue in the form asked for.
template <class Out, bool kRope = false, bool kSwiGlu = false>
status launch_norm(norm_form form, const uint16_t* w, const uint16_t* x, int64_t x_stride, const norm_in& nin, Out* y,
                   int64_t rows, int64_t n, int64_t k, stream_t stream, const rope_out& ro = {}) {
  if (form == norm_form::scaled)
    return launch<prologue::norm_scaled, Out, kRope, kSwiGlu>(w, x, nullptr, x_stride, nin, y, rows, n, k, stream, ro);
  return launch<prologue::norm, Out, kRope, kSwiGlu>(w, x, nullptr, x_stride, nin, y, rows, n, k, stream, ro);
}

status check(const uint16_t* w, const uint16_t* x, int64_t x_stride, int64_t rows, int64_t n, int64_t k) {
  if (rows < 1 || rows > kGemvMaxRows || n < 1 || n > 0x7fffffffLL || k < 8 || k % 8 != 0 || k > 0x7fffffffLL ||
      x_stride < k || x_stride % 8 != 0 || rows * k * 2 > kMaxSmemBytes)
    return bad_argument("gemv: bad shape (1..4 rows, K a multiple of 8, rows * K * 2 <= 48 KiB)");
  if (!aligned16(w) || !aligned16(x)) return bad_argument("gemv: W and x must be 16-byte aligned");
  return {};
}

}  // namespace

bool gemv_supported(const void* w, const void* x, int64_t rows, int64_t k) {
  return rows >= 1 && rows <= kGemvMaxRows && k >= 8 && k % 8 == 0 && rows * k * 2 <= kMaxSmemBytes &&
         aligned16(w) && aligned16(x);
}

status gemv(const uint16_t* w, const uint16_t* x, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k,
            stream_t stream) {
  if (const status s = check(w, x, k, rows, n, k); !s.ok()) return s;
  const norm_in none{};
  if (y_f32) return launch<prologue::plain>(w, x, nullptr, k, none, static_cast<float*>(y), rows, n, k, stream);
  return launch<prologue::plain>(w, x, nullptr, k, none, static_cast<uint16_t*>(y), rows, n, k, stream);
}

status gemv_swiglu(const uint16_t* w, const uint16_t* a, const uint16_t* b, int64_t ab_stride, void* y,
                   bool y_f32, int64_t rows, int64_t n, int64_t k, stream_t stream) {
  if (const status s = check(w, a, ab_stride, rows, n, k); !s.ok()) return s;
  if (!aligned16(b)) return bad_argument("gemv_swiglu: b must be 16-byte aligned");
  const norm_in none{};
  if (y_f32) return launch<prologue::swiglu>(w, a, b, ab_stride, none, static_cast<float*>(y), rows, n, k, stream);
  return launch<prologue::swiglu>(w, a, b, ab_stride, none, static_cast<uint16_t*>(y), rows, n, k, stream);
}

bool gemv_norm_supported(const void* w, const void* x, int64_t rows, int64_t k, bool int8) {
  return (int8 ? gemv_i8_supported(w, x, rows, k) : gemv_supported(w, x, rows, k)) &&
         rows * k * 2 <= gemv_detail::kNormMaxStagedBytes;
}

status gemv_norm(const uint16_t* w, const uint16_t* x, const uint16_t* r, const uint16_t* norm_w, float eps,
                 uint16_t* x_out, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k, stream_t stream,
                 const gemv_rope* rope, norm_form form) {
  if (const status s = check(w, x, k, rows, n, k); !s.ok()) return s;
  if (!gemv_norm_supported(w, x, rows, k, false)) return bad_argument("gemv_norm: rows * K * 2 must be <= 47 KiB");
  if (!aligned16(r) || !aligned16(norm_w) || !aligned16(x_out))
    return bad_argument("gemv_norm: r, the norm weight and x_out must be 16-byte aligned");
  const norm_in nin{r, norm_w, x_out, eps, gemv_detail::prefetch_norm_w_on()};
  if (rope) {
    rope_out ro;
    if (const status s = gemv_detail::check_rope(rope, y_f32, n, ro); !s.ok()) return s;
    return launch_norm<uint16_t, true>(form, w, x, k, nin, static_cast<uint16_t*>(y), rows, n, k, stream, ro);
  }
  if (y_f32) return launch_norm(form, w, x, k, nin, static_cast<float*>(y), rows, n, k, stream);
  return launch_norm(form, w, x, k, nin, static_cast<uint16_t*>(y), rows, n, k, stream);
}

status gemv_norm_swiglu(const uint16_t* w, const uint16_t* x, const uint16_t* r, const uint16_t* norm_w, float eps,
                        uint16_t* x_out, uint16_t* h, int64_t rows, int64_t n, int64_t k, stream_t stream,
                        norm_form form) {
  if (const status s = check(w, x, k, rows, n, k); !s.ok()) return s;
  if (n % 2 != 0) return bad_argument("gemv_norm_swiglu: W must hold w1 and w3 (an even row count)");
  if (!gemv_norm_supported(w, x, rows, k, false)) return bad_argument("gemv_norm_swiglu: rows * K * 2 must be <= 47 KiB");
  if (!aligned16(r) || !aligned16(norm_w) || !aligned16(x_out))
    return bad_argument("gemv_norm_swiglu: r, the norm weight and x_out must be 16-byte aligned");
  const norm_in nin{r, norm_w, x_out, eps, gemv_detail::prefetch_norm_w_on()};
  return launch_norm<uint16_t, false, true>(form, w, x, k, nin, h, rows, n, k, stream);
}

}  // namespace tome::kernels
