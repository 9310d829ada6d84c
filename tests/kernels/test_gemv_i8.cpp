// The int8 weight-only kernels (kernels/gemv/gemv_i8.cu, embedding_i8) against their CPU twins
// (cpu::linear_i8, cpu::dequantize_i8, cpu::embedding) on random inputs at many shapes. Weights
// are random int8 codes with positive row scales, x random bf16. Skips without a GPU.
// Bounds: gemv_i8 sums q·x in f32 in another order than the twin: off by ~K 2^-24 of Σ|q x| (the
// bound 1e-5 · scale · Σ|q x| covers K <= 24576 with margin); a bf16 output adds half an ulp,
// 2^-9 relative (4e-3). dequant_i8 and embedding_i8 compute the twin's f32 product and round it
// once: equal bit for bit to the twin's value rounded to bf16.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "gpu_op_test.h"
#include "model/dtype.h"
#include "tome/kernels.h"

namespace tome {
namespace {

class GemvI8 : public test::GpuOpTest {
 protected:
  static std::vector<int8_t> random_q(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(-127, 127);
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(d(rng));
    return v;
  }
  static std::vector<float> random_scales(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(1e-4f, 2e-3f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
  }
};

// 1..4 rows; N not a multiple of the 8 rows of a block; K tails that are not a multiple of the 512
// weights of a warp's round of loads (and K = 16, one chunk); bf16 and f32 outputs. Plus, bit for
// bit: rows 3..n-2 of W (with their scales) alone give the same bits as inside the whole (the
// concatenated q|k|v|g and w1|w3 weights rely on it), and gemv_i8_swiglu == swiglu() then gemv_i8.
TEST_F(GemvI8, MatchesCpuTwin) {
  for (auto [rows, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 16},
                            {1, 37, 3072},
                            {2, 100, 272},
                            {3, 257, 1008},
                            {4, 64, 6144},
                            {1, 3072, 8192},
                            {1, 5, 24576},
                            {4, 9, 16},
                            {2, 13, 4112},
                            {3, 1031, 528}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(n) + "x" + std::to_string(k));
    const auto q = random_q(static_cast<size_t>(n * k), 41);
    const auto sc = random_scales(static_cast<size_t>(n), 42);
    const auto x = random_bf16(static_cast<size_t>(rows * k), 43);
    auto* dq = upload(q);
    auto* ds = upload(sc);
    auto* dx = upload(x);
    auto* dy = upload(std::vector<uint16_t>(static_cast<size_t>(rows * n)));
    auto* dyf = upload(std::vector<float>(static_cast<size_t>(rows * n)));
    ASSERT_TRUE(kernels::gemv_i8_supported(dq, dx, rows, k));
    ASSERT_TRUE(kernels::gemv_i8(dq, ds, dx, dy, false, rows, n, k, stream_).ok());
    ASSERT_TRUE(kernels::gemv_i8(dq, ds, dx, dyf, true, rows, n, k, stream_).ok());
    const auto xf = widen(x);
    std::vector<float> ref(static_cast<size_t>(rows * n));
    cpu::linear_i8(xf.data(), rows, q.data(), sc.data(), n, k, ref.data());
    const auto got = download(dy, ref.size());
    const auto gotf = download(dyf, ref.size());
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t j = 0; j < n; ++j) {
        double abs_sum = 0;
        for (int64_t i = 0; i < k; ++i)
          abs_sum += std::abs(static_cast<double>(q[static_cast<size_t>(j * k + i)]) *
                              xf[static_cast<size_t>(m * k + i)]);
        const size_t at = static_cast<size_t>(m * n + j);
        const double tol = 1e-5 * sc[static_cast<size_t>(j)] * abs_sum + 1e-9;
        ASSERT_LE(std::abs(gotf[at] - ref[at]), tol) << "f32 at " << at;
        ASSERT_LE(std::abs(bf16_to_f32(got[at]) - ref[at]), tol + 4e-3 * std::abs(ref[at]))
            << "bf16 at " << at;
      }
    if (n > 8) {  // rows 3..n-2 of W alone: the same bits
      const int64_t r0 = 3, nn = n - 5;
      auto* dsub = upload(std::vector<uint16_t>(static_cast<size_t>(rows * nn)));
      ASSERT_TRUE(
          kernels::gemv_i8(dq + r0 * k, ds + r0, dx, dsub, false, rows, nn, k, stream_).ok());
      const auto sub = download(dsub, static_cast<size_t>(rows * nn));
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t j = 0; j < nn; ++j)
          ASSERT_EQ(sub[static_cast<size_t>(m * nn + j)], got[static_cast<size_t>(m * n + r0 + j)])
              << m << "," << j;
    }
    if (rows <= 3) {  // SwiGLU prologue: a|b rows of 2k
      const auto ab = random_bf16(static_cast<size_t>(rows * 2 * k), 44, 2.0f);
      auto* dab = upload(ab);
      auto* dsw = upload(std::vector<uint16_t>(static_cast<size_t>(rows * k)));
      auto *y1 = upload(std::vector<uint16_t>(static_cast<size_t>(rows * n))),
           *y2 = upload(std::vector<uint16_t>(static_cast<size_t>(rows * n)));
      for (int64_t m = 0; m < rows; ++m)
        ASSERT_TRUE(
            kernels::swiglu(dab + m * 2 * k, dab + m * 2 * k + k, dsw + m * k, k, stream_).ok());
      ASSERT_TRUE(kernels::gemv_i8(dq, ds, dsw, y1, false, rows, n, k, stream_).ok());
      ASSERT_TRUE(
          kernels::gemv_i8_swiglu(dq, ds, dab, dab + k, 2 * k, y2, false, rows, n, k, stream_)
              .ok());
      EXPECT_EQ(download(y1, static_cast<size_t>(rows * n)),
                download(y2, static_cast<size_t>(rows * n)));
    }
  }
  // Refused, not launched: misaligned W or x, K not a multiple of 16, too many rows, no scales.
  auto* dq = upload(random_q(64 * 64, 45));
  auto* ds = upload(random_scales(64, 46));
  auto* dx = upload(random_bf16(5 * 64, 47));
  auto* dy = upload(std::vector<uint16_t>(5 * 64));
  EXPECT_FALSE(kernels::gemv_i8(dq, ds, dx + 1, dy, false, 1, 64, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv_i8(dq + 8, ds, dx, dy, false, 1, 32, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv_i8(dq, ds, dx, dy, false, 1, 64, 56, stream_).ok());
  EXPECT_FALSE(kernels::gemv_i8(dq, ds, dx, dy, false, 5, 64, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv_i8(dq, nullptr, dx, dy, false, 1, 64, 64, stream_).ok());
  EXPECT_FALSE(kernels::gemv_i8_supported(dq, dx, 1, 56));
  EXPECT_FALSE(kernels::gemv_i8_supported(dq, dx + 1, 1, 64));
}

// gemv_i8_norm == add_rms_norm (or rms_norm) then gemv_i8, bit for bit, and x_out == x + r as
// add_rms_norm leaves x (see Kernels.GemvNormEqualsNormThenGemv).
TEST_F(GemvI8, NormPrologueEqualsNormThenGemv) {
  for (auto [rows, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 37, 3072}, {2, 100, 272}, {3, 1031, 528},
                            {4, 64, 6000}, {1, 9, 16}, {1, 2056, 3072}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(n) + "x" + std::to_string(k));
    const size_t xs = static_cast<size_t>(rows * k), ys = static_cast<size_t>(rows * n);
    const auto x = random_bf16(xs, 71, 3.0f), r = random_bf16(xs, 72, 2.0f), nw = random_bf16(static_cast<size_t>(k), 73);
    auto* dq = upload(random_q(static_cast<size_t>(n * k), 74));
    auto* ds = upload(random_scales(static_cast<size_t>(n), 75));
    auto *dx = upload(x), *dr = upload(r), *dnw = upload(nw);
    for (const bool with_r : {true, false}) {
      auto *dxc = upload(x), *dxn = upload(std::vector<uint16_t>(xs)), *dxo = upload(std::vector<uint16_t>(xs));
      auto *y1 = upload(std::vector<uint16_t>(ys)), *y2 = upload(std::vector<uint16_t>(ys));
      if (with_r) ASSERT_TRUE(kernels::add_rms_norm(dxc, dr, dnw, dxn, rows, k, 1e-5f, stream_).ok());
      else ASSERT_TRUE(kernels::rms_norm(dxc, dnw, dxn, rows, k, 1e-5f, stream_).ok());
      ASSERT_TRUE(kernels::gemv_i8(dq, ds, dxn, y1, false, rows, n, k, stream_).ok());
      ASSERT_TRUE(
          kernels::gemv_i8_norm(dq, ds, dx, with_r ? dr : nullptr, dnw, 1e-5f, dxo, y2, false, rows, n, k, stream_).ok());
      EXPECT_EQ(download(y1, ys), download(y2, ys)) << with_r;
      EXPECT_EQ(download(dxo, xs), download(dxc, xs)) << "x_out, r " << with_r;
      EXPECT_EQ(download(dx, xs), x);
    }
    if (rows <= 2 && n >= 64) {  // the RoPE epilogue on the int8 product (q|k, heads of 16)
      auto* df = upload(cpu::rope_inv_freq(16, 10000.0));
      auto* dpos = upload(std::vector<int64_t>{9, 70000});
      auto *y1 = upload(std::vector<uint16_t>(ys)), *y2 = upload(std::vector<uint16_t>(ys));
      ASSERT_TRUE(kernels::gemv_i8_norm(dq, ds, dx, dr, dnw, 1e-5f, nullptr, y1, false, rows, n, k, stream_).ok());
      ASSERT_TRUE(kernels::rope_qk_rows(y1, y1 + 32, rows, n, 2, 16, dpos, df, 0.25f, stream_).ok());
      const kernels::gemv_rope rope{dpos, df, 64, 32, 16, 0.25f};
      ASSERT_TRUE(kernels::gemv_i8_norm(dq, ds, dx, dr, dnw, 1e-5f, nullptr, y2, false, rows, n, k, stream_, &rope).ok());
      EXPECT_EQ(download(y1, ys), download(y2, ys));
    }
  }
}

// The prefill path's dequantisation: bf16(scale[r] * q) == the twin's f32 value rounded, for the
// 16-wide path (cols % 16 == 0) and the element path (any cols).
TEST_F(GemvI8, DequantMatchesCpuTwin) {
  for (auto [rows, cols] :
       {std::pair<int64_t, int64_t>{1, 16}, {7, 48}, {5, 33}, {3, 1}, {300, 3072}, {2049, 80}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    const auto q = random_q(static_cast<size_t>(rows * cols), 51);
    const auto sc = random_scales(static_cast<size_t>(rows), 52);
    auto* dq = upload(q);
    auto* ds = upload(sc);
    auto* dout = upload(std::vector<uint16_t>(static_cast<size_t>(rows * cols)));
    ASSERT_TRUE(kernels::dequant_i8(dq, ds, dout, rows, cols, stream_).ok());
    std::vector<float> ref(q.size());
    cpu::dequantize_i8(q.data(), sc.data(), rows, cols, ref.data());
    const auto got = download(dout, q.size());
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_EQ(got[i], f32_to_bf16(ref[i])) << "element " << i;
  }
}

// The int8 embedding == cpu::embedding over the dequantised table, rounded to bf16 (bit for bit);
// ids outside the vocabulary give zero rows.
TEST_F(GemvI8, EmbeddingMatchesCpuTwin) {
  for (auto [vocab, dim] :
       {std::pair<int64_t, int64_t>{1, 1}, {50, 33}, {512, 384}, {1000, 3072}}) {
    SCOPED_TRACE(std::to_string(vocab) + "x" + std::to_string(dim));
    const auto q = random_q(static_cast<size_t>(vocab * dim), 61);
    const auto sc = random_scales(static_cast<size_t>(vocab), 62);
    std::mt19937 rng(63);
    std::vector<int32_t> tokens(17);
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    const float s = std::sqrt(static_cast<float>(dim));
    auto* dq = upload(q);
    auto* ds = upload(sc);
    auto* dt = upload(tokens);
    auto* dy = upload(std::vector<uint16_t>(tokens.size() * static_cast<size_t>(dim)));
    ASSERT_TRUE(kernels::embedding_i8(dt, static_cast<int64_t>(tokens.size()), dq, ds, vocab, dim,
                                      s, dy, stream_)
                    .ok());
    std::vector<float> table(q.size()), ref(tokens.size() * static_cast<size_t>(dim));
    cpu::dequantize_i8(q.data(), sc.data(), vocab, dim, table.data());
    cpu::embedding(tokens.data(), static_cast<int64_t>(tokens.size()), table.data(), dim, s,
                   ref.data());
    const auto got = download(dy, ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_EQ(got[i], f32_to_bf16(ref[i])) << "element " << i;
    auto* dbad = upload(std::vector<int32_t>{-1, static_cast<int32_t>(vocab)});
    auto* dz = upload(std::vector<uint16_t>(2 * static_cast<size_t>(dim), 0x3f80));
    ASSERT_TRUE(kernels::embedding_i8(dbad, 2, dq, ds, vocab, dim, s, dz, stream_).ok());
    for (uint16_t v : download(dz, 2 * static_cast<size_t>(dim))) ASSERT_EQ(bf16_to_f32(v), 0.0f);
  }
}

}  // namespace
}  // namespace tome
