// One decode token of gated retention in one kernel: log γ = logsigmoid(gt) / temperature,
// S = γ S + kᵀ v, o = q S (rounded to bf16 as gated_retention writes it), then the output stage
// o = rms_norm_head(o) ⊙ silu(g) (retention_output). == retention_log_gamma + gated_retention
// (rows 1) + retention_output up to the f32 summation order of q S. CPU twins: those three.
// One CTA per head streams the head's f32 state [hd, hd] once (read and written in place): thread
// t owns 4 columns (a float4) of every R-th row, all its state loads in flight at once; the
// partial q·S sums of the R row slices are added in a fixed order (deterministic, no atomics).
// A programmatic dependent launch where the GPU has PDL (sm_90): the state loads go out before
// griddepcontrol.wait, overlapping the q|k|v|g|gate product's tail. That is safe because only this
// kernel (this layer's, one step earlier) writes the state, and a decode step is separated from the
// one before it by a host copy (the graph's first node, or the eager step's synchronisation),
// which PDL never overlaps. (Tried: a cluster of hd/32 CTAs per head on sm_90, to spread the
// state over 96 SMs instead of 24; not faster, docs/performance.md, session 19.)
// Layouts: q, k (scaled, post-RoPE), v, g bf16 [H, hd]; gt bf16 [H]; state f32 [H, hd, hd];
// o bf16 [H, hd].
#include "common/common.cuh"
#include "gemv/gemv_common.cuh"

namespace tome::kernels {
namespace {

template <int HD>
struct decode_shape {
  static constexpr int kGroups = HD / 4;                                    // float4 columns
  static constexpr int kSlices = (512 / kGroups) < HD ? 512 / kGroups : HD;  // row slices
  static constexpr int kThreads = kGroups * kSlices;
  static constexpr int kRowsPerThread = HD / kSlices;
};

template <int HD>
__global__ void __launch_bounds__(decode_shape<HD>::kThreads)
    retention_decode_kernel(const uint16_t* __restrict__ q, const uint16_t* __restrict__ k,
                            const uint16_t* __restrict__ v, const uint16_t* __restrict__ g,
                            const uint16_t* __restrict__ gt, float* __restrict__ state, uint16_t* __restrict__ o,
                            float temperature, float eps, int64_t row_stride, float* const* __restrict__ states) {
  using S = decode_shape<HD>;
  allow_dependent_launch();  // the wo GEMV after it prefetches its weights meanwhile
  const int h = blockIdx.x, t = threadIdx.x;
  if (states) {  // batched (retention_decode_rows): row blockIdx.y, its own state; o rows [H*HD]
    const int64_t b = blockIdx.y;
    q += b * row_stride, k += b * row_stride, v += b * row_stride, g += b * row_stride, gt += b * row_stride;
    state = states[b];
    o += b * static_cast<int64_t>(gridDim.x) * HD;
  }
  const int cg = t % S::kGroups, rs = t / S::kGroups;
  float4* st4 = reinterpret_cast<float4*>(state + static_cast<int64_t>(h) * HD * HD);
  float4 s[S::kRowsPerThread];
#pragma unroll
  for (int r = 0; r < S::kRowsPerThread; ++r) s[r] = st4[(rs + r * S::kSlices) * S::kGroups + cg];
  griddep_wait();  // q, k, v, g and the gate come from the kernel before this one
  __shared__ float qs[HD], ks[HD];
  __shared__ float part[S::kSlices][HD];
  __shared__ float red[32];
  const int64_t base = static_cast<int64_t>(h) * HD;
  for (int d = t; d < HD; d += S::kThreads) {
    qs[d] = ld(q, base + d);
    ks[d] = ld(k, base + d);
  }
  // log γ exactly as log_gamma_kernel, then γ as retention_kernel takes it.
  const float x = ld(gt, h);
  const float ls = x >= 0.0f ? -log1pf(__expf(-x)) : x - log1pf(__expf(x));
  const float gamma = __expf(ls / temperature);
  const float v0 = ld(v, base + 4 * cg), v1 = ld(v, base + 4 * cg + 1), v2 = ld(v, base + 4 * cg + 2),
              v3 = ld(v, base + 4 * cg + 3);
  __syncthreads();
  float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
  for (int r = 0; r < S::kRowsPerThread; ++r) {
    const int i = rs + r * S::kSlices;
    const float ki = ks[i], qi = qs[i];
    float4 e = s[r];
    e.x = gamma * e.x + ki * v0;
    e.y = gamma * e.y + ki * v1;
    e.z = gamma * e.z + ki * v2;
    e.w = gamma * e.w + ki * v3;
    acc.x += qi * e.x;
    acc.y += qi * e.y;
    acc.z += qi * e.z;
    acc.w += qi * e.w;
    st4[i * S::kGroups + cg] = e;
  }
  part[rs][4 * cg] = acc.x;
  part[rs][4 * cg + 1] = acc.y;
  part[rs][4 * cg + 2] = acc.z;
  part[rs][4 * cg + 3] = acc.w;
  __syncthreads();
  float oj = 0.0f;
  if (t < HD) {
    for (int r = 0; r < S::kSlices; ++r) oj += part[r][t];
    oj = __bfloat162float(__float2bfloat16_rn(oj));  // o as the recurrent kernel stores it
  }
  // Sum of squares over the head (threads 0..HD-1, at most 4 warps), in a fixed order.
  float ss = t < HD ? oj * oj : 0.0f;
  ss = warp_sum(ss);
  if ((t & 31) == 0 && t < HD) red[t >> 5] = ss;
  __syncthreads();
  if (t < HD) {
    float tot = 0.0f;
    for (int w = 0; w < (HD + 31) / 32; ++w) tot += red[w];
    const float inv = rsqrtf(tot / static_cast<float>(HD) + eps);
    const float gv = ld(g, base + t);
    st(o, base + t, oj * inv * (gv / (1.0f + __expf(-gv))));
  }
}

}  // namespace

bool retention_decode_supported(int64_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

namespace {
template <int HD>
status launch_form(dim3 grid, const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g,
                   const uint16_t* gt, float* state, uint16_t* o, float temperature, float eps, int64_t row_stride,
                   float* const* states, stream_t stream) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(decode_shape<HD>::kThreads);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = gemv_detail::use_pdl() ? 1 : 0;
  const cudaError_t e = cudaLaunchKernelEx(&cfg, retention_decode_kernel<HD>, q, k, v, g, gt, state, o, temperature,
                                           eps, row_stride, states);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return status{static_cast<int>(e), cudaGetErrorString(e)};
  }
  return launch_status();
}

status launch_decode(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g, const uint16_t* gt,
                     float* state, uint16_t* o, int64_t heads, int64_t head_dim, float temperature, float eps,
                     int64_t rows, int64_t row_stride, float* const* states, stream_t stream) {
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(rows));
  switch (head_dim) {
    case 16: return launch_form<16>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
    case 32: return launch_form<32>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
    case 64: return launch_form<64>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
    default: return launch_form<128>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
  }
}
}  // namespace

status retention_decode(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g,
                        const uint16_t* gate_logits, float* state, uint16_t* o, int64_t heads, int64_t head_dim,
                        float temperature, float eps, stream_t stream) {
  if (heads <= 0 || heads > 0x7fffffff || !retention_decode_supported(head_dim) || !(temperature > 0.0f))
    return bad_argument("retention_decode: bad shape (head_dim 16, 32, 64 or 128)");
  if (reinterpret_cast<uintptr_t>(state) & 15u) return bad_argument("retention_decode: state must be 16-byte aligned");
  return launch_decode(q, k, v, g, gate_logits, state, o, heads, head_dim, temperature, eps, 1, 0, nullptr, stream);
}

// Every state pointer must be 16-byte aligned (not checked here: they live in device memory; the
// engine's states are cudaMalloc'd).
status retention_decode_rows(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g,
                             const uint16_t* gate_logits, int64_t row_stride, float* const* states, uint16_t* o,
                             int64_t rows, int64_t heads, int64_t head_dim, float temperature, float eps,
                             stream_t stream) {
  if (heads <= 0 || heads > 0x7fffffff || rows < 0 || rows > 65535 || !states || row_stride < 0 ||
      !retention_decode_supported(head_dim) || !(temperature > 0.0f))
    return bad_argument("retention_decode_rows: bad shape (head_dim 16, 32, 64 or 128)");
  if (rows == 0) return {};
  return launch_decode(q, k, v, g, gate_logits, nullptr, o, heads, head_dim, temperature, eps, rows, row_stride,
                       states, stream);
}

}  // namespace tome::kernels
