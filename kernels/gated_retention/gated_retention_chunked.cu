// Chunkwise gated retention for long prefills (YOCO.md, chunkwise form), parallel over chunks:
//   1. chunk_state: per (chunk, head) ΔS_c = Σ_j exp(G_last − G_j) k'_jᵀ v_j and decay_c = exp(G_last)
//   2. scan: per state element, S_entering(c) for every chunk, S ← decay_c S + ΔS_c (sequential
//      over chunks only: n/64 steps instead of n)
//   3. output: per (chunk, head) o_i = exp(G_i) q_i S_c + Σ_{j<=i} (q_i·k'_j) exp(G_i − G_j) v_j
// G is the inclusive f32 cumulative sum of log γ inside a chunk of kChunk = 64 rows. Everything in
// f32 (bf16 inputs widened), the same arithmetic as the CPU twin cpu::gated_retention. Rows are
// processed in segments of at most kSegment so the workspace stays bounded.
// Layouts as gated_retention (gated_retention.cu); workspace f32, see
// gated_retention_chunked_workspace_floats.
#include <cfloat>

#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kChunk = 64;
constexpr int64_t kSegment = 8192;
constexpr int kThreads = 256;

__device__ __forceinline__ void chunk_cumsum(const float* lg, int64_t row0, int c, int heads, int h, float* g) {
  if (threadIdx.x == 0) {
    float acc = 0.0f;
    for (int i = 0; i < c; ++i) {
      acc += lg[(row0 + i) * heads + h];
      g[i] = acc;
    }
  }
  __syncthreads();
}

// Grid (n_chunks, heads). Dynamic shared: k, v chunk [kChunk, hd] f32 + g [kChunk].
__global__ void chunk_state_kernel(const uint16_t* __restrict__ k, const uint16_t* __restrict__ v,
                                   const float* __restrict__ lg, int64_t rows, int heads, int hd,
                                   float* __restrict__ dstate, float* __restrict__ decay) {
  extern __shared__ float sh[];
  float* ks = sh;
  float* vs = ks + kChunk * hd;
  float* g = vs + kChunk * hd;
  const int chunk = blockIdx.x, h = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(chunk) * kChunk;
  const int c = static_cast<int>(rows - row0 < kChunk ? rows - row0 : kChunk);
  const int64_t stride = static_cast<int64_t>(heads) * hd;
  for (int t = threadIdx.x; t < c * hd; t += blockDim.x) {
    const int i = t / hd, d = t % hd;
    ks[t] = ld(k, (row0 + i) * stride + static_cast<int64_t>(h) * hd + d);
    vs[t] = ld(v, (row0 + i) * stride + static_cast<int64_t>(h) * hd + d);
  }
  chunk_cumsum(lg, row0, c, heads, h, g);
  const float glast = g[c - 1];
  // Weight each key row by exp(G_last − G_j) once.
  for (int t = threadIdx.x; t < c * hd; t += blockDim.x) ks[t] *= __expf(glast - g[t / hd]);
  __syncthreads();
  float* out = dstate + (static_cast<int64_t>(chunk) * heads + h) * hd * hd;
  for (int t = threadIdx.x; t < hd * hd; t += blockDim.x) {
    const int d = t / hd, e = t % hd;
    float s = 0.0f;
    for (int j = 0; j < c; ++j) s += ks[j * hd + d] * vs[j * hd + e];
    out[t] = s;
  }
  if (threadIdx.x == 0) decay[static_cast<int64_t>(chunk) * heads + h] = __expf(glast);
}

// Grid (heads, ceil(hd*hd / kThreads)): each thread carries one state element through the chunks.
__global__ void scan_kernel(float* __restrict__ state, const float* __restrict__ dstate,
                            const float* __restrict__ decay, float* __restrict__ entering, int n_chunks,
                            int heads, int hd) {
  const int h = blockIdx.x;
  const int t = blockIdx.y * blockDim.x + threadIdx.x;
  if (t >= hd * hd) return;
  float s = state[static_cast<int64_t>(h) * hd * hd + t];
  for (int c = 0; c < n_chunks; ++c) {
    const int64_t base = (static_cast<int64_t>(c) * heads + h) * hd * hd;
    entering[base + t] = s;
    s = decay[static_cast<int64_t>(c) * heads + h] * s + dstate[base + t];
  }
  state[static_cast<int64_t>(h) * hd * hd + t] = s;
}

// Grid (n_chunks, heads). Dynamic shared: q, k, v [kChunk, hd] f32, A [kChunk, kChunk], g.
__global__ void chunk_output_kernel(const uint16_t* __restrict__ q, const uint16_t* __restrict__ k,
                                    const uint16_t* __restrict__ v, const float* __restrict__ lg,
                                    const float* __restrict__ entering, int64_t rows, int heads, int hd,
                                    uint16_t* __restrict__ o) {
  extern __shared__ float sh[];
  float* qs = sh;
  float* ks = qs + kChunk * hd;
  float* vs = ks + kChunk * hd;
  float* a = vs + kChunk * hd;
  float* g = a + kChunk * kChunk;
  const int chunk = blockIdx.x, h = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(chunk) * kChunk;
  const int c = static_cast<int>(rows - row0 < kChunk ? rows - row0 : kChunk);
  const int64_t stride = static_cast<int64_t>(heads) * hd;
  for (int t = threadIdx.x; t < c * hd; t += blockDim.x) {
    const int i = t / hd, d = t % hd;
    const int64_t src = (row0 + i) * stride + static_cast<int64_t>(h) * hd + d;
    qs[t] = ld(q, src);
    ks[t] = ld(k, src);
    vs[t] = ld(v, src);
  }
  chunk_cumsum(lg, row0, c, heads, h, g);
  // A[i][j] = (q_i·k'_j) exp(G_i − G_j) for j <= i, else 0 (masked before exp).
  for (int t = threadIdx.x; t < c * c; t += blockDim.x) {
    const int i = t / c, j = t % c;
    float s = 0.0f;
    if (j <= i) {
      for (int d = 0; d < hd; ++d) s += qs[i * hd + d] * ks[j * hd + d];
      s *= __expf(g[i] - g[j]);
    }
    a[i * kChunk + j] = s;
  }
  __syncthreads();
  const float* sc = entering + (static_cast<int64_t>(chunk) * heads + h) * hd * hd;
  for (int t = threadIdx.x; t < c * hd; t += blockDim.x) {
    const int i = t / hd, e = t % hd;
    float inter = 0.0f;
    for (int d = 0; d < hd; ++d) inter += qs[i * hd + d] * sc[d * hd + e];
    float s = __expf(g[i]) * inter;
    for (int j = 0; j <= i; ++j) s += a[i * kChunk + j] * vs[j * hd + e];
    st(o, (row0 + i) * stride + static_cast<int64_t>(h) * hd + e, s);
  }
}

size_t output_smem(int hd) { return (3 * kChunk * hd + kChunk * kChunk + kChunk) * sizeof(float); }
size_t state_smem(int hd) { return (2 * kChunk * hd + kChunk) * sizeof(float); }

}  // namespace

int64_t gated_retention_chunked_workspace_floats(int64_t rows, int64_t heads, int64_t head_dim) {
  const int64_t seg = rows < kSegment ? rows : kSegment;
  const int64_t chunks = (seg + kChunk - 1) / kChunk;
  return chunks * heads * (2 * head_dim * head_dim + 1);
}

status gated_retention_chunked(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                               const float* log_gamma, float* state, uint16_t* o, int64_t rows,
                               int64_t heads, int64_t head_dim, float* workspace, stream_t stream) {
  if (rows < 0 || heads <= 0 || heads > 65535 || head_dim <= 0 || head_dim > 128 || !workspace)
    return bad_argument("gated_retention_chunked: bad shape (head_dim must be <= 128) or no workspace");
  const int hd = static_cast<int>(head_dim), H = static_cast<int>(heads);
  static bool attributes_set = false;
  if (!attributes_set) {
    cudaFuncSetAttribute(chunk_output_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(output_smem(128)));
    cudaFuncSetAttribute(chunk_state_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(state_smem(128)));
    attributes_set = true;
  }
  const int64_t stride = heads * head_dim;
  for (int64_t r0 = 0; r0 < rows; r0 += kSegment) {
    const int64_t n = rows - r0 < kSegment ? rows - r0 : kSegment;
    const int n_chunks = static_cast<int>((n + kChunk - 1) / kChunk);
    float* dstate = workspace;
    float* entering = dstate + static_cast<int64_t>(n_chunks) * heads * head_dim * head_dim;
    float* decay = entering + static_cast<int64_t>(n_chunks) * heads * head_dim * head_dim;
    const uint16_t *qs = q + r0 * stride, *ks = k + r0 * stride, *vs = v + r0 * stride;
    const float* lg = log_gamma + r0 * heads;
    chunk_state_kernel<<<dim3(n_chunks, H), kThreads, state_smem(hd), stream>>>(ks, vs, lg, n, H, hd, dstate, decay);
    scan_kernel<<<dim3(H, (hd * hd + kThreads - 1) / kThreads), kThreads, 0, stream>>>(state, dstate, decay, entering,
                                                                                      n_chunks, H, hd);
    chunk_output_kernel<<<dim3(n_chunks, H), kThreads, output_smem(hd), stream>>>(qs, ks, vs, lg, entering, n, H, hd,
                                                                                 o + r0 * stride);
    status s = launch_status();
    if (!s.ok()) return s;
  }
  return {};
}

}  // namespace tome::kernels
