// Gated retention kernels (YOCO's gRet, self-decoder kind a). CPU twins: cpu::gated_retention,
// cpu::retention_log_gamma, cpu::retention_output.
// gated_retention: the recurrent form S_t = γ_t S_{t-1} + k'_tᵀ v_t, o_t = q_t S_t, exact and
// equal to the chunkwise form. Grid (heads, ceil(hd/32)); each thread owns one column e of the
// head's state S [dk, dv] in registers (f32) and walks the rows in order; q_t, k'_t of the row are
// staged in shared memory. Tokens are sequential, so this first version is latency-bound: a
// tensor-core chunkwise kernel replaces it for long prefills (issue 3).
// Layouts: q, k, v bf16 [rows, H, hd] (k already scaled, both post-RoPE); log_gamma f32 [rows, H];
// state f32 [H, hd, hd] (read and written); o bf16 [rows, H, hd].
#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kMaxHeadDim = 256;

template <int HD>
__global__ void retention_kernel(const uint16_t* __restrict__ q, const uint16_t* __restrict__ k,
                                 const uint16_t* __restrict__ v, const float* __restrict__ log_gamma,
                                 float* __restrict__ state, uint16_t* __restrict__ o, int64_t rows,
                                 int heads, int hd) {
  const int h = blockIdx.x;
  const int e = blockIdx.y * 32 + threadIdx.x;
  const bool active = e < hd;
  __shared__ float qs[HD], ks[HD];
  float s[HD];  // this thread's column of S, in registers (HD is the head dim rounded up)
  float* st_col = state + static_cast<int64_t>(h) * hd * hd;
#pragma unroll
  for (int d = 0; d < HD; ++d) s[d] = (active && d < hd) ? st_col[d * hd + e] : 0.0f;
  const int64_t stride = static_cast<int64_t>(heads) * hd;
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t base = t * stride + static_cast<int64_t>(h) * hd;
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += 32) {
      qs[d] = ld(q, base + d);
      ks[d] = ld(k, base + d);
    }
    __syncthreads();
    const float g = __expf(log_gamma[t * heads + h]);
    const float ve = active ? ld(v, base + e) : 0.0f;
    float acc = 0.0f;
#pragma unroll
    for (int d = 0; d < HD; ++d) {
      if (d < hd) {
        s[d] = g * s[d] + ks[d] * ve;
        acc += qs[d] * s[d];
      }
    }
    if (active) st(o, base + e, acc);
  }
  if (active)
    for (int d = 0; d < hd; ++d) st_col[d * hd + e] = s[d];
}

__global__ void log_gamma_kernel(const uint16_t* __restrict__ gt, float* __restrict__ out, int64_t n,
                                 float temperature) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = ld(gt, i);
  const float ls = x >= 0.0f ? -log1pf(__expf(-x)) : x - log1pf(__expf(x));
  out[i] = ls / temperature;
}

// One block per (row, head): rms-normalise o over hd (no weight), times silu(g).
__global__ void retention_output_kernel(uint16_t* __restrict__ o, const uint16_t* __restrict__ g, int hd,
                                        float eps) {
  const int64_t base = static_cast<int64_t>(blockIdx.x) * hd;
  float ss = 0.0f;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    const float x = ld(o, base + d);
    ss += x * x;
  }
  const float inv = rsqrtf(block_sum(ss) / static_cast<float>(hd) + eps);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    const float gv = ld(g, base + d);
    st(o, base + d, ld(o, base + d) * inv * (gv / (1.0f + __expf(-gv))));
  }
}

// The same with 16-byte words (hd % 8 == 0, hd / 8 a power of two <= 32, aligned): L = hd / 8
// lanes per (row, head), one word of o and of g each, the sum of squares over the L lanes by
// shuffles. 256 threads = 256 / L items per block.
template <int L>
__global__ void retention_output_x8_kernel(uint4* __restrict__ o, const uint4* __restrict__ g, int64_t items,
                                           int hd, float eps) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t item = t / L;
  const bool active = item < items;  // whole groups are active or not: the shuffles stay inside one
  const int64_t i = active ? t : 0;
  float x[8], gv[8];
  uint4 ov = active ? o[i] : make_uint4(0, 0, 0, 0);
  unpack_bf16x8(ov, x);
  float ss = 0.0f;
#pragma unroll
  for (int e = 0; e < 8; ++e) ss += x[e] * x[e];
#pragma unroll
  for (int off = L / 2; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  if (!active) return;
  const float inv = rsqrtf(ss / static_cast<float>(hd) + eps);
  unpack_bf16x8(g[i], gv);
#pragma unroll
  for (int e = 0; e < 8; ++e) x[e] = x[e] * inv * (gv[e] / (1.0f + __expf(-gv[e])));
  o[i] = pack_bf16x8(x);
}

}  // namespace

status gated_retention(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                       const float* log_gamma, float* state, uint16_t* o, int64_t rows,
                       int64_t heads, int64_t head_dim, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim > kMaxHeadDim || heads > 65535)
    return bad_argument("gated_retention: bad shape (head_dim must be <= 256)");
  if (rows == 0) return {};
  dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>((head_dim + 31) / 32));
  const int h = static_cast<int>(heads), d = static_cast<int>(head_dim);
  if (head_dim <= 32) retention_kernel<32><<<grid, 32, 0, stream>>>(q, k, v, log_gamma, state, o, rows, h, d);
  else if (head_dim <= 64) retention_kernel<64><<<grid, 32, 0, stream>>>(q, k, v, log_gamma, state, o, rows, h, d);
  else if (head_dim <= 128) retention_kernel<128><<<grid, 32, 0, stream>>>(q, k, v, log_gamma, state, o, rows, h, d);
  else retention_kernel<256><<<grid, 32, 0, stream>>>(q, k, v, log_gamma, state, o, rows, h, d);
  return launch_status();
}

status retention_log_gamma(const uint16_t* gate_logits, float* log_gamma, int64_t n,
                           float temperature, stream_t stream) {
  if (n < 0 || !(temperature > 0.0f)) return bad_argument("retention_log_gamma: bad arguments");
  if (n == 0) return {};
  log_gamma_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(gate_logits, log_gamma, n, temperature);
  return launch_status();
}

status retention_output(uint16_t* o, const uint16_t* g, int64_t rows, int64_t heads,
                        int64_t head_dim, float eps, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || rows * heads > 0x7fffffff)
    return bad_argument("retention_output: bad shape");
  if (rows == 0) return {};
  const int64_t L = head_dim / 8;
  if (head_dim % 8 == 0 && L >= 1 && L <= 32 && (L & (L - 1)) == 0 && is_aligned16(o) && is_aligned16(g)) {
    const int64_t items = rows * heads, threads = 256;
    const unsigned blocks = static_cast<unsigned>((items * L + threads - 1) / threads);
    auto* ov = reinterpret_cast<uint4*>(o);
    const auto* gv = reinterpret_cast<const uint4*>(g);
    const int d = static_cast<int>(head_dim);
    switch (L) {
      case 1: retention_output_x8_kernel<1><<<blocks, threads, 0, stream>>>(ov, gv, items, d, eps); break;
      case 2: retention_output_x8_kernel<2><<<blocks, threads, 0, stream>>>(ov, gv, items, d, eps); break;
      case 4: retention_output_x8_kernel<4><<<blocks, threads, 0, stream>>>(ov, gv, items, d, eps); break;
      case 8: retention_output_x8_kernel<8><<<blocks, threads, 0, stream>>>(ov, gv, items, d, eps); break;
      case 16: retention_output_x8_kernel<16><<<blocks, threads, 0, stream>>>(ov, gv, items, d, eps); break;
      default: retention_output_x8_kernel<32><<<blocks, threads, 0, stream>>>(ov, gv, items, d, eps); break;
    }
    return launch_status();
  }
  const int threads = head_dim >= 128 ? 128 : 32;
  retention_output_kernel<<<static_cast<unsigned>(rows * heads), threads, 0, stream>>>(
      o, g, static_cast<int>(head_dim), eps);
  return launch_status();
}

}  // namespace tome::kernels
