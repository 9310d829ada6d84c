// The fixture of the kernel op tests (test_kernels, test_batch_kernels, test_gemv_i8): a stream,
// device buffers freed after each test, random bf16 inputs and the bf16 closeness bound
// |gpu - cpu| <= 1e-2 * |cpu| + 1e-2 (2-3 bf16 ulps). Skips the test without a CUDA device.
#pragma once

#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "model/dtype.h"
#include "tome/kernels.h"

namespace tome::test {

class GpuOpTest : public ::testing::Test {
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
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(16, v.size() * sizeof(T))), cudaSuccess);
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

}  // namespace tome::test
