// Interleaved RoPE kernel (YOCO.md): one thread per (row, head, pair); angle f32(pos) * inv_freq
// in f32, pairs (x[2i], x[2i+1]) rotated in f32, stored bf16. CPU twin: cpu::rope.
// Layout: x [rows, heads, head_dim] bf16, in place; inv_freq [head_dim/2] f32.
#include "common/common.cuh"

namespace tome::kernels {
namespace {

__global__ void rope_kernel(uint16_t* __restrict__ x, int64_t n_pairs, int64_t heads,
                            int64_t half, int64_t pos0, const float* __restrict__ inv_freq) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n_pairs) return;
  const int64_t i = t % half;
  const int64_t row = t / (half * heads);
  const float a = static_cast<float>(pos0 + row) * inv_freq[i];
  float s, c;
  sincosf(a, &s, &c);
  const float x0 = ld(x, 2 * t), x1 = ld(x, 2 * t + 1);
  st(x, 2 * t, rope_lo(x0, x1, c, s));
  st(x, 2 * t + 1, rope_hi(x0, x1, c, s));
}

// Decode steps inside a CUDA graph: the position comes from device memory (pos0 = *pos).
__global__ void rope_at_kernel(uint16_t* __restrict__ x, int64_t n_pairs, int64_t heads, int64_t half,
                               const int64_t* __restrict__ pos, const float* __restrict__ inv_freq) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n_pairs) return;
  const int64_t i = t % half;
  const int64_t row = t / (half * heads);
  const float a = static_cast<float>(*pos + row) * inv_freq[i];
  float s, c;
  sincosf(a, &s, &c);
  const float x0 = ld(x, 2 * t), x1 = ld(x, 2 * t + 1);
  st(x, 2 * t, rope_lo(x0, x1, c, s));
  st(x, 2 * t + 1, rope_hi(x0, x1, c, s));
}

// One token's global K/V row: K = RoPE(k) at position *pos written to gk[*pos], V copied to gv[*pos].
__global__ void rope_store_kv_kernel(const uint16_t* __restrict__ k, const uint16_t* __restrict__ v,
                                     uint16_t* __restrict__ gk, uint16_t* __restrict__ gv, int64_t n_pairs,
                                     int64_t half, const int64_t* __restrict__ pos,
                                     const float* __restrict__ inv_freq) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n_pairs) return;
  const int64_t p = *pos, base = p * n_pairs * 2;
  const float a = static_cast<float>(p) * inv_freq[t % half];
  float s, c;
  sincosf(a, &s, &c);
  const float x0 = ld(k, 2 * t), x1 = ld(k, 2 * t + 1);
  st(gk, base + 2 * t, rope_lo(x0, x1, c, s));
  st(gk, base + 2 * t + 1, rope_hi(x0, x1, c, s));
  gv[base + 2 * t] = v[2 * t];
  gv[base + 2 * t + 1] = v[2 * t + 1];
}

// rope_store_kv for several sessions: grid (pair blocks, rows); row b of k/v to row pos[b] of gk[b]/gv[b].
__global__ void rope_store_kv_rows_kernel(const uint16_t* __restrict__ k, const uint16_t* __restrict__ v,
                                          uint16_t* const* __restrict__ gk, uint16_t* const* __restrict__ gv,
                                          int64_t n_pairs, int64_t half, const int64_t* __restrict__ pos,
                                          const float* __restrict__ inv_freq) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n_pairs) return;
  const int64_t b = blockIdx.y, p = pos[b], base = p * n_pairs * 2;
  const uint16_t* kr = k + b * n_pairs * 2;
  const uint16_t* vr = v + b * n_pairs * 2;
  uint16_t* gkb = gk[b];
  uint16_t* gvb = gv[b];
  const float a = static_cast<float>(p) * inv_freq[t % half];
  float s, c;
  sincosf(a, &s, &c);
  const float x0 = ld(kr, 2 * t), x1 = ld(kr, 2 * t + 1);
  st(gkb, base + 2 * t, rope_lo(x0, x1, c, s));
  st(gkb, base + 2 * t + 1, rope_hi(x0, x1, c, s));
  gvb[base + 2 * t] = vr[2 * t];
  gvb[base + 2 * t + 1] = vr[2 * t + 1];
}

}  // namespace

status rope_store_kv_rows(const uint16_t* k, const uint16_t* v, uint16_t* const* global_k, uint16_t* const* global_v,
                          int64_t rows, int64_t kv_heads, int64_t head_dim, const int64_t* pos, const float* inv_freq,
                          stream_t stream) {
  if (rows < 0 || rows > 65535 || kv_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || !pos || !global_k ||
      !global_v)
    return bad_argument("rope_store_kv_rows: bad shape");
  if (rows == 0) return {};
  const int64_t n_pairs = kv_heads * head_dim / 2;
  constexpr int kThreads = 256;
  rope_store_kv_rows_kernel<<<dim3(blocks_for(n_pairs, kThreads), static_cast<unsigned>(rows)), kThreads, 0,
                              stream>>>(k, v, global_k, global_v, n_pairs, head_dim / 2, pos, inv_freq);
  return launch_status();
}

status rope_at(uint16_t* x, int64_t rows, int64_t heads, int64_t head_dim, const int64_t* pos,
               const float* inv_freq, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || !pos) return bad_argument("rope_at: bad shape");
  const int64_t n_pairs = rows * heads * (head_dim / 2);
  if (n_pairs == 0) return {};
  constexpr int kThreads = 256;
  rope_at_kernel<<<blocks_for(n_pairs, kThreads), kThreads, 0, stream>>>(x, n_pairs, heads, head_dim / 2, pos,
                                                                         inv_freq);
  return launch_status();
}

status rope_store_kv(const uint16_t* k, const uint16_t* v, uint16_t* global_k, uint16_t* global_v,
                     int64_t kv_heads, int64_t head_dim, const int64_t* pos, const float* inv_freq,
                     stream_t stream) {
  if (kv_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || !pos) return bad_argument("rope_store_kv: bad shape");
  const int64_t n_pairs = kv_heads * head_dim / 2;
  constexpr int kThreads = 256;
  rope_store_kv_kernel<<<blocks_for(n_pairs, kThreads), kThreads, 0, stream>>>(k, v, global_k, global_v, n_pairs,
                                                                               head_dim / 2, pos, inv_freq);
  return launch_status();
}

status rope(uint16_t* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
            const float* inv_freq, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || pos0 < 0)
    return bad_argument("rope: bad shape");
  const int64_t n_pairs = rows * heads * (head_dim / 2);
  if (n_pairs == 0) return {};
  constexpr int kThreads = 256;
  rope_kernel<<<blocks_for(n_pairs, kThreads), kThreads, 0, stream>>>(x, n_pairs, heads, head_dim / 2,
                                                                      pos0, inv_freq);
  return launch_status();
}

}  // namespace tome::kernels
