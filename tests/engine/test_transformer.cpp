// The Transformer baseline (model_config kind transformer, cpu/transformer.cpp) on the CPU:
// its logits equal a naive double-precision re-computation written here from the math (pre-norm
// layers, causal GQA attention over each layer's own K/V, interleaved RoPE with the linspace
// frequencies, SwiGLU, sqrt(D) embedding scale); chunked prefill + decode equal the full forward;
// its tensors; sessions refuse saving with a message instead of crashing.
// Bound: f32 engine vs double reference, max |diff| <= 1e-4 * (1 + max |logit|) (measured ~1e-6).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/backend.h"
#include "memory/session_state.h"
#include "model/random_weights.h"
#include "model/safetensors.h"
#include "model/tensor_table.h"
#include "tome/engine.h"

namespace tome {
namespace {

using dvec = std::vector<double>;

model_config tiny_config() {
  auto c = builtin_config("tiny-transformer");
  EXPECT_TRUE(c.ok()) << c.message();
  return *c;
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed, int32_t vocab) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& ref) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - ref[i]));
    scale = std::max(scale, std::abs(static_cast<double>(ref[i])));
  }
  return worst / (1.0 + scale);
}

// The naive model: weights read back from the same random safetensors image.
struct naive_model {
  model_config c;
  std::vector<uint8_t> bytes;
  safetensors_index idx;

  const float* w(const std::string& name) const {
    const tensor_view* t = idx.find(name);
    EXPECT_NE(t, nullptr) << name;
    return reinterpret_cast<const float*>(t->data);
  }
  // y = W x, W [out, in]
  static dvec matvec(const float* W, const dvec& x, int64_t out) {
    dvec y(static_cast<size_t>(out), 0.0);
    for (int64_t o = 0; o < out; ++o)
      for (size_t i = 0; i < x.size(); ++i) y[o] += static_cast<double>(W[o * static_cast<int64_t>(x.size()) + i]) * x[i];
    return y;
  }
  dvec norm(const dvec& x, const float* w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + c.norm_eps);
    dvec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
    return y;
  }
  void rope(dvec& x, int64_t heads, int64_t pos) const {
    const int64_t hd = c.head_dim(), half = hd / 2;
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const double inv = std::pow(c.rope_theta, -static_cast<double>(i) / static_cast<double>(half - 1));
        const double a = static_cast<double>(pos) * inv, cs = std::cos(a), sn = std::sin(a);
        double& x0 = x[h * hd + 2 * i];
        double& x1 = x[h * hd + 2 * i + 1];
        const double y0 = x0 * cs - x1 * sn, y1 = x1 * cs + x0 * sn;
        x0 = y0, x1 = y1;
      }
  }

  // Logits [T, V] of the whole sequence.
  std::vector<double> forward(const std::vector<int32_t>& toks) const {
    const int64_t D = c.dim, F = c.ffn_dim, Hq = c.n_heads, Hkv = c.n_kv_heads, hd = c.head_dim(), V = c.vocab_size;
    const int64_t L = c.n_layers(), T = static_cast<int64_t>(toks.size()), kvd = c.kv_dim();
    std::vector<std::vector<dvec>> K(static_cast<size_t>(L)), Vc(static_cast<size_t>(L));
    std::vector<double> logits;
    for (int64_t t = 0; t < T; ++t) {
      dvec x(static_cast<size_t>(D));
      const float* E = w("tok_embeddings.weight") + toks[static_cast<size_t>(t)] * D;
      for (int64_t i = 0; i < D; ++i) x[i] = std::sqrt(static_cast<double>(D)) * E[i];
      for (int64_t l = 0; l < L; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        const dvec h = norm(x, w(p + "mixer_norm.weight"));
        dvec q = matvec(w(p + "attn.wq.weight"), h, D), k = matvec(w(p + "attn.wk.weight"), h, kvd);
        const dvec v = matvec(w(p + "attn.wv.weight"), h, kvd);
        rope(q, Hq, t);
        rope(k, Hkv, t);
        K[l].push_back(k);
        Vc[l].push_back(v);
        dvec o(static_cast<size_t>(D), 0.0);
        for (int64_t hh = 0; hh < Hq; ++hh) {
          const int64_t g = hh / (Hq / Hkv);
          std::vector<double> s(static_cast<size_t>(t + 1));
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j <= t; ++j) {
            double d = 0;
            for (int64_t i = 0; i < hd; ++i) d += q[hh * hd + i] * K[l][j][g * hd + i];
            s[j] = d / std::sqrt(static_cast<double>(hd));
            mx = std::max(mx, s[j]);
          }
          for (double& e : s) sum += (e = std::exp(e - mx));
          for (int64_t j = 0; j <= t; ++j)
            for (int64_t i = 0; i < hd; ++i) o[hh * hd + i] += s[j] / sum * Vc[l][j][g * hd + i];
        }
        const dvec ao = matvec(w(p + "attn.wo.weight"), o, D);
        for (int64_t i = 0; i < D; ++i) x[i] += ao[i];
        const dvec h2 = norm(x, w(p + "ffn_norm.weight"));
        dvec a = matvec(w(p + "ffn.w1.weight"), h2, F);
        const dvec b = matvec(w(p + "ffn.w3.weight"), h2, F);
        for (int64_t i = 0; i < F; ++i) a[i] = a[i] / (1.0 + std::exp(-a[i])) * b[i];  // silu(W1 h) * W3 h
        const dvec f = matvec(w(p + "ffn.w2.weight"), a, D);
        for (int64_t i = 0; i < D; ++i) x[i] += f[i];
      }
      const dvec lg = matvec(w("output.weight"), norm(x, w("norm.weight")), V);
      logits.insert(logits.end(), lg.begin(), lg.end());
    }
    return logits;
  }
};

TEST(Transformer, ForwardEqualsNaiveReference) {
  const model_config c = tiny_config();
  auto m = model::create_random(c, 3, {backend_kind::cpu, 0});
  ASSERT_TRUE(m.ok()) << m.message();
  naive_model ref{c, random_safetensors(c, 3), {}};
  auto idx = parse_safetensors(ref.bytes, "test");
  ASSERT_TRUE(idx.ok()) << idx.message();
  ref.idx = *idx;
  const auto toks = random_tokens(40, 1, static_cast<int32_t>(c.vocab_size));
  auto s = session::create(*m);
  std::vector<float> lg;
  ASSERT_TRUE((*m)->be().forward_all(*(*s)->state().dev, toks, lg).ok());
  const std::vector<double> want = ref.forward(toks);
  ASSERT_EQ(lg.size(), want.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::abs(lg[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  std::printf("[ tiny-transformer ] CPU vs naive double reference, 40 tokens: max|diff| %.2e (max|logit| %.2f)\n",
              worst, scale);
  EXPECT_LT(worst, 1e-4 * (1.0 + scale));
}

TEST(Transformer, ChunkedPrefillAndDecodeEqualFullForward) {
  const model_config c = tiny_config();
  auto m = model::create_random(c, 5, {backend_kind::cpu, 0});
  ASSERT_TRUE(m.ok()) << m.message();
  const int64_t V = c.vocab_size;
  const auto toks = random_tokens(120, 2, static_cast<int32_t>(V));
  auto full = session::create(*m);
  std::vector<float> all;
  ASSERT_TRUE((*m)->be().forward_all(*(*full)->state().dev, toks, all).ok());
  auto row = [&](size_t t) { return std::vector<float>(all.begin() + t * V, all.begin() + (t + 1) * V); };
  for (int64_t chunk : {1, 16, 33, 1000}) {
    auto s = session::create(*m);
    prefill_params p;
    p.chunk_tokens = chunk;
    ASSERT_TRUE((*s)->prefill(std::span(toks).first(80), p).ok());
    auto lg = (*s)->logits();
    ASSERT_TRUE(lg.ok()) << lg.message();
    double worst = rel_diff({lg->begin(), lg->end()}, row(79));
    for (size_t t = 80; t < toks.size(); ++t) {
      auto d = (*s)->decode(toks[t]);
      ASSERT_TRUE(d.ok()) << d.message();
      worst = std::max(worst, rel_diff({d->begin(), d->end()}, row(t)));
    }
    EXPECT_LT(worst, 1e-5) << "chunk " << chunk;
    EXPECT_EQ((*s)->n_tokens(), 120);
  }
}

TEST(Transformer, TensorsAndMemory) {
  const model_config c = tiny_config();
  EXPECT_EQ(c.n_layers(), 4);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const expected_tensor& t : expected_tensors(c)) shapes[t.name] = t.shape;
  EXPECT_EQ(shapes.count("kv_norm.weight"), 0u);
  EXPECT_EQ(shapes.count("cross.0.attn.wq.weight"), 0u);
  EXPECT_EQ(shapes["layers.3.attn.wk.weight"], (std::vector<int64_t>{c.kv_dim(), c.dim}));
  EXPECT_EQ(shapes["layers.3.attn.wv.weight"], (std::vector<int64_t>{c.kv_dim(), c.dim}));
  EXPECT_EQ(shapes["layers.0.attn.wq.weight"], (std::vector<int64_t>{c.dim, c.dim}));
  EXPECT_EQ(shapes.size(), 3u + 9u * 4u);
  // transformer-3b: ~3.2B parameters, 104 KiB of bf16 KV per token (112 GB at 1M, ANCHORS.md).
  auto big = builtin_config("transformer-3b");
  ASSERT_TRUE(big.ok());
  int64_t params = 0;
  for (const expected_tensor& t : expected_tensors(*big)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
  }
  EXPECT_NEAR(static_cast<double>(params), 3.24e9, 0.02e9);
  EXPECT_EQ(big->n_layers() * 2 * big->kv_dim() * 2, 104 * 1024);
  auto m = model::create_random(c, 1, {backend_kind::cpu, 0});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->be().kv_bytes_per_token(), c.n_layers() * 2 * c.kv_dim() * 4);  // f32 on the CPU
  EXPECT_EQ((*m)->memory().embedding, c.vocab_size * c.dim * 4);
  const memory_plan plan = (*m)->plan_memory(1000, 256);
  EXPECT_EQ(plan.need.global_kv, 1000 * c.n_layers() * 2 * c.kv_dim() * 4);
}

TEST(Transformer, SessionsRefuseSavingWithAMessage) {
  const model_config c = tiny_config();
  auto m = model::create_random(c, 1, {backend_kind::cpu, 0});
  ASSERT_TRUE(m.ok());
  auto s = session::create(*m);
  ASSERT_TRUE((*s)->prefill(random_tokens(30, 4, static_cast<int32_t>(c.vocab_size))).ok());
  EXPECT_TRUE((*s)->serialize().empty());
  auto mk = (*s)->mark();
  ASSERT_FALSE(mk.ok());
  EXPECT_NE(mk.message().find("Transformer baseline"), std::string::npos) << mk.message();
  EXPECT_FALSE((*s)->attention_mass().ok());
  generate_params g;
  g.max_tokens = 3;
  EXPECT_TRUE((*s)->generate(g, nullptr).ok());
  EXPECT_EQ((*s)->n_tokens(), 33);
}

}  // namespace
}  // namespace tome
