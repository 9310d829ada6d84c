// Int8 weight-only matrices on the CUDA backend (load_params::weights): the load-time quantisation
// of a float model gives the same codes as a model stored in int8 (so the same logits, bit for
// bit, on the GPU), the weights take about half the bytes of bf16, and the option is refused
// where it does not apply. The GPU-vs-CPU agreement of int8 models runs in test_cuda_backend.cpp
// (CudaVsCpu over "gret-int8", "builtin-int8:tome-25m", "builtin-int8:tome-25m-swa").
// Skips where no GPU (or no cuBLAS) is present.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/random_weights.h"
#include "model/safetensors.h"
#include "tome/engine.h"

namespace tome {
namespace {

class CudaInt8Weights : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_backend_available(&why)) GTEST_SKIP() << why;
  }
};

std::vector<int32_t> random_tokens(int64_t vocab, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

// Logits of forward_all over `toks`, then of 6 decode steps (graph decode where the model has it).
std::vector<float> run(const backend& be, const std::vector<int32_t>& toks, int64_t vocab) {
  auto st = be.new_state();
  std::vector<float> all;
  EXPECT_TRUE(be.forward_all(*st, toks, all).ok());
  std::vector<float> lg(static_cast<size_t>(vocab));
  for (int i = 0; i < 6; ++i) {
    const status s = be.decode(*st, toks[static_cast<size_t>(i)], lg);
    EXPECT_TRUE(s.ok()) << s.message();
    all.insert(all.end(), lg.begin(), lg.end());
  }
  return all;
}

TEST_F(CudaInt8Weights, LoadTimeQuantisationEqualsStoredInt8) {
  for (const char* name : {"tiny", "tiny-swa", "tome-25m"}) {
    SCOPED_TRACE(name);
    auto c = builtin_config(name);
    ASSERT_TRUE(c.ok());
    const auto f32_image = random_safetensors(*c, 7, false),
               i8_image = random_safetensors(*c, 7, true);
    auto f32_idx = parse_safetensors(f32_image, "f32 image");
    auto i8_idx = parse_safetensors(i8_image, "int8 image");
    ASSERT_TRUE(f32_idx.ok() && i8_idx.ok());
    auto quantised =
        make_cuda_backend(*c, *f32_idx, "f32 image", kv_format::native, weight_format::int8);
    auto stored =
        make_cuda_backend(*c, *i8_idx, "int8 image", kv_format::native, weight_format::automatic);
    auto bf16 =
        make_cuda_backend(*c, *f32_idx, "f32 image", kv_format::native, weight_format::automatic);
    auto widened =
        make_cuda_backend(*c, *i8_idx, "int8 image", kv_format::native, weight_format::bf16);
    ASSERT_TRUE(quantised.ok() && stored.ok() && bf16.ok() && widened.ok())
        << quantised.message() << stored.message() << bf16.message() << widened.message();
    EXPECT_NE((*quantised)->description().find("int8"), std::string::npos)
        << (*quantised)->description();
    EXPECT_EQ((*bf16)->description().find("int8"), std::string::npos) << (*bf16)->description();
    EXPECT_EQ((*widened)->description().find("int8"), std::string::npos)
        << (*widened)->description();
    // int8: one byte per weight + 4 per matrix row (+ norms in bf16), against two bytes per weight.
    EXPECT_EQ((*quantised)->weight_bytes(), (*stored)->weight_bytes());
    EXPECT_EQ((*bf16)->weight_bytes(), (*widened)->weight_bytes());
    EXPECT_LT((*quantised)->weight_bytes(), 0.56 * static_cast<double>((*bf16)->weight_bytes()));
    // The embedding table's share (the decode floor of `tome bench` leaves it out): bf16, or int8
    // with a scale a row.
    EXPECT_EQ((*bf16)->embedding_bytes(), c->vocab_size * c->dim * 2);
    EXPECT_EQ((*quantised)->embedding_bytes(), c->vocab_size * (c->dim + 4));
    const auto toks = random_tokens(c->vocab_size, 70, 8);
    const auto a = run(**quantised, toks, c->vocab_size), b = run(**stored, toks, c->vocab_size);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "logit " << i;
  }
}

TEST_F(CudaInt8Weights, RefusedWhereItDoesNotApply) {
  const std::string golden = std::string(TOME_SOURCE_DIR) + "/tests/golden/";
  load_params p{backend_kind::cpu, 1};
  p.weights = weight_format::int8;
  auto f32_on_cpu = model::load(golden + "gret-f32", p);
  ASSERT_FALSE(f32_on_cpu.ok());
  EXPECT_NE(f32_on_cpu.message().find("int8"), std::string::npos) << f32_on_cpu.message();
  auto i8_on_cpu = model::load(golden + "gret-int8", p);  // stored int8: what the CPU computes from
  EXPECT_TRUE(i8_on_cpu.ok()) << i8_on_cpu.message();
  auto c = builtin_config("tiny-transformer");
  ASSERT_TRUE(c.ok());
  p.backend = backend_kind::cuda;
  auto t = model::create_random(*c, 3, p);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("Transformer"), std::string::npos) << t.message();
}

}  // namespace
}  // namespace tome
