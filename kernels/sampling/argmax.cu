// Greedy sampling on the device: for each row of logits, the index of its largest value, NaN
// ignored, ties to the lowest index, 0 when every value is NaN — exactly what tome::sampler picks
// at temperature 0 without a repetition penalty (engine/src/sampling/sampler.cpp: greedy, then
// raw_argmax), so a greedy decode step copies one int per row back instead of V floats.
// One CTA of 1024 threads per row: strided scan, then a (value, index) reduction over warps.
// Layout: logits f32 [rows, n]; out int32 [rows].
#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 1024;

// (v, i) beats (w, j): i valid (>= 0) and (j invalid, or v > w, or v == w and i < j).
__device__ __forceinline__ bool beats(float v, int i, float w, int j) {
  if (i < 0) return false;
  if (j < 0) return true;
  return v > w || (v == w && i < j);
}

__global__ void __launch_bounds__(kThreads)
    argmax_rows_kernel(const float* __restrict__ x, int64_t n, int32_t* __restrict__ out) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  float bv = 0.0f;
  int bi = -1;
  for (int64_t j = threadIdx.x; j < n;
       j += kThreads) {  // increasing j: a later equal value never wins
    const float v = row[j];
    if (v != v) continue;  // NaN
    if (bi < 0 || v > bv) bv = v, bi = static_cast<int>(j);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, bv, o);
    const int j = __shfl_xor_sync(0xffffffffu, bi, o);
    if (beats(w, j, bv, bi)) bv = w, bi = j;
  }
  __shared__ float sv[kThreads / 32];
  __shared__ int si[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sv[warp] = bv, si[warp] = bi;
  __syncthreads();
  if (warp == 0) {
    bv = sv[lane];
    bi = si[lane];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float w = __shfl_xor_sync(0xffffffffu, bv, o);
      const int j = __shfl_xor_sync(0xffffffffu, bi, o);
      if (beats(w, j, bv, bi)) bv = w, bi = j;
    }
    if (lane == 0) out[blockIdx.x] = bi < 0 ? 0 : bi;
  }
}

}  // namespace

status argmax_rows(const float* logits, int64_t rows, int64_t n, int32_t* out, stream_t stream) {
  if (rows < 0 || rows > 0x7fffffff || n <= 0 || n > 0x7fffffff || !logits || !out)
    return bad_argument("argmax_rows: bad shape");
  if (rows == 0) return {};
  argmax_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, n, out);
  return launch_status();
}

}  // namespace tome::kernels
