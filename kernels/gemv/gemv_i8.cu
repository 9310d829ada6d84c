// Int8 weight-only matrices (the model format's I8 tensors: W[n, k] = scale[n] * q[n, k], q int8
// [N, K] row-major, one f32 scale per output row), x and y as for gemv.cu. CPU twins:
// cpu::linear_i8, cpu::dequantize_i8.
// gemv_i8 (decode, 1..4 rows): the structure of gemv.cu for half the bytes: one warp per weight
// row, each lane streaming 16-byte chunks (16 weights; 8 in flight per lane, L1 bypassed), x staged
// once per block in shared memory as bf16, f32 accumulation of q * x, a warp reduction, and the
// row's scale applied once at the end: y = scale[n] * Σ_k q[n, k] x[k]. Deterministic, and a row's
// result depends only on that row and x (a concatenated q|k|v|g weight gives the bits of separate
// products); PDL as in gemv.cu.
// Int8 → f32 without the conversion unit (I2F issues at 16 per clock per SM, about the rate at
// which HBM delivers int8 weights): q + 128 goes into the mantissa of 2^23 with one byte permute
// and 2^23 + 128 is subtracted, exact. Shared x: the 16 weights of chunk c need bf16 chunks 2c and
// 2c + 1; they are stored in two planes (even chunks, then odd chunks), so a warp's 16-byte reads
// are consecutive (no bank conflicts).
// gemv_i8_swiglu stages x = bf16(silu(a) * b) (kernels::swiglu's expression, bit for bit);
// gemv_i8_norm stages rms_norm(x (+ r)) * w, as gemv_norm.
// dequant_i8 (prefill): bf16(scale[n] * q[n, k]) into a bf16 matrix for cuBLAS.
#include <algorithm>

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
constexpr int kUnroll = 8;  // 16-byte weight loads in flight per lane (128 weights)
constexpr int64_t kMaxSmemBytes = 48 * 1024;

// Byte i of u (q + 128, unsigned) as f32 q: 2^23 + u - (2^23 + 128), both steps exact.
__device__ __forceinline__ float i8f(uint32_t u, int i) {
  return __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7540u + static_cast<unsigned>(i))) -
         8388736.0f;
}

// acc += Σ_j q_j x_j over 16 weights (w) and their 16 bf16 inputs (x0: 0..7, x1: 8..15).
template <int M>
__device__ __forceinline__ void dot16(const uint4& w, const uint4* x0, const uint4* x1,
                                      int plane_stride, float* acc) {
  float wf[16];
  const uint32_t words[4] = {w.x ^ 0x80808080u, w.y ^ 0x80808080u, w.z ^ 0x80808080u,
                             w.w ^ 0x80808080u};
#pragma unroll
  for (int j = 0; j < 16; ++j) wf[j] = i8f(words[j >> 2], j & 3);
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const uint4 a = x0[m * plane_stride], b = x1[m * plane_stride];
    const __nv_bfloat162* ap = reinterpret_cast<const __nv_bfloat162*>(&a);
    const __nv_bfloat162* bp = reinterpret_cast<const __nv_bfloat162*>(&b);
    float s = acc[m];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 xa = __bfloat1622float2(ap[i]);
      s = fmaf(wf[2 * i], xa.x, s);
      s = fmaf(wf[2 * i + 1], xa.y, s);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 xb = __bfloat1622float2(bp[i]);
      s = fmaf(wf[8 + 2 * i], xb.x, s);
      s = fmaf(wf[8 + 2 * i + 1], xb.y, s);
    }
    acc[m] = s;
  }
}

// x (or a, with b for SwiGLU) rows m at x + m * x_stride; y [M, n].
template <int M, prologue P, class Out, bool kRope>
__global__ void __launch_bounds__(kThreads, M >= 3 ? 2 : 3)
    gemv_i8_kernel(const int8_t* __restrict__ w, const float* __restrict__ scale, const uint16_t* x,
                   const uint16_t* __restrict__ b, int64_t x_stride, norm_in nin, rope_out ro, Out* __restrict__ y,
                   int n, int k) {
  // x in shared memory [M][2 planes][k/16]: bf16 chunk c of row m at m*k8 + (c&1)*k16 + c/2.
  extern __shared__ uint4 xs[];
  const int k8 = k >> 3, k16 = k >> 4;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row = blockIdx.x * kRowsPerBlock + warp;
  const bool active = row < n;
  const uint4* wr = reinterpret_cast<const uint4*>(w + static_cast<int64_t>(active ? row : 0) * k);
  uint4 wv[kUnroll];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  // The first weight loads go out before x is staged (and before waiting for the kernel that
  // writes x): weights do not depend on it.
  if (active) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = lane + u * 32;
      if (c < k16) wv[u] = ld_stream(wr + c);
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
  const auto at = [k8, k16](int m, int c) { return m * k8 + (c & 1) * k16 + (c >> 1); };
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
      if (c < k16) dot16<M>(wv[u], xs + c, xs + k16 + c, k8, acc);
    }
    c0 += kUnroll * 32;
    if (c0 >= k16) break;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c < k16) wv[u] = ld_stream(wr + c);
    }
  }
  const float s = scale[row];
#pragma unroll
  for (int m = 0; m < M; ++m) {
    acc[m] = s * warp_sum(acc[m]);
    if constexpr (P == prologue::norm_scaled) acc[m] *= gemv_detail::norm_inv<kThreads>(red[m], k, nin.eps);
  }
  gemv_detail::store_rows<M, kRowsPerBlock, kRope>(y, n, row, acc, ro);
}

template <int M, prologue P, class Out, bool kRope = false>
status launch_rows(const int8_t* w, const float* scale, const uint16_t* x, const uint16_t* b,
                   int64_t x_stride, const norm_in& nin, const rope_out& ro, Out* y, int n, int k, stream_t stream) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock));
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
      cudaLaunchKernelEx(&cfg, gemv_i8_kernel<M, P, Out, kRope>, w, scale, x, b, x_stride, nin, ro, y, n, k);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return status{static_cast<int>(e), cudaGetErrorString(e)};
  }
  return launch_status();
}

template <prologue P, class Out, bool kRope = false>
status launch(const int8_t* w, const float* scale, const uint16_t* x, const uint16_t* b, int64_t x_stride,
              const norm_in& nin, Out* y, int64_t rows, int64_t n, int64_t k, stream_t stream,
              const rope_out& ro = {}) {
  const int ni = static_cast<int>(n), ki = static_cast<int>(k);
  switch (rows) {
    case 1: return launch_rows<1, P, Out, kRope>(w, scale, x, b, x_stride, nin, ro, y, ni, ki, stream);
    case 2: return launch_rows<2, P, Out, kRope>(w, scale, x, b, x_stride, nin, ro, y, ni, ki, stream);
    case 3: return launch_rows<3, P, Out, kRope>(w, scale, x, b, x_stride, nin, ro, y, ni, ki, stream);
    default: return launch_rows<4, P, Out, kRope>(w, scale, x, b, x_stride, nin, ro, y, ni, ki, stream);
  }
}

status check(const int8_t* w, const float* scale, const uint16_t* x, int64_t x_stride, int64_t rows,
             int64_t n, int64_t k) {
  if (rows < 1 || rows > kGemvMaxRows || n < 1 || n > 0x7fffffffLL || k < 16 || k % 16 != 0 ||
      k > 0x7fffffffLL || x_stride < k || x_stride % 8 != 0 || rows * k * 2 > kMaxSmemBytes)
    return bad_argument(
        "gemv_i8: bad shape (1..4 rows, K a multiple of 16, rows * K * 2 <= 48 KiB)");
  if (!aligned16(w) || !aligned16(x) || !scale)
    return bad_argument("gemv_i8: W and x must be 16-byte aligned, scales given");
  return {};
}

// out[r, c] = bf16(scale[r] * q[r, c]): 16 weights per thread (cols % 16 == 0, q and out 16-byte
// aligned), grid-stride.
__global__ void dequant_i8_vec_kernel(const int8_t* __restrict__ q, const float* __restrict__ scale,
                                      uint16_t* __restrict__ out, int64_t chunks, int64_t c16) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < chunks;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float s = scale[i / c16];
    const uint4 w = ld_stream(reinterpret_cast<const uint4*>(q) + i);
    const uint32_t words[4] = {w.x ^ 0x80808080u, w.y ^ 0x80808080u, w.z ^ 0x80808080u,
                               w.w ^ 0x80808080u};
    uint4 r[2];
    __nv_bfloat16* rp = reinterpret_cast<__nv_bfloat16*>(r);
#pragma unroll
    for (int j = 0; j < 16; ++j) rp[j] = __float2bfloat16_rn(s * i8f(words[j >> 2], j & 3));
    uint4* o = reinterpret_cast<uint4*>(out) + 2 * i;
    o[0] = r[0];
    o[1] = r[1];
  }
}
__global__ void dequant_i8_kernel(const int8_t* __restrict__ q, const float* __restrict__ scale,
                                  uint16_t* __restrict__ out, int64_t total, int64_t cols) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    st(out, i, scale[i / cols] * static_cast<float>(q[i]));
}

}  // namespace

bool gemv_i8_supported(const void* w, const void* x, int64_t rows, int64_t k) {
  return rows >= 1 && rows <= kGemvMaxRows && k >= 16 && k % 16 == 0 &&
         rows * k * 2 <= kMaxSmemBytes && aligned16(w) && aligned16(x);
}

status gemv_i8(const int8_t* w, const float* scale, const uint16_t* x, void* y, bool y_f32,
               int64_t rows, int64_t n, int64_t k, stream_t stream) {
  if (const status s = check(w, scale, x, k, rows, n, k); !s.ok()) return s;
  const norm_in none{};
  if (y_f32)
    return launch<prologue::plain>(w, scale, x, nullptr, k, none, static_cast<float*>(y), rows, n, k, stream);
  return launch<prologue::plain>(w, scale, x, nullptr, k, none, static_cast<uint16_t*>(y), rows, n, k, stream);
}

status gemv_i8_swiglu(const int8_t* w, const float* scale, const uint16_t* a, const uint16_t* b,
                      int64_t ab_stride, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k,
                      stream_t stream) {
  if (const status s = check(w, scale, a, ab_stride, rows, n, k); !s.ok()) return s;
  if (!aligned16(b)) return bad_argument("gemv_i8_swiglu: b must be 16-byte aligned");
  const norm_in none{};
  if (y_f32)
    return launch<prologue::swiglu>(w, scale, a, b, ab_stride, none, static_cast<float*>(y), rows, n, k, stream);
  return launch<prologue::swiglu>(w, scale, a, b, ab_stride, none, static_cast<uint16_t*>(y), rows, n, k, stream);
}

status gemv_i8_norm(const int8_t* w, const float* scale, const uint16_t* x, const uint16_t* r, const uint16_t* norm_w,
                    float eps, uint16_t* x_out, void* y, bool y_f32, int64_t rows, int64_t n, int64_t k,
                    stream_t stream, const gemv_rope* rope, norm_form form) {
  if (const status s = check(w, scale, x, k, rows, n, k); !s.ok()) return s;
  if (!gemv_norm_supported(w, x, rows, k, true)) return bad_argument("gemv_i8_norm: rows * K * 2 must be <= 47 KiB");
  if (!aligned16(r) || !aligned16(norm_w) || !aligned16(x_out))
    return bad_argument("gemv_i8_norm: r, the norm weight and x_out must be 16-byte aligned");
  const norm_in nin{r, norm_w, x_out, eps, gemv_detail::prefetch_norm_w_on()};
  if (rope) {
    rope_out ro;
    if (const status s = gemv_detail::check_rope(rope, y_f32, n, ro); !s.ok()) return s;
    return form == norm_form::scaled
               ? launch<prologue::norm_scaled, uint16_t, true>(w, scale, x, nullptr, k, nin, static_cast<uint16_t*>(y),
                                                               rows, n, k, stream, ro)
               : launch<prologue::norm, uint16_t, true>(w, scale, x, nullptr, k, nin, static_cast<uint16_t*>(y), rows,
                                                        n, k, stream, ro);
  }
  if (form == norm_form::scaled)
    return y_f32 ? launch<prologue::norm_scaled>(w, scale, x, nullptr, k, nin, static_cast<float*>(y), rows, n, k, stream)
                 : launch<prologue::norm_scaled>(w, scale, x, nullptr, k, nin, static_cast<uint16_t*>(y), rows, n, k,
                                                 stream);
  if (y_f32)
    return launch<prologue::norm>(w, scale, x, nullptr, k, nin, static_cast<float*>(y), rows, n, k, stream);
  return launch<prologue::norm>(w, scale, x, nullptr, k, nin, static_cast<uint16_t*>(y), rows, n, k, stream);
}

status dequant_i8(const int8_t* q, const float* scale, uint16_t* out, int64_t rows, int64_t cols,
                  stream_t stream) {
  if (rows < 0 || cols < 0) return bad_argument("dequant_i8: bad shape");
  const int64_t total = rows * cols;
  if (total == 0) return {};
  // Grid-stride, at most 4096 blocks of 256 threads.
  if (cols % 16 == 0 && aligned16(q) && aligned16(out)) {
    const int64_t chunks = total / 16;
    const unsigned grid = std::min(blocks_for(chunks, 256), 4096u);
    dequant_i8_vec_kernel<<<grid, 256, 0, stream>>>(q, scale, out, chunks, cols / 16);
  } else {
    const unsigned grid = std::min(blocks_for(total, 256), 4096u);
    dequant_i8_kernel<<<grid, 256, 0, stream>>>(q, scale, out, total, cols);
  }
  return launch_status();
}

}  // namespace tome::kernels
