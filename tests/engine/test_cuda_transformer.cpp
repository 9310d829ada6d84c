// The Transformer baseline (kind transformer) on the GPU (cuda/transformer.cpp) against its CPU
// reference (cpu/transformer.cpp): full forward logits, chunked prefill + decode steps (graph and
// eager), and the refusal to save sessions. Part of test_cuda_backend; skips without a GPU.
// Bound as for YOCO (test_cuda_backend.cpp): bf16 activations vs f32, max |gpu - cpu| <= 0.05 *
// (1 + max |cpu logit|); graph vs eager decode on the same GPU <= 0.01 (different key splits).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "backend/backend.h"
#include "memory/session_state.h"
#include "tome/engine.h"

namespace tome {
namespace {

double rel_err(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(gpu[i] - cpu[i])));
    scale = std::max(scale, static_cast<double>(std::abs(cpu[i])));
  }
  return worst / (1.0 + scale);
}

std::vector<int32_t> toks(size_t n, uint32_t seed, int64_t vocab) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

class CudaTransformer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_backend_available(&why)) GTEST_SKIP() << why;
    auto c = builtin_config("tiny-transformer");
    ASSERT_TRUE(c.ok());
    auto a = model::create_random(*c, 3, {backend_kind::cpu, 0});
    auto b = model::create_random(*c, 3, {backend_kind::cuda, 0});
    ASSERT_TRUE(a.ok() && b.ok()) << a.message() << b.message();
    cpu_ = *a;
    gpu_ = *b;
  }
  std::shared_ptr<model> cpu_, gpu_;
};

TEST_F(CudaTransformer, FullForwardLogitsAgree) {
  const auto t = toks(300, 1, cpu_->config().vocab_size);
  auto sc = session::create(cpu_), sg = session::create(gpu_);
  std::vector<float> lc, lg;
  ASSERT_TRUE(cpu_->be().forward_all(*(*sc)->state().dev, t, lc).ok());
  auto st = gpu_->be().forward_all(*(*sg)->state().dev, t, lg);
  ASSERT_TRUE(st.ok()) << st.message();
  const double e = rel_err(lg, lc);
  std::printf("[ tiny-transformer ] full forward, 300 tokens: max|gpu-cpu| / (1 + max|logit|) = %.4f\n", e);
  EXPECT_LT(e, 0.05);
}

TEST_F(CudaTransformer, ChunkedPrefillAndDecodeAgree) {
  const auto t = toks(4800, 2, cpu_->config().vocab_size);
  auto sc = session::create(cpu_), sg = session::create(gpu_), eager = session::create(gpu_);
  prefill_params p;
  p.chunk_tokens = 256;
  ASSERT_TRUE((*sc)->prefill(std::span(t).first(650), p).ok());
  auto r = (*sg)->prefill(std::span(t).first(650), p);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_TRUE((*eager)->prefill(std::span(t).first(650), p).ok());
  auto a0 = *(*sc)->logits();
  auto b0 = *(*sg)->logits();
  double worst = rel_err({b0.begin(), b0.end()}, {a0.begin(), a0.end()}), graph_vs_eager = 0;
  auto step = [&](int32_t tok) {
    auto a = *(*sc)->decode(tok);
    auto b = (*sg)->decode(tok);  // graph (default)
    setenv("TOME_CUDA_GRAPHS", "0", 1);
    auto e = (*eager)->decode(tok);
    unsetenv("TOME_CUDA_GRAPHS");
    ASSERT_TRUE(b.ok() && e.ok()) << b.message() << e.message();
    const std::vector<float> bv(b->begin(), b->end());
    worst = std::max(worst, rel_err(bv, {a.begin(), a.end()}));
    graph_vs_eager = std::max(graph_vs_eager, rel_err(bv, {e->begin(), e->end()}));
  };
  size_t i = 650;
  for (; i < 700; ++i) step(t[i]);
  // A long append moves every layer's KV (past the 650 + 4096 reserved): the graph is captured again.
  const auto more = std::span(t).subspan(i, 4050);
  ASSERT_TRUE((*sc)->prefill(more, p).ok());
  ASSERT_TRUE((*sg)->prefill(more, p).ok());
  ASSERT_TRUE((*eager)->prefill(more, p).ok());
  for (i += more.size(); i < t.size(); ++i) step(t[i]);
  std::printf("[ tiny-transformer ] prefill 650 + 50 decode + prefill 4050 + 50 decode: worst relative error %.4f, "
              "graph vs eager %.2e\n", worst, graph_vs_eager);
  EXPECT_LT(worst, 0.05);
  EXPECT_LT(graph_vs_eager, 0.01);
  EXPECT_EQ((*sg)->n_tokens(), 4800);
}

TEST_F(CudaTransformer, SessionsRefuseSaving) {
  auto s = session::create(gpu_);
  ASSERT_TRUE((*s)->prefill(toks(50, 3, gpu_->config().vocab_size)).ok());
  EXPECT_TRUE((*s)->serialize().empty());
  auto mk = (*s)->mark();
  ASSERT_FALSE(mk.ok());
  EXPECT_NE(mk.message().find("Transformer baseline"), std::string::npos) << mk.message();
  EXPECT_FALSE((*s)->attention_mass().ok());
}

}  // namespace
}  // namespace tome
