// Golden tests: the C++ CPU engine against float64 logits and intermediates written by the
// PyTorch reference (training/make_golden.py) for tiny random models of both self-decoder kinds,
// stored in f32, bf16, f16 and int8. The reference runs on the weights as stored (dequantised),
// so the bound below measures the engine's f32 arithmetic, the same for every storage dtype:
//   logits, x_s, global K/V, embedding: max |engine - reference| <= 5e-5 (values are O(1-10); measured ~5e-6).
// The quantisation effect itself (bf16/f16/int8 vs f32 weights) is recorded in each golden.json
// as max_abs_logit_diff_vs_f32 and printed here.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "memory/session_state.h"
#include "model/safetensors.h"
#include "tome/engine.h"

namespace tome {
namespace {

constexpr double kBound = 5e-5;

std::string golden_dir(const std::string& c) { return std::string(TOME_SOURCE_DIR) + "/tests/golden/" + c; }

nlohmann::json read_golden(const std::string& c) {
  std::ifstream f(golden_dir(c) + "/golden.json");
  return nlohmann::json::parse(f);
}

double max_diff(const float* got, const nlohmann::json& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::abs(got[i] - want[i].get<double>()));
  return m;
}

class Golden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    g_ = read_golden(GetParam());
    auto m = model::load(golden_dir(GetParam()), {backend_kind::cpu, 1});
    ASSERT_TRUE(m.ok()) << m.message();
    m_ = *m;
    tokens_ = g_["tokens"].get<std::vector<int32_t>>();
    positions_ = g_["positions"].get<std::vector<size_t>>();
  }
  nlohmann::json g_;
  std::shared_ptr<model> m_;
  std::vector<int32_t> tokens_;
  std::vector<size_t> positions_;
};

TEST_P(Golden, FullForwardLogitsAndIntermediatesMatchReference) {
  const int64_t V = m_->config().vocab_size, D = m_->config().dim, kvd = m_->config().kv_dim();
  auto s = session::create(m_);
  std::vector<float> logits, xs;
  ASSERT_TRUE(m_->be().forward_all(*(*s)->state().dev, tokens_, logits, &xs).ok());
  host_state hs;
  ASSERT_TRUE(m_->be().export_state(*(*s)->state().dev, hs).ok());
  const auto& im = g_["intermediates"];
  double worst = 0;
  for (size_t i = 0; i < positions_.size(); ++i) {
    const size_t p = positions_[i];
    const double e_logits = max_diff(logits.data() + p * V, g_["logits"][i]);
    const double e_xs = max_diff(xs.data() + p * D, im["x_s"]["values"][i]);
    const double e_k = max_diff(hs.global_k.data() + p * kvd, im["global_k"]["values"][i]);
    const double e_v = max_diff(hs.global_v.data() + p * kvd, im["global_v"]["values"][i]);
    EXPECT_LT(e_logits, kBound) << "logits at position " << p;
    EXPECT_LT(e_xs, kBound) << "x_s at position " << p;
    EXPECT_LT(e_k, kBound) << "global K at position " << p;
    EXPECT_LT(e_v, kBound) << "global V at position " << p;
    worst = std::max({worst, e_logits, e_xs, e_k, e_v});
  }
  std::printf("[ %s ] worst |engine - reference| %.3g; weights' own effect vs f32: %s\n",
              GetParam().c_str(), worst, g_.value("max_abs_logit_diff_vs_f32", nlohmann::json(0.0)).dump().c_str());
}

TEST_P(Golden, EmbeddingIsScaledBySqrtDim) {
  auto f = safetensors_file::open(golden_dir(GetParam()) + "/model.safetensors");
  ASSERT_TRUE(f.ok());
  const tensor_view* e = (*f)->index().find("tok_embeddings.weight");
  ASSERT_NE(e, nullptr);
  const int64_t D = m_->config().dim;
  const auto& im = g_["intermediates"]["embedding"];
  for (size_t i = 0; i < positions_.size(); ++i) {
    std::vector<float> row(static_cast<size_t>(D));
    const int32_t t = tokens_[positions_[i]];
    if (e->type == dtype::i8) {
      const tensor_view* sc = (*f)->index().find("tok_embeddings.weight_scale");
      ASSERT_NE(sc, nullptr);
      float scale;
      to_f32(sc->data + t * dtype_size(sc->type), sc->type, &scale, 1);
      for (int64_t d = 0; d < D; ++d) row[static_cast<size_t>(d)] = scale * reinterpret_cast<const int8_t*>(e->data)[t * D + d];
    } else {
      to_f32(e->data + t * D * dtype_size(e->type), e->type, row.data(), static_cast<size_t>(D));
    }
    for (float& x : row) x *= std::sqrt(static_cast<float>(D));
    EXPECT_LT(max_diff(row.data(), im["values"][i]), kBound) << "position " << positions_[i];
  }
}

// The production path: chunked prefill with early exit, then decode steps, hits the same logits.
TEST_P(Golden, ChunkedPrefillAndDecodeMatchReference) {
  const int64_t V = m_->config().vocab_size;
  auto s = session::create(m_);
  prefill_params p;
  p.chunk_tokens = 5;
  ASSERT_TRUE((*s)->prefill(std::span(tokens_).first(positions_[2] + 1), p).ok());
  for (size_t i = 2; i < positions_.size(); ++i) {
    while (static_cast<size_t>((*s)->n_tokens()) < positions_[i] + 1) {
      ASSERT_TRUE((*s)->decode(tokens_[static_cast<size_t>((*s)->n_tokens())]).ok());
    }
    auto lg = *(*s)->logits();
    EXPECT_LT(max_diff(lg.data(), g_["logits"][i]), kBound) << "position " << positions_[i];
    ASSERT_EQ(lg.size(), static_cast<size_t>(V));
  }
}

TEST_P(Golden, SeededSamplingReproducesAndGreedyFollowsArgmax) {
  auto run = [&](const sampling_params& sp) {
    auto s = session::create(m_);
    EXPECT_TRUE((*s)->prefill(std::span(tokens_).first(10)).ok());
    generate_params gp;
    gp.max_tokens = 24;
    gp.stop_at_eos = false;
    gp.sampling = sp;
    auto r = (*s)->generate(gp);
    EXPECT_TRUE(r.ok()) << r.message();
    EXPECT_EQ((*s)->n_tokens(), 10 + 24);
    return r->tokens;
  };
  sampling_params hot;
  hot.temperature = 1.5f;
  hot.seed = 42;
  const auto a = run(hot), b = run(hot);
  EXPECT_EQ(a, b);
  hot.seed = 43;
  EXPECT_NE(run(hot), a);
  // Greedy: each token is the argmax of the logits before it.
  auto s = session::create(m_);
  ASSERT_TRUE((*s)->prefill(std::span(tokens_).first(10)).ok());
  auto first = *(*s)->logits();
  const int32_t want = static_cast<int32_t>(std::max_element(first.begin(), first.end()) - first.begin());
  generate_params gp;
  gp.max_tokens = 1;
  gp.stop_at_eos = false;
  auto r = (*s)->generate(gp);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tokens.at(0), want);
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden,
                         ::testing::Values("gret-f32", "gret-bf16", "gret-f16", "gret-int8", "swa-f32",
                                           "swa-bf16", "swa-f16", "swa-int8"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace tome
