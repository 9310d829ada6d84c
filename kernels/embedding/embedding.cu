// Embedding kernel: y[i] = bf16(scale * table[tokens[i]]) (YOCO scales by sqrt(D)); one block
// per token. CPU twin: cpu::embedding. Layout: table [vocab, dim] bf16, y [n, dim] bf16.
// embedding_i8: an int8 table with one f32 scale per row; the row is dequantised in f32
// (row_scale * q, the CPU backend's load-time value) and then scaled like the bf16 one.
#include "common/common.cuh"

namespace tome::kernels {
namespace {

__global__ void embedding_kernel(const int32_t* __restrict__ tokens, const uint16_t* __restrict__ table,
                                 int64_t vocab, int64_t dim, float scale, uint16_t* __restrict__ y) {
  const int64_t i = blockIdx.x;
  const int32_t t = tokens[i];
  const bool valid = t >= 0 && t < vocab;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
    st(y, i * dim + d, valid ? scale * ld(table, static_cast<int64_t>(t) * dim + d) : 0.0f);
}
// The same with 16-byte loads and stores (dim a multiple of 8, table and y 16-byte aligned): a
// thread loads up to kChunks chunks of the row before it stores any, so a decode step's one row
// costs one round trip after the token's instead of one per element a thread owns.
constexpr int kEmbedThreads = 128, kEmbedChunks = 4;
__global__ void __launch_bounds__(kEmbedThreads) embedding_vec_kernel(const int32_t* __restrict__ tokens,
                                                                      const uint4* __restrict__ table, int64_t vocab,
                                                                      int64_t dim8, float scale, uint4* __restrict__ y) {
  const int64_t i = blockIdx.x;
  const int32_t t = tokens[i];
  const bool valid = t >= 0 && t < vocab;
  const uint4* row = table + (valid ? static_cast<int64_t>(t) : 0) * dim8;
  for (int64_t c0 = threadIdx.x; c0 < dim8; c0 += kEmbedThreads * kEmbedChunks) {
    uint4 v[kEmbedChunks];
#pragma unroll
    for (int u = 0; u < kEmbedChunks; ++u) {
      const int64_t c = c0 + u * kEmbedThreads;
      if (c < dim8) v[u] = row[c];
    }
#pragma unroll
    for (int u = 0; u < kEmbedChunks; ++u) {
      const int64_t c = c0 + u * kEmbedThreads;
      if (c >= dim8) continue;
      uint4 out;
      const __nv_bfloat162* in2 = reinterpret_cast<const __nv_bfloat162*>(&v[u]);
      __nv_bfloat162* out2 = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __bfloat1622float2(in2[j]);
        out2[j] = valid ? __floats2bfloat162_rn(scale * f.x, scale * f.y) : __floats2bfloat162_rn(0.0f, 0.0f);
      }
      y[i * dim8 + c] = out;
    }
  }
}
__global__ void embedding_i8_kernel(const int32_t* __restrict__ tokens, const int8_t* __restrict__ q,
                                    const float* __restrict__ row_scale, int64_t vocab, int64_t dim, float scale,
                                    uint16_t* __restrict__ y) {
  const int64_t i = blockIdx.x;
  const int32_t t = tokens[i];
  const bool valid = t >= 0 && t < vocab;
  const float rs = valid ? row_scale[t] : 0.0f;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
    st(y, i * dim + d, valid ? scale * (rs * static_cast<float>(q[static_cast<int64_t>(t) * dim + d])) : 0.0f);
}

}  // namespace

status embedding(const int32_t* tokens, int64_t n, const uint16_t* table, int64_t vocab,
                 int64_t dim, float scale, uint16_t* y, stream_t stream) {
  if (n < 0 || dim <= 0 || vocab <= 0 || n > 0x7fffffff) return bad_argument("embedding: bad shape");
  if (n == 0) return {};
  if (dim % 8 == 0 && (reinterpret_cast<uintptr_t>(table) & 15u) == 0 && (reinterpret_cast<uintptr_t>(y) & 15u) == 0)
    embedding_vec_kernel<<<static_cast<unsigned>(n), kEmbedThreads, 0, stream>>>(
        tokens, reinterpret_cast<const uint4*>(table), vocab, dim / 8, scale, reinterpret_cast<uint4*>(y));
  else
    embedding_kernel<<<static_cast<unsigned>(n), 128, 0, stream>>>(tokens, table, vocab, dim, scale, y);
  return launch_status();
}

status embedding_i8(const int32_t* tokens, int64_t n, const int8_t* q, const float* row_scale, int64_t vocab,
                    int64_t dim, float scale, uint16_t* y, stream_t stream) {
  if (n < 0 || dim <= 0 || vocab <= 0 || n > 0x7fffffff) return bad_argument("embedding_i8: bad shape");
  if (n == 0) return {};
  embedding_i8_kernel<<<static_cast<unsigned>(n), 128, 0, stream>>>(tokens, q, row_scale, vocab, dim, scale, y);
  return launch_status();
}

}  // namespace tome::kernels
