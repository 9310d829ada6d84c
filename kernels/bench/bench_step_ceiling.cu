// How fast could a YOCO-3B decode step be on this GPU if every kernel only streamed its bytes?
// The step's bandwidth-bound work, in order, as pure 16-byte streaming reads (no arithmetic but a
// sum that keeps the loads alive): per self layer the q|k|v|g|gate product, the retention state
// (read and written: counted as its bytes twice), wo, w1|w3, w2; the KV projection; per cross
// layer wq, the global K and V (the same buffer for all 13 layers, as in the engine), wo, w1|w3,
// w2; the output head. The bytes are those of ANCHORS.md's floor (weights 6.27 GB + 13 reads of
// the global KV + the states). Four ways to run them:
//   one kernel   the distinct bytes in one launch: the HBM read rate with no boundaries at all;
//   chain        one kernel per op in a CUDA graph, plain stream order;
//   chain + PDL  the same with programmatic dependent launches, each kernel issuing its first
//                round of loads before griddepcontrol.wait, as Tome's GEMVs do;
//   persistent   one cooperative kernel over all ops, a grid barrier after each op (the data
//                dependency), each thread's first loads of the next op issued before it.
// The chain + PDL figure is the ceiling for a decode step made of one kernel per product (the
// engine's CUDA graph); the persistent one, for a megakernel with a barrier per op.
// Usage: tome_bench_step_ceiling [context tokens ...] (default 32768 131072 524288).

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "bench_util.cuh"
#include "stream_op.cuh"

using namespace tome::bench;
using namespace tome::bench::stream;

namespace {

// Grid-wide barrier for a cooperative launch: generation `gen` is reached when all CTAs arrived.
__device__ __forceinline__ void grid_barrier(unsigned* count, unsigned gen) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    atomicAdd(count, 1u);
    const unsigned want = gen * gridDim.x;
    while (*reinterpret_cast<volatile unsigned*>(count) < want) {
    }
    __threadfence();
  }
  __syncthreads();
}

// All ops in one launch; thread t of G reads words t, t + G, ... of each op.
__global__ void __launch_bounds__(kThreads) persistent(const op* __restrict__ ops, int n_ops, unsigned* count,
                                                       uint32_t* __restrict__ sink) {
  const int64_t G = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  uint32_t acc = 0;
  uint4 v[kUnroll];
  auto first = [&](const op& o) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t j = t + u * G;
      v[u] = j < o.words ? ld_stream(o.p + j) : make_uint4(0, 0, 0, 0);
    }
  };
  first(ops[0]);
  for (int k = 0; k < n_ops; ++k) {
    const op o = ops[k];
    for (int64_t i = t;;) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) acc += fold(v[u]);
      i += kUnroll * G;
      if (i >= o.words) break;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t j = i + u * G;
        v[u] = j < o.words ? ld_stream(o.p + j) : make_uint4(0, 0, 0, 0);
      }
    }
    if (k + 1 < n_ops) {
      first(ops[k + 1]);  // the next op's weights do not depend on this op's result
      grid_barrier(count, static_cast<unsigned>(k + 1));
    }
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> lengths;
  for (int i = 1; i < argc; ++i) lengths.push_back(std::atoll(argv[i]));
  if (lengths.empty()) lengths = {32768, 131072, 524288};
  // YOCO-3B (bf16): D 3072, FFN 8192, 24 self heads of 128 (state 128 x 128 f32), kv_dim 1024.
  const int64_t D = 3072, F = 8192, H = 24, hd = 128, kv = 1024, V = 100288, L = 13;
  const int64_t w_qkvg = (4 * D + H) * D * 2, w_dd = D * D * 2, w_13 = 2 * F * D * 2, w_2 = D * F * 2;
  const int64_t state = H * hd * hd * 4, w_kv = 2 * kv * D * 2, w_head = V * D * 2;
  const int64_t max_len = *std::max_element(lengths.begin(), lengths.end());
  const int64_t kv_max = 2 * max_len * kv * 2;
  const int64_t weights = L * (w_qkvg + w_dd + w_13 + w_2) + w_kv + L * (2 * w_dd + w_13 + w_2) + w_head;
  const int64_t distinct = weights + L * 2 * state + kv_max;
  char* base = nullptr;
  BENCH_CHECK(cudaMalloc(&base, static_cast<size_t>(distinct)));
  BENCH_CHECK(cudaMemset(base, 0x3c, static_cast<size_t>(distinct)));
  uint32_t* sink = nullptr;
  BENCH_CHECK(cudaMalloc(&sink, 1 << 24));
  unsigned* count = nullptr;
  BENCH_CHECK(cudaMalloc(&count, 4));
  cudaStream_t s;
  BENCH_CHECK(cudaStreamCreate(&s));
  int dev = 0, sms = 0, per_sm = 0;
  BENCH_CHECK(cudaGetDevice(&dev));
  BENCH_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  BENCH_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, persistent, kThreads, 0));
  const double peak = 3.02e12;  // ANCHORS.md's HBM figure for the floor

  std::printf("YOCO-3B decode step as pure streaming reads: weights %.3f GB; %d SMs; chain tiles of %lld KiB a CTA; "
              "persistent grid %d x %d CTAs\n\n",
              weights / 1e9, sms, static_cast<long long>(tile_bytes() / 1024), sms, per_sm);
  std::printf("| context | way | step ms | GB/s | tokens/s | of the 3.02 TB/s floor |\n|---:|---|---:|---:|---:|---:|\n");
  for (int64_t n : lengths) {
    std::vector<op> ops;
    char* at = base;
    auto take = [&](int64_t bytes) {
      op o{reinterpret_cast<const uint4*>(at), bytes / 16};
      at += bytes;
      return o;
    };
    const op kvop{reinterpret_cast<const uint4*>(base + distinct - kv_max), 2 * n * kv * 2 / 16};
    for (int l = 0; l < L; ++l) {
      ops.push_back(take(w_qkvg));
      ops.push_back(take(2 * state));
      ops.push_back(take(w_dd));
      ops.push_back(take(w_13));
      ops.push_back(take(w_2));
    }
    ops.push_back(take(w_kv));
    for (int l = 0; l < L; ++l) {
      ops.push_back(take(w_dd));
      ops.push_back(kvop);
      ops.push_back(take(w_dd));
      ops.push_back(take(w_13));
      ops.push_back(take(w_2));
    }
    ops.push_back(take(w_head));
    double bytes = 0;
    for (const op& o : ops) bytes += 16.0 * static_cast<double>(o.words);
    auto row = [&](const char* way, double ms, double b) {
      std::printf("| %lld | %s | %.3f | %.0f | %.1f | %.1f%% |\n", static_cast<long long>(n), way, ms, b / (ms * 1e-3) / 1e9,
                  1e3 / ms, 100.0 * (b / peak) / (ms * 1e-3));
      std::fflush(stdout);
    };
    {  // the distinct bytes of this step in one launch (the KV once)
      const op all{reinterpret_cast<const uint4*>(base), (static_cast<int64_t>(at - base) + 2 * n * kv * 2) / 16};
      const double ms = time_ms(s, [&] { launch_op(all, sink, false, s); }, 2, 10);
      const double b = 16.0 * static_cast<double>(all.words);
      std::printf("| %lld | one kernel, %.2f GB of distinct bytes | %.3f | %.0f | - | %.1f%% of 3.02 TB/s |\n",
                  static_cast<long long>(n), b / 1e9, ms, b / (ms * 1e-3) / 1e9, 100.0 * (b / peak) / (ms * 1e-3));
    }
    for (bool pdl : {false, true}) {
      cudaGraph_t g;
      cudaGraphExec_t ge;
      BENCH_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
      for (const op& o : ops) launch_op(o, sink, pdl, s);
      BENCH_CHECK(cudaStreamEndCapture(s, &g));
      BENCH_CHECK(cudaGraphInstantiate(&ge, g, 0));
      const double ms = time_ms(s, [&] { BENCH_CHECK(cudaGraphLaunch(ge, s)); }, 3, 20);
      row(pdl ? "chain of one kernel per op, PDL (graph)" : "chain of one kernel per op (graph)", ms, bytes);
      cudaGraphExecDestroy(ge);
      cudaGraphDestroy(g);
    }
    {
      op* dops = nullptr;
      BENCH_CHECK(cudaMalloc(&dops, ops.size() * sizeof(op)));
      BENCH_CHECK(cudaMemcpy(dops, ops.data(), ops.size() * sizeof(op), cudaMemcpyHostToDevice));
      const int n_ops = static_cast<int>(ops.size());
      const double ms = time_ms(s, [&] {
        BENCH_CHECK(cudaMemsetAsync(count, 0, 4, s));
        void* args[] = {&dops, const_cast<int*>(&n_ops), &count, &sink};
        BENCH_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(persistent), dim3(sms * per_sm), dim3(kThreads),
                                                args, 0, s));
      }, 3, 20);
      row("persistent, a grid barrier per op", ms, bytes);
      cudaFree(dops);
    }
    std::printf("|  | (%zu ops, %.3f GB a step) | | | | |\n", ops.size(), bytes / 1e9);
  }
  cudaFree(count);
  cudaFree(sink);
  cudaFree(base);
  return 0;
}
