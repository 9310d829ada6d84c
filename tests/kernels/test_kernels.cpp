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
