// CPU twins of Tome's kernels: the reference implementation of every YOCO op in f32.
// Each op is named like its CUDA kernel (kernels/<op>/) and is compared with it by the op tests.
// Layouts are row-major; "rows" are tokens. Ops run on the calling thread unless they say they
// use tome::parallel_for. None allocates on the heap in its inner loop.
#pragma once

#include <cstdint>
#include <vector>

namespace tome::cpu {

// y[rows, out] = x[rows, in] · Wᵀ, W [out, in] f32 (OpenBLAS sgemm; rows == 1 uses sgemv).
void linear(const float* x, int64_t rows, const float* w, int64_t out, int64_t in, float* y);

// Int8 weight-only (the model format's I8 matrices, W[o, i] = scale[o] * q[o, i]; twins of
// kernels::gemv_i8 and kernels::dequant_i8). linear_i8: y[r, o] = scale[o] * Σ_i q[o, i] x[r, i],
// the sum in f32 in index order, the scale applied after it. dequantize_i8: out = scale[r] * q
// (f32; the value the CPU backend loads, and the table kernels::embedding_i8 reads).
void linear_i8(const float* x, int64_t rows, const int8_t* q, const float* scale, int64_t out, int64_t in, float* y);
void dequantize_i8(const int8_t* q, const float* scale, int64_t rows, int64_t cols, float* out);

// y = sqrt(D) * E[token] for each token; E [V, D].
void embedding(const int32_t* tokens, int64_t n, const float* table, int64_t dim, float scale,
               float* y);

// y[r] = x[r] / sqrt(mean(x[r]²) + eps) * w  (w may be null: no weight). x may equal y.
void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t dim, float eps);

// Interleaved RoPE in place on x [rows, heads, hd]; row r has position pos0 + r.
// inv_freq [hd/2] from rope_inv_freq.
std::vector<float> rope_inv_freq(int64_t head_dim, double theta);
void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t pos0,
          const float* inv_freq);

// out[i] = silu(a[i]) * b[i]; a is the W1 (SiLU) branch, b the W3 (linear) branch.
void swiglu(const float* a, const float* b, float* out, int64_t n);

// x[i] += y[i]
void add(float* x, const float* y, int64_t n);

// Gated retention (per head: dk = dv = hd). q, k [rows, H, hd] post-RoPE, k already scaled by
// hd^-0.5; v [rows, H, hd]; log_gamma [rows, H]. state [H, hd, hd] carried in and out.
// Chunkwise form with chunk `chunk` (rows == 1 takes the recurrent step). o [rows, H, hd].
// Uses parallel_for over heads.
void gated_retention(const float* q, const float* k, const float* v, const float* log_gamma,
                     float* state, float* o, int64_t rows, int64_t heads, int64_t head_dim,
                     int64_t chunk);
// log γ = logsigmoid(gt) / temperature, in place on gt [n].
void retention_log_gamma(float* gt, int64_t n, float temperature);
// Output stage: o [rows, H, hd] ← rms_norm per head (no weight) ⊙ silu(g), g [rows, H*hd].
void retention_output(float* o, const float* g, int64_t rows, int64_t heads, int64_t head_dim,
                      float eps);

// Sliding-window attention (H heads, no GQA): queries at positions pos0..pos0+rows-1 see the W
// keys ending at themselves. Keys/values before pos0 come from the ring: ring_k/ring_v hold
// `ring_rows` rows [ring_rows, H*hd] of positions pos0-ring_rows .. pos0-1 (oldest first).
// q, k [rows, H, hd] post-RoPE. o [rows, H, hd]. Uses parallel_for over rows × heads.
void sliding_window_attn(const float* q, const float* k, const float* v, const float* ring_k,
                         const float* ring_v, int64_t ring_rows, float* o, int64_t rows,
                         int64_t heads, int64_t head_dim, int64_t window);

// Cross attention over the global KV: queries q [rows, Hq, hd] at positions pos0..pos0+rows-1,
// keys/values [n, Hkv, hd] (n >= pos0 + rows); query row r sees keys 0..pos0+r. GQA: head h
// reads KV head h / (Hq/Hkv). o [rows, Hq, hd]. Uses parallel_for.
void cross_attn(const float* q, const float* k, const float* v, float* o, int64_t rows,
                int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim);

// Attention mass of one query row q [n_heads, hd] over keys k [n_keys, n_kv_heads*hd] (GQA):
// mass[j] = (1/n_heads) * sum_h softmax_j(q_h . k_j / sqrt(hd)), so that sum_j mass[j] = 1. Which
// positions of the global KV the cross-decoder reads for this query (the app's "sources").
// With head_weights [n_heads]: mass[j] = sum_h w[h] * softmax_j(...) (heads of weight 0 skipped),
// added to what mass holds when `accumulate`. The CPU twin of kernels::attention_mass.
void attention_mass(const float* q, const float* k, int64_t n_keys, int64_t n_heads,
                    int64_t n_kv_heads, int64_t hd, float* mass, const float* head_weights = nullptr,
                    bool accumulate = false);

}  // namespace tome::cpu
