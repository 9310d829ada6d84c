// Elementwise kernels: residual add, scale, bf16 <-> f32 conversion, rows copied to a list of
// destinations. Grid-stride loops.
// CPU twins: cpu::add (others are plain conversions). Layouts: flat arrays of n elements.
#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 256;
unsigned grid(int64_t n) {
  const unsigned b = blocks_for(n, kThreads);
  return b > 65535u ? 65535u : b;
}

__global__ void add_kernel(uint16_t* x, const uint16_t* y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    st(x, i, ld(x, i) + ld(y, i));
}
__global__ void scale_kernel(uint16_t* x, float s, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    st(x, i, ld(x, i) * s);
}
__global__ void to_f32_kernel(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = ld(x, i);
}
__global__ void to_bf16_kernel(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    st(y, i, x[i]);
}

// Row blockIdx.y of x to dst[blockIdx.y] (batched decode: each session's last hidden row).
__global__ void copy_rows_to_kernel(const uint16_t* __restrict__ x, int64_t dim, uint16_t* const* __restrict__ dst) {
  const int64_t r = blockIdx.y;
  uint16_t* d = dst[r];
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < dim;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    d[i] = x[r * dim + i];
}

}  // namespace

status copy_rows_to(const uint16_t* x, int64_t rows, int64_t dim, uint16_t* const* dst, stream_t stream) {
  if (rows < 0 || rows > 65535 || dim < 0 || !dst) return bad_argument("copy_rows_to: bad shape");
  if (rows == 0 || dim == 0) return {};
  copy_rows_to_kernel<<<dim3(grid(dim), static_cast<unsigned>(rows)), kThreads, 0, stream>>>(x, dim, dst);
  return launch_status();
}

status add(uint16_t* x, const uint16_t* y, int64_t n, stream_t stream) {
  if (n < 0) return bad_argument("add: bad size");
  if (n == 0) return {};
  add_kernel<<<grid(n), kThreads, 0, stream>>>(x, y, n);
  return launch_status();
}
status scale(uint16_t* x, float s, int64_t n, stream_t stream) {
  if (n < 0) return bad_argument("scale: bad size");
  if (n == 0) return {};
  scale_kernel<<<grid(n), kThreads, 0, stream>>>(x, s, n);
  return launch_status();
}
status bf16_to_f32(const uint16_t* x, float* y, int64_t n, stream_t stream) {
  if (n < 0) return bad_argument("bf16_to_f32: bad size");
  if (n == 0) return {};
  to_f32_kernel<<<grid(n), kThreads, 0, stream>>>(x, y, n);
  return launch_status();
}
status f32_to_bf16(const float* x, uint16_t* y, int64_t n, stream_t stream) {
  if (n < 0) return bad_argument("f32_to_bf16: bad size");
  if (n == 0) return {};
  to_bf16_kernel<<<grid(n), kThreads, 0, stream>>>(x, y, n);
  return launch_status();
}

}  // namespace tome::kernels
