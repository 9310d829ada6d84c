// CPU gated retention (YOCO's gRet), chunkwise form carrying the state [H, dk, dv] across chunks:
//   o_i = Σ_{j<=i in chunk} (q_i·k'_j) exp(G_i - G_j) v_j + exp(G_i) q_i S_c
//   S_{c+1} = exp(G_last) S_c + Σ_j exp(G_last - G_j) k'_jᵀ v_j
// G = inclusive f32 cumulative sum of log γ inside the chunk. A chunk of one row is exactly the
// recurrent step S = γ S + k'ᵀ v, o = q S. The state is kept in f32 (the reference keeps bf16).
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "util/parallel.h"

namespace tome::cpu {

void retention_log_gamma(float* gt, int64_t n, float temperature) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = gt[i];
    // logsigmoid(x) = -softplus(-x), computed stably.
    const float ls = x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
    gt[i] = ls / temperature;
  }
}

void gated_retention(const float* q, const float* k, const float* v, const float* log_gamma,
                     float* state, float* o, int64_t rows, int64_t heads, int64_t hd,
                     int64_t chunk) {
  if (chunk < 1) chunk = 1;
  const int64_t row_stride = heads * hd;
  parallel_for(heads, [&](int64_t h_begin, int64_t h_end) {
    std::vector<float> g(static_cast<size_t>(chunk)), decay(static_cast<size_t>(chunk));
    for (int64_t h = h_begin; h < h_end; ++h) {
      float* s = state + h * hd * hd;  // [dk, dv]
      for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
        const int64_t c = std::min(chunk, rows - c0);
        float acc = 0.0f;
        for (int64_t i = 0; i < c; ++i) {
          acc += log_gamma[(c0 + i) * heads + h];
          g[static_cast<size_t>(i)] = acc;
        }
        for (int64_t i = 0; i < c; ++i) {
          const float* qi = q + (c0 + i) * row_stride + h * hd;
          float* oi = o + (c0 + i) * row_stride + h * hd;
          const float gi = g[static_cast<size_t>(i)];
          // Inter-chunk: exp(G_i) · q_i S_c.
          for (int64_t e = 0; e < hd; ++e) oi[e] = 0.0f;
          for (int64_t d = 0; d < hd; ++d) {
            const float qd = qi[d];
            const float* srow = s + d * hd;
#pragma omp simd
            for (int64_t e = 0; e < hd; ++e) oi[e] += qd * srow[e];
          }
          const float inter = std::exp(gi);
          for (int64_t e = 0; e < hd; ++e) oi[e] *= inter;
          // Intra-chunk: Σ_{j<=i} (q_i·k'_j) exp(G_i - G_j) v_j.
          for (int64_t j = 0; j <= i; ++j) {
            const float* kj = k + (c0 + j) * row_stride + h * hd;
            const float* vj = v + (c0 + j) * row_stride + h * hd;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t d = 0; d < hd; ++d) dot += qi[d] * kj[d];
            const float a = dot * std::exp(gi - g[static_cast<size_t>(j)]);
#pragma omp simd
            for (int64_t e = 0; e < hd; ++e) oi[e] += a * vj[e];
          }
        }
        // State: S ← exp(G_last) S + Σ_j exp(G_last - G_j) k'_jᵀ v_j.
        const float glast = g[static_cast<size_t>(c - 1)];
        const float total = std::exp(glast);
        for (int64_t j = 0; j < c; ++j) decay[static_cast<size_t>(j)] = std::exp(glast - g[static_cast<size_t>(j)]);
        for (int64_t d = 0; d < hd; ++d) {
          float* srow = s + d * hd;
          for (int64_t e = 0; e < hd; ++e) srow[e] *= total;
          for (int64_t j = 0; j < c; ++j) {
            const float kd = k[(c0 + j) * row_stride + h * hd + d] * decay[static_cast<size_t>(j)];
            const float* vj = v + (c0 + j) * row_stride + h * hd;
#pragma omp simd
            for (int64_t e = 0; e < hd; ++e) srow[e] += kd * vj[e];
          }
        }
      }
    }
  });
}

void retention_output(float* o, const float* g, int64_t rows, int64_t heads, int64_t hd,
                      float eps) {
  rms_norm(o, nullptr, o, rows * heads, hd, eps);
  const int64_t n = rows * heads * hd;
  for (int64_t i = 0; i < n; ++i) {
    const float x = g[i];
    o[i] *= x / (1.0f + std::exp(-x));
  }
}

}  // namespace tome::cpu
