// SwiGLU kernel: out = silu(a) * b in f32, stored bf16 (a = W1 branch through SiLU, b = W3
// linear branch). CPU twin: cpu::swiglu. Grid-stride loop over n elements.
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

}  // namespace

status swiglu(const uint16_t* a, const uint16_t* b, uint16_t* out, int64_t n, stream_t stream) {
  if (n < 0) return bad_argument("swiglu: bad size");
  if (n == 0) return {};
  constexpr int kThreads = 256;
  const unsigned blocks = blocks_for(n, kThreads) > 65535u ? 65535u : blocks_for(n, kThreads);
  swiglu_kernel<<<blocks, kThreads, 0, stream>>>(a, b, out, n);
  return launch_status();
}

}  // namespace tome::kernels
