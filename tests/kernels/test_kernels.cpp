// CUDA kernels vs their CPU twins (backend/cpu/cpu_ops.h). Inputs are random bf16 values; the
// twin runs in f32 on the same (widened) values. Bound per op: outputs are bf16, so
// |gpu - cpu| <= 1e-2 * |cpu| + 1e-2 (2-3 bf16 ulps) unless stated. Skips without a GPU.
#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/kv_fp8.h"
#include "gpu_op_test.h"
#include "model/dtype.h"
#include "tome/kernels.h"

namespace tome {
namespace {

class Kernels : public test::GpuOpTest {
};

// Programmatic dependent launches only where the code the device runs waits for them: an sm_90+
// device running this library's sm_90+ code (its griddepcontrol.wait exists). The portable
// compute_80 PTX run on an H100 (the gpu-sm80 preset, or a newer GPU without SASS of its own) has
// no wait, so a dependent launch there would race the kernel ahead of it.
TEST_F(Kernels, DependentLaunchesOnlyWhereTheKernelsWaitForThem) {
  const int arch = kernels::compiled_arch();
  ASSERT_GT(arch, 0);
  kernels::device_info info{};
  int dev = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_TRUE(kernels::get_device_info(dev, &info).ok());
  std::printf("[ device %d.%d runs this library's code for __CUDA_ARCH__ %d: dependent launches %s ]\n", info.major,
              info.minor, arch, kernels::programmatic_launch_ok() ? "on" : "off");
  EXPECT_EQ(kernels::programmatic_launch_ok(), info.major >= 9 && arch >= 900);
}

TEST_F(Kernels, RmsNormMatchesCpuTwin) {
  // Block-per-row (few rows: 16-byte words while dim * 2 <= 47 KiB, else scalar) and the warp-per-row x8
  // forms (128+ rows; 1..16 words a lane; row counts that do not fill the last block).
  for (auto [rows, dim] : {std::pair<int64_t, int64_t>{1, 1}, {3, 31}, {7, 384}, {5, 1000}, {2, 3072}, {129, 64},
                           {133, 3072}, {128, 4096}, {130, 4104}, {129, 8}, {200, 2048}, {131, 384}, {1, 8},
                           {4, 136}, {1, 24576}, {2, 24584}}) {
    auto x = random_bf16(static_cast<size_t>(rows * dim), 1, 3.0f), w = random_bf16(static_cast<size_t>(dim), 2);
    auto* dx = upload(x);
    auto* dw = upload(w);
    auto* dy = upload(std::vector<uint16_t>(x.size()));
    ASSERT_TRUE(kernels::rms_norm(dx, dw, dy, rows, dim, 1e-5f, stream_).ok());
    std::vector<float> ref(x.size());
    cpu::rms_norm(widen(x).data(), widen(w).data(), ref.data(), rows, dim, 1e-5f);
    expect_close(download(dy, x.size()), ref, "rms_norm");
  }
}

TEST_F(Kernels, RopeMatchesCpuTwin) {
  for (auto [rows, heads, hd, pos0] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 2, 0}, {5, 3, 16, 7},
                                       {17, 6, 64, 1000}, {3, 24, 128, 524287}}) {
    auto x = random_bf16(static_cast<size_t>(rows * heads * hd), 3);
    auto f = cpu::rope_inv_freq(hd, 10000.0);
    auto* dx = upload(x);
    auto* df = upload(f);
    ASSERT_TRUE(kernels::rope(dx, rows, heads, hd, pos0, df, stream_).ok());
    auto ref = widen(x);
    cpu::rope(ref.data(), rows, heads, hd, pos0, f.data());
    expect_close(download(dx, x.size()), ref, "rope");
  }
}

// The fused residual add + norm equals add() then rms_norm() bit for bit (both rows: x and out).
TEST_F(Kernels, AddRmsNormEqualsAddThenRmsNorm) {
  for (auto [rows, dim] : {std::pair<int64_t, int64_t>{1, 1}, {3, 31}, {7, 384}, {2, 3072}, {129, 64}, {133, 3072},
                           {128, 4096}, {130, 4104}, {129, 8}}) {
    auto x = random_bf16(static_cast<size_t>(rows * dim), 21, 3.0f), y = random_bf16(x.size(), 22, 2.0f);
    auto w = random_bf16(static_cast<size_t>(dim), 23);
    auto *dx1 = upload(x), *dx2 = upload(x), *dy = upload(y), *dw = upload(w);
    auto *out1 = upload(std::vector<uint16_t>(x.size())), *out2 = upload(std::vector<uint16_t>(x.size()));
    ASSERT_TRUE(kernels::add_rms_norm(dx1, dy, dw, out1, rows, dim, 1e-5f, stream_).ok());
    ASSERT_TRUE(kernels::add(dx2, dy, rows * dim, stream_).ok());
    ASSERT_TRUE(kernels::rms_norm(dx2, dw, out2, rows, dim, 1e-5f, stream_).ok());
    EXPECT_EQ(download(dx1, x.size()), download(dx2, x.size())) << rows << "x" << dim;
    EXPECT_EQ(download(out1, x.size()), download(out2, x.size())) << rows << "x" << dim;
    std::vector<float> sum = widen(x), ref(x.size());  // and against the CPU twins
    const auto yf = widen(y);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = bf16_to_f32(f32_to_bf16(sum[i] + yf[i]));
    cpu::rms_norm(sum.data(), widen(w).data(), ref.data(), rows, dim, 1e-5f);
    expect_close(download(out1, x.size()), ref, "add_rms_norm");
  }
}

// Position from device memory (decode graphs): equal to rope() at that position, and the KV-row
// store writes RoPE(k) and v at row *pos of the global KV, nothing else.
TEST_F(Kernels, RopeAtAndStoreKvEqualRopeAtTheDevicePosition) {
  for (auto [heads, hd, pos] : {std::tuple<int64_t, int64_t, int64_t>{1, 2, 0}, {3, 16, 7}, {8, 128, 524287}}) {
    auto x = random_bf16(static_cast<size_t>(heads * hd), 24), v = random_bf16(x.size(), 25);
    auto f = cpu::rope_inv_freq(hd, 10000.0);
    auto *a = upload(x), *b = upload(x), *dv = upload(v);
    auto* df = upload(f);
    auto* dpos = upload(std::vector<int64_t>{pos});
    ASSERT_TRUE(kernels::rope_at(a, 1, heads, hd, dpos, df, stream_).ok());
    ASSERT_TRUE(kernels::rope(b, 1, heads, hd, pos, df, stream_).ok());
    const auto ra = download(a, x.size());
    EXPECT_EQ(ra, download(b, x.size()));
    const int64_t rows = pos + 3, kvd = heads * hd;
    if (rows * kvd > (int64_t{1} << 26)) continue;  // the store check runs on the smaller shapes
    std::vector<uint16_t> fill(static_cast<size_t>(rows * kvd), 0x3f80);  // 1.0
    auto *gk = upload(fill), *gv = upload(fill);
    auto* k = upload(x);
    ASSERT_TRUE(kernels::rope_store_kv(k, dv, gk, gv, heads, hd, dpos, df, stream_).ok());
    auto hk = download(gk, fill.size()), hv = download(gv, fill.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < kvd; ++i) {
        const size_t at = static_cast<size_t>(r * kvd + i);
        ASSERT_EQ(hk[at], r == pos ? ra[static_cast<size_t>(i)] : fill[at]) << r << "," << i;
        ASSERT_EQ(hv[at], r == pos ? v[static_cast<size_t>(i)] : fill[at]) << r << "," << i;
      }
  }
}

TEST_F(Kernels, SwiGluMatchesCpuTwin) {
  for (int64_t n : {1, 33, 1024, 100003, 8, 800000}) {
    auto a = random_bf16(static_cast<size_t>(n), 4, 3.0f), b = random_bf16(static_cast<size_t>(n), 5);
    auto* da = upload(a);
    auto* db = upload(b);
    auto* dout = upload(std::vector<uint16_t>(static_cast<size_t>(n)));
    ASSERT_TRUE(kernels::swiglu(da, db, dout, n, stream_).ok());
    std::vector<float> ref(static_cast<size_t>(n));
    cpu::swiglu(widen(a).data(), widen(b).data(), ref.data(), n);
    const auto got = download(dout, static_cast<size_t>(n));
    expect_close(got, ref, "swiglu");
    // In place (out == a, as the FFN calls it) and from a 2-byte offset (the scalar form): the same bits.
    ASSERT_TRUE(kernels::swiglu(da, db, da, n, stream_).ok());
    EXPECT_EQ(download(da, static_cast<size_t>(n)), got) << n;
    if (n > 1) {
      auto* da2 = upload(a);
      auto* db2 = upload(b);
      auto* dout2 = upload(std::vector<uint16_t>(static_cast<size_t>(n)));
      ASSERT_TRUE(kernels::swiglu(da2 + 1, db2 + 1, dout2 + 1, n - 1, stream_).ok());
      const auto got2 = download(dout2, static_cast<size_t>(n));
      EXPECT_TRUE(std::equal(got2.begin() + 1, got2.end(), got.begin() + 1)) << n;
    }
  }
}

// The prefill FFN's up projection with SwiGLU in its epilogue (kernels/gemm/gemm_wgmma.cu, sm_90a)
// against its CPU twin: a = bf16(x · w1ᵀ), b = bf16(x · w3ᵀ) (double sums), then cpu::swiglu. Shapes
// with K not a multiple of the 64-wide step (the TMA's zero fill), a last row tile of 1..127 rows, an
// odd number of row tiles (a cluster's second CTA past the end), a last group of fewer than 8 row-tile
// pairs, and more tiles than clusters (each takes several); rows past `rows` are never written.
TEST_F(Kernels, GemmSwigluMatchesCpuTwin) {
  if (!kernels::gemm_wgmma_enabled()) GTEST_SKIP() << "no sm_90a GEMM on this GPU / build";
  struct shape {
    int64_t rows, F, K;
  };
  for (const shape s : {shape{1, 128, 64}, shape{130, 256, 72}, shape{300, 384, 200}, shape{257, 128, 3072},
                        shape{2100, 1152, 128}, shape{700, 640, 64}}) {
    const auto x = random_bf16(static_cast<size_t>(s.rows * s.K), 40, 1.0f);
    const auto w = random_bf16(static_cast<size_t>(2 * s.F * s.K), 41, 1.0f / std::sqrt(static_cast<float>(s.K)));
    const int64_t guard = 3;
    const std::vector<uint16_t> fill(static_cast<size_t>((s.rows + guard) * s.F), 0x7fc1);  // a NaN pattern
    auto* dx = upload(x);
    auto* dw = upload(w);
    auto* dh = upload(fill);
    const uint16_t* dw3 = dw + s.F * s.K;
    ASSERT_TRUE(kernels::gemm_swiglu_supported(dx, dw, dw3, dh, s.rows, s.F, s.K));
    // Alone and in clusters of two CTAs (the B tile multicast): the same bits.
    const bool was = kernels::gemm_wgmma_clusters(false);
    ASSERT_TRUE(kernels::gemm_swiglu(dx, dw, dw3, dh, s.rows, s.F, s.K, stream_).ok());
    const auto got = download(dh, fill.size());
    auto* dh2 = upload(fill);
    kernels::gemm_wgmma_clusters(true);
    ASSERT_TRUE(kernels::gemm_swiglu(dx, dw, dw3, dh2, s.rows, s.F, s.K, stream_).ok());
    kernels::gemm_wgmma_clusters(was);
    EXPECT_EQ(download(dh2, fill.size()), got) << "clusters of two";
    const auto xf = widen(x), wf = widen(w);
    std::vector<float> a(static_cast<size_t>(s.rows * s.F)), b(a.size()), ref(a.size());
    for (int64_t r = 0; r < s.rows; ++r)
      for (int64_t f = 0; f < s.F; ++f) {
        double sa = 0.0, sb = 0.0;
        const float* xr = xf.data() + r * s.K;
        const float* w1 = wf.data() + f * s.K;
        const float* w3 = wf.data() + (s.F + f) * s.K;
        for (int64_t i = 0; i < s.K; ++i) {
          sa += static_cast<double>(xr[i]) * w1[i];
          sb += static_cast<double>(xr[i]) * w3[i];
        }
        a[static_cast<size_t>(r * s.F + f)] = bf16_to_f32(f32_to_bf16(static_cast<float>(sa)));
        b[static_cast<size_t>(r * s.F + f)] = bf16_to_f32(f32_to_bf16(static_cast<float>(sb)));
      }
    cpu::swiglu(a.data(), b.data(), ref.data(), static_cast<int64_t>(ref.size()));
    const std::vector<uint16_t> body(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(ref.size()));
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " F " + std::to_string(s.F) + " K " + std::to_string(s.K));
    expect_close(body, ref, "gemm_swiglu");
    EXPECT_TRUE(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(ref.size()), got.end(),
                            [](uint16_t v) { return v == 0x7fc1; }))
        << "rows past the end were written";
  }
  // Refusals: F not a multiple of 128, K not a multiple of 8, misaligned pointers.
  auto* d = upload(std::vector<uint16_t>(4096));
  EXPECT_FALSE(kernels::gemm_swiglu_supported(d, d, d, d, 4, 96, 64));
  EXPECT_FALSE(kernels::gemm_swiglu_supported(d, d, d, d, 4, 128, 60));
  EXPECT_FALSE(kernels::gemm_swiglu_supported(d + 1, d, d, d, 4, 128, 64));
  EXPECT_FALSE(kernels::gemm_swiglu_supported(d, d, d + 1, d, 4, 128, 64));
  EXPECT_FALSE(kernels::gemm_swiglu(d, d, d, d, 4, 96, 64, stream_).ok());
}

// RoPE's cos/sin table (gemm_rope's epilogue reads it) against std::cos, std::sin of the same f32
// angle, at positions 0.. and 1M.. (sincosf's slow argument reduction past |a| ~1e5).
TEST_F(Kernels, RopeCosSinMatchesCpuTwin) {
  for (const int64_t hd : {int64_t{128}, int64_t{64}, int64_t{10}}) {
    const auto inv = cpu::rope_inv_freq(hd, 10000.0);
    auto* dinv = upload(inv);
    for (const int64_t pos0 : {int64_t{0}, int64_t{1000000}}) {
      const int64_t rows = 300, half = hd / 2;
      auto* dcs = upload(std::vector<float>(static_cast<size_t>(rows * hd)));
      ASSERT_TRUE(kernels::rope_cos_sin(dcs, rows, hd, pos0, dinv, stream_).ok());
      const auto cs = download(dcs, static_cast<size_t>(rows * hd));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < half; ++i) {
          const float a = static_cast<float>(pos0 + r) * inv[static_cast<size_t>(i)];
          const size_t at = static_cast<size_t>(2 * (r * half + i));
          ASSERT_NEAR(cs[at], std::cos(a), 1e-6f) << "hd " << hd << " row " << r << " pair " << i;
          ASSERT_NEAR(cs[at + 1], std::sin(a), 1e-6f) << "hd " << hd << " row " << r << " pair " << i;
        }
    }
  }
  auto* d = upload(std::vector<float>(64));
  EXPECT_FALSE(kernels::rope_cos_sin(d, 4, 7, 0, d, stream_).ok());
  EXPECT_FALSE(kernels::rope_cos_sin(d + 1, 4, 8, 0, d, stream_).ok());
}

// The prefill projection with RoPE in its epilogue (kernels/gemm/gemm_wgmma.cu, sm_90a) against its
// CPU twin: part p = bf16(x · w_pᵀ) (double sums); parts 0 and 1 through cpu::rope at positions
// pos0.., rounded, part 1 then scaled and rounded. Shapes with K not a multiple of 64, last row
// tiles of 1..127 rows, more tiles than SMs, 1-4 parts, head dims 32-256, positions past 1M; rows
// past `rows` are never written.
// The kernel is off by default (TOME_WGMMA_ROPE): the tests turn it on while they run.
struct gemm_rope_on {
  bool was = kernels::gemm_rope_enable(true);
  ~gemm_rope_on() { kernels::gemm_rope_enable(was); }
};

TEST_F(Kernels, GemmRopeMatchesCpuTwin) {
  if (!kernels::gemm_wgmma_enabled()) GTEST_SKIP() << "no sm_90a GEMM on this GPU / build";
  const gemm_rope_on on;
  struct shape {
    int64_t rows, P, K;
    int parts, rope_parts;
    int64_t hd, pos0;
  };
  for (const shape s : {shape{1, 256, 64, 4, 2, 128, 0}, shape{130, 512, 72, 3, 2, 64, 5},
                        shape{300, 256, 200, 4, 2, 256, 1000000}, shape{2100, 768, 128, 4, 2, 128, 70000},
                        shape{257, 256, 3072, 2, 0, 128, 0}, shape{700, 512, 64, 1, 1, 32, 3}}) {
    const float k_scale = 1.0f / std::sqrt(static_cast<float>(s.hd));
    const int64_t N = s.P * s.parts, guard = 3;
    const auto x = random_bf16(static_cast<size_t>(s.rows * s.K), 50, 1.0f);
    const auto w = random_bf16(static_cast<size_t>(N * s.K), 51, 1.0f / std::sqrt(static_cast<float>(s.K)));
    const auto inv = cpu::rope_inv_freq(s.hd, 10000.0);
    const std::vector<uint16_t> fill(static_cast<size_t>((s.rows + guard) * s.P), 0x7fc1);  // a NaN pattern
    auto* dx = upload(x);
    auto* dw = upload(w);
    auto* dcs = upload(std::vector<float>(static_cast<size_t>(s.rows * s.hd)));
    ASSERT_TRUE(kernels::rope_cos_sin(dcs, s.rows, s.hd, s.pos0, upload(inv), stream_).ok());
    uint16_t* dy[4] = {};
    uint16_t* dy2[4] = {};
    for (int p = 0; p < s.parts; ++p) dy[p] = upload(fill);
    for (int p = 0; p < s.parts; ++p) dy2[p] = upload(fill);
    ASSERT_TRUE(kernels::gemm_rope_supported(dx, dw, dy, s.parts, s.rows, s.P, s.K, s.rope_parts, s.hd, dcs));
    // Alone and in clusters of two CTAs (the B tile multicast): the same bits.
    const bool was = kernels::gemm_wgmma_clusters(false);
    ASSERT_TRUE(
        kernels::gemm_rope(dx, dw, dy, s.parts, s.rows, s.P, s.K, s.rope_parts, s.hd, dcs, k_scale, stream_).ok());
    kernels::gemm_wgmma_clusters(true);
    ASSERT_TRUE(
        kernels::gemm_rope(dx, dw, dy2, s.parts, s.rows, s.P, s.K, s.rope_parts, s.hd, dcs, k_scale, stream_).ok());
    kernels::gemm_wgmma_clusters(was);
    for (int p = 0; p < s.parts; ++p)
      EXPECT_EQ(download(dy2[p], fill.size()), download(dy[p], fill.size())) << "clusters of two, part " << p;
    const auto xf = widen(x), wf = widen(w);
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " P " + std::to_string(s.P) + " K " + std::to_string(s.K) +
                 " parts " + std::to_string(s.parts) + " hd " + std::to_string(s.hd));
    for (int p = 0; p < s.parts; ++p) {
      std::vector<float> ref(static_cast<size_t>(s.rows * s.P));
      for (int64_t r = 0; r < s.rows; ++r)
        for (int64_t n = 0; n < s.P; ++n) {
          double acc = 0.0;
          const float* xr = xf.data() + r * s.K;
          const float* wr = wf.data() + (p * s.P + n) * s.K;
          for (int64_t i = 0; i < s.K; ++i) acc += static_cast<double>(xr[i]) * wr[i];
          ref[static_cast<size_t>(r * s.P + n)] = bf16_to_f32(f32_to_bf16(static_cast<float>(acc)));
        }
      if (p < s.rope_parts) {
        cpu::rope(ref.data(), s.rows, s.P / s.hd, s.hd, s.pos0, inv.data());
        if (p == 1)
          for (float& v : ref) v = bf16_to_f32(f32_to_bf16(v)) * k_scale;
      }
      const auto got = download(dy[p], fill.size());
      const std::vector<uint16_t> body(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(ref.size()));
      expect_close(body, ref, p == 0 ? "gemm_rope q" : p == 1 ? "gemm_rope k" : "gemm_rope v/g");
      EXPECT_TRUE(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(ref.size()), got.end(),
                              [](uint16_t v) { return v == 0x7fc1; }))
          << "part " << p << ": rows past the end were written";
    }
  }
  // Refusals: P not a multiple of 256, K not a multiple of 8, head_dim not a power of two, too many
  // parts or rotated parts, misaligned pointers, no table.
  auto* d = upload(std::vector<uint16_t>(8192));
  auto* f = upload(std::vector<float>(1024));
  uint16_t* y[4] = {d, d, d, d};
  EXPECT_TRUE(kernels::gemm_rope_supported(d, d, y, 4, 4, 256, 64, 2, 128, f));
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 4, 4, 128, 64, 2, 128, f));
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 4, 4, 256, 60, 2, 128, f));
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 4, 4, 256, 64, 2, 96, f));
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 5, 4, 256, 64, 2, 128, f));
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 4, 4, 256, 64, 3, 128, f));
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 4, 4, 256, 64, 2, 128, nullptr));
  EXPECT_FALSE(kernels::gemm_rope_supported(d + 1, d, y, 4, 4, 256, 64, 2, 128, f));
  uint16_t* y_odd[4] = {d, d + 1, d, d};
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y_odd, 4, 4, 256, 64, 2, 128, f));
  kernels::gemm_rope_enable(false);
  EXPECT_FALSE(kernels::gemm_rope_supported(d, d, y, 4, 4, 256, 64, 2, 128, f)) << "switched off";
  kernels::gemm_rope_enable(true);
  EXPECT_FALSE(kernels::gemm_rope(d, d, y, 4, 4, 128, 64, 2, 128, f, 1.0f, stream_).ok());
}

// gemm_rope == the products into bf16 buffers, then rope_qk, bit for bit, where the products are
// exact whatever the order of their sums (small integers): the epilogue's rotation, rounding and
// k scale are rope_qk's, from the same cos/sin bits.
TEST_F(Kernels, GemmRopeEqualsProductsThenRopeQk) {
  if (!kernels::gemm_wgmma_enabled()) GTEST_SKIP() << "no sm_90a GEMM on this GPU / build";
  const gemm_rope_on on;
  const int64_t rows = 333, P = 512, K = 128, hd = 128, H = P / hd, N = 4 * P;
  std::mt19937 rng(52);
  std::vector<uint16_t> x(static_cast<size_t>(rows * K)), w(static_cast<size_t>(N * K));
  for (auto& v : x) v = f32_to_bf16(static_cast<float>(static_cast<int>(rng() % 3) - 1));
  for (auto& v : w) v = f32_to_bf16(static_cast<float>(static_cast<int>(rng() % 3) - 1));
  std::vector<uint16_t> prod(static_cast<size_t>(rows * N));  // |sums| <= 128: exact in bf16
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      int acc = 0;
      for (int64_t i = 0; i < K; ++i)
        acc += static_cast<int>(bf16_to_f32(x[static_cast<size_t>(r * K + i)])) *
               static_cast<int>(bf16_to_f32(w[static_cast<size_t>(n * K + i)]));
      prod[static_cast<size_t>(r * N + n)] = f32_to_bf16(static_cast<float>(acc));
    }
  const auto inv = cpu::rope_inv_freq(hd, 10000.0);
  auto* dinv = upload(inv);
  for (const int64_t pos0 : {int64_t{0}, int64_t{999000}}) {
    const float k_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    auto* dcs = upload(std::vector<float>(static_cast<size_t>(rows * hd)));
    ASSERT_TRUE(kernels::rope_cos_sin(dcs, rows, hd, pos0, dinv, stream_).ok());
    uint16_t* dy[4];
    for (auto& p : dy) p = upload(std::vector<uint16_t>(static_cast<size_t>(rows * P)));
    ASSERT_TRUE(kernels::gemm_rope(upload(x), upload(w), dy, 4, rows, P, K, 2, hd, dcs, k_scale, stream_).ok());
    // The unfused path: each part's exact products as a bf16 buffer, then rope_qk on q and k.
    std::vector<std::vector<uint16_t>> part(4, std::vector<uint16_t>(static_cast<size_t>(rows * P)));
    for (int p = 0; p < 4; ++p)
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(prod.begin() + r * N + p * P, P, part[static_cast<size_t>(p)].begin() + r * P);
    auto* dq = upload(part[0]);
    auto* dk = upload(part[1]);
    ASSERT_TRUE(kernels::rope_qk(dq, dk, rows, H, hd, pos0, dinv, k_scale, stream_).ok());
    EXPECT_EQ(download(dy[0], part[0].size()), download(dq, part[0].size())) << "q, pos0 " << pos0;
    EXPECT_EQ(download(dy[1], part[1].size()), download(dk, part[1].size())) << "k, pos0 " << pos0;
    EXPECT_EQ(download(dy[2], part[2].size()), part[2]) << "v, pos0 " << pos0;
    EXPECT_EQ(download(dy[3], part[3].size()), part[3]) << "g, pos0 " << pos0;
  }
}

TEST_F(Kernels, EmbeddingMatchesCpuTwin) {
  // 96 and 4104 (a row longer than one pass of the 16-byte kernel) take the vector kernel, 90 the
  // scalar one; the vector kernel's bits equal the scalar kernel's (y one element off alignment).
  for (const int64_t dim : {int64_t{96}, int64_t{90}, int64_t{4104}}) {
    const int64_t vocab = 300, n = 50;
    auto table = random_bf16(static_cast<size_t>(vocab * dim), 6);
    std::vector<int32_t> toks(n);
    std::mt19937 rng(7);
    for (auto& t : toks) t = static_cast<int32_t>(rng() % vocab);
    auto* dt = upload(toks);
    auto* dtab = upload(table);
    auto* dy = upload(std::vector<uint16_t>(static_cast<size_t>(n * dim + 1)));
    const float scale = std::sqrt(static_cast<float>(dim));
    ASSERT_TRUE(kernels::embedding(dt, n, dtab, vocab, dim, scale, dy, stream_).ok());
    std::vector<float> ref(static_cast<size_t>(n * dim));
    cpu::embedding(toks.data(), n, widen(table).data(), dim, scale, ref.data());
    const auto got = download(dy, ref.size());
    expect_close(got, ref, "embedding");
    ASSERT_TRUE(kernels::embedding(dt, n, dtab, vocab, dim, scale, dy + 1, stream_).ok());
    const auto scalar = download(dy, ref.size() + 1);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), scalar.begin() + 1)) << "dim " << dim;
    // A token outside the vocabulary gives a zero row, not a read outside the table.
    const std::vector<int32_t> bad{-1, static_cast<int32_t>(vocab), toks[0]};
    ASSERT_TRUE(kernels::embedding(upload(bad), 3, dtab, vocab, dim, scale, dy, stream_).ok());
    const auto rows = download(dy, static_cast<size_t>(3 * dim));
    EXPECT_TRUE(std::all_of(rows.begin(), rows.begin() + 2 * dim, [](uint16_t b) { return b == 0; })) << dim;
    EXPECT_TRUE(std::equal(rows.begin() + 2 * dim, rows.end(), got.begin())) << dim;
  }
}

// Gated retention (recurrent kernel) vs the CPU chunkwise twin, state carried across two calls.
TEST_F(Kernels, GatedRetentionMatchesCpuTwin) {
  for (auto [T, H, hd] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 16}, {37, 3, 64}, {130, 2, 128}, {5, 4, 24}}) {
    const size_t n = static_cast<size_t>(T * H * hd);
    auto q = random_bf16(n, 11), k = random_bf16(n, 12, 0.25f), v = random_bf16(n, 13);
    std::vector<float> lg(static_cast<size_t>(T * H));
    std::mt19937 rng(14);
    std::normal_distribution<float> d(0.0f, 3.0f);
    for (auto& x : lg) x = d(rng);
    cpu::retention_log_gamma(lg.data(), T * H, 16.0f);
    std::vector<float> state(static_cast<size_t>(H * hd * hd), 0.0f);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dv = upload(v);
    auto* dlg = upload(lg);
    auto* dst = upload(state);
    auto* dout = upload(std::vector<uint16_t>(n));
    const int64_t T1 = T / 2, row = H * hd;
    ASSERT_TRUE(kernels::gated_retention(dq, dk, dv, dlg, dst, dout, T1, H, hd, stream_).ok());
    ASSERT_TRUE(kernels::gated_retention(dq + T1 * row, dk + T1 * row, dv + T1 * row, dlg + T1 * H, dst,
                                         dout + T1 * row, T - T1, H, hd, stream_).ok());
    std::vector<float> ref(n), cpu_state = state;
    cpu::gated_retention(widen(q).data(), widen(k).data(), widen(v).data(), lg.data(), cpu_state.data(), ref.data(), T,
                         H, hd, 64);
    expect_close(download(dout, n), ref, "gated_retention");
    auto gs = download(dst, state.size());
    for (size_t i = 0; i < gs.size(); ++i) ASSERT_NEAR(gs[i], cpu_state[i], 1e-3f + 1e-3f * std::abs(cpu_state[i])) << i;
  }
}

// The chunkwise kernel (prefill, bf16 tensor cores) vs the f32 CPU twin, carrying a random
// nonzero state into the first call and across a second call (split at T/3, so a call's rows are
// rarely a multiple of the 64-row chunk). Shapes cover: ragged tails, T < 64 (the recurrent
// fallback), one segment and many (the segment scan), hd 24 (padded to 32), 16, 32, 64, 128, and
// 32K rows at the YOCO-3B head dim.
// Bounds. Outputs: |gpu - cpu| <= 1e-2 |cpu| + 1e-2 + 2e-2 rms(cpu). The kernel rounds the state's
// copy for q·S and the intra-chunk scores to bf16 (as the reference's chunk kernels do), each term
// off by <= 2^-9 relative, so a sum of many terms is off by ~0.1-0.2% of the output's scale (not
// of the element, which may cancel to ~0); over 10^7 elements the worst is ~5 sigma, ~1% of the
// rms. A wrong decay, mask or state gives errors of the order of the rms itself. The state (f32,
// decayed keys as bf16 hi + lo): 1e-3 + 1e-3 |s|. Worst error / bound printed, and the
// whole-model metric max|err| / (1 + max|cpu|) (test_cuda_backend accepts 0.05 on logits).
TEST_F(Kernels, ChunkedGatedRetentionMatchesCpuTwin) {
  for (auto [T, H, hd] : {std::tuple<int64_t, int64_t, int64_t>{64, 1, 16}, {65, 3, 64}, {40, 2, 64}, {1000, 2, 128},
                          {8192 + 130, 2, 32}, {200, 6, 64}, {3000, 4, 24}, {4096 + 17, 24, 128}, {32768, 2, 128}}) {
    const size_t n = static_cast<size_t>(T * H * hd);
    auto q = random_bf16(n, 61), k = random_bf16(n, 62, 0.25f), v = random_bf16(n, 63);
    std::vector<float> lg(static_cast<size_t>(T * H));
    std::mt19937 rng(64);
    std::normal_distribution<float> d(0.0f, 3.0f), s0(0.0f, 0.5f);
    for (auto& x : lg) x = d(rng);
    cpu::retention_log_gamma(lg.data(), T * H, 16.0f);
    std::vector<float> state(static_cast<size_t>(H * hd * hd));
    for (auto& x : state) x = s0(rng);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dv = upload(v);
    auto* dlg = upload(lg);
    auto* dst = upload(state);
    auto* dout = upload(std::vector<uint16_t>(n));
    auto* ws = upload(std::vector<float>(static_cast<size_t>(kernels::gated_retention_chunked_workspace_floats(T, H, hd))));
    const int64_t T1 = T / 3, row = H * hd;
    ASSERT_TRUE(kernels::gated_retention_chunked(dq, dk, dv, dlg, dst, dout, T1, H, hd, ws, stream_).ok());
    ASSERT_TRUE(kernels::gated_retention_chunked(dq + T1 * row, dk + T1 * row, dv + T1 * row, dlg + T1 * H, dst,
                                                 dout + T1 * row, T - T1, H, hd, ws, stream_).ok());
    std::vector<float> ref(n), cpu_state = state;
    const auto wq = widen(q), wk = widen(k), wv = widen(v);
    cpu::gated_retention(wq.data(), wk.data(), wv.data(), lg.data(), cpu_state.data(), ref.data(), T1, H, hd, 64);
    cpu::gated_retention(wq.data() + T1 * row, wk.data() + T1 * row, wv.data() + T1 * row, lg.data() + T1 * H,
                         cpu_state.data(), ref.data() + T1 * row, T - T1, H, hd, 64);
    const auto got = download(dout, n);
    double ss = 0, max_ref = 0, max_err = 0;
    for (float x : ref) ss += static_cast<double>(x) * x, max_ref = std::max(max_ref, static_cast<double>(std::abs(x)));
    const double rms = std::sqrt(ss / static_cast<double>(n));
    double worst_o = 0, worst_s = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; ++i) {
      const double err = std::abs(bf16_to_f32(got[i]) - ref[i]);
      const double ratio = err / (1e-2 * std::abs(ref[i]) + 1e-2 + 2e-2 * rms);
      max_err = std::max(max_err, err);
      if (ratio > worst_o) worst_o = ratio, worst_i = i;
    }
    auto gs = download(dst, state.size());
    for (size_t i = 0; i < gs.size(); ++i)
      worst_s = std::max(worst_s, std::abs(gs[i] - cpu_state[i]) / (1e-3 * std::abs(cpu_state[i]) + 1e-3));
    std::printf("[ retention T %lld H %lld hd %lld ] worst error / bound: output %.3f, state %.3f; output rms %.2f, "
                "max|err| / (1 + max|cpu|) = %.5f\n",
                static_cast<long long>(T), static_cast<long long>(H), static_cast<long long>(hd), worst_o, worst_s, rms,
                max_err / (1.0 + max_ref));
    EXPECT_LE(worst_o, 1.0) << "gated_retention_chunked output element " << worst_i;
    for (size_t i = 0; i < gs.size(); ++i) ASSERT_NEAR(gs[i], cpu_state[i], 1e-3f + 1e-3f * std::abs(cpu_state[i])) << i;
  }
}

TEST_F(Kernels, RetentionGateAndOutputMatchCpuTwins) {
  const int64_t rows = 9, H = 3, hd = 32;
  auto gt = random_bf16(static_cast<size_t>(rows * H), 21, 4.0f);
  auto* dgt = upload(gt);
  auto* dlg = upload(std::vector<float>(gt.size()));
  ASSERT_TRUE(kernels::retention_log_gamma(dgt, dlg, rows * H, 16.0f, stream_).ok());
  auto ref = widen(gt);
  cpu::retention_log_gamma(ref.data(), rows * H, 16.0f);
  auto got = download(dlg, gt.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5f + 1e-4f * std::abs(ref[i]));
  // The output stage: 16-byte forms (hd / 8 lanes a head: 1..32) and the scalar one (hd 24, 36).
  for (auto [r, h, d] : {std::tuple<int64_t, int64_t, int64_t>{rows, H, hd}, {7, 24, 128}, {5, 2, 256}, {4, 3, 24},
                         {3, 2, 8}, {11, 5, 64}, {2, 3, 36}, {1, 24, 128}}) {
    const int64_t m = r * h * d;
    auto o = random_bf16(static_cast<size_t>(m), 22), g = random_bf16(static_cast<size_t>(m), 23);
    auto* dout = upload(o);
    auto* dg = upload(g);
    ASSERT_TRUE(kernels::retention_output(dout, dg, r, h, d, 1e-5f, stream_).ok());
    auto oref = widen(o);
    cpu::retention_output(oref.data(), widen(g).data(), r, h, d, 1e-5f);
    expect_close(download(dout, static_cast<size_t>(m)), oref, "retention_output");
  }
}

TEST_F(Kernels, SlidingWindowAttnMatchesCpuTwinWithRing) {
  for (auto [rows, ring, W, H, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{1, 7, 8, 2, 16},
                                      {40, 7, 8, 3, 32}, {300, 0, 64, 2, 64}, {17, 100, 128, 1, 128}, {5, 3, 1, 2, 16}}) {
    const int64_t D = H * hd;
    auto q = random_bf16(static_cast<size_t>(rows * D), 31);
    auto cat_k = random_bf16(static_cast<size_t>((ring + rows) * D), 32);
    auto cat_v = random_bf16(static_cast<size_t>((ring + rows) * D), 33);
    const int64_t r = std::min(ring, W - 1);  // rows of the ring the window can reach
    auto* dq = upload(q);
    auto* dk = upload(cat_k);
    auto* dv = upload(cat_v);
    auto* dout = upload(std::vector<uint16_t>(q.size()));
    ASSERT_TRUE(kernels::sliding_window_attn(dq, dk, dv, ring, dout, rows, H, hd, W, stream_).ok());
    auto k = widen(cat_k), v = widen(cat_v);
    std::vector<float> ref(q.size());
    cpu::sliding_window_attn(widen(q).data(), k.data() + ring * D, v.data() + ring * D, k.data() + (ring - r) * D,
                             v.data() + (ring - r) * D, r, ref.data(), rows, H, hd, W);
    expect_close(download(dout, q.size()), ref, "sliding_window_attn");
  }
}

TEST_F(Kernels, AttentionMassMatchesCpuTwin) {
  for (auto [n, hq, hkv, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 1, 16}, {300, 4, 2, 64},
                                {70000, 8, 2, 64}, {5000, 24, 8, 128}}) {
    auto q = random_bf16(static_cast<size_t>(hq * hd), 51);
    auto k = random_bf16(static_cast<size_t>(n * hkv * hd), 52);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dm = upload(std::vector<float>(static_cast<size_t>(n)));
    auto* ws = upload(std::vector<float>(static_cast<size_t>(kernels::attention_mass_workspace_floats(n, hq))));
    ASSERT_TRUE(kernels::attention_mass(dq, dk, n, hq, hkv, hd, dm, ws, stream_).ok());
    std::vector<float> ref(static_cast<size_t>(n));
    cpu::attention_mass(widen(q).data(), widen(k).data(), n, hq, hkv, hd, ref.data());
    const auto got = download(dm, static_cast<size_t>(n));
    double total = 0;
    for (size_t j = 0; j < ref.size(); ++j) {
      ASSERT_LE(std::abs(got[j] - ref[j]), 1e-3f * ref[j] + 1e-7f) << "attention_mass key " << j << " of " << n;
      total += got[j];
    }
    EXPECT_NEAR(total, 1.0, 1e-3) << n;
  }
}

// The pointer's form: weighted heads (some 0), then a second call accumulating another layer's
// weights, against the CPU twin (bf16 keys; the fp8 keys take the same kernel).
TEST_F(Kernels, AttentionMassWeightedHeadsMatchCpuTwin) {
  for (auto [n, hq, hkv, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 2, 1, 16}, {4097, 6, 2, 64},
                                {70000, 8, 2, 64}}) {
    auto q = random_bf16(static_cast<size_t>(hq * hd), 61);
    auto q2 = random_bf16(static_cast<size_t>(hq * hd), 62);
    auto k = random_bf16(static_cast<size_t>(n * hkv * hd), 63);
    std::vector<float> w(static_cast<size_t>(hq), 0.0f), w2(w);
    w[1] = 0.5f;
    w2[0] = 0.25f;
    w2[static_cast<size_t>(hq - 1)] = 0.25f;
    auto* dq = upload(q);
    auto* dq2 = upload(q2);
    auto* dk = upload(k);
    auto* dw = upload(w);
    auto* dw2 = upload(w2);
    auto* dm = upload(std::vector<float>(static_cast<size_t>(n), 7.0f));
    auto* ws = upload(std::vector<float>(static_cast<size_t>(kernels::attention_mass_workspace_floats(n, hq))));
    ASSERT_TRUE(kernels::attention_mass(dq, dk, n, hq, hkv, hd, dm, ws, stream_, dw).ok());
    ASSERT_TRUE(kernels::attention_mass(dq2, dk, n, hq, hkv, hd, dm, ws, stream_, dw2, true).ok());
    std::vector<float> ref(static_cast<size_t>(n), 7.0f);
    cpu::attention_mass(widen(q).data(), widen(k).data(), n, hq, hkv, hd, ref.data(), w.data());
    cpu::attention_mass(widen(q2).data(), widen(k).data(), n, hq, hkv, hd, ref.data(), w2.data(), true);
    const auto got = download(dm, static_cast<size_t>(n));
    double total = 0;
    for (size_t j = 0; j < ref.size(); ++j) {
      ASSERT_LE(std::abs(got[j] - ref[j]), 1e-3f * ref[j] + 1e-7f) << "weighted attention_mass key " << j << " of " << n;
      total += got[j];
    }
    EXPECT_NEAR(total, 1.0, 1e-3) << n;
  }
}

TEST_F(Kernels, CrossAttnMatchesCpuTwinWithSplits) {
  for (auto [rows, pos0, hq, hkv, hd, splits] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int>{1, 0, 4, 2, 16, 1}, {1, 5000, 6, 2, 64, 8},
        {7, 300, 8, 2, 128, 1}, {3, 20000, 4, 4, 32, 16}, {33, 10, 6, 3, 64, 2}, {1, 70, 24, 8, 128, 64}}) {
    const int64_t n = pos0 + rows;
    auto q = random_bf16(static_cast<size_t>(rows * hq * hd), 41);
    auto k = random_bf16(static_cast<size_t>(n * hkv * hd), 42), v = random_bf16(static_cast<size_t>(n * hkv * hd), 43);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dv = upload(v);
    auto* dout = upload(std::vector<uint16_t>(q.size()));
    auto* ws = upload(std::vector<float>(static_cast<size_t>(
        std::max<int64_t>(1, kernels::cross_attn_workspace_floats(rows, hq, hd, splits)))));
    ASSERT_TRUE(kernels::cross_attn(dq, dk, dv, dout, rows, pos0, hq, hkv, hd, splits, ws, stream_).ok());
    std::vector<float> ref(q.size());
    cpu::cross_attn(widen(q).data(), widen(k).data(), widen(v).data(), ref.data(), rows, pos0, hq, hkv, hd);
    expect_close(download(dout, q.size()), ref, "cross_attn");
  }
}

// The tensor-core attention kernels (kernels/attention/attention.cu) through the generic entry
// point: GQA groups 1/3/4, head dims 64/128 (16/32 too, 80 on the generic fallback), ragged row
// and key tails, rows*group at and just over the decode kernel's 16, the split count the launcher
// picks and forced ones, decode over up to 200K keys. Bound: the kernels round the softmax weights
// to bf16 before the PV product (as FlashAttention-2 does; relative 2^-9 per weight, averaging out
// over keys) and store bf16, so the default bound (2-3 bf16 ulps + 1e-2) holds.
TEST_F(Kernels, AttentionGqaMatchesCrossAttnTwin) {
  struct shape_t {
    int64_t rows, off, hq, hkv, hd;
    int splits;  // 0: attention_splits()
  };
  for (const shape_t& s : std::initializer_list<shape_t>{
           {1, 199999, 24, 8, 128, 0}, {1, 70000, 12, 4, 64, 0}, {1, 0, 3, 1, 128, 0}, {1, 63, 4, 1, 64, 0},
           {4, 5000, 16, 4, 128, 0}, {5, 3000, 12, 4, 64, 0}, {6, 1000, 9, 3, 128, 0}, {64, 32704, 24, 8, 128, 0},
           {300, 1000, 12, 3, 128, 0}, {257, 0, 6, 6, 64, 0}, {130, 50, 3, 1, 64, 0}, {200, 5, 8, 2, 128, 7},
           {2, 4000, 6, 3, 128, 1}, {1, 5000, 8, 8, 32, 3}, {70, 20, 4, 2, 16, 0}, {9, 100, 4, 2, 80, 0},
           {1, 3000, 4, 2, 80, 5}}) {
    const int64_t n = s.off + s.rows, kvd = s.hkv * s.hd;
    auto q = random_bf16(static_cast<size_t>(s.rows * s.hq * s.hd), 61);
    auto k = random_bf16(static_cast<size_t>(n * kvd), 62), v = random_bf16(static_cast<size_t>(n * kvd), 63);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dv = upload(v);
    auto* dout = upload(std::vector<uint16_t>(q.size()));
    const int splits = s.splits ? s.splits : kernels::attention_splits(s.rows, s.off, s.hq, s.hkv, s.hd, 0);
    ASSERT_EQ(splits, s.splits ? s.splits : kernels::cross_attn_splits(s.rows, s.off, s.hq, s.hkv, s.hd));
    auto* ws = upload(std::vector<float>(static_cast<size_t>(
        std::max<int64_t>(1, kernels::cross_attn_workspace_floats(s.rows, s.hq, s.hd, splits)))));
    ASSERT_TRUE(kernels::attention(dq, dk, dv, dout, s.rows, s.off, s.hq, s.hkv, s.hd, 0, splits, ws, stream_).ok());
    std::vector<float> ref(q.size());
    cpu::cross_attn(widen(q).data(), widen(k).data(), widen(v).data(), ref.data(), s.rows, s.off, s.hq, s.hkv, s.hd);
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " off " + std::to_string(s.off) + " hq " + std::to_string(s.hq) +
                 " hkv " + std::to_string(s.hkv) + " hd " + std::to_string(s.hd) + " splits " + std::to_string(splits));
    expect_close(download(dout, q.size()), ref, "attention");
  }
}

// Sliding windows through attention(): windows larger than the keys, ring rows (first_key_offset
// > 0), window edges inside and across 64-key tiles, decode steps with splits. Twin:
// cpu::sliding_window_attn (no GQA, so group 1).
TEST_F(Kernels, AttentionWindowMatchesSlidingWindowTwin) {
  for (auto [rows, ring, W, H, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{1, 1023, 1024, 24, 128},
                                      {1, 5, 1024, 2, 64}, {1, 1023, 1024, 6, 64}, {200, 1023, 1024, 3, 128},
                                      {77, 100, 50, 2, 128}, {129, 7, 8, 3, 32}, {300, 0, 64, 2, 64},
                                      {1000, 0, 1024, 1, 64}, {65, 30, 1000, 2, 128}, {3, 2, 1, 2, 16}}) {
    const int64_t D = H * hd;
    auto q = random_bf16(static_cast<size_t>(rows * D), 71);
    auto cat_k = random_bf16(static_cast<size_t>((ring + rows) * D), 72);
    auto cat_v = random_bf16(static_cast<size_t>((ring + rows) * D), 73);
    const int64_t r = std::min(ring, W - 1);  // rows of the ring the window can reach
    auto* dq = upload(q);
    auto* dk = upload(cat_k);
    auto* dv = upload(cat_v);
    auto* dout = upload(std::vector<uint16_t>(q.size()));
    auto* dout1 = upload(std::vector<uint16_t>(q.size()));
    const int splits = kernels::attention_splits(rows, ring, H, H, hd, W);
    auto* ws = upload(std::vector<float>(static_cast<size_t>(
        std::max<int64_t>(1, kernels::cross_attn_workspace_floats(rows, H, hd, splits)))));
    ASSERT_TRUE(kernels::attention(dq, dk, dv, dout, rows, ring, H, H, hd, W, splits, ws, stream_).ok());
    ASSERT_TRUE(kernels::sliding_window_attn(dq, dk, dv, ring, dout1, rows, H, hd, W, stream_).ok());
    auto k = widen(cat_k), v = widen(cat_v);
    std::vector<float> ref(q.size());
    cpu::sliding_window_attn(widen(q).data(), k.data() + ring * D, v.data() + ring * D, k.data() + (ring - r) * D,
                             v.data() + (ring - r) * D, r, ref.data(), rows, H, hd, W);
    SCOPED_TRACE("rows " + std::to_string(rows) + " ring " + std::to_string(ring) + " W " + std::to_string(W) +
                 " H " + std::to_string(H) + " hd " + std::to_string(hd) + " splits " + std::to_string(splits));
    expect_close(download(dout, q.size()), ref, "attention (window)");
    expect_close(download(dout1, q.size()), ref, "sliding_window_attn");
  }
}

// The Hopper attention kernel (kernels/attention/attention_wgmma.cu) and the mma.sync tile kernel
// on the same inputs, each against the CPU twin: causal GQA with groups 1, 3, 4, 8 (128 tile rows
// per CTA: 128 / group query rows, so 126 of 128 rows used with group 3), ragged row tails and key
// tails inside 128-key tiles, keys before the rows, one tile and many, forced splits (the f32
// partials and the combine), sliding windows across tile edges (group 1: the window twin).
// Skips where the sm_90a kernel is not available (no Hopper GPU, or a build without sm_90a code).
TEST_F(Kernels, AttentionWgmmaMatchesTwinAndTileKernel) {
  if (!kernels::attention_wgmma_available()) GTEST_SKIP() << "no sm_90a attention kernel on this GPU / build";
  struct restore_t {  // the kernel choice as it was, also when an assertion returns early
    bool was = kernels::attention_wgmma_enabled();
    ~restore_t() { kernels::attention_use_wgmma(was); }
  } restore;
  struct shape_t {
    int64_t rows, off, hq, hkv, window;
    int splits;  // 0: attention_splits()
  };
  constexpr int64_t hd = 128;
  for (const shape_t& s : std::initializer_list<shape_t>{
           {17, 0, 3, 1, 0, 0}, {300, 1000, 24, 8, 0, 0}, {1000, 0, 8, 8, 0, 0}, {513, 77, 32, 4, 0, 0},
           {700, 300, 16, 2, 0, 3}, {129, 5000, 24, 8, 0, 5}, {1024, 0, 24, 8, 0, 0}, {6, 200, 24, 8, 0, 0},
           {257, 1023, 6, 6, 1024, 0}, {333, 50, 4, 4, 100, 0}, {900, 0, 2, 2, 129, 2}}) {
    const int64_t n = s.off + s.rows, kvd = s.hkv * hd;
    auto q = random_bf16(static_cast<size_t>(s.rows * s.hq * hd), 81);
    auto k = random_bf16(static_cast<size_t>(n * kvd), 82), v = random_bf16(static_cast<size_t>(n * kvd), 83);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dv = upload(v);
    const int splits = s.splits ? s.splits : kernels::attention_splits(s.rows, s.off, s.hq, s.hkv, hd, s.window);
    auto* ws = upload(std::vector<float>(static_cast<size_t>(
        std::max<int64_t>(1, kernels::cross_attn_workspace_floats(s.rows, s.hq, hd, splits)))));
    std::vector<float> ref(q.size());
    if (s.window == 0) {
      cpu::cross_attn(widen(q).data(), widen(k).data(), widen(v).data(), ref.data(), s.rows, s.off, s.hq, s.hkv, hd);
    } else {
      ASSERT_EQ(s.hq, s.hkv);
      const int64_t r = std::min(s.off, s.window - 1), D = s.hq * hd;
      auto kf = widen(k), vf = widen(v);
      cpu::sliding_window_attn(widen(q).data(), kf.data() + s.off * D, vf.data() + s.off * D,
                               kf.data() + (s.off - r) * D, vf.data() + (s.off - r) * D, r, ref.data(), s.rows, s.hq,
                               hd, s.window);
    }
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " off " + std::to_string(s.off) + " hq " + std::to_string(s.hq) +
                 " hkv " + std::to_string(s.hkv) + " window " + std::to_string(s.window) + " splits " +
                 std::to_string(splits));
    for (bool wgmma : {true, false}) {
      kernels::attention_use_wgmma(wgmma);
      ASSERT_EQ(kernels::attention_wgmma_enabled(), wgmma);
      auto* dout = upload(std::vector<uint16_t>(q.size()));
      const kernels::status st =
          kernels::attention(dq, dk, dv, dout, s.rows, s.off, s.hq, s.hkv, hd, s.window, splits, ws, stream_);
      ASSERT_TRUE(st.ok()) << st.message;
      expect_close(download(dout, q.size()), ref, wgmma ? "attention (sm_90a kernel)" : "attention (tile kernel)");
    }
  }
}

// The CUDA-graph decode variant: one fixed launch shape (attn_decode_max_splits) reused while the
// key count in device memory changes, as a captured graph would be replayed.
TEST_F(Kernels, AttnDecodeFixedGridReadsKeyCountFromDevice) {
  for (auto [rows, hq, hkv, hd, window] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{1, 24, 8, 128, 0},
                                           {2, 12, 4, 64, 0}, {1, 6, 6, 64, 100}}) {
    const int64_t n_max = 100000, kvd = hkv * hd;
    auto k = random_bf16(static_cast<size_t>(n_max * kvd), 82), v = random_bf16(static_cast<size_t>(n_max * kvd), 83);
    auto* dk = upload(k);
    auto* dv = upload(v);
    const auto kf = widen(k), vf = widen(v);
    const int max_splits = kernels::attn_decode_max_splits(hkv, hd);
    auto* ws = upload(std::vector<float>(static_cast<size_t>(kernels::cross_attn_workspace_floats(rows, hq, hd, max_splits))));
    auto* dn = upload(std::vector<int64_t>(1));
    for (int64_t n : {rows, int64_t{63}, int64_t{64}, int64_t{65}, int64_t{1000}, int64_t{4099}, n_max}) {
      auto q = random_bf16(static_cast<size_t>(rows * hq * hd), static_cast<uint32_t>(81 + n));
      auto* dq = upload(q);
      auto* dout = upload(std::vector<uint16_t>(q.size()));
      ASSERT_EQ(cudaMemcpyAsync(dn, &n, 8, cudaMemcpyHostToDevice, stream_), cudaSuccess);
      ASSERT_TRUE(kernels::attn_decode_fixed(dq, dk, dv, dout, rows, dn, hq, hkv, hd, window, max_splits, ws, stream_).ok());
      std::vector<float> ref(q.size());
      if (window == 0) {
        cpu::cross_attn(widen(q).data(), kf.data(), vf.data(), ref.data(), rows, n - rows, hq, hkv, hd);
      } else {
        const int64_t ring = n - rows, r = std::min(ring, window - 1);
        cpu::sliding_window_attn(widen(q).data(), kf.data() + ring * kvd, vf.data() + ring * kvd,
                                 kf.data() + (ring - r) * kvd, vf.data() + (ring - r) * kvd, r, ref.data(), rows, hq,
                                 hd, window);
      }
      SCOPED_TRACE("n " + std::to_string(n) + " rows " + std::to_string(rows) + " hq " + std::to_string(hq));
      expect_close(download(dout, q.size()), ref, "attn_decode_fixed");
      if (rows == 1 && window == 0) {  // the engine's graph entry point: position *pos = n - 1
        const int splits = 128;
        auto* ws2 = upload(std::vector<float>(static_cast<size_t>(kernels::cross_attn_decode_workspace_floats(hq, hd, splits))));
        auto* dpos = upload(std::vector<int64_t>{n - 1});
        auto* dout2 = upload(std::vector<uint16_t>(q.size()));
        ASSERT_TRUE(kernels::cross_attn_decode(dq, dk, dv, dout2, dpos, hq, hkv, hd, splits, ws2, stream_).ok());
        expect_close(download(dout2, q.size()), ref, "cross_attn_decode");
      }
    }
  }
  EXPECT_FALSE(kernels::attn_decode_fixed(nullptr, nullptr, nullptr, nullptr, 1, nullptr, 24, 8, 128, 0, 4, nullptr,
                                          stream_).ok());
}

// The decode GEMV (one warp per weight row) vs cpu::linear, 1..4 rows, K tails that are not a
// multiple of the 256-element stride of a warp's loads, bf16 and f32 outputs. Bound: f32
// accumulation in another order is off by ~K 2^-24 of the sum of |products| (1e-5 of it covers
// K <= 24576 with margin); the bf16 output adds half an ulp, 2^-9 relative (4e-3 covers it).
// Plus, bit for bit: a sub-block of W's rows gives the same bits as the whole (what the backend's
// concatenated q|k|v|g and w1|w3 weights rely on), and gemv_swiglu == swiglu() then gemv().
TEST_F(Kernels, GemvMatchesCpuTwin) {
  for (auto [rows, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 8}, {1, 37, 3072}, {2, 100, 264}, {3, 257, 1000},
                            {4, 64, 6144}, {1, 3072, 8192}, {1, 5, 24576}, {4, 9, 16}}) {
    auto w = random_bf16(static_cast<size_t>(n * k), 31, 0.05f), x = random_bf16(static_cast<size_t>(rows * k), 32);
    auto *dw = upload(w), *dx = upload(x);
    auto* dy = upload(std::vector<uint16_t>(static_cast<size_t>(rows * n)));
    auto* dyf = upload(std::vector<float>(static_cast<size_t>(rows * n)));
    ASSERT_TRUE(kernels::gemv_supported(dw, dx, rows, k));
    ASSERT_TRUE(kernels::gemv(dw, dx, dy, false, rows, n, k, stream_).ok());
    ASSERT_TRUE(kernels::gemv(dw, dx, dyf, true, rows, n, k, stream_).ok());
    const auto wf = widen(w), xf = widen(x);
    std::vector<float> ref(static_cast<size_t>(rows * n));
    cpu::linear(xf.data(), rows, wf.data(), n, k, ref.data());
    const auto got = download(dy, ref.size());
    const auto gotf = download(dyf, ref.size());
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t j = 0; j < n; ++j) {
        double abs_sum = 0;
        for (int64_t i = 0; i < k; ++i) abs_sum += std::abs(wf[static_cast<size_t>(j * k + i)] * xf[static_cast<size_t>(m * k + i)]);
        const size_t at = static_cast<size_t>(m * n + j);
        const double tol = 1e-5 * abs_sum + 1e-6;
        ASSERT_LE(std::abs(gotf[at] - ref[at]), tol) << rows << "x" << n << "x" << k << " f32 at " << at;
        ASSERT_LE(std::abs(bf16_to_f32(got[at]) - ref[at]), tol + 4e-3 * std::abs(ref[at]))
            << rows << "x" << n << "x" << k << " bf16 at " << at;
      }
    if (n > 8) {  // rows 3..n-2 of W alone: the same bits
      const int64_t r0 = 3, nn = n - 5;
      auto* dsub = upload(std::vector<uint16_t>(static_cast<size_t>(rows * nn)));
      ASSERT_TRUE(kernels::gemv(dw + r0 * k, dx, dsub, false, rows, nn, k, stream_).ok());
      const auto sub = download(dsub, static_cast<size_t>(rows * nn));
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t j = 0; j < nn; ++j)
          ASSERT_EQ(sub[static_cast<size_t>(m * nn + j)], got[static_cast<size_t>(m * n + r0 + j)]) << m << "," << j;
    }
    if (rows <= 3 && 2 * k * rows * 2 <= 96 * 1024) {  // SwiGLU prologue: a|b rows of 2k
      auto ab = random_bf16(static_cast<size_t>(rows * 2 * k), 33, 2.0f);
      auto* dab = upload(ab);
      auto* dsw = upload(std::vector<uint16_t>(static_cast<size_t>(rows * k)));
      auto *y1 = upload(std::vector<uint16_t>(static_cast<size_t>(rows * n))),
           *y2 = upload(std::vector<uint16_t>(static_cast<size_t>(rows * n)));
      for (int64_t m = 0; m < rows; ++m)
        ASSERT_TRUE(kernels::swiglu(dab + m * 2 * k, dab + m * 2 * k + k, dsw + m * k, k, stream_).ok());
      ASSERT_TRUE(kernels::gemv(dw, dsw, y1, false, rows, n, k, stream_).ok());
      ASSERT_TRUE(kernels::gemv_swiglu(dw, dab, dab + k, 2 * k, y2, false, rows, n, k, stream_).ok());
      EXPECT_EQ(download(y1, static_cast<size_t>(rows * n)), download(y2, static_cast<size_t>(rows * n)))
          << rows << "x" << n << "x" << k;
    }
  }
  // Refused, not launched: misaligned x, K not a multiple of 8, too many rows.
  auto* dw = upload(random_bf16(64 * 64, 34));
  auto* dx = upload(random_bf16(5 * 64, 35));
  auto* dy = upload(std::vector<uint16_t>(5 * 64));
  EXPECT_FALSE(kernels::gemv(dw, dx + 1, dy, false, 1, 64, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv(dw, dx, dy, false, 1, 64, 60, stream_).ok());
  EXPECT_FALSE(kernels::gemv(dw, dx, dy, false, 5, 64, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv_supported(dw, dx + 1, 1, 64));
}

// The norm as the GEMV's prologue (decode steps): gemv_norm(x, r) == add_rms_norm(x, r) then gemv,
// and gemv_norm(x) == rms_norm(x) then gemv, bit for bit (below 128 rows both norms are
// row_rms_norm), for 1..4 rows, one CTA and many (only the first writes x_out), bf16 and f32
// outputs; x_out receives x + r exactly as add_rms_norm leaves x, and x and r are not touched.
// The shapes take both forms of the norm's weight (gemv_common.cuh, prefetch_norm_w_fits): copied
// to shared memory before griddepcontrol.wait (1 x 3072, 1 x 8192, 4 x 2048, ...) and read from
// global memory where rows + 1 rows of K do not fit in 47 KiB (4 x 6000, 1 x 24000).
TEST_F(Kernels, GemvNormEqualsNormThenGemv) {
  for (auto [rows, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 37, 3072}, {2, 100, 272}, {3, 257, 1008},
                            {4, 64, 6000}, {1, 9, 8}, {1, 2056, 3072}, {4, 3001, 2048}, {1, 16, 24000},
                            {1, 300, 8192}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(n) + "x" + std::to_string(k));
    const size_t xs = static_cast<size_t>(rows * k), ys = static_cast<size_t>(rows * n);
    const auto x = random_bf16(xs, 61, 3.0f), r = random_bf16(xs, 62, 2.0f), nw = random_bf16(static_cast<size_t>(k), 63);
    auto *dw = upload(random_bf16(static_cast<size_t>(n * k), 64, 0.05f)), *dx = upload(x), *dr = upload(r),
         *dnw = upload(nw);
    for (const bool with_r : {true, false})
      for (const bool f32 : {false, true}) {
        auto *dxc = upload(x), *dxn = upload(std::vector<uint16_t>(xs)), *dxo = upload(std::vector<uint16_t>(xs));
        void* y1 = f32 ? static_cast<void*>(upload(std::vector<float>(ys))) : upload(std::vector<uint16_t>(ys));
        void* y2 = f32 ? static_cast<void*>(upload(std::vector<float>(ys))) : upload(std::vector<uint16_t>(ys));
        if (with_r) ASSERT_TRUE(kernels::add_rms_norm(dxc, dr, dnw, dxn, rows, k, 1e-5f, stream_).ok());
        else ASSERT_TRUE(kernels::rms_norm(dxc, dnw, dxn, rows, k, 1e-5f, stream_).ok());
        ASSERT_TRUE(kernels::gemv(dw, dxn, y1, f32, rows, n, k, stream_).ok());
        ASSERT_TRUE(kernels::gemv_norm(dw, dx, with_r ? dr : nullptr, dnw, 1e-5f, dxo, y2, f32, rows, n, k, stream_).ok());
        if (f32)
          EXPECT_EQ(download(static_cast<float*>(y1), ys), download(static_cast<float*>(y2), ys)) << with_r;
        else
          EXPECT_EQ(download(static_cast<uint16_t*>(y1), ys), download(static_cast<uint16_t*>(y2), ys)) << with_r;
        EXPECT_EQ(download(dxo, xs), download(dxc, xs)) << "x_out, r " << with_r;
        EXPECT_EQ(download(dx, xs), x);
        EXPECT_EQ(download(dr, xs), r);
      }
  }
  auto* dw = upload(random_bf16(64 * 64, 65));
  auto* dx = upload(random_bf16(2 * 64, 66));
  auto* dy = upload(std::vector<uint16_t>(64));
  EXPECT_FALSE(kernels::gemv_norm(dw, dx, dx + 1, dx, 1e-5f, nullptr, dy, false, 1, 64, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv_norm(dw, dx, nullptr, dx, 1e-5f, nullptr, dy, false, 5, 64, 64, stream_).ok());
  EXPECT_TRUE(kernels::gemv_supported(dw, dx, 1, 24576));  // the plain GEMV stages 48 KiB of x ...
  EXPECT_FALSE(kernels::gemv_norm_supported(dw, dx, 1, 24576, false));  // ... the norm's sums need room beside it
  EXPECT_TRUE(kernels::gemv_norm_supported(dw, dx, 1, 24000, false));
}

// The scaled form of the norm prologue (kernels::norm_form::scaled; TOME_NORM_EPILOGUE=1):
// y = inv * (W · bf16(v * w)), v = bf16(x + r) or x, inv = rsqrt(mean(v^2) + eps), against that
// formula in double on the host: f32 outputs within 1e-5 of inv * sum |W u| (the order of the f32
// sums), bf16 outputs one more rounding; x_out = v exactly; x and r untouched. The same shapes as
// the exact form (both forms of the norm's weight: prefetched and read from global memory); int8
// weights likewise, against the dequantised W. It is also within bf16 noise of the exact form.
TEST_F(Kernels, GemvNormScaledMatchesItsTwin) {
  for (auto [rows, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 37, 3072}, {2, 100, 272}, {3, 257, 1008},
                            {4, 64, 6000}, {1, 9, 16}, {1, 2056, 3072}, {4, 3001, 2048}, {1, 16, 24000},
                            {1, 300, 8192}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(n) + "x" + std::to_string(k));
    const size_t xs = static_cast<size_t>(rows * k), ys = static_cast<size_t>(rows * n);
    const auto x = random_bf16(xs, 91, 3.0f), r = random_bf16(xs, 92, 2.0f), nw = random_bf16(static_cast<size_t>(k), 93);
    const auto w = random_bf16(static_cast<size_t>(n * k), 94, 0.05f);
    // int8 W = scale[row] * q: q in [-127, 127], scales ~1/2000.
    std::vector<int8_t> q(static_cast<size_t>(n * k));
    std::vector<float> qs(static_cast<size_t>(n));
    std::mt19937 rng(95);
    for (auto& e : q) e = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    for (auto& e : qs) e = (0.5f + static_cast<float>(rng() % 1000) / 1000.0f) / 2000.0f;
    auto *dw = upload(w), *dx = upload(x), *dr = upload(r), *dnw = upload(nw);
    auto* dq = upload(q);
    auto* dqs = upload(qs);
    const auto wf = widen(w), xf = widen(x), rf = widen(r), nwf = widen(nw);
    for (const bool int8 : {false, true})
      for (const bool with_r : {true, false})
        for (const bool f32 : {false, true}) {
          SCOPED_TRACE(std::string(int8 ? "int8" : "bf16") + (with_r ? ", r" : "") + (f32 ? ", f32 out" : ", bf16 out"));
          auto* dxo = upload(std::vector<uint16_t>(xs));
          void* y = f32 ? static_cast<void*>(upload(std::vector<float>(ys))) : upload(std::vector<uint16_t>(ys));
          void* ye = f32 ? static_cast<void*>(upload(std::vector<float>(ys))) : upload(std::vector<uint16_t>(ys));
          const uint16_t* rr = with_r ? dr : nullptr;
          if (int8) {
            ASSERT_TRUE(kernels::gemv_i8_norm(dq, dqs, dx, rr, dnw, 1e-5f, dxo, y, f32, rows, n, k, stream_, nullptr,
                                              kernels::norm_form::scaled).ok());
            ASSERT_TRUE(kernels::gemv_i8_norm(dq, dqs, dx, rr, dnw, 1e-5f, nullptr, ye, f32, rows, n, k, stream_).ok());
          } else {
            ASSERT_TRUE(kernels::gemv_norm(dw, dx, rr, dnw, 1e-5f, dxo, y, f32, rows, n, k, stream_, nullptr,
                                           kernels::norm_form::scaled).ok());
            ASSERT_TRUE(kernels::gemv_norm(dw, dx, rr, dnw, 1e-5f, nullptr, ye, f32, rows, n, k, stream_).ok());
          }
          std::vector<float> got(ys), exact(ys);
          if (f32) {
            got = download(static_cast<float*>(y), ys);
            exact = download(static_cast<float*>(ye), ys);
          } else {
            const auto g16 = download(static_cast<uint16_t*>(y), ys), e16 = download(static_cast<uint16_t*>(ye), ys);
            for (size_t i = 0; i < ys; ++i) got[i] = bf16_to_f32(g16[i]), exact[i] = bf16_to_f32(e16[i]);
          }
          const auto xo = download(dxo, xs);
          for (int64_t m = 0; m < rows; ++m) {
            std::vector<float> v(static_cast<size_t>(k)), u(static_cast<size_t>(k));
            double ss = 0;
            for (int64_t i = 0; i < k; ++i) {
              const size_t at = static_cast<size_t>(m * k + i);
              v[static_cast<size_t>(i)] = with_r ? bf16_to_f32(f32_to_bf16(xf[at] + rf[at])) : xf[at];
              ASSERT_EQ(xo[at], f32_to_bf16(v[static_cast<size_t>(i)])) << "x_out at " << at;
              ss += static_cast<double>(v[static_cast<size_t>(i)]) * v[static_cast<size_t>(i)];
              u[static_cast<size_t>(i)] = bf16_to_f32(f32_to_bf16(v[static_cast<size_t>(i)] * nwf[static_cast<size_t>(i)]));
            }
            const double inv = 1.0 / std::sqrt(ss / static_cast<double>(k) + 1e-5);
            for (int64_t j = 0; j < n; ++j) {
              double sum = 0, abs_sum = 0;
              for (int64_t i = 0; i < k; ++i) {
                const double wj = int8 ? static_cast<double>(qs[static_cast<size_t>(j)]) * q[static_cast<size_t>(j * k + i)]
                                       : wf[static_cast<size_t>(j * k + i)];
                sum += wj * u[static_cast<size_t>(i)];
                abs_sum += std::abs(wj * u[static_cast<size_t>(i)]);
              }
              const double ref = inv * sum, tol = 1e-5 * inv * abs_sum + 1e-6;
              const size_t at = static_cast<size_t>(m * n + j);
              ASSERT_LE(std::abs(got[at] - ref), f32 ? tol : tol + 4e-3 * std::abs(ref)) << "y at " << at;
              // The exact form rounds the normalised row twice: the two agree to a few bf16 ulps
              // of the row, i.e. within ~1e-2 of the sum of |terms|.
              ASSERT_LE(std::abs(got[at] - exact[at]), 1e-2 * inv * abs_sum + 4e-3 * std::abs(ref) + 1e-6) << "exact at " << at;
            }
          }
          EXPECT_EQ(download(dx, xs), x);
          EXPECT_EQ(download(dr, xs), r);
        }
  }
}

// The SwiGLU epilogue (decode steps' w1|w3 product): gemv_norm_swiglu == gemv_norm over the 2F rows
// into bf16, then swiglu of the halves, bit for bit; 1..4 rows, F a multiple of 4 and not (the
// last CTA's pairs partly idle), with and without the residual r; x_out as gemv_norm leaves it.
TEST_F(Kernels, GemvSwigluEpilogueEqualsGemvNormThenSwiglu) {
  for (auto [rows, f, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 8192, 3072}, {1, 37, 512}, {2, 100, 272},
                            {3, 6, 1008}, {4, 258, 2048}, {1, 1, 8}}) {
    SCOPED_TRACE(std::to_string(rows) + " rows, F " + std::to_string(f) + ", K " + std::to_string(k));
    const int64_t n = 2 * f;
    const size_t xs = static_cast<size_t>(rows * k), ys = static_cast<size_t>(rows * n), hs = static_cast<size_t>(rows * f);
    const auto x = random_bf16(xs, 71, 3.0f), r = random_bf16(xs, 72, 2.0f), nw = random_bf16(static_cast<size_t>(k), 73);
    auto* dw = upload(random_bf16(static_cast<size_t>(n * k), 74, 0.05f));
    auto* dx = upload(x);
    auto* dr = upload(r);
    auto* dnw = upload(nw);
    for (const auto form : {kernels::norm_form::exact, kernels::norm_form::scaled})
      for (const bool with_r : {true, false}) {
        SCOPED_TRACE(form == kernels::norm_form::scaled ? "scaled" : "exact");
        auto* dab = upload(std::vector<uint16_t>(ys));
        auto* dxo1 = upload(std::vector<uint16_t>(xs));
        auto* dxo2 = upload(std::vector<uint16_t>(xs));
        auto* h1 = upload(std::vector<uint16_t>(hs));
        auto* h2 = upload(std::vector<uint16_t>(hs));
        ASSERT_TRUE(kernels::gemv_norm(dw, dx, with_r ? dr : nullptr, dnw, 1e-5f, dxo1, dab, false, rows, n, k, stream_,
                                       nullptr, form).ok());
        for (int64_t m = 0; m < rows; ++m)
          ASSERT_TRUE(kernels::swiglu(dab + m * n, dab + m * n + f, h1 + m * f, f, stream_).ok());
        ASSERT_TRUE(kernels::gemv_norm_swiglu(dw, dx, with_r ? dr : nullptr, dnw, 1e-5f, dxo2, h2, rows, n, k, stream_,
                                              form).ok());
        EXPECT_EQ(download(h1, hs), download(h2, hs)) << "r " << with_r;
        EXPECT_EQ(download(dxo1, xs), download(dxo2, xs)) << "x_out, r " << with_r;
      }
  }
  auto* dw = upload(random_bf16(63 * 64, 75));
  auto* dx = upload(random_bf16(64, 76));
  auto* dh = upload(std::vector<uint16_t>(64));
  EXPECT_FALSE(kernels::gemv_norm_swiglu(dw, dx, nullptr, dx, 1e-5f, nullptr, dh, 1, 63, 64, stream_).ok());  // odd n
  EXPECT_FALSE(kernels::gemv_norm_swiglu(dw, dx, nullptr, dx, 1e-5f, nullptr, dh, 5, 62, 64, stream_).ok());  // 5 rows
}

// The RoPE epilogue (decode steps' q and q|k products): gemv_norm with `rope` == gemv_norm then
// rope_qk_rows on its bf16 output, bit for bit: q alone and q|k with the key scale, outputs past
// the rotated ones (v, g, gate) untouched, 1..4 rows at their own positions, head dims 16..128.
TEST_F(Kernels, GemvRopeEpilogueEqualsGemvThenRope) {
  for (auto [rows, heads, hd, extra, qk] : {std::tuple<int64_t, int64_t, int64_t, int64_t, bool>{1, 24, 128, 0, false},
                                             {1, 24, 128, 3096, true}, {3, 4, 64, 13, true}, {4, 3, 16, 0, true},
                                             {2, 8, 32, 5, false}}) {
    const int64_t d = heads * hd, n = (qk ? 2 * d : d) + extra, k = 512;
    SCOPED_TRACE(std::to_string(rows) + " rows, n " + std::to_string(n) + ", hd " + std::to_string(hd));
    const size_t xs = static_cast<size_t>(rows * k), ys = static_cast<size_t>(rows * n);
    auto *dw = upload(random_bf16(static_cast<size_t>(n * k), 81, 0.05f)), *dx = upload(random_bf16(xs, 82, 3.0f));
    auto* dnw = upload(random_bf16(static_cast<size_t>(k), 83));
    auto* df = upload(cpu::rope_inv_freq(hd, 10000.0));
    std::vector<int64_t> pos{7, 524287, 0, 131071};
    pos.resize(static_cast<size_t>(rows));
    auto* dpos = upload(pos);
    const float ks = qk ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f;
    auto *y1 = upload(std::vector<uint16_t>(ys)), *y2 = upload(std::vector<uint16_t>(ys));
    ASSERT_TRUE(kernels::gemv_norm(dw, dx, nullptr, dnw, 1e-5f, nullptr, y1, false, rows, n, k, stream_).ok());
    ASSERT_TRUE(kernels::rope_qk_rows(y1, qk ? y1 + d : nullptr, rows, n, heads, hd, dpos, df, ks, stream_).ok());
    const kernels::gemv_rope rope{dpos, df, qk ? 2 * d : d, d, hd, ks};
    ASSERT_TRUE(kernels::gemv_norm(dw, dx, nullptr, dnw, 1e-5f, nullptr, y2, false, rows, n, k, stream_, &rope).ok());
    EXPECT_EQ(download(y1, ys), download(y2, ys));
    {  // the scaled norm's epilogue rotates its scaled sums the same way
      auto *s1 = upload(std::vector<uint16_t>(ys)), *s2 = upload(std::vector<uint16_t>(ys));
      const auto sc = kernels::norm_form::scaled;
      ASSERT_TRUE(kernels::gemv_norm(dw, dx, nullptr, dnw, 1e-5f, nullptr, s1, false, rows, n, k, stream_, nullptr, sc).ok());
      ASSERT_TRUE(kernels::rope_qk_rows(s1, qk ? s1 + d : nullptr, rows, n, heads, hd, dpos, df, ks, stream_).ok());
      ASSERT_TRUE(kernels::gemv_norm(dw, dx, nullptr, dnw, 1e-5f, nullptr, s2, false, rows, n, k, stream_, &rope, sc).ok());
      EXPECT_EQ(download(s1, ys), download(s2, ys)) << "scaled";
    }
    if (rows == 1) {  // and rope_qk_at / rope_at, the single step's kernels before the epilogue
      auto* y3 = upload(std::vector<uint16_t>(ys));
      ASSERT_TRUE(kernels::gemv_norm(dw, dx, nullptr, dnw, 1e-5f, nullptr, y3, false, rows, n, k, stream_).ok());
      if (qk) ASSERT_TRUE(kernels::rope_qk_at(y3, y3 + d, 1, heads, hd, dpos, df, ks, stream_).ok());
      else ASSERT_TRUE(kernels::rope_at(y3, 1, heads, hd, dpos, df, stream_).ok());
      EXPECT_EQ(download(y3, ys), download(y2, ys));
    }
  }
  auto* dw = upload(random_bf16(64 * 64, 84));
  auto* dx = upload(random_bf16(64, 85));
  auto* dy = upload(std::vector<float>(64));
  auto* dpos = upload(std::vector<int64_t>{1});
  auto* df = upload(std::vector<float>(8));
  const kernels::gemv_rope odd{dpos, df, 63, 64, 16, 1.0f}, f32{dpos, df, 64, 64, 16, 1.0f};
  EXPECT_FALSE(kernels::gemv_norm(dw, dx, nullptr, dx, 1e-5f, nullptr, dy, false, 1, 64, 64, stream_, &odd).ok());
  EXPECT_FALSE(kernels::gemv_norm(dw, dx, nullptr, dx, 1e-5f, nullptr, dy, true, 1, 64, 64, stream_, &f32).ok());
}

// ring_store: the row lands in slot pos mod slots (bytes exact), no other slot changes, and
// n_last = min(pos, slots - 1); ring_store_rows does so per session; bad shapes are refused.
TEST_F(Kernels, RingStoreWritesTheSlot) {
  for (auto [dim, slots] : {std::pair<int64_t, int64_t>{8, 1}, {64, 5}, {3072, 1024}, {1000, 7}}) {
    const size_t ring_elems = static_cast<size_t>(slots * dim);
    auto rk = random_bf16(ring_elems, 61), rv = random_bf16(ring_elems, 62);
    auto *dk_ring = upload(rk), *dv_ring = upload(rv);
    for (int64_t pos : {int64_t{0}, int64_t{3}, slots - 1, slots, 5 * slots + 2, int64_t{1} << 40}) {
      auto k = random_bf16(static_cast<size_t>(dim), 63 + static_cast<uint32_t>(pos % 97)),
           v = random_bf16(static_cast<size_t>(dim), 64);
      auto *dk = upload(k), *dv = upload(v);
      auto* dpos = upload(std::vector<int64_t>{pos});
      auto* dlast = upload(std::vector<int64_t>{-7});
      ASSERT_TRUE(kernels::ring_store(dk, dv, dk_ring, dv_ring, dim, dpos, slots, dlast, stream_).ok());
      const size_t at = static_cast<size_t>((pos % slots) * dim);
      std::copy(k.begin(), k.end(), rk.begin() + static_cast<std::ptrdiff_t>(at));
      std::copy(v.begin(), v.end(), rv.begin() + static_cast<std::ptrdiff_t>(at));
      EXPECT_EQ(download(dk_ring, ring_elems), rk) << dim << " " << slots << " pos " << pos;
      EXPECT_EQ(download(dv_ring, ring_elems), rv) << dim << " " << slots << " pos " << pos;
      EXPECT_EQ(download(dlast, 1)[0], std::min(pos, slots - 1)) << pos;
    }
  }
  {  // ring_store_rows: three sessions (rows at a stride, as in the q|k|v product), each its own ring
    const int64_t dim = 64, slots = 6, stride = 3 * dim, rows = 3;
    const std::vector<int64_t> pos = {2, 13, 6};
    auto kv = random_bf16(static_cast<size_t>(rows * stride), 66);
    std::vector<std::vector<uint16_t>> rk, rv;
    std::vector<uint16_t*> pk, pv;
    for (int64_t r = 0; r < rows; ++r) {
      rk.push_back(random_bf16(static_cast<size_t>(slots * dim), 67 + static_cast<uint32_t>(r)));
      rv.push_back(random_bf16(static_cast<size_t>(slots * dim), 70 + static_cast<uint32_t>(r)));
      pk.push_back(upload(rk.back()));
      pv.push_back(upload(rv.back()));
    }
    auto *dkv = upload(kv), **dpk = upload(pk), **dpv = upload(pv);
    auto* dpos = upload(pos);
    auto* dlast = upload(std::vector<int64_t>(static_cast<size_t>(rows), -1));
    ASSERT_TRUE(kernels::ring_store_rows(dkv + dim, dkv + 2 * dim, stride, dpk, dpv, rows, dim, dpos, slots, dlast,
                                         stream_).ok());
    const auto last = download(dlast, static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const auto k0 = kv.begin() + static_cast<std::ptrdiff_t>(r * stride + dim);
      const size_t at = static_cast<size_t>((pos[static_cast<size_t>(r)] % slots) * dim);
      std::copy(k0, k0 + dim, rk[static_cast<size_t>(r)].begin() + static_cast<std::ptrdiff_t>(at));
      std::copy(k0 + dim, k0 + 2 * dim, rv[static_cast<size_t>(r)].begin() + static_cast<std::ptrdiff_t>(at));
      EXPECT_EQ(download(pk[static_cast<size_t>(r)], rk[static_cast<size_t>(r)].size()), rk[static_cast<size_t>(r)]) << r;
      EXPECT_EQ(download(pv[static_cast<size_t>(r)], rv[static_cast<size_t>(r)].size()), rv[static_cast<size_t>(r)]) << r;
      EXPECT_EQ(last[static_cast<size_t>(r)], std::min(pos[static_cast<size_t>(r)], slots - 1)) << r;
    }
  }
  auto* d = upload(random_bf16(64, 65));
  auto* dpos = upload(std::vector<int64_t>{0});
  EXPECT_FALSE(kernels::ring_store(d, d, d, d, 12, dpos, 4, nullptr, stream_).ok());     // dim % 8
  EXPECT_FALSE(kernels::ring_store(d + 1, d, d, d, 8, dpos, 4, nullptr, stream_).ok());  // alignment
}

// rope_qk == cpu::rope on q; cpu::rope, a bf16 rounding, then * k_scale on k; and rope_qk_at
// (position from device memory) gives the same bits as rope_qk. Shapes of both forms (the vector
// form from 16 rows at head dims that are multiples of 8).
TEST_F(Kernels, RopeQkMatchesCpuTwins) {
  for (auto [rows, heads, hd, pos0] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 2, 0}, {5, 3, 16, 7},
                                       {17, 6, 64, 1000}, {1, 24, 128, 524287}, {3, 24, 128, 33},
                                       {40, 24, 128, 1048000}, {16, 1, 8, 3}, {33, 5, 24, 70000}}) {
    const size_t n = static_cast<size_t>(rows * heads * hd);
    auto q = random_bf16(n, 41), k = random_bf16(n, 42);
    auto f = cpu::rope_inv_freq(hd, 10000.0);
    const float ks = 1.0f / std::sqrt(static_cast<float>(hd));
    auto *dq = upload(q), *dk = upload(k), *dq2 = upload(q), *dk2 = upload(k);
    auto* df = upload(f);
    auto* dpos = upload(std::vector<int64_t>{pos0});
    ASSERT_TRUE(kernels::rope_qk(dq, dk, rows, heads, hd, pos0, df, ks, stream_).ok());
    ASSERT_TRUE(kernels::rope_qk_at(dq2, dk2, rows, heads, hd, dpos, df, ks, stream_).ok());
    auto rq = widen(q), rk = widen(k);
    cpu::rope(rq.data(), rows, heads, hd, pos0, f.data());
    cpu::rope(rk.data(), rows, heads, hd, pos0, f.data());
    for (auto& x : rk) x = bf16_to_f32(f32_to_bf16(x)) * ks;
    const auto gq = download(dq, n), gk = download(dk, n);
    expect_close(gq, rq, "rope_qk q");
    expect_close(gk, rk, "rope_qk k");
    EXPECT_EQ(gq, download(dq2, n));
    EXPECT_EQ(gk, download(dk2, n));
  }
}

// The vector form of rope_qk (aligned q and k, 16+ rows) and the per-pair form (the same rows
// 2 bytes off 16-byte alignment) give the same bits, at positions where sincosf takes its slow
// argument reduction too (|angle| > 105,615).
TEST_F(Kernels, RopeQkVectorFormEqualsPairForm) {
  for (auto [rows, heads, hd, pos0] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{16, 24, 128, 0},
                                       {300, 24, 128, 1000000}, {64, 6, 64, 4093}, {19, 3, 8, 123457}}) {
    const size_t n = static_cast<size_t>(rows * heads * hd);
    auto q = random_bf16(n, 71), k = random_bf16(n, 72);
    auto f = cpu::rope_inv_freq(hd, 10000.0);
    const float ks = 1.0f / std::sqrt(static_cast<float>(hd));
    std::vector<uint16_t> q1(n + 1), k1(n + 1);  // element 1 on: 2 bytes past the allocation's alignment
    std::copy(q.begin(), q.end(), q1.begin() + 1);
    std::copy(k.begin(), k.end(), k1.begin() + 1);
    auto *dq = upload(q), *dk = upload(k), *dq1 = upload(q1), *dk1 = upload(k1);
    auto* df = upload(f);
    ASSERT_TRUE(kernels::rope_qk(dq, dk, rows, heads, hd, pos0, df, ks, stream_).ok());
    ASSERT_TRUE(kernels::rope_qk(dq1 + 1, dk1 + 1, rows, heads, hd, pos0, df, ks, stream_).ok());
    const auto gq1 = download(dq1, n + 1), gk1 = download(dk1, n + 1);
    EXPECT_EQ(download(dq, n), std::vector<uint16_t>(gq1.begin() + 1, gq1.end())) << rows << " rows, hd " << hd;
    EXPECT_EQ(download(dk, n), std::vector<uint16_t>(gk1.begin() + 1, gk1.end())) << rows << " rows, hd " << hd;
  }
}

// The fused decode step of gated retention vs its CPU twins (log γ, one recurrent step from a
// random nonzero state, the output stage) and vs the three GPU kernels it replaces. Outputs: the
// usual bf16 bound (the fused kernel rounds o to bf16 before the norm, as gated_retention stores
// it; the twin keeps f32: 2^-9 relative). State: 1e-3 + 1e-3 |s| (f32, one FMA step).
TEST_F(Kernels, RetentionDecodeMatchesCpuTwins) {
  for (auto [H, hd] : {std::pair<int64_t, int64_t>{1, 16}, {3, 32}, {6, 64}, {24, 128}, {2, 128}}) {
    const size_t n = static_cast<size_t>(H * hd);
    auto q = random_bf16(n, 51), k = random_bf16(n, 52, 0.25f), v = random_bf16(n, 53), g = random_bf16(n, 54);
    auto gt = random_bf16(static_cast<size_t>(H), 55, 4.0f);
    std::vector<float> state(static_cast<size_t>(H * hd * hd));
    std::mt19937 rng(56);
    std::normal_distribution<float> d(0.0f, 0.5f);
    for (auto& s : state) s = d(rng);
    auto *dq = upload(q), *dk = upload(k), *dv = upload(v), *dg = upload(g), *dgt = upload(gt);
    auto *dst = upload(state), *dst2 = upload(state);
    auto *dout = upload(std::vector<uint16_t>(n)), *dout2 = upload(std::vector<uint16_t>(n));
    auto* dlg = upload(std::vector<float>(static_cast<size_t>(H)));
    ASSERT_TRUE(kernels::retention_decode(dq, dk, dv, dg, dgt, dst, dout, H, hd, 16.0f, 1e-5f, stream_).ok());
    // The three kernels it replaces.
    ASSERT_TRUE(kernels::retention_log_gamma(dgt, dlg, H, 16.0f, stream_).ok());
    ASSERT_TRUE(kernels::gated_retention(dq, dk, dv, dlg, dst2, dout2, 1, H, hd, stream_).ok());
    ASSERT_TRUE(kernels::retention_output(dout2, dg, 1, H, hd, 1e-5f, stream_).ok());
    // CPU twins.
    auto lg = widen(gt);
    cpu::retention_log_gamma(lg.data(), H, 16.0f);
    std::vector<float> ref(n), cs = state;
    cpu::gated_retention(widen(q).data(), widen(k).data(), widen(v).data(), lg.data(), cs.data(), ref.data(), 1, H, hd,
                         64);
    cpu::retention_output(ref.data(), widen(g).data(), 1, H, hd, 1e-5f);
    const auto got = download(dout, n);
    expect_close(got, ref, "retention_decode");
    expect_close(got, widen(download(dout2, n)), "retention_decode vs the three kernels");
    const auto gs = download(dst, state.size()), gs2 = download(dst2, state.size());
    for (size_t i = 0; i < gs.size(); ++i) {
      ASSERT_NEAR(gs[i], cs[i], 1e-3f + 1e-3f * std::abs(cs[i])) << H << "x" << hd << " state " << i;
      ASSERT_NEAR(gs[i], gs2[i], 1e-5f + 1e-5f * std::abs(gs2[i])) << H << "x" << hd << " state " << i;
    }
  }
  EXPECT_FALSE(kernels::retention_decode(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 2, 24, 16.0f,
                                         1e-5f, stream_).ok());
}

// ---- fp8 e4m3 global KV (tome/kernels.h "fp8 global KV"; CPU twins backend/cpu/kv_fp8.h) ----
// Inputs: random bf16 rows with per-row magnitudes from 1e-6 to 1e4 (and all-zero rows), so the
// scales span many binades and some values land in e4m3's subnormal range.
static std::vector<uint16_t> fp8_test_rows(int64_t rows, int64_t heads, int64_t hd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const float mags[] = {1.0f, 1e-6f, 3.0f, 1e4f, 0.02f, 0.0f, 250.0f};
  std::vector<uint16_t> v(static_cast<size_t>(rows * heads * hd));
  for (int64_t rh = 0; rh < rows * heads; ++rh) {
    const float m = mags[static_cast<size_t>(rh % 7)];
    for (int64_t i = 0; i < hd; ++i) v[static_cast<size_t>(rh * hd + i)] = f32_to_bf16(m * d(rng));
  }
  return v;
}

// Quantisation on the GPU equals the CPU twin bit for bit (codes and scales); dequantisation too;
// every e4m3 code decodes and encodes back to itself; a dequantised row quantises back to the
// same codes and scale (the exact export/import round trip); the error is inside the format's
// bound (|x - x'| <= 2^-4 |x| in the normal range, <= s * 2^-10 below it).
TEST_F(Kernels, KvFp8QuantiseMatchesCpuTwin) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;  // NaN
    ASSERT_EQ(cpu::e4m3_encode(cpu::e4m3_decode(static_cast<uint8_t>(c))), c == 0x80 ? 0x80 : c) << c;
  }
  EXPECT_EQ(cpu::e4m3_encode(1e9f), 0x7e);  // saturating
  EXPECT_EQ(cpu::e4m3_encode(-460.0f), 0xfe);
  for (auto [rows, heads, hd] : {std::tuple<int64_t, int64_t, int64_t>{1, 8, 128}, {37, 3, 64}, {1000, 8, 128},
                                 {5, 2, 16}, {9, 1, 80}}) {
    const auto x = fp8_test_rows(rows, heads, hd, 91);
    const size_t n = x.size(), ns = static_cast<size_t>(rows * heads);
    auto* dx = upload(x);
    auto* dq = upload(std::vector<uint8_t>(n));
    auto* ds = upload(std::vector<float>(ns));
    auto* df = upload(std::vector<float>(n));
    ASSERT_TRUE(kernels::kv_quantize_fp8(dx, rows, heads, hd, dq, ds, stream_).ok());
    ASSERT_TRUE(kernels::kv_dequantize_fp8(dq, ds, rows, heads, hd, df, stream_).ok());
    const auto xf = widen(x);
    std::vector<uint8_t> rq(n);
    std::vector<float> rs(ns), rf(n);
    cpu::kv_quantize_fp8(xf.data(), rows, heads, hd, rq.data(), rs.data());
    cpu::kv_dequantize_fp8(rq.data(), rs.data(), rows, heads, hd, rf.data());
    SCOPED_TRACE("rows " + std::to_string(rows) + " heads " + std::to_string(heads) + " hd " + std::to_string(hd));
    const auto gq = download(dq, n);
    const auto gs = download(ds, ns);
    const auto gf = download(df, n);
    ASSERT_EQ(gq, rq);
    ASSERT_EQ(gs, rs);
    ASSERT_EQ(gf, rf);
    std::vector<uint8_t> q2(n);
    std::vector<float> s2(ns);
    cpu::kv_quantize_fp8(rf.data(), rows, heads, hd, q2.data(), s2.data());
    EXPECT_EQ(q2, rq) << "re-quantising a dequantised row must give the same codes";
    EXPECT_EQ(s2, rs) << "and the same scales";
    for (size_t i = 0; i < n; ++i) {
      const float s = rs[i / static_cast<size_t>(hd)];
      const float err = std::abs(rf[i] - xf[i]);
      ASSERT_LE(err, std::ldexp(std::abs(xf[i]), -4) + std::ldexp(s, -10) * 1.0001f) << i;
    }
  }
}

// The decode token's row: rope_store_kv_fp8 at a device position equals rope_store_kv (bf16)
// followed by the CPU twin's quantisation (codes may differ by one step where the RoPE rounding
// of the two kernels differs: dequantised values agree to 2^-3 relative + s 2^-9).
TEST_F(Kernels, RopeStoreKvFp8EqualsRopeStoreKvThenQuantise) {
  for (auto [heads, hd, pos] : {std::tuple<int64_t, int64_t, int64_t>{8, 128, 5}, {8, 128, 1000003}, {3, 64, 77}}) {
    const int64_t cap = 3, row = pos % cap, kvd = heads * hd;
    auto k = random_bf16(static_cast<size_t>(kvd), 95), v = random_bf16(static_cast<size_t>(kvd), 96);
    std::vector<float> freq = cpu::rope_inv_freq(hd, 10000.0);
    auto* dk = upload(k);
    auto* dv = upload(v);
    auto* dfreq = upload(freq);
    auto* dpos = upload(std::vector<int64_t>{row});
    auto* dpos_true = upload(std::vector<int64_t>{pos});
    auto* gk = upload(std::vector<uint16_t>(static_cast<size_t>(cap * kvd)));
    auto* gv = upload(std::vector<uint16_t>(static_cast<size_t>(cap * kvd)));
    auto* qk = upload(std::vector<uint8_t>(static_cast<size_t>(cap * kvd)));
    auto* qv = upload(std::vector<uint8_t>(static_cast<size_t>(cap * kvd)));
    auto* sk = upload(std::vector<float>(static_cast<size_t>(cap * heads)));
    auto* sv = upload(std::vector<float>(static_cast<size_t>(cap * heads)));
    // The angle uses the true position; the row index is pos % cap: store into row 0 of a buffer
    // offset so that row `pos` lands in it.
    ASSERT_TRUE(kernels::rope_store_kv(dk, dv, gk + (row - pos) * kvd, gv + (row - pos) * kvd, heads, hd, dpos_true,
                                       dfreq, stream_).ok());
    ASSERT_TRUE(kernels::rope_store_kv_fp8(dk, dv, qk + (row - pos) * kvd, qv + (row - pos) * kvd,
                                           sk + (row - pos) * heads, sv + (row - pos) * heads, heads, hd, dpos_true,
                                           dfreq, stream_).ok());
    (void)dpos;
    const auto bk = widen(download(gk + row * kvd, static_cast<size_t>(kvd)));
    const auto bv = widen(download(gv + row * kvd, static_cast<size_t>(kvd)));
    for (int which = 0; which < 2; ++which) {
      const auto& b = which ? bv : bk;
      std::vector<uint8_t> rq(static_cast<size_t>(kvd));
      std::vector<float> rs(static_cast<size_t>(heads)), rf(b.size()), gf(b.size());
      cpu::kv_quantize_fp8(b.data(), 1, heads, hd, rq.data(), rs.data());
      cpu::kv_dequantize_fp8(rq.data(), rs.data(), 1, heads, hd, rf.data());
      const auto gq = download((which ? qv : qk) + row * kvd, static_cast<size_t>(kvd));
      const auto gs = download((which ? sv : sk) + row * heads, static_cast<size_t>(heads));
      cpu::kv_dequantize_fp8(gq.data(), gs.data(), 1, heads, hd, gf.data());
      size_t same = 0;
      for (size_t i = 0; i < rf.size(); ++i) {
        same += gq[i] == rq[i];
        ASSERT_LE(std::abs(gf[i] - rf[i]), 0.125f * std::abs(rf[i]) + rs[i / static_cast<size_t>(hd)] / 512)
            << (which ? "V" : "K") << " element " << i << " pos " << pos;
      }
      EXPECT_GE(same, rf.size() * 99 / 100) << (which ? "V" : "K") << " codes equal to the twin's";
      if (which) {
        EXPECT_EQ(gq, rq) << "V has no RoPE: bit-identical";
      }
    }
  }
}

// The attention kernels over an fp8 KV against the CPU twin on the dequantised values
// (cpu::kv_dequantize_fp8, exact in f32; the kernels use the codes exactly and the scales in f32,
// rounding only the scaled softmax weights to bf16 as the bf16 kernels do): the decode kernel
// (rows*group <= 16, with and without forced splits, the fixed-grid graph forms) and the tile
// kernel (many rows, ragged tails), head dims 16..128. Same bound as the bf16 kernels. The error
// fp8 adds against the bf16 KV is printed (not bounded here: see the whole-model test).
TEST_F(Kernels, AttentionFp8MatchesCpuTwinOnDequantisedValues) {
  struct shape_t {
    int64_t rows, off, hq, hkv, hd;
    int splits;  // 0: attention_splits()
  };
  double worst_vs_bf16 = 0;
  for (const shape_t& s : std::initializer_list<shape_t>{
           {1, 199999, 24, 8, 128, 0}, {1, 70000, 12, 4, 64, 0}, {1, 0, 3, 1, 128, 0}, {1, 63, 4, 1, 64, 0},
           {4, 5000, 16, 4, 128, 0}, {6, 1000, 9, 3, 128, 0}, {64, 32704, 24, 8, 128, 0}, {300, 1000, 12, 3, 128, 0},
           {130, 50, 3, 1, 64, 0}, {200, 5, 8, 2, 128, 7}, {2, 4000, 6, 3, 128, 1}, {1, 5000, 8, 8, 32, 3},
           {70, 20, 4, 2, 16, 0}, {1, 3000, 4, 2, 16, 0}, {3, 777, 8, 2, 32, 0}}) {
    const int64_t n = s.off + s.rows, kvd = s.hkv * s.hd;
    auto q = random_bf16(static_cast<size_t>(s.rows * s.hq * s.hd), 161);
    auto k = fp8_test_rows(n, s.hkv, s.hd, 162), v = random_bf16(static_cast<size_t>(n * kvd), 163, 2.0f);
    for (size_t i = 0; i < k.size(); ++i)  // keys of moderate size (the magnitudes above would saturate softmax)
      k[i] = f32_to_bf16(std::max(-8.0f, std::min(8.0f, bf16_to_f32(k[i]))));
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* dv = upload(v);
    auto* qk = upload(std::vector<uint8_t>(k.size()));
    auto* qv = upload(std::vector<uint8_t>(v.size()));
    auto* sk = upload(std::vector<float>(static_cast<size_t>(n * s.hkv)));
    auto* sv = upload(std::vector<float>(static_cast<size_t>(n * s.hkv)));
    ASSERT_TRUE(kernels::kv_quantize_fp8(dk, n, s.hkv, s.hd, qk, sk, stream_).ok());
    ASSERT_TRUE(kernels::kv_quantize_fp8(dv, n, s.hkv, s.hd, qv, sv, stream_).ok());
    const kernels::kv_fp8 kv{qk, qv, sk, sv};
    auto* dout = upload(std::vector<uint16_t>(q.size()));
    const int splits = s.splits ? s.splits : kernels::attention_splits(s.rows, s.off, s.hq, s.hkv, s.hd, 0, true);
    auto* ws = upload(std::vector<float>(static_cast<size_t>(
        std::max<int64_t>(1, kernels::cross_attn_workspace_floats(s.rows, s.hq, s.hd, splits)))));
    ASSERT_TRUE(kernels::attention_fp8(dq, kv, dout, s.rows, s.off, s.hq, s.hkv, s.hd, 0, splits, ws, stream_).ok());
    // The twin on the dequantised (bf16-rounded) values.
    const auto hk = download(qk, k.size()), hv = download(qv, v.size());
    const auto hks = download(sk, static_cast<size_t>(n * s.hkv)), hvs = download(sv, static_cast<size_t>(n * s.hkv));
    std::vector<float> kf(k.size()), vf(v.size());
    cpu::kv_dequantize_fp8(hk.data(), hks.data(), n, s.hkv, s.hd, kf.data());
    cpu::kv_dequantize_fp8(hv.data(), hvs.data(), n, s.hkv, s.hd, vf.data());
    std::vector<float> ref(q.size()), ref16(q.size());
    cpu::cross_attn(widen(q).data(), kf.data(), vf.data(), ref.data(), s.rows, s.off, s.hq, s.hkv, s.hd);
    cpu::cross_attn(widen(q).data(), widen(k).data(), widen(v).data(), ref16.data(), s.rows, s.off, s.hq, s.hkv, s.hd);
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " off " + std::to_string(s.off) + " hq " + std::to_string(s.hq) +
                 " hkv " + std::to_string(s.hkv) + " hd " + std::to_string(s.hd) + " splits " + std::to_string(splits));
    const auto got = download(dout, q.size());
    expect_close(got, ref, "attention_fp8");
    for (size_t i = 0; i < ref.size(); ++i)
      worst_vs_bf16 = std::max(worst_vs_bf16, static_cast<double>(std::abs(bf16_to_f32(got[i]) - ref16[i])));
    if (s.rows * (s.hq / s.hkv) <= 16 && s.hd >= 16) {  // the fixed-grid (graph) forms over the same keys
      const int ms = kernels::attn_decode_max_splits(s.hkv, s.hd);
      auto* ws2 = upload(std::vector<float>(static_cast<size_t>(kernels::cross_attn_workspace_floats(s.rows, s.hq, s.hd, ms))));
      auto* dn = upload(std::vector<int64_t>{n});
      auto* dout2 = upload(std::vector<uint16_t>(q.size()));
      ASSERT_TRUE(kernels::attn_decode_fixed_fp8(dq, kv, dout2, s.rows, dn, s.hq, s.hkv, s.hd, 0, ms, ws2, stream_).ok());
      expect_close(download(dout2, q.size()), ref, "attn_decode_fixed_fp8");
      if (s.rows == 1) {
        auto* dpos = upload(std::vector<int64_t>{n - 1});
        auto* dout3 = upload(std::vector<uint16_t>(q.size()));
        ASSERT_TRUE(kernels::cross_attn_decode_fp8(dq, kv, dout3, dpos, s.hq, s.hkv, s.hd, ms, ws2, stream_).ok());
        expect_close(download(dout3, q.size()), ref, "cross_attn_decode_fp8");
      }
    }
  }
  std::printf("[ fp8 attention ] max |fp8 - bf16 KV| over the outputs (|v| ~ 2): %.4f\n", worst_vs_bf16);
  EXPECT_FALSE(kernels::attention_fp8(nullptr, kernels::kv_fp8{}, nullptr, 1, 0, 4, 2, 80, 0, 1, nullptr, stream_).ok());
}

TEST_F(Kernels, AttentionMassFp8MatchesCpuTwin) {
  for (auto [n, hq, hkv, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 1, 16}, {300, 4, 2, 64},
                                {70000, 8, 2, 64}, {5000, 24, 8, 128}}) {
    auto q = random_bf16(static_cast<size_t>(hq * hd), 151);
    auto k = random_bf16(static_cast<size_t>(n * hkv * hd), 152);
    auto* dq = upload(q);
    auto* dk = upload(k);
    auto* qk = upload(std::vector<uint8_t>(k.size()));
    auto* sk = upload(std::vector<float>(static_cast<size_t>(n * hkv)));
    ASSERT_TRUE(kernels::kv_quantize_fp8(dk, n, hkv, hd, qk, sk, stream_).ok());
    auto* dm = upload(std::vector<float>(static_cast<size_t>(n)));
    auto* ws = upload(std::vector<float>(static_cast<size_t>(kernels::attention_mass_workspace_floats(n, hq))));
    ASSERT_TRUE(kernels::attention_mass_fp8(dq, qk, sk, n, hq, hkv, hd, dm, ws, stream_).ok());
    std::vector<float> kf(k.size());
    const auto hk = download(qk, k.size());
    const auto hs = download(sk, static_cast<size_t>(n * hkv));
    cpu::kv_dequantize_fp8(hk.data(), hs.data(), n, hkv, hd, kf.data());
    std::vector<float> ref(static_cast<size_t>(n));
    cpu::attention_mass(widen(q).data(), kf.data(), n, hq, hkv, hd, ref.data());
    const auto got = download(dm, static_cast<size_t>(n));
    double total = 0;
    for (size_t j = 0; j < ref.size(); ++j) {
      ASSERT_LE(std::abs(got[j] - ref[j]), 1e-3f * ref[j] + 1e-7f) << "attention_mass_fp8 key " << j << " of " << n;
      total += got[j];
    }
    EXPECT_NEAR(total, 1.0, 1e-3) << n;
  }
}

TEST_F(Kernels, AddAndConversionsMatch) {
  auto x = random_bf16(1000, 51), y = random_bf16(1000, 52);
  auto* dx = upload(x);
  auto* dy = upload(y);
  ASSERT_TRUE(kernels::add(dx, dy, 1000, stream_).ok());
  std::vector<float> ref = widen(x);
  cpu::add(ref.data(), widen(y).data(), 1000);
  expect_close(download(dx, 1000), ref, "add");
  auto* df = upload(std::vector<float>(1000));
  ASSERT_TRUE(kernels::bf16_to_f32(dy, df, 1000, stream_).ok());
  auto f = download(df, 1000);
  for (size_t i = 0; i < 1000; ++i) ASSERT_EQ(f[i], bf16_to_f32(y[i]));
}

TEST_F(Kernels, BadArgumentsAreRefusedNotLaunched) {
  EXPECT_FALSE(kernels::rope(nullptr, 1, 1, 3, 0, nullptr, stream_).ok());
  EXPECT_FALSE(kernels::rms_norm(nullptr, nullptr, nullptr, 1, 0, 1e-5f, stream_).ok());
  EXPECT_FALSE(kernels::swiglu(nullptr, nullptr, nullptr, -1, stream_).ok());
}

TEST(KernelsDevice, DeviceCountNeverFails) {
  const int n = kernels::device_count();
  EXPECT_GE(n, 0);
  if (n > 0) {
    kernels::device_info info;
    ASSERT_TRUE(kernels::get_device_info(0, &info).ok());
    EXPECT_GT(info.total_bytes, 0);
    std::printf("device 0: %s, %d SMs, sm_%d%d, %.1f GiB\n", info.name, info.sm_count, info.major, info.minor,
                info.total_bytes / 1073741824.0);
  }
}

}  // namespace
}  // namespace tome
