// Attention kernels at YOCO-3B and tome-25m shapes: decode (one query row over 32K..1M keys, 24
// query heads over 8 KV heads of 128), sliding-window prefill (8192 rows, window 1024) and
// multi-row cross attention (64..2048 rows over 32K keys). The roofline column counts the
// minimal work: bytes = K and V read once (plus q and o), FLOPs = 4 * rows * visible keys *
// heads * head_dim (QK^T and PV, masked keys not counted).
#include <string>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome;
using namespace tome::bench;

namespace {

// Visible (row, key) pairs of rows at positions first_key_offset.. with a window (0 = causal).
double visible_pairs(int64_t rows, int64_t off, int64_t window) {
  double n = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t last = off + r;
    n += static_cast<double>(window > 0 ? std::min<int64_t>(window, last + 1) : last + 1);
  }
  return n;
}

// The split count: the launcher's own choice once it has one (TOME_KERNELS_ATTN_V2), else the
// CUDA backend's rule before the rewrite (the baseline).
int pick_splits(int64_t rows, int64_t hq, int64_t hkv, int64_t hd, int64_t keys) {
#ifdef TOME_KERNELS_ATTN_V2
  return kernels::cross_attn_splits(rows, keys - rows, hq, hkv, hd);
#else
  (void)hkv, (void)hd;
  return rows * hq >= 264 ? 1 : static_cast<int>(std::clamp<int64_t>(keys / 1024, 1, 64));
#endif
}

void decode(cudaStream_t st, int64_t keys, int64_t hq, int64_t hkv, int64_t hd) {
  const int64_t rows = 1, kvd = hkv * hd;
  dev<uint16_t> q(static_cast<size_t>(rows * hq * hd)), o(q.n), k(static_cast<size_t>(keys * kvd)), v(k.n);
  fill_bf16(q, 1.0f, 1);
  fill_bf16(k, 1.0f, 2);
  fill_bf16(v, 1.0f, 3);
  const int splits = pick_splits(rows, hq, hkv, hd, keys);
  dev<float> ws(static_cast<size_t>(std::max<int64_t>(1, kernels::cross_attn_workspace_floats(rows, hq, hd, splits))));
  const double flops = 4.0 * visible_pairs(rows, keys - rows, 0) * hq * hd;
  const double bytes = 2.0 * keys * kvd * 2 + 2.0 * rows * hq * hd * 2;
  char shape[128];
  std::snprintf(shape, sizeof shape, "decode 1 row, %lldK keys, %lld/%lld heads, hd %lld, %d splits",
                static_cast<long long>(keys / 1024), static_cast<long long>(hq), static_cast<long long>(hkv),
                static_cast<long long>(hd), splits);
  double ms = time_ms(st, [&] {
    KCHECK(kernels::cross_attn(q.p, k.p, v.p, o.p, rows, keys - rows, hq, hkv, hd, splits, ws.p, st));
  });
  print_row("cross_attn", shape, ms, flops, bytes, false);
#ifdef TOME_KERNELS_ATTN_V2
  // The CUDA-graph variant: fixed grid of max splits, key count read from device memory.
  dev<int64_t> nk(1);
  BENCH_CHECK(cudaMemcpy(nk.p, &keys, 8, cudaMemcpyHostToDevice));
  const int max_splits = kernels::attn_decode_max_splits(hkv, hd);
  dev<float> ws2(static_cast<size_t>(kernels::cross_attn_workspace_floats(rows, hq, hd, max_splits)));
  ms = time_ms(st, [&] {
    KCHECK(kernels::attn_decode_fixed(q.p, k.p, v.p, o.p, rows, nk.p, hq, hkv, hd, 0, max_splits, ws2.p, st));
  });
  std::snprintf(shape, sizeof shape, "decode 1 row, %lldK keys, fixed grid %d splits",
                static_cast<long long>(keys / 1024), max_splits);
  print_row("attn_decode_fixed", shape, ms, flops, bytes, false);
#endif
}

void swa_prefill(cudaStream_t st, int64_t rows, int64_t ring, int64_t window, int64_t heads, int64_t hd) {
  const int64_t D = heads * hd;
  dev<uint16_t> q(static_cast<size_t>(rows * D)), o(q.n), k(static_cast<size_t>((ring + rows) * D)), v(k.n);
  fill_bf16(q, 1.0f, 4);
  fill_bf16(k, 1.0f, 5);
  fill_bf16(v, 1.0f, 6);
  const double flops = 4.0 * visible_pairs(rows, ring, window) * heads * hd;
  const double bytes = 2.0 * (ring + rows) * D * 2 + 2.0 * rows * D * 2;
  char shape[128];
  std::snprintf(shape, sizeof shape, "SWA %lld rows, ring %lld, window %lld, %lld heads, hd %lld",
                static_cast<long long>(rows), static_cast<long long>(ring), static_cast<long long>(window),
                static_cast<long long>(heads), static_cast<long long>(hd));
  const double ms = time_ms(st, [&] {
    KCHECK(kernels::sliding_window_attn(q.p, k.p, v.p, ring, o.p, rows, heads, hd, window, st));
  });
  print_row("sliding_window_attn", shape, ms, flops, bytes, true);
}

// Many query rows over a long KV (cross attention of a question turn or the prefill tail). Where the
// sm_90a kernel is available: it with its split rule (one CTA per SM), it with the tile kernel's
// split count, and the tile kernel with its own; else the tile kernel only.
void cross_rows(cudaStream_t st, int64_t rows, int64_t keys, int64_t hq, int64_t hkv, int64_t hd) {
  const int64_t kvd = hkv * hd;
  dev<uint16_t> q(static_cast<size_t>(rows * hq * hd)), o(q.n), k(static_cast<size_t>(keys * kvd)), v(k.n);
  fill_bf16(q, 1.0f, 7);
  fill_bf16(k, 1.0f, 8);
  fill_bf16(v, 1.0f, 9);
  const bool wgmma = kernels::attention_wgmma_enabled();
  const int s_new = pick_splits(rows, hq, hkv, hd, keys);
  kernels::attention_use_wgmma(false);
  const int s_tile = pick_splits(rows, hq, hkv, hd, keys);
  const int most = std::max(s_new, s_tile);
  dev<float> ws(static_cast<size_t>(std::max<int64_t>(1, kernels::cross_attn_workspace_floats(rows, hq, hd, most))));
  const double flops = 4.0 * visible_pairs(rows, keys - rows, 0) * hq * hd;
  const double bytes = 2.0 * keys * kvd * 2 + 2.0 * rows * hq * hd * 2;
  struct variant {
    bool wgmma;
    int splits;
    const char* name;
  };
  for (const variant& x : {variant{true, s_new, "sm_90a kernel"}, variant{true, s_tile, "sm_90a kernel, tile splits"},
                           variant{false, s_tile, "tile kernel"}}) {
    if (x.wgmma && !wgmma) continue;
    kernels::attention_use_wgmma(x.wgmma);
    char shape[160];
    std::snprintf(shape, sizeof shape, "cross %lld rows over %lldK keys, %lld/%lld heads, hd %lld, %d splits, %s",
                  static_cast<long long>(rows), static_cast<long long>(keys / 1024), static_cast<long long>(hq),
                  static_cast<long long>(hkv), static_cast<long long>(hd), x.splits, x.name);
    const double ms = time_ms(st, [&] {
      KCHECK(kernels::cross_attn(q.p, k.p, v.p, o.p, rows, keys - rows, hq, hkv, hd, x.splits, ws.p, st));
    });
    print_row("cross_attn", shape, ms, flops, bytes, true);
  }
  kernels::attention_use_wgmma(wgmma);  // as it was (TOME_WGMMA_ATTN=0 stays off)
}

// Full causal GQA prefill (the Transformer baseline's layer: rows = keys), with the sm_90a kernel
// and with the mma.sync tile kernel when the former is available (same inputs, one process).
void causal_prefill(cudaStream_t st, int64_t rows, int64_t hq, int64_t hkv, int64_t hd) {
  const int64_t kvd = hkv * hd;
  dev<uint16_t> q(static_cast<size_t>(rows * hq * hd)), o(q.n), k(static_cast<size_t>(rows * kvd)), v(k.n);
  fill_bf16(q, 1.0f, 10);
  fill_bf16(k, 1.0f, 11);
  fill_bf16(v, 1.0f, 12);
  const int splits = kernels::attention_splits(rows, 0, hq, hkv, hd, 0);
  dev<float> ws(static_cast<size_t>(std::max<int64_t>(1, kernels::cross_attn_workspace_floats(rows, hq, hd, splits))));
  const double flops = 4.0 * visible_pairs(rows, 0, 0) * hq * hd;
  const double bytes = 2.0 * rows * kvd * 2 + 2.0 * rows * hq * hd * 2;
  const bool enabled = kernels::attention_wgmma_enabled();
  for (bool wgmma : {true, false}) {
    if (wgmma && !enabled) continue;
    kernels::attention_use_wgmma(wgmma);
    char shape[160];
    std::snprintf(shape, sizeof shape, "causal %lldK rows, %lld/%lld heads, hd %lld, %d splits, %s",
                  static_cast<long long>(rows / 1024), static_cast<long long>(hq), static_cast<long long>(hkv),
                  static_cast<long long>(hd), splits, wgmma ? "sm_90a kernel" : "tile kernel");
    const double ms = time_ms(st, [&] {
      KCHECK(kernels::attention(q.p, k.p, v.p, o.p, rows, 0, hq, hkv, hd, 0, splits, ws.p, st));
    });
    print_row("attention", shape, ms, flops, bytes, true);
  }
  kernels::attention_use_wgmma(enabled);  // as it was (TOME_WGMMA_ATTN=0 stays off)
}

}  // namespace

int main(int argc, char** argv) {
  // `tome_bench_attention causal`: only the causal prefill rows; `cross`: only the many-row cross
  // rows; `decode`: only the decode rows, with their one-KV-head twins.
  const std::string only = argc > 1 ? argv[1] : "";
  if (kernels::device_count() == 0) {
    std::printf("no CUDA device\n");
    return 0;
  }
  cudaStream_t st;
  BENCH_CHECK(cudaStreamCreate(&st));
  print_header();
  if (only == "cross") {
    for (auto [rows, keys] : {std::pair<int64_t, int64_t>{64, 32768}, {256, 32768}, {1024, 32768}, {2048, 32768},
                              {32, 1048576}, {64, 1048576}, {256, 131072}, {300, 524288}})
      cross_rows(st, rows, keys, 24, 8, 128);
    cudaStreamDestroy(st);
    return 0;
  }
  if (only == "decode") {
    // The decode rows alone, and the same bytes as one KV head (3 query heads over 8x the keys):
    // every CTA then streams one contiguous range instead of 256-byte pieces of 2 KiB rows.
    for (int64_t keys : {32768LL, 131072LL}) {
      decode(st, keys, 24, 8, 128);
      decode(st, 8 * keys, 3, 1, 128);
    }
    cudaStreamDestroy(st);
    return 0;
  }
  for (int64_t rows : {8192LL, 32768LL, 131072LL}) causal_prefill(st, rows, 24, 8, 128);
  if (only == "causal") {
    cudaStreamDestroy(st);
    return 0;
  }
  for (int64_t keys : {32768LL, 131072LL, 524288LL, 1048576LL}) decode(st, keys, 24, 8, 128);
  decode(st, 1024, 24, 24, 128);  // SWA decode step (window 1024, YOCO-3B-swa self layer)
  swa_prefill(st, 8192, 1023, 1024, 24, 128);
  swa_prefill(st, 8192, 0, 1024, 24, 128);
  swa_prefill(st, 8192, 1023, 1024, 6, 64);
  for (int64_t rows : {64LL, 256LL, 1024LL, 2048LL}) cross_rows(st, rows, 32768, 24, 8, 128);
  cudaStreamDestroy(st);
  return 0;
}
