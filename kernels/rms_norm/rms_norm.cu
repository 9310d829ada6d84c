// RMSNorm kernel: one block per row, f32 sum of squares, normalise in f32, cast to bf16, then
// multiply by the weight (YOCO.md: "normalise in fp32, cast to the activation dtype, then
// multiply"). CPU twin: cpu::rms_norm. Layout: x, y [rows, dim] bf16; w [dim] bf16.
#include "common/common.cuh"

namespace tome::kernels {
namespace {

__global__ void rms_norm_kernel(const uint16_t* __restrict__ x, const uint16_t* __restrict__ w,
                                uint16_t* __restrict__ y, int64_t dim, float eps) {
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

}  // namespace

status add_rms_norm(uint16_t* x, const uint16_t* y, const uint16_t* w, uint16_t* out, int64_t rows,
                    int64_t dim, float eps, stream_t stream) {
  if (rows < 0 || dim <= 0 || rows > 0x7fffffff) return bad_argument("add_rms_norm: bad shape");
  if (rows == 0) return {};
  const int threads = dim >= 1024 ? 1024 : static_cast<int>((dim + 31) / 32 * 32);
  add_rms_norm_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(x, y, w, out, dim, eps);
  return launch_status();
}

status rms_norm(const uint16_t* x, const uint16_t* w, uint16_t* y, int64_t rows, int64_t dim,
                float eps, stream_t stream) {
  if (rows < 0 || dim <= 0 || rows > 0x7fffffff) return bad_argument("rms_norm: bad shape");
  if (rows == 0) return {};
  const int threads = dim >= 1024 ? 1024 : static_cast<int>((dim + 31) / 32 * 32);
  rms_norm_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(x, w, y, dim, eps);
  return launch_status();
}

}  // namespace tome::kernels
