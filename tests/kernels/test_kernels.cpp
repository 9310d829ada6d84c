// CUDA kernels vs their CPU twins (backend/cpu/cpu_ops.h). Inputs are random bf16 values; the
// twin runs in f32 on the same (widened) values. Bound per op: outputs are bf16, so
// |gpu - cpu| <= 1e-2 * |cpu| + 1e-2 (2-3 bf16 ulps) unless stated. Skips without a GPU.
#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "model/dtype.h"
#include "tome/kernels.h"

namespace tome {
namespace {

class Kernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kernels::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(cudaStreamCreate(&stream_), cudaSuccess);
  }
  void TearDown() override {
    for (void* p : allocs_) cudaFree(p);
    if (stream_) cudaStreamDestroy(stream_);
  }
  template <class T>
  T* upload(const std::vector<T>& v) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(1, v.size() * sizeof(T))), cudaSuccess);
    allocs_.push_back(p);
    EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    return static_cast<T*>(p);
  }
  template <class T>
  std::vector<T> download(const T* p, size_t n) {
    EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
    std::vector<T> v(n);
    EXPECT_EQ(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  static std::vector<uint16_t> random_bf16(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<uint16_t> v(n);
    for (auto& x : v) x = f32_to_bf16(d(rng));
    return v;
  }
  static std::vector<float> widen(const std::vector<uint16_t>& v) {
    std::vector<float> f(v.size());
    for (size_t i = 0; i < v.size(); ++i) f[i] = bf16_to_f32(v[i]);
    return f;
  }
  static void expect_close(const std::vector<uint16_t>& gpu, const std::vector<float>& cpu, const char* what) {
    ASSERT_EQ(gpu.size(), cpu.size());
    for (size_t i = 0; i < cpu.size(); ++i) {
      const float g = bf16_to_f32(gpu[i]);
      ASSERT_LE(std::abs(g - cpu[i]), 1e-2f * std::abs(cpu[i]) + 1e-2f) << what << " element " << i;
    }
  }
  cudaStream_t stream_ = nullptr;
  std::vector<void*> allocs_;
};

TEST_F(Kernels, RmsNormMatchesCpuTwin) {
  for (auto [rows, dim] : {std::pair<int64_t, int64_t>{1, 1}, {3, 31}, {7, 384}, {5, 1000}, {2, 3072}, {129, 64}}) {
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

TEST_F(Kernels, SwiGluMatchesCpuTwin) {
  for (int64_t n : {1, 33, 1024, 100003}) {
    auto a = random_bf16(static_cast<size_t>(n), 4, 3.0f), b = random_bf16(static_cast<size_t>(n), 5);
    auto* da = upload(a);
    auto* db = upload(b);
    auto* dout = upload(std::vector<uint16_t>(static_cast<size_t>(n)));
    ASSERT_TRUE(kernels::swiglu(da, db, dout, n, stream_).ok());
    std::vector<float> ref(static_cast<size_t>(n));
    cpu::swiglu(widen(a).data(), widen(b).data(), ref.data(), n);
    expect_close(download(dout, static_cast<size_t>(n)), ref, "swiglu");
  }
}

TEST_F(Kernels, EmbeddingMatchesCpuTwin) {
  const int64_t vocab = 300, dim = 96, n = 50;
  auto table = random_bf16(static_cast<size_t>(vocab * dim), 6);
  std::vector<int32_t> toks(n);
  std::mt19937 rng(7);
  for (auto& t : toks) t = static_cast<int32_t>(rng() % vocab);
  auto* dt = upload(toks);
  auto* dtab = upload(table);
  auto* dy = upload(std::vector<uint16_t>(static_cast<size_t>(n * dim)));
  const float scale = std::sqrt(static_cast<float>(dim));
  ASSERT_TRUE(kernels::embedding(dt, n, dtab, vocab, dim, scale, dy, stream_).ok());
  std::vector<float> ref(static_cast<size_t>(n * dim));
  cpu::embedding(toks.data(), n, widen(table).data(), dim, scale, ref.data());
  expect_close(download(dy, ref.size()), ref, "embedding");
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

// The chunkwise kernel (prefill) vs the CPU twin, across chunk edges, segments and two calls.
TEST_F(Kernels, ChunkedGatedRetentionMatchesCpuTwin) {
  for (auto [T, H, hd] : {std::tuple<int64_t, int64_t, int64_t>{64, 1, 16}, {65, 3, 64}, {1000, 2, 128},
                          {8192 + 130, 2, 32}, {200, 6, 64}}) {
    const size_t n = static_cast<size_t>(T * H * hd);
    auto q = random_bf16(n, 61), k = random_bf16(n, 62, 0.25f), v = random_bf16(n, 63);
    std::vector<float> lg(static_cast<size_t>(T * H));
    std::mt19937 rng(64);
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
    auto* ws = upload(std::vector<float>(static_cast<size_t>(kernels::gated_retention_chunked_workspace_floats(T, H, hd))));
    const int64_t T1 = T / 3, row = H * hd;
    ASSERT_TRUE(kernels::gated_retention_chunked(dq, dk, dv, dlg, dst, dout, T1, H, hd, ws, stream_).ok());
    ASSERT_TRUE(kernels::gated_retention_chunked(dq + T1 * row, dk + T1 * row, dv + T1 * row, dlg + T1 * H, dst,
                                                 dout + T1 * row, T - T1, H, hd, ws, stream_).ok());
    std::vector<float> ref(n), cpu_state = state;
    cpu::gated_retention(widen(q).data(), widen(k).data(), widen(v).data(), lg.data(), cpu_state.data(), ref.data(), T1,
                         H, hd, 64);
    cpu::gated_retention(widen(q).data() + T1 * row, widen(k).data() + T1 * row, widen(v).data() + T1 * row,
                         lg.data() + T1 * H, cpu_state.data(), ref.data() + T1 * row, T - T1, H, hd, 64);
    expect_close(download(dout, n), ref, "gated_retention_chunked");
    auto gs = download(dst, state.size());
    for (size_t i = 0; i < gs.size(); ++i) ASSERT_NEAR(gs[i], cpu_state[i], 1e-3f + 1e-3f * std::abs(cpu_state[i])) << i;
  }
}

TEST_F(Kernels, RetentionGateAndOutputMatchCpuTwins) {
  const int64_t rows = 9, H = 3, hd = 32, n = rows * H * hd;
  auto gt = random_bf16(static_cast<size_t>(rows * H), 21, 4.0f);
  auto* dgt = upload(gt);
  auto* dlg = upload(std::vector<float>(gt.size()));
  ASSERT_TRUE(kernels::retention_log_gamma(dgt, dlg, rows * H, 16.0f, stream_).ok());
  auto ref = widen(gt);
  cpu::retention_log_gamma(ref.data(), rows * H, 16.0f);
  auto got = download(dlg, gt.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5f + 1e-4f * std::abs(ref[i]));
  auto o = random_bf16(static_cast<size_t>(n), 22), g = random_bf16(static_cast<size_t>(n), 23);
  auto* dout = upload(o);
  auto* dg = upload(g);
  ASSERT_TRUE(kernels::retention_output(dout, dg, rows, H, hd, 1e-5f, stream_).ok());
  auto oref = widen(o);
  cpu::retention_output(oref.data(), widen(g).data(), rows, H, hd, 1e-5f);
  expect_close(download(dout, static_cast<size_t>(n)), oref, "retention_output");
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
