// RoPE on q and k in one launch, k then scaled (the gated-retention key scale hd^-0.5; 1 for
// attention): == rope(q), rope(k), scale(k, k_scale) with the same bf16 roundings in between
// (k is rounded after the rotation, then after the scale). Prefill rows (head_dim % 8 == 0, q and
// k 16-byte aligned, at least kVecMinRows rows): one thread per (row, 8 dims), its 4 angles' sincos
// computed once for every head of the row, q and k by 16-byte loads and stores
// (rope_qk_vec_kernel). Else one thread per (row, head, pair), the angle's sincos once for q and k.
// Both forms do the same arithmetic on every pair: the same bits (op-tested).
// CPU twins: cpu::rope on q and k, then k * k_scale.
// Layout: q, k bf16 [rows, heads, head_dim] in place; inv_freq f32 [head_dim/2].
#include "common/common.cuh"

namespace tome::kernels {
namespace {

// pos_dev != nullptr: the first row's position is *pos_dev (decode graphs), else pos0.
__global__ void rope_qk_kernel(uint16_t* __restrict__ q, uint16_t* __restrict__ k, int64_t n_pairs, int64_t heads,
                               int64_t half, int64_t pos0, const int64_t* __restrict__ pos_dev,
                               const float* __restrict__ inv_freq, float k_scale) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n_pairs) return;
  const int64_t i = t % half;
  const int64_t row = t / (half * heads);
  const float a = static_cast<float>((pos_dev ? *pos_dev : pos0) + row) * inv_freq[i];
  float s, c;
  sincosf(a, &s, &c);
  const float q0 = ld(q, 2 * t), q1 = ld(q, 2 * t + 1);
  st(q, 2 * t, rope_lo(q0, q1, c, s));
  st(q, 2 * t + 1, rope_hi(q0, q1, c, s));
  const float k0 = ld(k, 2 * t), k1 = ld(k, 2 * t + 1);
  const float r0 = __bfloat162float(__float2bfloat16_rn(rope_lo(k0, k1, c, s)));
  const float r1 = __bfloat162float(__float2bfloat16_rn(rope_hi(k0, k1, c, s)));
  st(k, 2 * t, r0 * k_scale);
  st(k, 2 * t + 1, r1 * k_scale);
}

// The vector form: thread t takes row t / groups and dims 8 (t % groups) .. + 8 of every head
// (groups = head_dim / 8). The angles as rope_qk_kernel computes them, then per head the pairs'
// rotations as there, each value rounded as st() rounds it (pack_bf16x8).
constexpr int64_t kVecMinRows = 16;
__global__ void rope_qk_vec_kernel(uint16_t* __restrict__ q, uint16_t* __restrict__ k, int64_t rows, int heads,
                                   int groups, int64_t pos0, const int64_t* __restrict__ pos_dev,
                                   const float* __restrict__ inv_freq, float k_scale) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * groups) return;
  const int64_t row = t / groups;
  const int gi = static_cast<int>(t - row * groups);
  const int64_t p = (pos_dev ? *pos_dev : pos0) + row;
  float c[4], s[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float a = static_cast<float>(p) * inv_freq[4 * gi + j];
    sincosf(a, &s[j], &c[j]);
  }
  uint4* q4 = reinterpret_cast<uint4*>(q) + row * heads * groups + gi;
  uint4* k4 = reinterpret_cast<uint4*>(k) + row * heads * groups + gi;
#pragma unroll 4
  for (int h = 0; h < heads; ++h) {
    float f[8], g[8], out[8];
    unpack_bf16x8(q4[h * groups], f);
    unpack_bf16x8(k4[h * groups], g);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      out[2 * j] = rope_lo(f[2 * j], f[2 * j + 1], c[j], s[j]);
      out[2 * j + 1] = rope_hi(f[2 * j], f[2 * j + 1], c[j], s[j]);
    }
    q4[h * groups] = pack_bf16x8(out);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      out[2 * j] = round_bf16(rope_lo(g[2 * j], g[2 * j + 1], c[j], s[j])) * k_scale;
      out[2 * j + 1] = round_bf16(rope_hi(g[2 * j], g[2 * j + 1], c[j], s[j])) * k_scale;
    }
    k4[h * groups] = pack_bf16x8(out);
  }
}

// Batched decode: row r (of q and, when non-null, k) at + r*row_stride, position pos[r]; the same
// arithmetic as rope_qk_kernel (and, for q alone, rope_at_kernel).
__global__ void rope_qk_rows_kernel(uint16_t* __restrict__ q, uint16_t* __restrict__ k, int64_t n_pairs,
                                    int64_t heads, int64_t half, int64_t row_stride, const int64_t* __restrict__ pos,
                                    const float* __restrict__ inv_freq, float k_scale) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n_pairs) return;
  const int64_t i = t % half;
  const int64_t row = t / (half * heads);
  const int64_t e = 2 * (t - row * half * heads) + row * row_stride;  // element of the pair's first value
  const float a = static_cast<float>(pos[row]) * inv_freq[i];
  float s, c;
  sincosf(a, &s, &c);
  const float q0 = ld(q, e), q1 = ld(q, e + 1);
  st(q, e, rope_lo(q0, q1, c, s));
  st(q, e + 1, rope_hi(q0, q1, c, s));
  if (!k) return;
  const float k0 = ld(k, e), k1 = ld(k, e + 1);
  const float r0 = __bfloat162float(__float2bfloat16_rn(rope_lo(k0, k1, c, s)));
  const float r1 = __bfloat162float(__float2bfloat16_rn(rope_hi(k0, k1, c, s)));
  st(k, e, r0 * k_scale);
  st(k, e + 1, r1 * k_scale);
}

// cs[row, i] = (cos, sin) of the angle rope_qk_kernel computes for pair i of row `row`.
__global__ void rope_cos_sin_kernel(float2* __restrict__ cs, int64_t n, int64_t half, int64_t pos0,
                                    const float* __restrict__ inv_freq) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n) return;
  const int64_t row = t / half, i = t - row * half;
  const float a = static_cast<float>(pos0 + row) * inv_freq[i];
  float s, c;
  sincosf(a, &s, &c);
  cs[t] = make_float2(c, s);
}

status launch(uint16_t* q, uint16_t* k, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
              const int64_t* pos_dev, const float* inv_freq, float k_scale, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || pos0 < 0)
    return bad_argument("rope_qk: bad shape");
  const int64_t n_pairs = rows * heads * (head_dim / 2);
  if (n_pairs == 0) return {};
  constexpr int kThreads = 256;
  if (head_dim % 8 == 0 && rows >= kVecMinRows && heads <= (int64_t{1} << 30) && is_aligned16(q) && is_aligned16(k)) {
    const int groups = static_cast<int>(head_dim / 8);
    rope_qk_vec_kernel<<<blocks_for(rows * groups, kThreads), kThreads, 0, stream>>>(
        q, k, rows, static_cast<int>(heads), groups, pos0, pos_dev, inv_freq, k_scale);
    return launch_status();
  }
  rope_qk_kernel<<<blocks_for(n_pairs, kThreads), kThreads, 0, stream>>>(q, k, n_pairs, heads, head_dim / 2, pos0,
                                                                         pos_dev, inv_freq, k_scale);
  return launch_status();
}

}  // namespace

status rope_qk(uint16_t* q, uint16_t* k, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
               const float* inv_freq, float k_scale, stream_t stream) {
  return launch(q, k, rows, heads, head_dim, pos0, nullptr, inv_freq, k_scale, stream);
}

status rope_cos_sin(float* cs, int64_t rows, int64_t head_dim, int64_t pos0, const float* inv_freq,
                    stream_t stream) {
  if (rows < 0 || head_dim <= 0 || head_dim % 2 != 0 || pos0 < 0 || !cs || !inv_freq || !is_aligned16(cs))
    return bad_argument("rope_cos_sin: bad shape");
  const int64_t n = rows * (head_dim / 2);
  if (n == 0) return {};
  constexpr int kThreads = 256;
  rope_cos_sin_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(reinterpret_cast<float2*>(cs), n, head_dim / 2,
                                                                        pos0, inv_freq);
  return launch_status();
}

status rope_qk_at(uint16_t* q, uint16_t* k, int64_t rows, int64_t heads, int64_t head_dim, const int64_t* pos,
                  const float* inv_freq, float k_scale, stream_t stream) {
  if (!pos) return bad_argument("rope_qk_at: no position");
  return launch(q, k, rows, heads, head_dim, 0, pos, inv_freq, k_scale, stream);
}

status rope_qk_rows(uint16_t* q, uint16_t* k, int64_t rows, int64_t row_stride, int64_t heads, int64_t head_dim,
                    const int64_t* pos, const float* inv_freq, float k_scale, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || !pos || !q || row_stride < heads * head_dim)
    return bad_argument("rope_qk_rows: bad shape");
  const int64_t n_pairs = rows * heads * (head_dim / 2);
  if (n_pairs == 0) return {};
  constexpr int kThreads = 256;
  rope_qk_rows_kernel<<<blocks_for(n_pairs, kThreads), kThreads, 0, stream>>>(q, k, n_pairs, heads, head_dim / 2,
                                                                              row_stride, pos, inv_freq, k_scale);
  return launch_status();
}

}  // namespace tome::kernels
