// The sliding-window decode ring (CUDA decode graphs of sliding-window models): one token's key
// and value rows into slot (*pos mod slots) of the layer's ring, and *n_last = min(*pos, slots - 1),
// the last key index the decode attention then reads (keys 0..*n_last: every slot written so far;
// the attention does not depend on the keys' order, and RoPE was applied at the key's absolute
// position before the store). ring_store_rows: the same for the sessions of a batched step (row r:
// its own ring and position). CPU twin: the row copy itself (tests/kernels: exact bytes).
#include <algorithm>

#include "common/common.cuh"

namespace tome::kernels {
namespace {

// Row r = blockIdx.y: k, v at r * stride words; its ring from the arrays (batched) or ring_k1/v1.
__global__ void ring_store_kernel(const uint4* __restrict__ k, const uint4* __restrict__ v, int64_t stride,
                                  uint4* const* ring_ks, uint4* const* ring_vs, uint4* ring_k1, uint4* ring_v1,
                                  int64_t words, const int64_t* __restrict__ pos, int64_t slots,
                                  int64_t* __restrict__ n_last) {
  const int r = blockIdx.y;
  const int64_t p = pos[r];
  uint4* rk = ring_ks ? ring_ks[r] : ring_k1;
  uint4* rv = ring_vs ? ring_vs[r] : ring_v1;
  const int64_t base = (p % slots) * words;
  const uint4* kr = k + r * stride;
  const uint4* vr = v + r * stride;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < words;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    rk[base + i] = kr[i];
    rv[base + i] = vr[i];
  }
  if (n_last && blockIdx.x == 0 && threadIdx.x == 0) n_last[r] = p < slots - 1 ? p : slots - 1;
}

status launch(const uint16_t* k, const uint16_t* v, int64_t row_stride, uint16_t* const* ring_ks,
              uint16_t* const* ring_vs, uint16_t* ring_k1, uint16_t* ring_v1, int64_t rows, int64_t dim,
              const int64_t* pos, int64_t slots, int64_t* n_last, stream_t stream) {
  if (dim <= 0 || dim % 8 != 0 || row_stride % 8 != 0 || slots < 1 || rows < 1 || rows > 65535)
    return bad_argument("ring_store: dim and the row stride must be positive multiples of 8, 1..65535 rows");
  for (const void* p : {static_cast<const void*>(k), static_cast<const void*>(v), static_cast<const void*>(ring_k1),
                        static_cast<const void*>(ring_v1)})
    if (p && !is_aligned16(p)) return bad_argument("ring_store: rows must be 16-byte aligned");
  const int64_t words = dim / 8;
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((words + threads - 1) / threads, 64));
  ring_store_kernel<<<dim3(blocks, static_cast<unsigned>(rows)), threads, 0, stream>>>(
      reinterpret_cast<const uint4*>(k), reinterpret_cast<const uint4*>(v), row_stride / 8,
      reinterpret_cast<uint4* const*>(ring_ks), reinterpret_cast<uint4* const*>(ring_vs),
      reinterpret_cast<uint4*>(ring_k1), reinterpret_cast<uint4*>(ring_v1), words, pos, slots, n_last);
  return launch_status();
}

}  // namespace

status ring_store(const uint16_t* k, const uint16_t* v, uint16_t* ring_k, uint16_t* ring_v, int64_t dim,
                  const int64_t* pos, int64_t slots, int64_t* n_last, stream_t stream) {
  if (!ring_k || !ring_v) return bad_argument("ring_store: no ring");
  return launch(k, v, dim, nullptr, nullptr, ring_k, ring_v, 1, dim, pos, slots, n_last, stream);
}

status ring_store_rows(const uint16_t* k, const uint16_t* v, int64_t row_stride, uint16_t* const* ring_k,
                       uint16_t* const* ring_v, int64_t rows, int64_t dim, const int64_t* pos, int64_t slots,
                       int64_t* n_last, stream_t stream) {
  if (!ring_k || !ring_v) return bad_argument("ring_store_rows: no ring arrays");
  return launch(k, v, row_stride, ring_k, ring_v, nullptr, nullptr, rows, dim, pos, slots, n_last, stream);
}

}  // namespace tome::kernels
