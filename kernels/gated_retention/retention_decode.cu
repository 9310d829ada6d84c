// One decode token of gated retention in one kernel: log γ = logsigmoid(gt) / temperature,
// S = γ S + kᵀ v, o = q S (rounded to bf16 as gated_retention writes it), then the output stage
// o = rms_norm_head(o) ⊙ silu(g) (retention_output). == retention_log_gamma + gated_retention
// (rows 1) + retention_output up to the f32 summation order of q S. CPU twins: those three.
// The head's f32 state [hd, hd] is streamed once (read and written in place): thread t owns 4
// columns (a float4) of every R-th row, all its state loads in flight at once; the partial q·S
// sums of the R row slices are added in a fixed order (deterministic, no atomics).
// Two forms with the same bits:
//   - one CTA per head (every GPU);
//   - sm_90: a cluster of hd/32 CTAs per head, CTA c owning columns 32c..32c+31 (the columns of
//     warp c in the first form, each summed in the same order). A decode step's 24 heads of 128
//     then stream their 1.5 MiB of state through 96 SMs instead of 24, where one SM's load and
//     store bandwidth bounded the kernel (5.4 µs at YOCO-3B). The head's sum of squares for the
//     norm is the sum of the CTAs' 32-column sums in rank order, read through distributed shared
//     memory: the first form's sum of its warps' sums.
// Both are programmatic dependent launches where the GPU has PDL (sm_90): the state loads go out
// before griddepcontrol.wait, overlapping the q|k|v|g|gate product's tail. That is safe because
// only this kernel (this layer's, one step earlier) writes the state, and a decode step is
// separated from the one before it by a host copy (the graph's first node, or the eager step's
// synchronisation), which PDL never overlaps.
// Layouts: q, k (scaled, post-RoPE), v, g bf16 [H, hd]; gt bf16 [H]; state f32 [H, hd, hd];
// o bf16 [H, hd].
#include <cooperative_groups.h>

#include "common/common.cuh"
#include "gemv/gemv_common.cuh"

namespace tome::kernels {
namespace {

// kSplit CTAs per head (a cluster when > 1), each owning HD / kSplit columns.
template <int HD, int kSplit>
struct decode_shape {
  static constexpr int kGroupsAll = HD / 4;                                          // float4 columns of a head
  static constexpr int kSlices = (512 / kGroupsAll) < HD ? 512 / kGroupsAll : HD;  // row slices (as kSplit 1)
  static constexpr int kGroups = kGroupsAll / kSplit;                                // float4 columns of a CTA
  static constexpr int kCols = 4 * kGroups;
  static constexpr int kThreads = kGroups * kSlices;
  static constexpr int kRowsPerThread = HD / kSlices;
  static_assert(kSplit == 1 || kCols == 32, "a cluster CTA owns the 32 columns of one warp of the one-CTA form");
};

template <int HD, int kSplit>
__global__ void __launch_bounds__(decode_shape<HD, kSplit>::kThreads)
    retention_decode_kernel(const uint16_t* __restrict__ q, const uint16_t* __restrict__ k,
                            const uint16_t* __restrict__ v, const uint16_t* __restrict__ g,
                            const uint16_t* __restrict__ gt, float* __restrict__ state, uint16_t* __restrict__ o,
                            float temperature, float eps, int64_t row_stride, float* const* __restrict__ states) {
  using S = decode_shape<HD, kSplit>;
  static_assert(S::kRowsPerThread >= 1 && S::kThreads <= 512, "shape");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  if constexpr (kSplit > 1) {
    __trap();  // never launched: the host takes the cluster form only from an sm_90 image
  } else
#endif
  {
    allow_dependent_launch();  // the wo GEMV after it prefetches its weights meanwhile
    const int h = blockIdx.x / kSplit, c = blockIdx.x % kSplit, t = threadIdx.x;
    if (states) {  // batched (retention_decode_rows): row blockIdx.y, its own state; o rows [H*HD]
      const int64_t b = blockIdx.y;
      q += b * row_stride, k += b * row_stride, v += b * row_stride, g += b * row_stride, gt += b * row_stride;
      state = states[b];
      o += b * static_cast<int64_t>(gridDim.x / kSplit) * HD;
    }
    const int cg = t % S::kGroups, rs = t / S::kGroups;
    const int col = c * S::kCols + 4 * cg;  // this thread's first column in the head
    float4* st4 = reinterpret_cast<float4*>(state + static_cast<int64_t>(h) * HD * HD);
    float4 s[S::kRowsPerThread];
#pragma unroll
    for (int r = 0; r < S::kRowsPerThread; ++r) s[r] = st4[(rs + r * S::kSlices) * S::kGroupsAll + col / 4];
    griddep_wait();  // q, k, v, g and the gate come from the kernel before this one
    __shared__ float qs[HD], ks[HD];
    __shared__ float part[S::kSlices][S::kCols];
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
    const float v0 = ld(v, base + col), v1 = ld(v, base + col + 1), v2 = ld(v, base + col + 2),
                v3 = ld(v, base + col + 3);
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
      st4[i * S::kGroupsAll + col / 4] = e;
    }
    part[rs][4 * cg] = acc.x;
    part[rs][4 * cg + 1] = acc.y;
    part[rs][4 * cg + 2] = acc.z;
    part[rs][4 * cg + 3] = acc.w;
    __syncthreads();
    float oj = 0.0f;
    if (t < S::kCols) {
      for (int r = 0; r < S::kSlices; ++r) oj += part[r][t];
      oj = __bfloat162float(__float2bfloat16_rn(oj));  // o as the recurrent kernel stores it
    }
    // Sum of squares over the head in a fixed order: each warp's 32 columns (warp_sum), then the
    // warps' sums in order (one CTA), or the cluster CTAs' sums in rank order.
    float ss = t < S::kCols ? oj * oj : 0.0f;
    ss = warp_sum(ss);
    if ((t & 31) == 0 && t < S::kCols) red[t >> 5] = ss;
    float tot = 0.0f;
    if constexpr (kSplit == 1) {
      __syncthreads();
      for (int w = 0; w < (HD + 31) / 32; ++w) tot += red[w];
    } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      namespace cg = cooperative_groups;
      cg::cluster_group cluster = cg::this_cluster();
      cluster.sync();  // every CTA's red[0] is written
      for (int r = 0; r < kSplit; ++r) tot += *cluster.map_shared_rank(&red[0], r);
      cluster.sync();  // no CTA leaves while another still reads its red[0]
#endif
    }
    if (t < S::kCols) {
      const float inv = rsqrtf(tot / static_cast<float>(HD) + eps);
      const int64_t j = base + c * S::kCols + t;
      const float gv = ld(g, j);
      st(o, j, oj * inv * (gv / (1.0f + __expf(-gv))));
    }
  }
}

// The cluster form serves this process: an sm_90 image of the kernel (not a compute_80 PTX
// JIT-compiled for a newer GPU), clusters on the device, and not switched off.
int g_cluster_mode = -1;  // -1: unset (on where it can run), 0 off, 1 on
bool cluster_form_ok() {
  static const bool ok = [] {
    int dev = 0, cc = 0, cl = 0;
    cudaFuncAttributes fa{};
    const bool r = cudaGetDevice(&dev) == cudaSuccess &&
                   cudaDeviceGetAttribute(&cc, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
                   cudaDeviceGetAttribute(&cl, cudaDevAttrClusterLaunch, dev) == cudaSuccess &&
                   cudaFuncGetAttributes(&fa, retention_decode_kernel<128, 4>) == cudaSuccess;
    cudaGetLastError();
    return r && cc >= 9 && cl != 0 && fa.ptxVersion >= 90;  // not a compute_80 image JIT-compiled
  }();
  return ok;
}
bool use_cluster_form() { return g_cluster_mode != 0 && cluster_form_ok(); }

}  // namespace

bool retention_decode_clusters_available() { return cluster_form_ok(); }

bool retention_decode_use_clusters(bool on) {
  const bool was = use_cluster_form();
  g_cluster_mode = on ? 1 : 0;
  return was;
}

bool retention_decode_supported(int64_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

namespace {
template <int HD, int kSplit>
status launch_form(dim3 grid, const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g,
                   const uint16_t* gt, float* state, uint16_t* o, float temperature, float eps, int64_t row_stride,
                   float* const* states, stream_t stream) {
  cudaLaunchConfig_t cfg = {};
  grid.x *= kSplit;
  cfg.gridDim = grid;
  cfg.blockDim = dim3(decode_shape<HD, kSplit>::kThreads);
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  int n = 0;
  if (gemv_detail::use_pdl()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (kSplit > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = kSplit;
    attr[n].val.clusterDim.y = 1;
    attr[n++].val.clusterDim.z = 1;
  }
  cfg.attrs = attr;
  cfg.numAttrs = static_cast<unsigned>(n);
  const cudaError_t e = cudaLaunchKernelEx(&cfg, retention_decode_kernel<HD, kSplit>, q, k, v, g, gt, state, o,
                                           temperature, eps, row_stride, states);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return status{static_cast<int>(e), cudaGetErrorString(e)};
  }
  return launch_status();
}

status launch_decode(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* g, const uint16_t* gt,
                     float* state, uint16_t* o, int64_t heads, int64_t head_dim, float temperature, float eps,
                     int64_t rows, int64_t row_stride, float* const* states, stream_t stream) {
  if (heads * (head_dim / 32 > 1 ? head_dim / 32 : 1) > 0x7fffffff) return bad_argument("retention_decode: too many heads");
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(rows));
  const bool cl = use_cluster_form();
  switch (head_dim) {
    case 16: return launch_form<16, 1>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
    case 32: return launch_form<32, 1>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
    case 64:
      return cl ? launch_form<64, 2>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream)
                : launch_form<64, 1>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
    default:
      return cl ? launch_form<128, 4>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream)
                : launch_form<128, 1>(grid, q, k, v, g, gt, state, o, temperature, eps, row_stride, states, stream);
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
