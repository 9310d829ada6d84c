// SwiGLU kernel: out = silu(a) * b in f32, stored bf16 (a = W1 branch through SiLU, b = W3
// linear branch). CPU twin: cpu::swiglu. Grid-stride loop over n elements (8 a thread and step
// when n % 8 == 0 and the buffers are 16-byte aligned, the prefill's case; the same bits).
#include "common/common.cuh"

namespace tome::kernels {
namespace {

__global__ void swiglu_kernel(const uint16_t* __restrict__ a, const uint16_t* __restrict__ b,
                              uint16_t* __restrict__ out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = ld(a, i);
    st(out, i, x / (1.0f + __expf(-x)) * ld(b, i));
  }
}

// The same, 8 values per thread and step (n % 8 == 0, 16-byte aligned): one 16-byte load of a and
// of b, one store. a and out may be the same buffer (the FFN computes in place).
__global__ void swiglu_x8_kernel(const uint4* a, const uint4* __restrict__ b, uint4* out, int64_t n8) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n8;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float x[8], y[8];
    unpack_bf16x8(a[i], x);
    unpack_bf16x8(b[i], y);
#pragma unroll
    for (int j = 0; j < 8; ++j) x[j] = x[j] / (1.0f + __expf(-x[j])) * y[j];
    out[i] = pack_bf16x8(x);
  }
}

}  // namespace

status swiglu(const uint16_t* a, const uint16_t* b, uint16_t* out, int64_t n, stream_t stream) {
  if (n < 0) return bad_argument("swiglu: bad size");
  if (n == 0) return {};
  constexpr int kThreads = 256;
  if (n % 8 == 0 && is_aligned16(a) && is_aligned16(b) && is_aligned16(out)) {
    const int64_t n8 = n / 8;
    const unsigned blocks = blocks_for(n8, kThreads) > 65535u ? 65535u : blocks_for(n8, kThreads);
    swiglu_x8_kernel<<<blocks, kThreads, 0, stream>>>(reinterpret_cast<const uint4*>(a),
                                                      reinterpret_cast<const uint4*>(b), reinterpret_cast<uint4*>(out), n8);
    return launch_status();
  }
  const unsigned blocks = blocks_for(n, kThreads) > 65535u ? 65535u : blocks_for(n, kThreads);
  swiglu_kernel<<<blocks, kThreads, 0, stream>>>(a, b, out, n);
  return launch_status();
}

}  // namespace tome::kernels
