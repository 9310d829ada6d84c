// Benchmark of the chunkwise gated-retention prefill kernel (kernels::gated_retention_chunked) at
// YOCO-3B (24 heads of 128) and tome-25m (6 heads of 64) shapes, T = 8192 and 32768 rows.
// Minimal work per (row, head), chunk C = 64: q·S and the state update k'ᵀv are 2·hd² FLOPs each,
// the causal intra-chunk q·k' and A·v are hd·(C+1) each on average; minimal bytes: q, k, v, o bf16,
// log γ f32 and the f32 state read and written once. Not a test: timings only.
#include <cstdio>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome;
using namespace tome::bench;

namespace {

void run_shape(cudaStream_t stream, int64_t T, int64_t H, int64_t hd) {
  const size_t n = static_cast<size_t>(T * H * hd);
  dev<uint16_t> q(n), k(n), v(n), o(n);
  dev<float> lg(static_cast<size_t>(T * H)), state(static_cast<size_t>(H * hd * hd));
  fill_bf16(q, 1.0f, 1);
  fill_bf16(k, 0.25f, 2);
  fill_bf16(v, 1.0f, 3);
  fill_f32(lg, -0.2f, -0.001f, 4);  // log γ = logsigmoid(gate) / 16 for gates around 0..6
  BENCH_CHECK(cudaMemset(state.p, 0, state.n * sizeof(float)));
  const int64_t wsf = kernels::gated_retention_chunked_workspace_floats(T, H, hd);
  dev<float> ws(static_cast<size_t>(wsf > 0 ? wsf : 1));
  auto launch = [&] {
    const kernels::status s =
        kernels::gated_retention_chunked(q.p, k.p, v.p, lg.p, state.p, o.p, T, H, hd, ws.p, stream);
    if (!s.ok()) {
      std::fprintf(stderr, "gated_retention_chunked failed: %s\n", s.message);
      std::exit(1);
    }
  };
  const double ms = time_ms(stream, launch);
  const double C = 64.0;
  const double flops = static_cast<double>(T) * H * (4.0 * hd * hd + 2.0 * hd * (C + 1.0));
  const double bytes = static_cast<double>(T) * H * (4.0 * hd * 2.0 + 4.0) + 2.0 * H * hd * hd * 4.0;
  char shape[128];
  std::snprintf(shape, sizeof shape, "T %lld, H %lld, hd %lld (ws %.1f MiB)", static_cast<long long>(T),
                static_cast<long long>(H), static_cast<long long>(hd), wsf * 4.0 / (1 << 20));
  print_row("gated_retention_chunked", shape, ms, flops, bytes);
}

}  // namespace

int main() {
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreate(&stream));
  cudaDeviceProp prop{};
  BENCH_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  print_header();
  for (int64_t T : {8192, 32768}) {
    run_shape(stream, T, 24, 128);  // YOCO-3B
    run_shape(stream, T, 6, 64);    // tome-25m
  }
  BENCH_CHECK(cudaStreamDestroy(stream));
  return 0;
}
