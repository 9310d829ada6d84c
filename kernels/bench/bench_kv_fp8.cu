// The fp8 e4m3 global KV against bf16 (tome/kernels.h "fp8 global KV"): the decode attention of
// one cross layer (the engine's graph kernel, fixed grid) and the many-row tile kernel at YOCO-3B
// shapes (24 query / 8 KV heads of 128), and the prefill's quantisation. Bytes: fp8 reads 1 byte
// per K/V element + 4 per (key, head) for the scales; bf16 reads 2.
#include <cstdio>
#include <vector>

#include <cuda_bf16.h>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome;
using namespace tome::bench;

namespace {

// Pseudo-random bf16 values in [-a, a] made on the device (the 1M-key buffers are 1G elements).
__global__ void fill_kernel(uint16_t* x, size_t n, float a, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed * 40503u ^ static_cast<uint32_t>(i >> 32);
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    const float u = (static_cast<float>(h & 0xffffff) / 16777216.0f) * 2.0f - 1.0f;
    const __nv_bfloat16 b = __float2bfloat16_rn(a * u);
    x[i] = *reinterpret_cast<const uint16_t*>(&b);
  }
}
void fill(dev<uint16_t>& d, float a, uint32_t seed) {
  fill_kernel<<<1024, 256>>>(d.p, d.n, a, seed);
  BENCH_CHECK(cudaDeviceSynchronize());
}

struct fp8_kv {
  dev<uint8_t> k, v;
  dev<float> ks, vs;
  fp8_kv(cudaStream_t st, const dev<uint16_t>& k16, const dev<uint16_t>& v16, int64_t keys, int64_t hkv, int64_t hd)
      : k(k16.n), v(v16.n), ks(static_cast<size_t>(keys * hkv)), vs(ks.n) {
    KCHECK(kernels::kv_quantize_fp8(k16.p, keys, hkv, hd, k.p, ks.p, st));
    KCHECK(kernels::kv_quantize_fp8(v16.p, keys, hkv, hd, v.p, vs.p, st));
    BENCH_CHECK(cudaStreamSynchronize(st));
  }
  kernels::kv_fp8 view() const { return {k.p, v.p, ks.p, vs.p}; }
};

void decode(cudaStream_t st, int64_t keys, int64_t hq, int64_t hkv, int64_t hd) {
  const int64_t kvd = hkv * hd;
  dev<uint16_t> q(static_cast<size_t>(hq * hd)), o(q.n), k(static_cast<size_t>(keys * kvd)), v(k.n);
  fill(q, 1.0f, 1);
  fill(k, 1.0f, 2);
  fill(v, 1.0f, 3);
  fp8_kv f(st, k, v, keys, hkv, hd);
  const int splits = kernels::attn_decode_max_splits(hkv, hd);
  dev<float> ws(static_cast<size_t>(kernels::cross_attn_decode_workspace_floats(hq, hd, splits)));
  dev<int64_t> pos(1);
  const int64_t p = keys - 1;
  BENCH_CHECK(cudaMemcpy(pos.p, &p, 8, cudaMemcpyHostToDevice));
  const double flops = 4.0 * keys * hq * hd;
  char shape[128];
  std::snprintf(shape, sizeof shape, "decode, %lldK keys, %lld/%lld heads, hd %lld, %d splits",
                static_cast<long long>(keys / 1024), static_cast<long long>(hq), static_cast<long long>(hkv),
                static_cast<long long>(hd), splits);
  const double ms16 = time_ms(st, [&] {
    KCHECK(kernels::cross_attn_decode(q.p, k.p, v.p, o.p, pos.p, hq, hkv, hd, splits, ws.p, st));
  });
  print_row("cross_attn_decode bf16", shape, ms16, flops, 2.0 * keys * kvd * 2, false);
  const double ms8 = time_ms(st, [&] {
    KCHECK(kernels::cross_attn_decode_fp8(q.p, f.view(), o.p, pos.p, hq, hkv, hd, splits, ws.p, st));
  });
  print_row("cross_attn_decode fp8", shape, ms8, flops, 2.0 * keys * (kvd + hkv * 4), false);
  std::printf("| speed-up fp8 / bf16 | %lldK keys | %.2fx | | | |\n", static_cast<long long>(keys / 1024), ms16 / ms8);
}

void rows(cudaStream_t st, int64_t n_rows, int64_t pos0, int64_t hq, int64_t hkv, int64_t hd) {
  const int64_t kvd = hkv * hd, keys = pos0 + n_rows;
  dev<uint16_t> q(static_cast<size_t>(n_rows * hq * hd)), o(q.n), k(static_cast<size_t>(keys * kvd)), v(k.n);
  fill(q, 1.0f, 4);
  fill(k, 1.0f, 5);
  fill(v, 1.0f, 6);
  fp8_kv f(st, k, v, keys, hkv, hd);
  const int splits = kernels::cross_attn_splits(n_rows, pos0, hq, hkv, hd);
  dev<float> ws(static_cast<size_t>(std::max<int64_t>(1, kernels::cross_attn_workspace_floats(n_rows, hq, hd, splits))));
  const double flops = 4.0 * (static_cast<double>(pos0) * n_rows + 0.5 * n_rows * n_rows) * hq * hd;
  char shape[128];
  std::snprintf(shape, sizeof shape, "%lld rows over %lldK keys, %d splits", static_cast<long long>(n_rows),
                static_cast<long long>(keys / 1024), splits);
  const double ms16 = time_ms(st, [&] {
    KCHECK(kernels::cross_attn(q.p, k.p, v.p, o.p, n_rows, pos0, hq, hkv, hd, splits, ws.p, st));
  });
  print_row("cross_attn bf16", shape, ms16, flops, 2.0 * keys * kvd * 2, true);
  const double ms8 = time_ms(st, [&] {
    KCHECK(kernels::cross_attn_fp8(q.p, f.view(), o.p, n_rows, pos0, hq, hkv, hd, splits, ws.p, st));
  });
  print_row("cross_attn fp8", shape, ms8, flops, 2.0 * keys * (kvd + hkv * 4), true);
}

void quantise(cudaStream_t st, int64_t n_rows, int64_t hkv, int64_t hd) {
  dev<uint16_t> x(static_cast<size_t>(n_rows * hkv * hd));
  fill(x, 1.0f, 7);
  dev<uint8_t> q(x.n);
  dev<float> s(static_cast<size_t>(n_rows * hkv));
  const double ms = time_ms(st, [&] { KCHECK(kernels::kv_quantize_fp8(x.p, n_rows, hkv, hd, q.p, s.p, st)); });
  char shape[64];
  std::snprintf(shape, sizeof shape, "%lld rows x %lld heads x %lld", static_cast<long long>(n_rows),
                static_cast<long long>(hkv), static_cast<long long>(hd));
  print_row("kv_quantize_fp8", shape, ms, 0, static_cast<double>(x.n) * 3 + s.n * 4, false);
}

}  // namespace

int main() {
  if (kernels::device_count() == 0) {
    std::printf("no CUDA device\n");
    return 0;
  }
  cudaStream_t st;
  BENCH_CHECK(cudaStreamCreate(&st));
  print_header();
  for (int64_t keys : {32768LL, 131072LL, 524288LL, 1048576LL}) decode(st, keys, 24, 8, 128);
  for (int64_t r : {64LL, 1024LL}) rows(st, r, 32768, 24, 8, 128);
  quantise(st, 8192, 8, 128);
  cudaStreamDestroy(st);
  return 0;
}
