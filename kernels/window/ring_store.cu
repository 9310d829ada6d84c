// The sliding-window decode ring (CUDA decode graphs of sliding-window models): one token's key
// and value rows into slot (*pos mod slots) of the layer's ring, and *n_last = min(*pos, slots - 1),
// the last key index the decode attention then reads (keys 0..*n_last: every slot written so far;
// the attention does not depend on the keys' order, and RoPE was applied at the key's absolute
// position before the store). CPU twin: the row copy itself (tests/kernels: exact bytes).
#include <algorithm>

#include "common/common.cuh"

namespace tome::kernels {
namespace {

__global__ void ring_store_kernel(const uint4* __restrict__ k, const uint4* __restrict__ v, uint4* __restrict__ ring_k,
                                  uint4* __restrict__ ring_v, int64_t words, const int64_t* __restrict__ pos,
                                  int64_t slots, int64_t* __restrict__ n_last) {
  const int64_t p = *pos;
  const int64_t base = (p % slots) * words;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < words;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    ring_k[base + i] = k[i];
    ring_v[base + i] = v[i];
  }
  if (n_last && blockIdx.x == 0 && threadIdx.x == 0) *n_last = p < slots - 1 ? p : slots - 1;
}

}  // namespace

status ring_store(const uint16_t* k, const uint16_t* v, uint16_t* ring_k, uint16_t* ring_v, int64_t dim,
                  const int64_t* pos, int64_t slots, int64_t* n_last, stream_t stream) {
  if (dim <= 0 || dim % 8 != 0 || slots < 1) return bad_argument("ring_store: dim must be a positive multiple of 8");
  for (const void* p : {static_cast<const void*>(k), static_cast<const void*>(v), static_cast<const void*>(ring_k),
                        static_cast<const void*>(ring_v)})
    if (!is_aligned16(p)) return bad_argument("ring_store: rows must be 16-byte aligned");
  const int64_t words = dim / 8;
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((words + threads - 1) / threads, 64));
  ring_store_kernel<<<blocks, threads, 0, stream>>>(reinterpret_cast<const uint4*>(k), reinterpret_cast<const uint4*>(v),
                                                    reinterpret_cast<uint4*>(ring_k), reinterpret_cast<uint4*>(ring_v),
                                                    words, pos, slots, n_last);
  return launch_status();
}

}  // namespace tome::kernels
