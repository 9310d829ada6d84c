// Attention kernels for YOCO: sliding-window self-attention (self-decoder kind b) and cross
// attention over the one global KV (GQA, causal bottom-right), with an optional split of long key
// ranges (flash-decoding) and a combine kernel. CPU twins: cpu::sliding_window_attn,
// cpu::cross_attn. One block of kThreads per (query row, query head, split); keys in tiles of
// kThreads (one key per thread for the score), online softmax in f32, each thread owning
// output dims d = threadIdx.x, threadIdx.x + kThreads … of the head.
// Layouts: q bf16 [rows, Hq, hd]; k, v bf16 rows of `kv_stride` elements, KV head g at g*hd;
// o bf16 [rows, Hq, hd]; partials f32 [rows*Hq, splits, hd + 2] (m, l, acc).
#include <cfloat>

#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxHeadDim = 256;

struct attn_args {
  const uint16_t *q, *k, *v;
  uint16_t* o;
  float* partial;
  int64_t rows, kv_stride, first_key_offset;  // row r's last key = first_key_offset + r
  int hq, group, hd, splits;
  int64_t window;  // 0 = causal from key 0; W = keys [last-W+1, last]
  float scale;
};

__global__ void attention_kernel(attn_args a) {
  const int64_t rh = blockIdx.x;  // row * hq + h
  const int64_t r = rh / a.hq;
  const int h = static_cast<int>(rh % a.hq), g = h / a.group, split = blockIdx.y;
  const int64_t last = a.first_key_offset + r;
  const int64_t first = a.window > 0 ? (last - a.window + 1 > 0 ? last - a.window + 1 : 0) : 0;
  const int64_t n = last - first + 1;
  const int64_t k0 = first + n * split / a.splits, k1 = first + n * (split + 1) / a.splits;
  __shared__ float qs[kMaxHeadDim];
  __shared__ float ps[kThreads];
  for (int d = threadIdx.x; d < a.hd; d += kThreads) qs[d] = ld(a.q, rh * a.hd + d) * a.scale;
  __syncthreads();
  constexpr int kPer = kMaxHeadDim / kThreads;
  float acc[kPer] = {};
  float m = -FLT_MAX, l = 0.0f;
  for (int64_t t0 = k0; t0 < k1; t0 += kThreads) {
    const int64_t j = t0 + threadIdx.x;
    float sc = -FLT_MAX;
    if (j < k1) {
      const uint16_t* kr = a.k + j * a.kv_stride + static_cast<int64_t>(g) * a.hd;
      float s = 0.0f;
      for (int d = 0; d < a.hd; ++d) s += qs[d] * ld(kr, d);
      sc = s;
    }
    // Tile maximum and the rescale of the running state.
    __shared__ float red[kThreads / 32];
    float mx = sc;
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = red[0];
    for (int w = 1; w < kThreads / 32; ++w) mx = fmaxf(mx, red[w]);
    const float m_new = fmaxf(m, mx);
    const float p = j < k1 ? __expf(sc - m_new) : 0.0f;
    ps[threadIdx.x] = p;
    const float corr = __expf(m - m_new);
    __syncthreads();
    float tile_sum = 0.0f;
    const int64_t cnt = (k1 - t0) < kThreads ? (k1 - t0) : kThreads;
    for (int64_t jj = 0; jj < cnt; ++jj) tile_sum += ps[jj];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = threadIdx.x + i * kThreads;
      if (d < a.hd) {
        float s = acc[i] * corr;
        for (int64_t jj = 0; jj < cnt; ++jj)
          s += ps[jj] * ld(a.v + (t0 + jj) * a.kv_stride + static_cast<int64_t>(g) * a.hd, d);
        acc[i] = s;
      }
    }
    l = l * corr + tile_sum;
    m = m_new;
    __syncthreads();
  }
  if (a.splits == 1) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = threadIdx.x + i * kThreads;
      if (d < a.hd) st(a.o, rh * a.hd + d, acc[i] * inv);
    }
  } else {
    float* part = a.partial + (rh * a.splits + split) * (a.hd + 2);
    if (threadIdx.x == 0) {
      part[0] = k1 > k0 ? m : -FLT_MAX;
      part[1] = l;
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = threadIdx.x + i * kThreads;
      if (d < a.hd) part[2 + d] = acc[i];
    }
  }
}

__global__ void combine_kernel(const float* partial, uint16_t* o, int hd, int splits) {
  const int64_t rh = blockIdx.x;
  const float* p = partial + rh * splits * (hd + 2);
  float m = -FLT_MAX;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, p[s * (hd + 2)]);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float num = 0.0f, den = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float* ps = p + s * (hd + 2);
      if (ps[1] <= 0.0f) continue;
      const float f = __expf(ps[0] - m);
      num += f * ps[2 + d];
      den += f * ps[1];
    }
    st(o, rh * hd + d, den > 0.0f ? num / den : 0.0f);
  }
}

status launch(const attn_args& a, stream_t stream) {
  if (a.rows * a.hq > 0x7fffffff || a.splits < 1 || a.splits > 65535) return bad_argument("attention: bad shape");
  dim3 grid(static_cast<unsigned>(a.rows * a.hq), static_cast<unsigned>(a.splits));
  attention_kernel<<<grid, kThreads, 0, stream>>>(a);
  status s = launch_status();
  if (!s.ok() || a.splits == 1) return s;
  combine_kernel<<<static_cast<unsigned>(a.rows * a.hq), 64, 0, stream>>>(a.partial, a.o, a.hd, a.splits);
  return launch_status();
}

}  // namespace

int64_t cross_attn_workspace_floats(int64_t rows, int64_t n_heads, int64_t head_dim, int splits) {
  return splits > 1 ? rows * n_heads * splits * (head_dim + 2) : 0;
}

status sliding_window_attn(const uint16_t* q, const uint16_t* kv_k, const uint16_t* kv_v,
                           int64_t ring_rows, uint16_t* o, int64_t rows, int64_t heads,
                           int64_t head_dim, int64_t window, stream_t stream) {
  if (rows < 0 || heads <= 0 || head_dim <= 0 || head_dim > kMaxHeadDim || window < 1 || ring_rows < 0)
    return bad_argument("sliding_window_attn: bad shape");
  if (rows == 0) return {};
  attn_args a{q, kv_k, kv_v, o, nullptr, rows, heads * head_dim, ring_rows, static_cast<int>(heads), 1,
              static_cast<int>(head_dim), 1, window, rsqrtf(static_cast<float>(head_dim))};
  return launch(a, stream);
}

status cross_attn(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o,
                  int64_t rows, int64_t pos0, int64_t n_heads, int64_t n_kv_heads,
                  int64_t head_dim, int splits, float* workspace, stream_t stream) {
  if (rows < 0 || pos0 < 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 ||
      head_dim <= 0 || head_dim > kMaxHeadDim || (splits > 1 && !workspace))
    return bad_argument("cross_attn: bad shape");
  if (rows == 0) return {};
  attn_args a{q, k, v, o, workspace, rows, n_kv_heads * head_dim, pos0, static_cast<int>(n_heads),
              static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim), splits < 1 ? 1 : splits, 0,
              rsqrtf(static_cast<float>(head_dim))};
  return launch(a, stream);
}

}  // namespace tome::kernels
