// The CUDA backend against the CPU reference on whole models: logits of the full forward pass,
// of chunked prefill + decode, for both self-decoder kinds and every golden storage dtype, and
// snapshots crossing backends. Skips where no GPU (or no cuBLAS) is present.
// Bound: the GPU runs bf16 activations (f32 accumulation) where the CPU runs f32, so logits agree
// to max |gpu - cpu| <= 0.05 * (1 + max |cpu logit|) — measured values are printed.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/backend.h"
#include "memory/session_state.h"
#include "tome/engine.h"

namespace tome {
namespace {

double rel_error(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(gpu[i] - cpu[i])));
    scale = std::max(scale, static_cast<double>(std::abs(cpu[i])));
  }
  return worst / (1.0 + scale);
}

class CudaVsCpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_backend_available(&why)) GTEST_SKIP() << why;
  }
  std::pair<std::shared_ptr<model>, std::shared_ptr<model>> load_both() {
    const std::string p = GetParam();
    if (p.rfind("builtin:", 0) == 0) {
      auto c = builtin_config(p.substr(8));
      EXPECT_TRUE(c.ok());
      auto a = model::create_random(*c, 3, {backend_kind::cpu, 0});
      auto b = model::create_random(*c, 3, {backend_kind::cuda, 0});
      EXPECT_TRUE(a.ok() && b.ok()) << a.message() << b.message();
      return {*a, *b};
    }
    const std::string dir = std::string(TOME_SOURCE_DIR) + "/tests/golden/" + p;
    auto a = model::load(dir, {backend_kind::cpu, 0});
    auto b = model::load(dir, {backend_kind::cuda, 0});
    EXPECT_TRUE(a.ok() && b.ok()) << a.message() << b.message();
    return {*a, *b};
  }
};

std::vector<int32_t> tokens_for(const model& m, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(m.config().vocab_size));
  return t;
}

TEST_P(CudaVsCpu, FullForwardLogitsAgree) {
  auto [cpu_m, gpu_m] = load_both();
  const auto toks = tokens_for(*cpu_m, 300, 1);
  auto sc = session::create(cpu_m), sg = session::create(gpu_m);
  std::vector<float> lc, lg;
  ASSERT_TRUE(cpu_m->be().forward_all(*(*sc)->state().dev, toks, lc).ok());
  auto st = gpu_m->be().forward_all(*(*sg)->state().dev, toks, lg);
  ASSERT_TRUE(st.ok()) << st.message();
  const double e = rel_error(lg, lc);
  std::printf("[ %s ] full forward, 300 tokens: max|gpu-cpu| / (1 + max|logit|) = %.4f\n", GetParam().c_str(), e);
  EXPECT_LT(e, 0.05);
}

TEST_P(CudaVsCpu, ChunkedPrefillAndDecodeAgree) {
  auto [cpu_m, gpu_m] = load_both();
  const auto toks = tokens_for(*cpu_m, 700, 2);
  auto sc = session::create(cpu_m), sg = session::create(gpu_m);
  prefill_params p;
  p.chunk_tokens = 256;
  ASSERT_TRUE((*sc)->prefill(std::span(toks).first(650), p).ok());
  auto r = (*sg)->prefill(std::span(toks).first(650), p);
  ASSERT_TRUE(r.ok()) << r.message();
  double worst = 0;
  for (size_t i = 650; i < toks.size(); ++i) {
    auto a = *(*sc)->decode(toks[i]);
    auto b = *(*sg)->decode(toks[i]);
    worst = std::max(worst, rel_error({b.begin(), b.end()}, {a.begin(), a.end()}));
  }
  std::printf("[ %s ] prefill 650 (chunks of 256) + 50 decode steps: worst relative error %.4f\n",
              GetParam().c_str(), worst);
  EXPECT_LT(worst, 0.05);
}

TEST_P(CudaVsCpu, SnapshotsCrossBackends) {
  auto [cpu_m, gpu_m] = load_both();
  const auto toks = tokens_for(*cpu_m, 120, 3);
  auto sg = session::create(gpu_m);
  ASSERT_TRUE((*sg)->prefill(toks).ok());
  const auto bytes = (*sg)->serialize();
  auto on_cpu = session::deserialize(cpu_m, bytes);
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.message();
  auto back = session::deserialize(gpu_m, (*on_cpu)->serialize());
  ASSERT_TRUE(back.ok()) << back.message();
  auto a = *(*sg)->logits();
  std::vector<float> av(a.begin(), a.end());
  auto b = *(*back)->logits();
  auto c = *(*on_cpu)->logits();
  // GPU → CPU → GPU keeps the bf16 state exactly (bf16 → f32 → bf16 is lossless).
  for (size_t i = 0; i < av.size(); ++i) ASSERT_EQ(av[i], b[i]);
  EXPECT_LT(rel_error(av, {c.begin(), c.end()}), 0.05);
}

// Rewind on the GPU: after a mark at the document end, each request (prefill + decode) gives the
// same logits bit for bit as a fresh GPU session over document + request.
TEST_P(CudaVsCpu, RewindToAMarkEqualsAFreshSession) {
  auto [cpu_m, gpu_m] = load_both();
  const auto doc = tokens_for(*gpu_m, 300, 5);
  auto s = session::create(gpu_m);
  ASSERT_TRUE((*s)->prefill(doc).ok());
  auto mk = (*s)->mark();
  ASSERT_TRUE(mk.ok()) << mk.message();
  for (uint32_t q = 0; q < 2; ++q) {
    const auto ask = tokens_for(*gpu_m, q ? 70 : 9, 40 + q);
    ASSERT_TRUE((*s)->prefill(ask).ok());
    auto fresh = session::create(gpu_m);  // same chunk boundaries: document, then request
    ASSERT_TRUE((*fresh)->prefill(doc).ok());
    ASSERT_TRUE((*fresh)->prefill(ask).ok());
    auto a = *(*s)->logits();
    std::vector<float> av(a.begin(), a.end());
    auto b = *(*fresh)->logits();
    for (size_t i = 0; i < av.size(); ++i) ASSERT_EQ(av[i], b[i]) << "request " << q;
    for (int32_t t : tokens_for(*gpu_m, 4, 50 + q)) {
      auto x = *(*s)->decode(t);
      std::vector<float> xv(x.begin(), x.end());
      auto y = *(*fresh)->decode(t);
      for (size_t i = 0; i < xv.size(); ++i) ASSERT_EQ(xv[i], y[i]) << "request " << q;
    }
    auto r = (*s)->rewind(*mk);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ((*s)->tokens(), doc);
  }
}

TEST_P(CudaVsCpu, AttentionMassAgrees) {
  auto [cpu_m, gpu_m] = load_both();
  const auto toks = tokens_for(*cpu_m, 2000, 9);
  auto sc = session::create(cpu_m);
  auto sg = session::create(gpu_m);
  ASSERT_TRUE((*sc)->prefill(toks).ok());
  ASSERT_TRUE((*sg)->prefill(toks).ok());
  auto a = (*sc)->attention_mass();
  auto b = (*sg)->attention_mass();
  ASSERT_TRUE(a.ok() && b.ok()) << a.message() << b.message();
  ASSERT_EQ(a->size(), b->size());
  double worst = 0, total = 0;
  for (size_t j = 0; j < a->size(); ++j) {
    worst = std::max(worst, static_cast<double>(std::abs((*a)[j] - (*b)[j])));
    total += (*b)[j];
  }
  std::printf("[ %s ] attention mass over 2000 positions: max |gpu - cpu| %.2e\n", GetParam().c_str(), worst);
  EXPECT_LT(worst, 0.02);  // bf16 activations vs f32 on the GPU path, on weights of at most 1
  EXPECT_NEAR(total, 1.0, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaVsCpu,
                         ::testing::Values("gret-f32", "gret-int8", "swa-f32", "swa-bf16", "builtin:tome-25m",
                                           "builtin:tome-25m-swa"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

}  // namespace
}  // namespace tome
