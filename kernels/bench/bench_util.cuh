// Helpers shared by the kernel benchmarks (kernels/bench/bench_*.cu): device buffers filled with
// random bf16/f32, a CUDA-event timer (median of repeats after warm-up), the H100 roofline figures
// to compare with, and one printed table row per measurement.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

// Exits with the file, line, call and message when a tome::kernels call fails.
#define KCHECK(expr)                                                                 \
  do {                                                                               \
    const ::tome::kernels::status s_ = (expr);                                       \
    if (!s_.ok()) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #expr, s_.message); \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

namespace tome::bench {

#define BENCH_CHECK(expr)                                                                     \
  do {                                                                                        \
    const cudaError_t e_ = (expr);                                                            \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

// Peak figures of the GPU the benchmark runs on (dense bf16 tensor-core FLOP/s, f32 CUDA-core
// FLOP/s, HBM bytes/s); H100 SXM defaults, overridden by TOME_BENCH_PEAK_TFLOPS / _GBPS.
struct peaks {
  double bf16_tflops = 989.0, f32_tflops = 67.0, hbm_gbps = 3350.0;
};
inline peaks machine_peaks() {
  peaks p;
  if (const char* s = std::getenv("TOME_BENCH_PEAK_TFLOPS")) p.bf16_tflops = std::atof(s);
  if (const char* s = std::getenv("TOME_BENCH_PEAK_GBPS")) p.hbm_gbps = std::atof(s);
  return p;
}

inline uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// A device buffer of n elements of T, freed at scope end.
template <class T>
struct dev {
  T* p = nullptr;
  size_t n = 0;
  explicit dev(size_t count) : n(count) { BENCH_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
  ~dev() { cudaFree(p); }
  dev(const dev&) = delete;
  dev& operator=(const dev&) = delete;
};

// Fills a bf16 buffer with uniform values in [-a, a] (host-generated, uploaded once).
inline void fill_bf16(dev<uint16_t>& d, float a, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-a, a);
  std::vector<uint16_t> h(d.n);
  for (auto& x : h) x = to_bf16(u(rng));
  BENCH_CHECK(cudaMemcpy(d.p, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
}
inline void fill_f32(dev<float>& d, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> h(d.n);
  for (auto& x : h) x = u(rng);
  BENCH_CHECK(cudaMemcpy(d.p, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
}

// Median milliseconds of `fn` (which enqueues work on `stream`) over `reps` timed runs after
// `warm` untimed ones.
inline double time_ms(cudaStream_t stream, const std::function<void()>& fn, int warm = 3, int reps = 10) {
  for (int i = 0; i < warm; ++i) fn();
  BENCH_CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t a, b;
  BENCH_CHECK(cudaEventCreate(&a));
  BENCH_CHECK(cudaEventCreate(&b));
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(cudaEventRecord(a, stream));
    fn();
    BENCH_CHECK(cudaEventRecord(b, stream));
    BENCH_CHECK(cudaEventSynchronize(b));
    float t = 0;
    BENCH_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

inline void print_header() {
  std::printf("| kernel | shape | ms | TFLOP/s | GB/s | of roofline |\n|---|---|---:|---:|---:|---:|\n");
}
// One row: `flops` and `bytes` are the work's minimum (what the roofline floor counts).
inline void print_row(const char* kernel, const char* shape, double ms, double flops, double bytes,
                      bool tensor_cores = true) {
  const peaks p = machine_peaks();
  const double s = ms * 1e-3;
  const double floor_s = std::max(flops / ((tensor_cores ? p.bf16_tflops : p.f32_tflops) * 1e12), bytes / (p.hbm_gbps * 1e9));
  std::printf("| %s | %s | %.3f | %.1f | %.0f | %.0f%% |\n", kernel, shape, ms, flops / s * 1e-12, bytes / s * 1e-9,
              100.0 * floor_s / s);
  std::fflush(stdout);
}

// Prints the table header and returns a new stream; nullptr (after saying so) without a CUDA device.
inline cudaStream_t start_bench() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("no CUDA device\n");
    return nullptr;
  }
  cudaStream_t st;
  BENCH_CHECK(cudaStreamCreate(&st));
  print_header();
  return st;
}

}  // namespace tome::bench
