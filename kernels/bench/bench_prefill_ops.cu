// The kernels of a YOCO-3B prefill chunk outside its cuBLAS products, one self-decoder layer of a
// 32,768-row chunk (D 3072, 24 heads of 128, F 8192 in the FFN's 12,288-row blocks): what the
// products leave to fuse or hide (docs/performance.md, "The prefill's products at the power cap").
// Each kernel alone, median of 20 launches; bytes = what it must read and write.
// Usage: tome_bench_prefill_ops [ROWS]   (default 32768)
#include <cstdlib>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome::bench;
namespace k = tome::kernels;

int main(int argc, char** argv) {
  const cudaStream_t st = start_bench();
  if (!st) return 0;
  const int64_t T = argc > 1 ? std::max<int64_t>(64, std::atoll(argv[1])) : 32768;
  const int64_t D = 3072, H = 24, hd = 128, F = 8192, S = std::min<int64_t>(T, 12288), Hkv = 8;
  dev<uint16_t> x(T * D), r(T * D), xn(T * D), q(T * D), kk(T * D), v(T * D), g(T * D), o(T * D), w(D), gate(T * H),
      a(S * F), b(S * F);
  dev<float> lg(T * H), freq(hd / 2), state(H * hd * hd);
  fill_bf16(x, 1, 1);
  fill_bf16(r, 1, 2);
  fill_bf16(q, 1, 3);
  fill_bf16(kk, 0.1f, 4);
  fill_bf16(v, 1, 5);
  fill_bf16(g, 1, 6);
  fill_bf16(w, 1, 7);
  fill_bf16(gate, 1, 8);
  fill_bf16(a, 1, 9);
  fill_bf16(b, 1, 10);
  fill_f32(freq, 1e-4f, 1.0f, 11);
  BENCH_CHECK(cudaMemset(state.p, 0, state.n * 4));
  const int64_t wsf = k::gated_retention_chunked_workspace_floats(T, H, hd);
  dev<float> ws(static_cast<size_t>(wsf > 0 ? wsf : 1));
  KCHECK(k::retention_log_gamma(gate.p, lg.p, T * H, 1.0f, st));
  const double row = static_cast<double>(T) * D * 2;  // bytes of one [T, D] bf16 tensor
  auto bench = [&](const char* name, const char* shape, double flops, double bytes, bool tc, auto fn) {
    print_row(name, shape, time_ms(st, fn, 3, 20), flops, bytes, tc);
  };
  char shape[64];
  std::snprintf(shape, sizeof shape, "%lld x %lld", static_cast<long long>(T), static_cast<long long>(D));
  bench("add_rms_norm (x2 a layer)", shape, 0, 4 * row, false,
        [&] { KCHECK(k::add_rms_norm(x.p, r.p, w.p, xn.p, T, D, 1e-5f, st)); });
  bench("rope_qk (q, k), vector form", shape, 0, 4 * row, false,
        [&] { KCHECK(k::rope_qk(q.p, kk.p, T, H, hd, 0, freq.p, 0.088f, st)); });
  {  // the per-pair form, as rope_qk runs on rows 2 bytes off 16-byte alignment
    dev<uint16_t> q1(T * D + 1), k1(T * D + 1);
    BENCH_CHECK(cudaMemcpy(q1.p + 1, q.p, T * D * 2, cudaMemcpyDeviceToDevice));
    BENCH_CHECK(cudaMemcpy(k1.p + 1, kk.p, T * D * 2, cudaMemcpyDeviceToDevice));
    bench("rope_qk, per-pair form (unaligned)", shape, 0, 4 * row, false,
          [&] { KCHECK(k::rope_qk(q1.p + 1, k1.p + 1, T, H, hd, 0, freq.p, 0.088f, st)); });
    bench("rope_qk at positions 1M.. (vector form)", shape, 0, 4 * row, false,
          [&] { KCHECK(k::rope_qk(q.p, kk.p, T, H, hd, 1000000, freq.p, 0.088f, st)); });
    bench("rope_qk at positions 1M.. (per-pair form)", shape, 0, 4 * row, false,
          [&] { KCHECK(k::rope_qk(q1.p + 1, k1.p + 1, T, H, hd, 1000000, freq.p, 0.088f, st)); });
  }
  bench("retention_log_gamma", "T x 24", 0, T * H * 6.0, false,
        [&] { KCHECK(k::retention_log_gamma(gate.p, lg.p, T * H, 1.0f, st)); });
  const double ret_flops = static_cast<double>(T) * H * (4.0 * hd * hd + 2.0 * hd * 65);
  bench("gated_retention_chunked", shape, ret_flops, 4 * row, true,
        [&] { KCHECK(k::gated_retention_chunked(q.p, kk.p, v.p, lg.p, state.p, o.p, T, H, hd, ws.p, st)); });
  bench("retention_output", shape, 0, 3 * row, false,
        [&] { KCHECK(k::retention_output(o.p, g.p, T, H, hd, 1e-5f, st)); });
  bench("rms_norm (the residual added in the product)", shape, 0, 2 * row, false,
        [&] { KCHECK(k::rms_norm(x.p, w.p, xn.p, T, D, 1e-5f, st)); });
  std::snprintf(shape, sizeof shape, "%lld x %lld (a block)", static_cast<long long>(S), static_cast<long long>(F));
  bench("swiglu", shape, 0, 3.0 * S * F * 2, false, [&] { KCHECK(k::swiglu(a.p, b.p, a.p, S * F, st)); });
  std::snprintf(shape, sizeof shape, "%lld x %lld (once a chunk)", static_cast<long long>(T), static_cast<long long>(Hkv * hd));
  bench("rope (global K)", shape, 0, 2.0 * T * Hkv * hd * 2, false,
        [&] { KCHECK(k::rope(kk.p, T, Hkv, hd, 0, freq.p, st)); });
  return 0;
}
