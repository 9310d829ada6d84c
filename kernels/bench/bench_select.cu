// The sampling pre-selection (kernels::select_candidates_rows) at YOCO-3B's vocabulary (100,288)
// and tome-25m's (8,192): k 40 (top-k 40, what a sampled `tome ask` step selects) and 1024 (the
// min-p path's kPreselectK), one row (a session's step) and 8 (a batch), with a repetition
// penalty on 64 ids as in generation. Bytes: the logits read once.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome;
using namespace tome::bench;

namespace {

void select(cudaStream_t st, int64_t rows, int64_t n, int k) {
  dev<float> x(static_cast<size_t>(rows * n));
  std::mt19937 rng(static_cast<uint32_t>(n + k));
  std::normal_distribution<float> normal(0.0f, 3.0f);  // logits spread like a trained head's
  std::vector<float> h(x.n);
  for (float& v : h) v = normal(rng);
  BENCH_CHECK(cudaMemcpy(x.p, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
  std::vector<int32_t> pen, off{0};
  for (int64_t r = 0; r < rows; ++r) {
    for (int i = 0; i < 64; ++i) pen.push_back(static_cast<int32_t>(i * (n / 64)));
    off.push_back(static_cast<int32_t>(pen.size()));
  }
  dev<int32_t> dpen(pen.size()), doff(off.size()), ids(static_cast<size_t>(rows * k)), cnt(static_cast<size_t>(rows)),
      valid(cnt.n);
  dev<float> vals(ids.n);
  BENCH_CHECK(cudaMemcpy(dpen.p, pen.data(), pen.size() * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(doff.p, off.data(), off.size() * 4, cudaMemcpyHostToDevice));
  const size_t ws_bytes = kernels::select_candidates_workspace_bytes(rows, n, k);
  dev<char> ws(ws_bytes);
  const double ms = time_ms(st, [&] {
    KCHECK(kernels::select_candidates_rows(x.p, rows, n, dpen.p, doff.p, 1.1f, k, vals.p, ids.p, cnt.p, valid.p, ws.p,
                                           ws_bytes, st));
  });
  char shape[96];
  std::snprintf(shape, sizeof shape, "%lld x %lld, k %d", static_cast<long long>(rows), static_cast<long long>(n), k);
  print_row("select_candidates_rows", shape, ms, 0, static_cast<double>(x.n) * 4, false);
}

}  // namespace

// Usage: tome_bench_select [ROWS N K] (one shape; default: the table above).
int main(int argc, char** argv) {
  cudaStream_t st = start_bench();
  if (!st) return 0;
  if (argc == 4) {
    select(st, std::atoll(argv[1]), std::atoll(argv[2]), std::atoi(argv[3]));
    cudaStreamDestroy(st);
    return 0;
  }
  for (int64_t n : {100288LL, 8192LL})
    for (int64_t rows : {1LL, 8LL})
      for (int k : {40, 1024}) select(st, rows, n, k);
  cudaStreamDestroy(st);
  return 0;
}
