// CPU attention: sliding-window self-attention (self-decoder kind b) and cross attention over the
// global KV (flash-decoding style split over keys when few query rows are long). Softmax in f32
// with the row maximum subtracted; masked keys are skipped, never added as exp(-inf).
#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "util/parallel.h"
#include "util/simd.h"

namespace tome::cpu {
namespace {

TOME_INLINE float dot(const float* a, const float* b, int64_t n) { return dot16(a, b, n); }

// p[j] = exp(p[j] - m) for j < n; returns the sum.
TOME_INLINE float exp_shift_sum(float* p, int64_t n, float m) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) p[j] = exp_approx(p[j] - m);
  return sum16(p, n);
}

inline float max_of(const float* p, int64_t n) {
  float part[16];
  for (float& x : part) x = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
#pragma omp simd
    for (int i = 0; i < 16; ++i) part[i] = part[i] > p[j + i] ? part[i] : p[j + i];
  float m = -std::numeric_limits<float>::infinity();
  for (; j < n; ++j) m = std::max(m, p[j]);
  for (float x : part) m = std::max(m, x);
  return m;
}

struct cross_task_args {
  const float *q, *k, *v;
  int64_t pos0, n_heads, n_kv_heads, hd, splits;
  float scale;
  float *part_m, *part_l, *part_o;  // per (task, query head): max, sum, unnormalised output [hd]
};

// One (row, key split) of cross attention over all heads: keys and values are streamed once, in
// order, as whole rows [Hkv, hd]; partial softmax statistics go to part_*.
TOME_CPU_CLONES void cross_attn_task(const cross_task_args& a, int64_t t, std::vector<float>& s) {
  const int64_t split = t % a.splits, r = t / a.splits;
  const int64_t n_keys = a.pos0 + r + 1;
  const int64_t k0 = n_keys * split / a.splits, k1 = n_keys * (split + 1) / a.splits;
  const int64_t n = k1 - k0, hd = a.hd, H = a.n_heads, group = a.n_heads / a.n_kv_heads;
  const int64_t kv_stride = a.n_kv_heads * hd;
  const float* q = a.q + r * H * hd;
  s.resize(static_cast<size_t>(std::max<int64_t>(n, 1) * H));
  for (int64_t j = 0; j < n; ++j) {
    const float* kr = a.k + (k0 + j) * kv_stride;
    for (int64_t h = 0; h < H; ++h) s[static_cast<size_t>(h * n + j)] = dot(q + h * hd, kr + (h / group) * hd, hd) * a.scale;
  }
  float* acc0 = a.part_o + static_cast<size_t>(t * H * hd);
  for (int64_t h = 0; h < H; ++h) {
    float* sh = s.data() + h * n;
    const float m = max_of(sh, n);
    const size_t slot = static_cast<size_t>(t * H + h);
    a.part_m[slot] = m;
    a.part_l[slot] = n > 0 ? exp_shift_sum(sh, n, m) : 0.0f;
  }
  for (int64_t i = 0; i < H * hd; ++i) acc0[i] = 0.0f;
  // Values in blocks of 256 rows (L2-resident), each head's accumulator held across the block.
  constexpr int64_t kBlock = 256;
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t j1 = std::min(n, j0 + kBlock);
    for (int64_t h = 0; h < H; ++h) {
      const float* sh = s.data() + h * n;
      const float* vh = a.v + (h / group) * hd;
      float* acc = acc0 + h * hd;
      int64_t d = 0;
      for (; d + 64 <= hd; d += 64) {
        float c[64];
        std::memcpy(c, acc + d, sizeof c);
        for (int64_t j = j0; j < j1; ++j) {
          const float w = sh[j];
          const float* vr = vh + (k0 + j) * kv_stride + d;
#pragma omp simd
          for (int e = 0; e < 64; ++e) c[e] += w * vr[e];
        }
        std::memcpy(acc + d, c, sizeof c);
      }
      for (; d < hd; ++d) {
        float c = acc[d];
        for (int64_t j = j0; j < j1; ++j) c += sh[j] * vh[(k0 + j) * kv_stride + d];
        acc[d] = c;
      }
    }
  }
}

struct swa_task_args {
  const float *q, *k, *v, *ring_k, *ring_v;
  int64_t ring_rows, heads, hd, window, stride;
  float scale;
  float* o;
};

// One (row, head) of sliding-window attention.
TOME_CPU_CLONES void swa_task(const swa_task_args& a, int64_t t, float* p) {
  const int64_t r = t / a.heads, h = t % a.heads, hd = a.hd;
  const float* qr = a.q + r * a.stride + h * hd;
  const int64_t self_idx = a.ring_rows + r;  // index in ring ++ chunk
  const int64_t first = std::max<int64_t>(0, self_idx - a.window + 1);
  const int64_t n = self_idx - first + 1;
  auto row = [&](const float* ring, const float* cur, int64_t idx) {
    return idx < a.ring_rows ? ring + idx * a.stride + h * hd : cur + (idx - a.ring_rows) * a.stride + h * hd;
  };
  for (int64_t j = 0; j < n; ++j) p[j] = dot(qr, row(a.ring_k, a.k, first + j), hd) * a.scale;
  const float sum = exp_shift_sum(p, n, max_of(p, n));
  float* orow = a.o + r * a.stride + h * hd;
  for (int64_t d = 0; d < hd; ++d) orow[d] = 0.0f;
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) {
    const float w = p[j] * inv;
    const float* vr = row(a.ring_v, a.v, first + j);
#pragma omp simd
    for (int64_t d = 0; d < hd; ++d) orow[d] += w * vr[d];
  }
}

}  // namespace

void sliding_window_attn(const float* q, const float* k, const float* v, const float* ring_k,
                         const float* ring_v, int64_t ring_rows, float* o, int64_t rows,
                         int64_t heads, int64_t hd, int64_t window) {
  const swa_task_args a{q, k, v, ring_k, ring_v, ring_rows, heads, hd, window, heads * hd,
                        1.0f / std::sqrt(static_cast<float>(hd)), o};
  parallel_for(rows * heads, [&](int64_t b, int64_t e) {
    std::vector<float> p(static_cast<size_t>(window));
    for (int64_t t = b; t < e; ++t) swa_task(a, t, p.data());
  });
}

void cross_attn(const float* q, const float* k, const float* v, float* o, int64_t rows,
                int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t hd) {
  // Split long key ranges so that few rows still use every thread (flash-decoding).
  const int64_t threads = cpu_threads();
  int64_t splits = 1;
  if (rows < 2 * threads) splits = std::clamp<int64_t>((pos0 + rows) / 2048, 1, 2 * threads);
  const int64_t n_tasks = rows * splits;
  std::vector<float> part_m(static_cast<size_t>(n_tasks * n_heads));
  std::vector<float> part_l(part_m.size());
  std::vector<float> part_o(part_m.size() * static_cast<size_t>(hd));
  const cross_task_args args{q, k, v, pos0, n_heads, n_kv_heads, hd, splits,
                             1.0f / std::sqrt(static_cast<float>(hd)), part_m.data(), part_l.data(),
                             part_o.data()};
  parallel_for(n_tasks, [&](int64_t b, int64_t e) {
    std::vector<float> s;
    for (int64_t t = b; t < e; ++t) cross_attn_task(args, t, s);
  });
  // Combine the splits of each (row, head): rescale each partial sum to the common maximum.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t sp = 0; sp < splits; ++sp) {
        const size_t slot = static_cast<size_t>((r * splits + sp) * n_heads + h);
        if (part_l[slot] > 0.0f) m = std::max(m, part_m[slot]);
      }
      float* orow = o + (r * n_heads + h) * hd;
      for (int64_t d = 0; d < hd; ++d) orow[d] = 0.0f;
      float l = 0.0f;
      for (int64_t sp = 0; sp < splits; ++sp) {
        const size_t slot = static_cast<size_t>((r * splits + sp) * n_heads + h);
        if (part_l[slot] <= 0.0f) continue;
        const float f = std::exp(part_m[slot] - m);
        l += part_l[slot] * f;
        const float* acc = part_o.data() + slot * static_cast<size_t>(hd);
        for (int64_t d = 0; d < hd; ++d) orow[d] += f * acc[d];
      }
      const float inv = 1.0f / l;
      for (int64_t d = 0; d < hd; ++d) orow[d] *= inv;
    }
  }
}

void attention_mass(const float* q, const float* k, int64_t n_keys, int64_t n_heads,
                    int64_t n_kv_heads, int64_t hd, float* mass, const float* head_weights, bool accumulate) {
  if (n_keys <= 0) return;
  const int64_t group = n_heads / n_kv_heads, stride = n_kv_heads * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Pass 1: per block of keys and head, the maximum and the sum of exp(s - max).
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (n_keys + kBlock - 1) / kBlock;
  std::vector<float> bm(static_cast<size_t>(blocks * n_heads)), bl(bm.size());
  auto scores = [&](int64_t j0, int64_t j1, std::vector<float>& s) {  // s[h * n + j]
    const int64_t n = j1 - j0;
    s.resize(static_cast<size_t>(n * n_heads));
    for (int64_t j = 0; j < n; ++j) {
      const float* kr = k + (j0 + j) * stride;
      for (int64_t h = 0; h < n_heads; ++h)
        s[static_cast<size_t>(h * n + j)] = dot(q + h * hd, kr + (h / group) * hd, hd) * scale;
    }
  };
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    std::vector<float> s;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t j0 = b * kBlock, j1 = std::min(n_keys, j0 + kBlock), n = j1 - j0;
      scores(j0, j1, s);
      for (int64_t h = 0; h < n_heads; ++h) {
        float* sh = s.data() + h * n;
        const float m = max_of(sh, n);
        float l = 0.0f;  // std::exp as in pass 2, so that the weights sum to 1
        for (int64_t j = 0; j < n; ++j) l += std::exp(sh[j] - m);
        bm[static_cast<size_t>(b * n_heads + h)] = m;
        bl[static_cast<size_t>(b * n_heads + h)] = l;
      }
    }
  });
  std::vector<float> M(static_cast<size_t>(n_heads), -std::numeric_limits<float>::infinity());
  std::vector<float> L(static_cast<size_t>(n_heads), 0.0f);
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t b = 0; b < blocks; ++b) M[h] = std::max(M[h], bm[static_cast<size_t>(b * n_heads + h)]);
    for (int64_t b = 0; b < blocks; ++b)
      L[h] += bl[static_cast<size_t>(b * n_heads + h)] * std::exp(bm[static_cast<size_t>(b * n_heads + h)] - M[h]);
  }
  // Pass 2: the normalised weights, averaged over heads.
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    std::vector<float> s;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t j0 = b * kBlock, j1 = std::min(n_keys, j0 + kBlock), n = j1 - j0;
      scores(j0, j1, s);
      if (!accumulate)
        for (int64_t j = 0; j < n; ++j) mass[j0 + j] = 0.0f;
      for (int64_t h = 0; h < n_heads; ++h) {
        if (head_weights && head_weights[h] == 0.0f) continue;
        const float* sh = s.data() + h * n;
        const float inv = head_weights ? head_weights[h] / L[h] : 1.0f / (L[h] * static_cast<float>(n_heads));
        for (int64_t j = 0; j < n; ++j) mass[j0 + j] += std::exp(sh[j] - M[h]) * inv;
      }
    }
  });
}

}  // namespace tome::cpu
