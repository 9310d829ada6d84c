// Attention mass of one query over the global KV (the app's "sources"): for q [Hq, hd] (post-RoPE,
// the last cross-decoder layer's query of the last position) and keys k [n, Hkv*hd] (GQA),
// mass[j] = (1/Hq) * sum_h softmax_j(q_h . k_j / sqrt(hd)). CPU twin: cpu::attention_mass.
// Three launches: per (head, split) softmax statistics (max, sum of exp) over a key range; one
// block combines them per head; then one thread per key sums its normalised weights over heads.
#include <cfloat>

#include "common/common.cuh"
#include "kv_fp8/kv_fp8.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxSplits = 256;

// The keys: bf16 rows, or fp8 e4m3 rows with a scale per (key, KV head) (k8 != nullptr), each
// fp8 key dequantised in f32 (e4m3 value * scale, exact).
struct keys_t {
  const uint16_t* k;
  const uint8_t* k8;
  const float* ks;
};

__device__ float score(const uint16_t* q, const keys_t& k, int64_t j, int h, int group, int hd,
                       int64_t stride, float scale) {
  const int g = h / group;
  const uint16_t* qh = q + static_cast<int64_t>(h) * hd;
  float s = 0.0f;
  if (k.k8) {
    const uint8_t* kr = k.k8 + j * stride + static_cast<int64_t>(g) * hd;
    for (int d = 0; d < hd; ++d) s += ld(qh, d) * fp8::decode(kr[d]);
    return s * (k.ks[j * (stride / hd) + g] * scale);
  }
  const uint16_t* kr = k.k + j * stride + static_cast<int64_t>(g) * hd;
  for (int d = 0; d < hd; ++d) s += ld(qh, d) * ld(kr, d);
  return s * scale;
}

// grid (Hq, splits): partial[(h * splits + split) * 2 + {0,1}] = max, sum exp(s - max).
__global__ void mass_stats_kernel(const uint16_t* q, keys_t k, int64_t n, int group, int hd,
                                  int64_t stride, float scale, int splits, float* partial) {
  const int h = blockIdx.x, split = blockIdx.y;
  const int64_t k0 = n * split / splits, k1 = n * (split + 1) / splits;
  float m = -FLT_MAX, l = 0.0f;
  for (int64_t j = k0 + threadIdx.x; j < k1; j += kThreads) {
    const float s = score(q, k, j, h, group, hd, stride, scale);
    if (s > m) {
      l = l * __expf(m - s) + 1.0f;
      m = s;
    } else {
      l += __expf(s - m);
    }
  }
  __shared__ float sm[kThreads], sl[kThreads];
  sm[threadIdx.x] = m;
  sl[threadIdx.x] = l;
  __syncthreads();
  if (threadIdx.x == 0) {
    float M = -FLT_MAX;
    for (int t = 0; t < kThreads; ++t) M = fmaxf(M, sm[t]);
    float L = 0.0f;
    for (int t = 0; t < kThreads; ++t)
      if (sl[t] > 0.0f) L += sl[t] * __expf(sm[t] - M);
    partial[(static_cast<int64_t>(h) * splits + split) * 2] = M;
    partial[(static_cast<int64_t>(h) * splits + split) * 2 + 1] = L;
  }
}

// One thread per head: stats[h * 2 + {0,1}] = the head's max and sum over all splits.
__global__ void mass_combine_kernel(const float* partial, int hq, int splits, float* stats) {
  const int h = threadIdx.x;
  if (h >= hq) return;
  const float* p = partial + static_cast<int64_t>(h) * splits * 2;
  float M = -FLT_MAX;
  for (int s = 0; s < splits; ++s)
    if (p[s * 2 + 1] > 0.0f) M = fmaxf(M, p[s * 2]);
  float L = 0.0f;
  for (int s = 0; s < splits; ++s)
    if (p[s * 2 + 1] > 0.0f) L += p[s * 2 + 1] * __expf(p[s * 2] - M);
  stats[h * 2] = M;
  stats[h * 2 + 1] = L;
}

__global__ void mass_write_kernel(const uint16_t* q, keys_t k, int64_t n, int hq, int group,
                                  int hd, int64_t stride, float scale, const float* stats, float* mass) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= n) return;
  float acc = 0.0f;
  for (int h = 0; h < hq; ++h) {
    const float s = score(q, k, j, h, group, hd, stride, scale);
    acc += __expf(s - stats[h * 2]) / stats[h * 2 + 1];
  }
  mass[j] = acc / static_cast<float>(hq);
}

// Weighted heads (head_weights != nullptr): mass[j] (+)= sum_h w[h] * softmax_h(j); heads of
// weight 0 are skipped.
__global__ void mass_write_weighted_kernel(const uint16_t* q, keys_t k, int64_t n, int hq, int group, int hd,
                                           int64_t stride, float scale, const float* stats, const float* w,
                                           bool accumulate, float* mass) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= n) return;
  float acc = accumulate ? mass[j] : 0.0f;
  for (int h = 0; h < hq; ++h) {
    if (w[h] == 0.0f) continue;
    const float s = score(q, k, j, h, group, hd, stride, scale);
    acc += w[h] * (__expf(s - stats[h * 2]) / stats[h * 2 + 1]);
  }
  mass[j] = acc;
}

int splits_for(int64_t n) {
  const int64_t s = (n + 4095) / 4096;
  return static_cast<int>(s < 1 ? 1 : (s > kMaxSplits ? kMaxSplits : s));
}

}  // namespace

int64_t attention_mass_workspace_floats(int64_t n_keys, int64_t n_heads) {
  return n_heads * splits_for(n_keys) * 2 + n_heads * 2;
}

namespace {
status launch_mass(const uint16_t* q, keys_t k, int64_t n_keys, int64_t n_heads, int64_t n_kv_heads,
                   int64_t head_dim, float* mass, float* workspace, stream_t stream, const float* head_weights,
                   bool accumulate) {
  if (n_keys < 0 || n_heads <= 0 || n_heads > 1024 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 ||
      head_dim <= 0 || !workspace || n_keys / kThreads >= 0x7fffffff)
    return bad_argument("attention_mass: bad shape");
  if (n_keys == 0) return {};
  const int splits = splits_for(n_keys);
  const int group = static_cast<int>(n_heads / n_kv_heads), hq = static_cast<int>(n_heads);
  const int hd = static_cast<int>(head_dim);
  const int64_t stride = n_kv_heads * head_dim;
  const float scale = rsqrtf(static_cast<float>(head_dim));
  float* partial = workspace;
  float* stats = workspace + n_heads * splits * 2;
  mass_stats_kernel<<<dim3(hq, splits), kThreads, 0, stream>>>(q, k, n_keys, group, hd, stride, scale, splits,
                                                              partial);
  if (status s = launch_status(); !s.ok()) return s;
  mass_combine_kernel<<<1, 1024, 0, stream>>>(partial, hq, splits, stats);
  if (status s = launch_status(); !s.ok()) return s;
  if (head_weights)
    mass_write_weighted_kernel<<<blocks_for(n_keys, kThreads), kThreads, 0, stream>>>(
        q, k, n_keys, hq, group, hd, stride, scale, stats, head_weights, accumulate, mass);
  else
    mass_write_kernel<<<blocks_for(n_keys, kThreads), kThreads, 0, stream>>>(q, k, n_keys, hq, group, hd, stride,
                                                                           scale, stats, mass);
  return launch_status();
}

}  // namespace

status attention_mass(const uint16_t* q, const uint16_t* k, int64_t n_keys, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, float* mass, float* workspace,
                      stream_t stream, const float* head_weights, bool accumulate) {
  return launch_mass(q, keys_t{k, nullptr, nullptr}, n_keys, n_heads, n_kv_heads, head_dim, mass, workspace, stream,
                     head_weights, accumulate);
}

status attention_mass_fp8(const uint16_t* q, const uint8_t* k, const float* k_scale, int64_t n_keys,
                          int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float* mass, float* workspace,
                          stream_t stream, const float* head_weights, bool accumulate) {
  if (!k || !k_scale) return bad_argument("attention_mass_fp8: missing buffers");
  return launch_mass(q, keys_t{nullptr, k, k_scale}, n_keys, n_heads, n_kv_heads, head_dim, mass, workspace, stream,
                     head_weights, accumulate);
}

}  // namespace tome::kernels
