// Int8 weight-only decode products at YOCO-3B shapes (D 3072, FFN 8192, 24 heads, kv_dim 1024,
// vocab 100288): kernels::gemv_i8 / gemv_i8_swiglu beside the bf16 kernels::gemv on the same
// shapes, and the prefill path's dequant_i8 (int8 → bf16 for cuBLAS). Bytes = W read once (int8
// codes + f32 row scales; bf16: 2 per weight) + x + y; dequant: 1 read + 2 written per weight.
// Each timed call reads a different copy of W (copies fill > 4x the 50 MB L2), so the figures are
// HBM reads, as in a decode step where every weight is read once.
#include <cmath>
#include <string>
#include <vector>

#include "bench_util.cuh"
#include "tome/kernels.h"

using namespace tome;
using namespace tome::bench;

namespace {

struct shape {
  const char* name;
  int64_t n, k;
  bool swiglu, f32;
};

void fill_i8(dev<int8_t>& d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-127, 127);
  std::vector<int8_t> h(d.n);
  for (auto& x : h) x = static_cast<int8_t>(u(rng));
  BENCH_CHECK(cudaMemcpy(d.p, h.data(), h.size(), cudaMemcpyHostToDevice));
}

}  // namespace

int main() {
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreate(&stream));
  const shape shapes[] = {
      {"q|k|v|g|gate (self)", 4 * 3072 + 24, 3072, false, false},
      {"wq (cross) / wo", 3072, 3072, false, false},
      {"w1|w3", 2 * 8192, 3072, false, false},
      {"w2 (+SwiGLU)", 3072, 8192, true, false},
      {"kv wk|wv", 2 * 1024, 3072, false, false},
      {"output head (f32)", 100288, 3072, false, true},
  };
  print_header();
  for (const shape& s : shapes) {
    const size_t welems = static_cast<size_t>(s.n * s.k);
    const int copies = static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / welems + 1));
    std::vector<dev<int8_t>*> qs;
    std::vector<dev<float>*> scs;
    for (int c = 0; c < copies; ++c) {
      qs.push_back(new dev<int8_t>(welems));
      fill_i8(*qs.back(), 7 + c);
      scs.push_back(new dev<float>(static_cast<size_t>(s.n)));
      fill_f32(*scs.back(), 1e-4f, 2e-3f, 11 + c);
    }
    const int bcopies =
        static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / (2 * welems) + 1));
    std::vector<dev<uint16_t>*> ws;
    for (int c = 0; c < bcopies; ++c) {
      ws.push_back(new dev<uint16_t>(welems));
      fill_bf16(*ws.back(), 0.05f, 17 + c);
    }
    const int64_t xk = s.swiglu ? 2 * s.k : s.k;  // SwiGLU: a|b rows of 2K
    dev<uint16_t> x(static_cast<size_t>(4 * xk));
    fill_bf16(x, 1.0f, 3);
    dev<float> yf(static_cast<size_t>(4 * s.n));
    dev<uint16_t> y(static_cast<size_t>(4 * s.n));
    void* out = s.f32 ? static_cast<void*>(yf.p) : static_cast<void*>(y.p);
    const double io = s.k * 2.0 + s.n * (s.f32 ? 4.0 : 2.0);
    const double i8_bytes = static_cast<double>(welems) + 4.0 * s.n + io,
                 bf_bytes = 2.0 * welems + io;
    const std::string label =
        std::string(s.name) + " N " + std::to_string(s.n) + " K " + std::to_string(s.k);
    for (int rows : {1, 2, 4}) {
      if (rows * s.k * 2 > 48 * 1024) continue;
      int it = 0;
      const double ms_bf = time_ms(
          stream,
          [&] {
            const uint16_t* w = ws[static_cast<size_t>(it++ % bcopies)]->p;
            if (s.swiglu)
              KCHECK(
                  kernels::gemv_swiglu(w, x.p, x.p + s.k, xk, out, s.f32, rows, s.n, s.k, stream));
            else
              KCHECK(kernels::gemv(w, x.p, out, s.f32, rows, s.n, s.k, stream));
          },
          3, 20);
      it = 0;
      const double ms_i8 = time_ms(
          stream,
          [&] {
            const size_t c = static_cast<size_t>(it++ % copies);
            if (s.swiglu)
              KCHECK(kernels::gemv_i8_swiglu(qs[c]->p, scs[c]->p, x.p, x.p + s.k, xk, out, s.f32,
                                             rows, s.n, s.k, stream));
            else
              KCHECK(
                  kernels::gemv_i8(qs[c]->p, scs[c]->p, x.p, out, s.f32, rows, s.n, s.k, stream));
          },
          3, 20);
      const std::string sw = s.swiglu ? "_swiglu" : "", m = " M=" + std::to_string(rows);
      print_row(("tome gemv" + sw + " bf16" + m).c_str(), label.c_str(), ms_bf,
                2.0 * rows * s.n * s.k, bf_bytes + (rows - 1) * (s.k * 2.0));
      print_row(("tome gemv_i8" + sw + m).c_str(), label.c_str(), ms_i8, 2.0 * rows * s.n * s.k,
                i8_bytes + (rows - 1) * (s.k * 2.0));
      std::printf("  (int8 / bf16 time: %.2f)\n", ms_i8 / ms_bf);
    }
    {  // prefill: the whole matrix dequantised to bf16 (what precedes its cuBLAS GEMM)
      dev<uint16_t> dq(welems);
      int it = 0;
      const double ms = time_ms(
          stream,
          [&] {
            const size_t c = static_cast<size_t>(it++ % copies);
            KCHECK(kernels::dequant_i8(qs[c]->p, scs[c]->p, dq.p, s.n, s.k, stream));
          },
          3, 20);
      print_row("tome dequant_i8 (prefill)", label.c_str(), ms, 0.0, 3.0 * welems + 4.0 * s.n);
    }
    for (auto* p : qs) delete p;
    for (auto* p : scs) delete p;
    for (auto* p : ws) delete p;
  }
  return 0;
}
