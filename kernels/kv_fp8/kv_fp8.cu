// The fp8 e4m3 global KV (tome/kernels.h, "fp8 global KV"): quantisation where rows are written
// (the prefill's rows after the GEMM + RoPE; a decode token's row at a device position, with its
// RoPE) and dequantisation (export, tests). One warp per (token, KV head): the head's max |x| gives
// its scale. CPU twins: engine/src/backend/cpu/kv_fp8.h. The attention kernels dequantise as they
// load tiles (attention.cu, attention_mass.cu).
#include "common/common.cuh"
#include "kv_fp8/kv_fp8.cuh"

namespace tome::kernels {
namespace {

constexpr int kWarps = 4;  // warps per block, one (row, head) each

// One warp: values x[0..hd) (already bf16-rounded, in f32 via get(d)) -> q, *scale.
template <class Get>
__device__ __forceinline__ void quantise_head(Get get, int hd, uint8_t* q, float* scale) {
  const int lane = threadIdx.x & 31;
  float amax = 0.0f;
  for (int d = lane; d < hd; d += 32) amax = fmaxf(amax, fabsf(get(d)));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float s = fp8::scale_for(amax);
  for (int d = lane; d < hd; d += 32) q[d] = s > 0.0f ? fp8::encode(get(d) / s) : 0;
  if (lane == 0) *scale = s;
}

__global__ void quantize_kernel(const uint16_t* __restrict__ x, int64_t n_heads_total, int heads, int hd,
                                uint8_t* __restrict__ q, float* __restrict__ scale) {
  const int64_t rh = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);  // row * heads + head
  if (rh >= n_heads_total) return;
  const uint16_t* xr = x + rh * hd;
  quantise_head([&](int d) { return ld(xr, d); }, hd, q + rh * hd, scale + rh);
}

// grid (kv_heads, 2): y = 0 K (with RoPE), 1 V; one warp per block.
__device__ __forceinline__ void rope_store_fp8_body(const uint16_t* __restrict__ k, const uint16_t* __restrict__ v,
                                                    uint8_t* __restrict__ gk, uint8_t* __restrict__ gv,
                                                    float* __restrict__ ks, float* __restrict__ vs, int heads, int hd,
                                                    int64_t p, const float* __restrict__ inv_freq) {
  const int h = blockIdx.x;
  const bool is_k = blockIdx.y == 0;
  const uint16_t* src = (is_k ? k : v) + static_cast<int64_t>(h) * hd;
  const int half = hd / 2;
  // RoPE exactly as rope_store_kv (kernels/rope/rope.cu): pair t = h*half + i uses inv_freq[t % half].
  auto get = [&](int d) -> float {
    if (!is_k) return ld(src, d);
    const int i = d >> 1;
    const float a = static_cast<float>(p) * inv_freq[i % half];
    float s, c;
    sincosf(a, &s, &c);
    const float x0 = ld(src, 2 * i), x1 = ld(src, 2 * i + 1);
    const float r = (d & 1) ? rope_hi(x0, x1, c, s) : rope_lo(x0, x1, c, s);
    return __bfloat162float(__float2bfloat16_rn(r));
  };
  const int64_t row = p * heads + h;
  quantise_head(get, hd, (is_k ? gk : gv) + row * hd, (is_k ? ks : vs) + row);
}

__global__ void rope_store_fp8_kernel(const uint16_t* __restrict__ k, const uint16_t* __restrict__ v,
                                      uint8_t* __restrict__ gk, uint8_t* __restrict__ gv, float* __restrict__ ks,
                                      float* __restrict__ vs, int heads, int hd, const int64_t* __restrict__ pos,
                                      const float* __restrict__ inv_freq) {
  rope_store_fp8_body(k, v, gk, gv, ks, vs, heads, hd, *pos, inv_freq);
}

// Several sessions: grid (kv_heads, 2, rows); row b of k/v into session b's arrays at pos[b].
__global__ void rope_store_fp8_rows_kernel(const uint16_t* __restrict__ k, const uint16_t* __restrict__ v,
                                           uint8_t* const* gk, uint8_t* const* gv, float* const* ks, float* const* vs,
                                           int heads, int hd, const int64_t* __restrict__ pos,
                                           const float* __restrict__ inv_freq) {
  const int64_t b = blockIdx.z, row = b * heads * hd;
  rope_store_fp8_body(k + row, v + row, gk[b], gv[b], ks[b], vs[b], heads, hd, pos[b], inv_freq);
}

__global__ void dequantize_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale, int64_t n, int hd,
                                  float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = fp8::decode(q[i]) * scale[i / hd];
}

}  // namespace

status kv_quantize_fp8(const uint16_t* x, int64_t rows, int64_t heads, int64_t head_dim, uint8_t* q, float* scale,
                       stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim > 1024) return bad_argument("kv_quantize_fp8: bad shape");
  const int64_t n = rows * heads;
  if (n == 0) return {};
  if ((n + kWarps - 1) / kWarps > 0x7fffffff) return bad_argument("kv_quantize_fp8: too many rows");
  quantize_kernel<<<static_cast<unsigned>((n + kWarps - 1) / kWarps), 32 * kWarps, 0, stream>>>(
      x, n, static_cast<int>(heads), static_cast<int>(head_dim), q, scale);
  return launch_status();
}

status rope_store_kv_fp8(const uint16_t* k, const uint16_t* v, uint8_t* global_k, uint8_t* global_v, float* k_scale,
                         float* v_scale, int64_t kv_heads, int64_t head_dim, const int64_t* pos, const float* inv_freq,
                         stream_t stream) {
  if (kv_heads <= 0 || kv_heads > 65535 || head_dim <= 0 || head_dim % 2 != 0 || head_dim > 1024 || !pos)
    return bad_argument("rope_store_kv_fp8: bad shape");
  rope_store_fp8_kernel<<<dim3(static_cast<unsigned>(kv_heads), 2), 32, 0, stream>>>(
      k, v, global_k, global_v, k_scale, v_scale, static_cast<int>(kv_heads), static_cast<int>(head_dim), pos,
      inv_freq);
  return launch_status();
}

status kv_dequantize_fp8(const uint8_t* q, const float* scale, int64_t rows, int64_t heads, int64_t head_dim,
                         float* out, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0) return bad_argument("kv_dequantize_fp8: bad shape");
  const int64_t n = rows * heads * head_dim;
  if (n == 0) return {};
  constexpr int kThreads = 256;
  dequantize_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(q, scale, n, static_cast<int>(head_dim), out);
  return launch_status();
}

status rope_store_kv_fp8_rows(const uint16_t* k, const uint16_t* v, uint8_t* const* global_k, uint8_t* const* global_v,
                              float* const* k_scale, float* const* v_scale, int64_t rows, int64_t kv_heads,
                              int64_t head_dim, const int64_t* pos, const float* inv_freq, stream_t stream) {
  if (rows < 0 || rows > 65535 || kv_heads <= 0 || kv_heads > 65535 || head_dim <= 0 || head_dim % 2 != 0 ||
      head_dim > 1024 || !pos || !global_k || !global_v || !k_scale || !v_scale)
    return bad_argument("rope_store_kv_fp8_rows: bad shape");
  if (rows == 0) return {};
  rope_store_fp8_rows_kernel<<<dim3(static_cast<unsigned>(kv_heads), 2, static_cast<unsigned>(rows)), 32, 0, stream>>>(
      k, v, global_k, global_v, k_scale, v_scale, static_cast<int>(kv_heads), static_cast<int>(head_dim), pos,
      inv_freq);
  return launch_status();
}

}  // namespace tome::kernels
