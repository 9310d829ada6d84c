// The batched-decode kernels (tome/kernels.h "Batched decode") against their single-session forms
// and CPU twins. Each batched op runs the single op's arithmetic on its row with that row's own
// position, state or KV, so the rows must equal the single launches BIT FOR BIT (rope_qk_rows vs
// rope_qk_at, rope_store_kv(_fp8)_rows vs rope_store_kv(_fp8), retention_decode_rows vs
// retention_decode, cross_attn_decode_batch vs cross_attn_decode(_fp8) at the same split count);
// against the CPU twins the bound of test_kernels.cpp holds (outputs bf16: |gpu - cpu| <=
// 1e-2 |cpu| + 1e-2). The device argmax (greedy sampling) equals tome::sampler's greedy choice
// exactly. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "gpu_op_test.h"
#include "model/dtype.h"
#include "tome/kernels.h"
#include "tome/sampling.h"

namespace tome {
namespace {

class BatchKernels : public test::GpuOpTest {
};

// Rows of q and k at a stride (the fused q|k|v|g|gate product), each at its own position.
TEST_F(BatchKernels, RopeQkRowsEqualsRopeQkAtPerRow) {
  for (auto [rows, heads, hd, extra] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 4, 16, 0},
                                        {3, 6, 64, 70},
                                        {8, 24, 128, 3100},
                                        {32, 4, 16, 8}}) {
    const int64_t stride = 2 * heads * hd + extra;  // q then k in each row, then unrelated values
    auto x = random_bf16(static_cast<size_t>(rows * stride), 11);
    std::vector<int64_t> pos(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) pos[static_cast<size_t>(r)] = (r * 7919 + 3) % 600000;
    const auto f = cpu::rope_inv_freq(hd, 10000.0);
    const float ks = 1.0f / std::sqrt(static_cast<float>(hd));
    auto *dx = upload(x), *dx_q = upload(x), *dx1 = upload(x);
    auto* df = upload(f);
    auto* dpos = upload(pos);
    const int64_t D = heads * hd;
    ASSERT_TRUE(
        kernels::rope_qk_rows(dx, dx + D, rows, stride, heads, hd, dpos, df, ks, stream_).ok());
    ASSERT_TRUE(
        kernels::rope_qk_rows(dx_q, nullptr, rows, stride, heads, hd, dpos, df, 1.0f, stream_)
            .ok());
    for (int64_t r = 0; r < rows; ++r)  // the single forms, row by row
      ASSERT_TRUE(kernels::rope_qk_at(dx1 + r * stride, dx1 + r * stride + D, 1, heads, hd,
                                      dpos + r, df, ks, stream_)
                      .ok());
    const auto got = download(dx, x.size()), got_q = download(dx_q, x.size()),
               want = download(dx1, x.size());
    EXPECT_EQ(got, want) << rows << " rows";
    auto ref = widen(x);
    for (int64_t r = 0; r < rows; ++r) {
      float* q = ref.data() + r * stride;
      cpu::rope(q, 1, heads, hd, pos[static_cast<size_t>(r)], f.data());
      cpu::rope(q + D, 1, heads, hd, pos[static_cast<size_t>(r)], f.data());
      for (int64_t i = 0; i < D; ++i) q[D + i] = bf16_to_f32(f32_to_bf16(q[D + i])) * ks;
    }
    expect_close(got, ref, "rope_qk_rows");
    for (int64_t r = 0; r < rows; ++r)  // q only: q rotated, k and the rest untouched
      for (int64_t i = 0; i < stride; ++i) {
        const size_t e = static_cast<size_t>(r * stride + i);
        if (i < D)
          ASSERT_EQ(got_q[e], got[e]) << "q-only row " << r;
        else
          ASSERT_EQ(got_q[e], x[e]) << "q-only row " << r << " touched element " << i;
      }
  }
  EXPECT_FALSE(
      kernels::rope_qk_rows(nullptr, nullptr, 2, 10, 4, 16, nullptr, nullptr, 1.0f, stream_).ok());
}

// Each session's K/V row at its own position of its own buffers: bf16 and fp8.
TEST_F(BatchKernels, RopeStoreKvRowsEqualSingleStores) {
  for (auto [rows, heads, hd] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 2, 16}, {5, 8, 128}, {32, 2, 64}}) {
    const int64_t kvd = heads * hd, cap = 40;
    auto k = random_bf16(static_cast<size_t>(rows * kvd), 21),
         v = random_bf16(static_cast<size_t>(rows * kvd), 22);
    const auto f = cpu::rope_inv_freq(hd, 10000.0);
    auto *dk = upload(k), *dv = upload(v);
    auto* df = upload(f);
    std::vector<int64_t> pos(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) pos[static_cast<size_t>(r)] = (r * 13) % cap;
    auto* dpos = upload(pos);
    std::vector<uint16_t*> gk, gv, gk1, gv1;
    std::vector<uint8_t*> qk, qv, qk1, qv1;
    std::vector<float*> sk, sv, sk1, sv1;
    const std::vector<uint16_t> zeros(static_cast<size_t>(cap * kvd));
    const std::vector<uint8_t> zeros8(static_cast<size_t>(cap * kvd));
    const std::vector<float> zerosf(static_cast<size_t>(cap * heads));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto* l : {&gk, &gv, &gk1, &gv1}) l->push_back(upload(zeros));
      for (auto* l : {&qk, &qv, &qk1, &qv1}) l->push_back(upload(zeros8));
      for (auto* l : {&sk, &sv, &sk1, &sv1}) l->push_back(upload(zerosf));
    }
    ASSERT_TRUE(kernels::rope_store_kv_rows(dk, dv, upload(gk), upload(gv), rows, heads, hd, dpos,
                                            df, stream_)
                    .ok());
    ASSERT_TRUE(kernels::rope_store_kv_fp8_rows(dk, dv, upload(qk), upload(qv), upload(sk),
                                                upload(sv), rows, heads, hd, dpos, df, stream_)
                    .ok());
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r);
      ASSERT_TRUE(kernels::rope_store_kv(dk + r * kvd, dv + r * kvd, gk1[i], gv1[i], heads, hd,
                                         dpos + r, df, stream_)
                      .ok());
      ASSERT_TRUE(kernels::rope_store_kv_fp8(dk + r * kvd, dv + r * kvd, qk1[i], qv1[i], sk1[i],
                                             sv1[i], heads, hd, dpos + r, df, stream_)
                      .ok());
    }
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r), n = zeros.size();
      EXPECT_EQ(download(gk[i], n), download(gk1[i], n)) << "K of session " << r;
      EXPECT_EQ(download(gv[i], n), download(gv1[i], n)) << "V of session " << r;
      EXPECT_EQ(download(qk[i], n), download(qk1[i], n)) << "fp8 K of session " << r;
      EXPECT_EQ(download(qv[i], n), download(qv1[i], n)) << "fp8 V of session " << r;
      EXPECT_EQ(download(sk[i], zerosf.size()), download(sk1[i], zerosf.size()))
          << "K scales of session " << r;
      EXPECT_EQ(download(sv[i], zerosf.size()), download(sv1[i], zerosf.size()))
          << "V scales of session " << r;
      // CPU twin: RoPE at the session's position, at its row only.
      auto kr = widen(std::vector<uint16_t>(k.begin() + r * kvd, k.begin() + (r + 1) * kvd));
      cpu::rope(kr.data(), 1, heads, hd, pos[i], f.data());
      const auto row = download(gk[i], n);
      expect_close(
          std::vector<uint16_t>(row.begin() + pos[i] * kvd, row.begin() + (pos[i] + 1) * kvd), kr,
          "rope_store_kv_rows K");
    }
  }
}

// Rows of the fused product (stride), each with its own state: == retention_decode per row.
TEST_F(BatchKernels, RetentionDecodeRowsEqualsSingleRows) {
  for (auto [rows, H, hd] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 4, 16}, {3, 6, 64}, {8, 24, 128}, {32, 2, 32}}) {
    const int64_t D = H * hd, stride = 4 * D + H;
    auto x = random_bf16(static_cast<size_t>(rows * stride), 31, 0.5f);
    std::vector<float> state(static_cast<size_t>(H * hd * hd));
    std::mt19937 rng(32);
    std::normal_distribution<float> d(0.0f, 0.5f);
    auto* dx = upload(x);
    std::vector<float*> st, st1;
    std::vector<std::vector<float>> init;
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& s : state) s = d(rng);
      init.push_back(state);
      st.push_back(upload(state));
      st1.push_back(upload(state));
    }
    auto *dout = upload(std::vector<uint16_t>(static_cast<size_t>(rows * D))),
         *dout1 = upload(std::vector<uint16_t>(static_cast<size_t>(rows * D)));
    ASSERT_TRUE(kernels::retention_decode_rows(dx, dx + D, dx + 2 * D, dx + 3 * D, dx + 4 * D,
                                               stride, upload(st), dout, rows, H, hd, 16.0f, 1e-5f,
                                               stream_)
                    .ok());
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t* b = dx + r * stride;
      ASSERT_TRUE(kernels::retention_decode(b, b + D, b + 2 * D, b + 3 * D, b + 4 * D,
                                            st1[static_cast<size_t>(r)], dout1 + r * D, H, hd,
                                            16.0f, 1e-5f, stream_)
                      .ok());
    }
    const auto got = download(dout, static_cast<size_t>(rows * D));
    EXPECT_EQ(got, download(dout1, static_cast<size_t>(rows * D))) << rows << " rows";
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r);
      EXPECT_EQ(download(st[i], state.size()), download(st1[i], state.size()))
          << "state of row " << r;
      // CPU twins on row r.
      const auto xr =
          widen(std::vector<uint16_t>(x.begin() + r * stride, x.begin() + (r + 1) * stride));
      std::vector<float> lg(xr.begin() + 4 * D, xr.begin() + 4 * D + H),
          ref(static_cast<size_t>(D)), cs = init[i];
      cpu::retention_log_gamma(lg.data(), H, 16.0f);
      cpu::gated_retention(xr.data(), xr.data() + D, xr.data() + 2 * D, lg.data(), cs.data(),
                           ref.data(), 1, H, hd, 64);
      cpu::retention_output(ref.data(), xr.data() + 3 * D, 1, H, hd, 1e-5f);
      expect_close(std::vector<uint16_t>(got.begin() + r * D, got.begin() + (r + 1) * D), ref,
                   "retention_decode_rows");
    }
  }
}

// B sessions of different lengths over their own KV in one launch: == cross_attn_decode (and the
// fp8 form) per session at the same split count; vs cpu::cross_attn.
TEST_F(BatchKernels, CrossAttnDecodeBatchEqualsSingleSessions) {
  for (auto [B, hq, hkv, hd] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 24, 8, 128},
                                {3, 4, 2, 16},
                                {8, 6, 2, 64},
                                {32, 24, 8, 128}}) {
    const int64_t kvd = hkv * hd;
    std::vector<int64_t> pos(static_cast<size_t>(B));
    std::vector<const void*> ks, vs, ks8, vs8;
    std::vector<const float*> sks, svs;
    std::vector<std::vector<uint16_t>> kh, vh;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = 1 + (b * 977 + 63) % 3000;  // keys 0..pos, pos = n - 1
      pos[static_cast<size_t>(b)] = n - 1;
      kh.push_back(random_bf16(static_cast<size_t>(n * kvd), static_cast<uint32_t>(40 + b)));
      vh.push_back(random_bf16(static_cast<size_t>(n * kvd), static_cast<uint32_t>(140 + b)));
      ks.push_back(upload(kh.back()));
      vs.push_back(upload(vh.back()));
      auto* k8 = upload(std::vector<uint8_t>(static_cast<size_t>(n * kvd)));
      auto* v8 = upload(std::vector<uint8_t>(static_cast<size_t>(n * kvd)));
      auto* s8k = upload(std::vector<float>(static_cast<size_t>(n * hkv)));
      auto* s8v = upload(std::vector<float>(static_cast<size_t>(n * hkv)));
      ASSERT_TRUE(kernels::kv_quantize_fp8(static_cast<const uint16_t*>(ks.back()), n, hkv, hd, k8,
                                           s8k, stream_)
                      .ok());
      ASSERT_TRUE(kernels::kv_quantize_fp8(static_cast<const uint16_t*>(vs.back()), n, hkv, hd, v8,
                                           s8v, stream_)
                      .ok());
      ks8.push_back(k8);
      vs8.push_back(v8);
      sks.push_back(s8k);
      svs.push_back(s8v);
    }
    auto q = random_bf16(static_cast<size_t>(B * hq * hd), 49);
    auto* dq = upload(q);
    auto* dpos = upload(pos);
    const int max_splits = kernels::attn_decode_max_splits(hkv, hd);
    for (int splits : {1, 4, kernels::cross_attn_decode_batch_splits(B, hkv, hd), max_splits}) {
      auto* ws = upload(std::vector<float>(static_cast<size_t>(std::max<int64_t>(
          1, kernels::cross_attn_decode_batch_workspace_floats(B, hq, hd, splits)))));
      for (bool fp8 : {false, true}) {
        kernels::kv_batch kv;
        kv.k = upload(fp8 ? ks8 : ks);
        kv.v = upload(fp8 ? vs8 : vs);
        kv.k_scale = fp8 ? upload(sks) : nullptr;
        kv.v_scale = fp8 ? upload(svs) : nullptr;
        kv.pos = dpos;
        kv.fp8 = fp8;
        auto* dout = upload(std::vector<uint16_t>(q.size()));
        auto* dout1 = upload(std::vector<uint16_t>(q.size()));
        ASSERT_TRUE(
            kernels::cross_attn_decode_batch(dq, kv, dout, B, hq, hkv, hd, splits, ws, stream_)
                .ok());
        auto* ws1 = upload(std::vector<float>(static_cast<size_t>(
            std::max<int64_t>(1, kernels::cross_attn_decode_workspace_floats(hq, hd, splits)))));
        for (int64_t b = 0; b < B; ++b) {
          const size_t i = static_cast<size_t>(b);
          const uint16_t* qb = dq + b * hq * hd;
          uint16_t* ob = dout1 + b * hq * hd;
          if (fp8) {
            const kernels::kv_fp8 one{static_cast<const uint8_t*>(ks8[i]),
                                      static_cast<const uint8_t*>(vs8[i]), sks[i], svs[i]};
            ASSERT_TRUE(kernels::cross_attn_decode_fp8(qb, one, ob, dpos + b, hq, hkv, hd, splits,
                                                       ws1, stream_)
                            .ok());
          } else {
            ASSERT_TRUE(kernels::cross_attn_decode(qb, static_cast<const uint16_t*>(ks[i]),
                                                   static_cast<const uint16_t*>(vs[i]), ob,
                                                   dpos + b, hq, hkv, hd, splits, ws1, stream_)
                            .ok());
          }
          ASSERT_EQ(cudaStreamSynchronize(stream_),
                    cudaSuccess);  // ws1 is reused by the next session
        }
        const auto got = download(dout, q.size());
        EXPECT_EQ(got, download(dout1, q.size()))
            << "B " << B << " splits " << splits << (fp8 ? " fp8" : " bf16");
        if (fp8) continue;  // (the fp8 kernels' twin comparison is test_kernels.cpp's)
        for (int64_t b = 0; b < B; ++b) {
          const size_t i = static_cast<size_t>(b);
          std::vector<float> ref(static_cast<size_t>(hq * hd));
          const auto qf =
              widen(std::vector<uint16_t>(q.begin() + b * hq * hd, q.begin() + (b + 1) * hq * hd));
          cpu::cross_attn(qf.data(), widen(kh[i]).data(), widen(vh[i]).data(), ref.data(), 1,
                          pos[i], hq, hkv, hd);
          SCOPED_TRACE("session " + std::to_string(b) + " splits " + std::to_string(splits));
          expect_close(
              std::vector<uint16_t>(got.begin() + b * hq * hd, got.begin() + (b + 1) * hq * hd),
              ref, "cross_attn_decode_batch");
        }
      }
    }
  }
  kernels::kv_batch none;
  EXPECT_FALSE(
      kernels::cross_attn_decode_batch(nullptr, none, nullptr, 2, 24, 8, 128, 1, nullptr, stream_)
          .ok());
}

TEST_F(BatchKernels, CopyRowsToEachDestination) {
  const int64_t rows = 5, dim = 3072;
  auto x = random_bf16(static_cast<size_t>(rows * dim), 61);
  auto* dx = upload(x);
  std::vector<uint16_t*> dst;
  for (int64_t r = 0; r < rows; ++r)
    dst.push_back(upload(std::vector<uint16_t>(static_cast<size_t>(dim))));
  ASSERT_TRUE(kernels::copy_rows_to(dx, rows, dim, upload(dst), stream_).ok());
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(download(dst[static_cast<size_t>(r)], static_cast<size_t>(dim)),
              std::vector<uint16_t>(x.begin() + r * dim, x.begin() + (r + 1) * dim));
}

// Greedy on the device vs tome::sampler at temperature 0 (its twin) on rows with NaN, -inf, +inf,
// ties at the maximum (lowest index wins), all-NaN and all -inf rows: the same index, exactly.
TEST_F(BatchKernels, ArgmaxRowsEqualsTheGreedySampler) {
  const float inf = std::numeric_limits<float>::infinity(),
              nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{4099}, int64_t{100288}}) {
    const int64_t rows = 9;
    std::mt19937 rng(static_cast<uint32_t>(70 + n));
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(rows * n));
    for (auto& v : x) v = d(rng);
    auto at = [&](int64_t r, int64_t j) -> float& { return x[static_cast<size_t>(r * n + j % n)]; };
    for (int64_t j = 0; j < n; j += 3) at(1, j) = nan;                 // NaNs among values
    at(2, n / 3) = 50.0f, at(2, n / 2) = 50.0f, at(2, n - 1) = 50.0f;  // ties: the lowest index
    for (int64_t j = 0; j < n; ++j) at(3, j) = nan;                    // all NaN: 0
    for (int64_t j = 0; j < n; ++j) at(4, j) = -inf;                   // all -inf: 0
    at(5, n - 1) = inf, at(5, n / 2) = nan;                            // +inf wins
    for (int64_t j = 0; j < n; ++j) at(6, j) = 1.0f;                   // all equal: 0
    at(7, 0) = nan;                                                    // NaN first
    for (int64_t j = 0; j < n; ++j) at(8, j) = j % 5 == 0 ? -inf : nan;
    auto* dx = upload(x);
    auto* dout = upload(std::vector<int32_t>(static_cast<size_t>(rows), -7));
    ASSERT_TRUE(kernels::argmax_rows(dx, rows, n, dout, stream_).ok());
    const auto got = download(dout, static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      sampler greedy(sampling_params{});
      const int32_t want =
          greedy.sample(std::span<const float>(x.data() + r * n, static_cast<size_t>(n)), {});
      EXPECT_EQ(got[static_cast<size_t>(r)], want) << "row " << r << " of " << n;
    }
  }
  EXPECT_FALSE(kernels::argmax_rows(nullptr, 1, 10, nullptr, stream_).ok());
}

}  // namespace
}  // namespace tome
