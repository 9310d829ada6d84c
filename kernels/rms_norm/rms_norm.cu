// RMSNorm kernel: one block per row, f32 sum of squares, normalise in f32, cast to bf16, then
// multiply by the weight (YOCO.md: "normalise in fp32, cast to the activation dtype, then
// multiply"). CPU twin: cpu::rms_norm. Layout: x, y [rows, dim] bf16; w [dim] bf16. Rows of
// dim % 8 == 0 up to 4096 (16-byte aligned), 128 rows and more (prefill), run a warp per row with
// 16-byte loads (add_rms_norm: norm_x8_kernel; rms_norm: norm_x8_twopass_kernel); fewer rows (decode steps) a block of 256 threads per row
// (norm_row_kernel: row_rms_norm, the routine of the decode GEMVs' norm prologue, so
// gemv_norm == rms_norm then gemv bit for bit). Other rows: the scalar block-per-row kernels.
#include <algorithm>
#include <initializer_list>
#include <type_traits>

#include "common/common.cuh"
#include "rms_norm/row_norm.cuh"

namespace tome::kernels {
namespace {

__global__ void rms_norm_kernel(const uint16_t* __restrict__ x, const uint16_t* __restrict__ w,
                                uint16_t* __restrict__ y, int64_t dim, float eps) {
  allow_dependent_launch();
  const int64_t row = blockIdx.x;
  const uint16_t* xr = x + row * dim;
  uint16_t* yr = y + row * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = ld(xr, i);
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss) / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float n = __bfloat162float(__float2bfloat16_rn(ld(xr, i) * inv));
    st(yr, i, w ? n * ld(w, i) : n);
  }
}

// x += y (rounded to bf16, as kernels::add), then y_out = rms_norm(x) * w: one pass instead of two.
__global__ void add_rms_norm_kernel(uint16_t* __restrict__ x, const uint16_t* __restrict__ y,
                                    const uint16_t* __restrict__ w, uint16_t* __restrict__ out, int64_t dim,
                                    float eps) {
  allow_dependent_launch();
  const int64_t row = blockIdx.x;
  uint16_t* xr = x + row * dim;
  const uint16_t* yr = y + row * dim;
  uint16_t* orow = out + row * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = __bfloat162float(__float2bfloat16_rn(ld(xr, i) + ld(yr, i)));
    st(xr, i, v);
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss) / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {  // the same thread wrote xr[i]
    const float n = __bfloat162float(__float2bfloat16_rn(ld(xr, i) * inv));
    st(orow, i, w ? n * ld(w, i) : n);
  }
}

// Word c of a normalised row: bf16(v * inv) (times the weight's word c when there is one), the
// roundings of YOCO.md's norm; the warp-per-row forms' last pass.
__device__ __forceinline__ uint4 normalised_word(const uint4& v, const uint16_t* w, int c, float inv) {
  float f[8], g[8];
  unpack_bf16x8(v, f);
  if (w) unpack_bf16x8(reinterpret_cast<const uint4*>(w)[c], g);
#pragma unroll
  for (int e = 0; e < 8; ++e) f[e] = w ? round_bf16(f[e] * inv) * g[e] : round_bf16(f[e] * inv);
  return pack_bf16x8(f);
}

// Warp-per-row forms for dim % 8 == 0, dim <= 32 * 8 * VPL, 16-byte aligned rows (the model's
// hidden rows): each lane holds VPL 16-byte words of the row in registers, so x (and the residual
// delta) are read once; the sum of squares is each lane's (in element order) then warp_sum. With
// kAdd, x += delta (rounded to bf16, as kernels::add) is written back first and normalised; the
// two forms sum alike, so add_rms_norm == add then rms_norm stays bit-exact.
template <int VPL, bool kAdd>
__global__ void norm_x8_kernel(uint16_t* __restrict__ x, const uint16_t* __restrict__ delta,
                               const uint16_t* __restrict__ w, uint16_t* __restrict__ out, int64_t rows, int dim,
                               float eps) {
  allow_dependent_launch();
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int nv = dim / 8;
  uint4* xr = reinterpret_cast<uint4*>(x + row * dim);
  uint4* orow = reinterpret_cast<uint4*>(out + row * dim);
  uint4 xv[VPL];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < nv) {
      float a[8];
      unpack_bf16x8(xr[c], a);
      if constexpr (kAdd) {
        float b[8];
        unpack_bf16x8(reinterpret_cast<const uint4*>(delta + row * dim)[c], b);
#pragma unroll
        for (int e = 0; e < 8; ++e) a[e] = round_bf16(a[e] + b[e]);
        xv[j] = pack_bf16x8(a);  // exact: the values are bf16 already
        xr[c] = xv[j];
      } else {
        xv[j] = pack_bf16x8(a);
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) ss += a[e] * a[e];
    }
  }
  const float inv = rsqrtf(warp_sum(ss) / static_cast<float>(dim) + eps);
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < nv) orow[c] = normalised_word(xv[j], w, c, inv);
  }
}

// rms_norm's warp-per-row form (no add): the same sums and roundings as norm_x8_kernel<VPL,
// false>, but the row is read twice (the second time from L2) instead of held in registers, so an
// SM holds ~3x the warps, and with them the rows in flight (a prefill norm reads one stream and
// writes one: held rows left it latency-bound, 2.1 TB/s at YOCO-3B).
template <int VPL>
__global__ void __launch_bounds__(256, 3) norm_x8_twopass_kernel(const uint16_t* __restrict__ x,
                                                              const uint16_t* __restrict__ w,
                                                              uint16_t* __restrict__ out, int64_t rows, int dim,
                                                              float eps) {
  allow_dependent_launch();
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int nv = dim / 8;
  const uint4* xr = reinterpret_cast<const uint4*>(x + row * dim);
  uint4* orow = reinterpret_cast<uint4*>(out + row * dim);
  uint4 v[VPL];  // every word of the lane requested before the first is used
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < nv) v[j] = xr[c];
  }
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < nv) {
      float a[8];
      unpack_bf16x8(v[j], a);
#pragma unroll
      for (int e = 0; e < 8; ++e) ss += a[e] * a[e];
    }
  }
  const float inv = rsqrtf(warp_sum(ss) / static_cast<float>(dim) + eps);
#pragma unroll 4
  for (int j = 0; j < VPL; ++j) {
    const int c = lane + 32 * j;
    if (c < nv) orow[c] = normalised_word(xr[c], w, c, inv);
  }
}

// Block per row of 16-byte words (dim % 8 == 0, aligned rows, dim * 2 <= 47 KiB): the row
// normalised by row_rms_norm, as the decode GEMVs' norm prologue does it (the same bits), staged
// in shared memory, then written out. kAdd: x += delta first (in place, as kernels::add).
template <bool kAdd>
__global__ void __launch_bounds__(kRowNormThreads) norm_row_kernel(uint16_t* x, const uint16_t* delta,
                                                                   const uint16_t* w, uint16_t* out, int dim,
                                                                   float eps) {
  allow_dependent_launch();
  extern __shared__ uint4 srow[];
  __shared__ float red[kRowNormThreads / 32];
  const int64_t row = blockIdx.x;
  const int nv = dim / 8;
  uint16_t* xr = x + row * dim;
  row_rms_norm<kRowNormThreads>(
      xr, kAdd ? delta + row * dim : nullptr, w, kAdd ? xr : nullptr, nv, eps, red,
      [&](int c, const uint4& v) { srow[c] = v; }, [&](int c) { return srow[c]; });
  uint4* o = reinterpret_cast<uint4*>(out + row * dim);
  for (int c = threadIdx.x; c < nv; c += kRowNormThreads) o[c] = srow[c];  // words this thread wrote
}

bool row_form(int64_t dim, std::initializer_list<const void*> ptrs) {
  if (dim % 8 != 0 || dim * 2 > kRowNormMaxBytes) return false;
  for (const void* p : ptrs)
    if (p && !is_aligned16(p)) return false;
  return true;
}

// Words per lane for the warp-per-row forms, 0 when the row does not suit them.
int x8_words_per_lane(int64_t dim, std::initializer_list<const void*> ptrs) {
  if (dim % 8 != 0 || dim > 32 * 8 * 16) return 0;
  for (const void* p : ptrs)
    if (p && !is_aligned16(p)) return 0;
  const int64_t vpl = (dim / 8 + 31) / 32;
  return vpl <= 1 ? 1 : vpl <= 2 ? 2 : vpl <= 4 ? 4 : vpl <= 8 ? 8 : vpl <= 12 ? 12 : 16;
}

template <typename Launch>
status dispatch_x8(int vpl, Launch&& launch) {
  switch (vpl) {
    case 1: launch(std::integral_constant<int, 1>{}); break;
    case 2: launch(std::integral_constant<int, 2>{}); break;
    case 4: launch(std::integral_constant<int, 4>{}); break;
    case 8: launch(std::integral_constant<int, 8>{}); break;
    case 12: launch(std::integral_constant<int, 12>{}); break;
    default: launch(std::integral_constant<int, 16>{}); break;
  }
  return launch_status();
}

constexpr int kRowsPerBlock = 8;  // warps (rows) per block of the x8 forms
// Below this many rows (decode steps, batched decode) a block per row is faster: one warp alone
// is latency-bound on a 3072-wide row (with it for all row counts the YOCO-3B decode step ran 7%
// slower, device run 3; the combine rewrite changed in the same run). Both kernels
// choose by the same rule, so add_rms_norm == add then rms_norm holds at every row count.
constexpr int64_t kX8MinRows = 128;

}  // namespace

status add_rms_norm(uint16_t* x, const uint16_t* y, const uint16_t* w, uint16_t* out, int64_t rows,
                    int64_t dim, float eps, stream_t stream) {
  if (rows < 0 || dim <= 0 || rows > 0x7fffffff) return bad_argument("add_rms_norm: bad shape");
  if (rows == 0) return {};
  if (const int vpl = rows >= kX8MinRows ? x8_words_per_lane(dim, {x, y, w, out}) : 0) {
    const unsigned blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
    const int threads = 32 * static_cast<int>(std::min<int64_t>(rows, kRowsPerBlock));
    return dispatch_x8(vpl, [&](auto v) {
      norm_x8_kernel<decltype(v)::value, true>
          <<<blocks, threads, 0, stream>>>(x, y, w, out, rows, static_cast<int>(dim), eps);
    });
  }
  if (row_form(dim, {x, y, w, out})) {
    norm_row_kernel<true><<<static_cast<unsigned>(rows), kRowNormThreads, static_cast<size_t>(dim) * 2, stream>>>(
        x, y, w, out, static_cast<int>(dim), eps);
    return launch_status();
  }
  const int threads = dim >= 1024 ? 1024 : static_cast<int>((dim + 31) / 32 * 32);
  add_rms_norm_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(x, y, w, out, dim, eps);
  return launch_status();
}

status rms_norm(const uint16_t* x, const uint16_t* w, uint16_t* y, int64_t rows, int64_t dim,
                float eps, stream_t stream) {
  if (rows < 0 || dim <= 0 || rows > 0x7fffffff) return bad_argument("rms_norm: bad shape");
  if (rows == 0) return {};
  if (const int vpl = rows >= kX8MinRows ? x8_words_per_lane(dim, {x, w, y}) : 0) {
    const unsigned blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
    const int threads = 32 * static_cast<int>(std::min<int64_t>(rows, kRowsPerBlock));
    return dispatch_x8(vpl, [&](auto v) {
      norm_x8_twopass_kernel<decltype(v)::value>
          <<<blocks, threads, 0, stream>>>(x, w, y, rows, static_cast<int>(dim), eps);
    });
  }
  if (row_form(dim, {x, w, y})) {  // x is only read (kAdd false)
    norm_row_kernel<false><<<static_cast<unsigned>(rows), kRowNormThreads, static_cast<size_t>(dim) * 2, stream>>>(
        const_cast<uint16_t*>(x), nullptr, w, y, static_cast<int>(dim), eps);
    return launch_status();
  }
  const int threads = dim >= 1024 ? 1024 : static_cast<int>((dim + 31) / 32 * 32);
  rms_norm_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(x, w, y, dim, eps);
  return launch_status();
}

}  // namespace tome::kernels
