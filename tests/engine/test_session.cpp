// Session tests on random built-in models of both self-decoder kinds: chunked prefill equals
// one-shot, early-exit prefill + decode equals the full forward pass, causality (bit-identical
// logits before a changed token, on the prefill and decode paths), snapshots round-trip to
// identical logits and refuse corrupt or foreign bytes, cancel and progress, append, limits,
// logits_for (teacher-forced scoring) after an early-exit prefill; batched decode steps equal
// single ones and refused batches change nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>

#include "backend/backend.h"
#include "decode_batch_check.h"
#include "memory/session_state.h"
#include "tome/engine.h"

namespace tome {
namespace {

std::shared_ptr<model> tiny(const std::string& name, uint64_t seed = 7) {
  auto c = builtin_config(name);
  EXPECT_TRUE(c.ok()) << c.message();
  auto m = model::create_random(*c, seed, {backend_kind::cpu, 0});  // the CPU reference, GPU or not
  EXPECT_TRUE(m.ok()) << m.message();
  return *m;
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed, int32_t vocab = 512) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

std::vector<float> prefill_logits(const std::shared_ptr<model>& m, const std::vector<int32_t>& toks,
                                  int64_t chunk) {
  auto s = session::create(m);
  prefill_params p;
  p.chunk_tokens = chunk;
  auto r = (*s)->prefill(toks, p);
  EXPECT_TRUE(r.ok()) << r.message();
  auto lg = (*s)->logits();
  return {lg->begin(), lg->end()};
}

float max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

class Kinds : public ::testing::TestWithParam<std::string> {};

TEST_P(Kinds, ChunkedPrefillEqualsOneShot) {
  auto m = tiny(GetParam());
  const auto toks = random_tokens(150, 1);
  const auto one = prefill_logits(m, toks, 100000);
  for (int64_t chunk : {1, 7, 64, 65}) EXPECT_LT(max_abs(prefill_logits(m, toks, chunk), one), 2e-4) << "chunk " << chunk;
}

TEST_P(Kinds, EarlyExitPrefillThenDecodeEqualsFullForward) {
  auto m = tiny(GetParam());
  const auto toks = random_tokens(80, 2);
  const int64_t V = m->config().vocab_size;
  // Full forward: the cross-decoder at every position.
  auto full = session::create(m);
  std::vector<float> all;
  ASSERT_TRUE(m->be().forward_all(*(*full)->state().dev, toks, all).ok());
  // Early exit over a prefix, then decode the rest one token at a time.
  auto s = session::create(m);
  const size_t prefix = 33;
  ASSERT_TRUE((*s)->prefill(std::span(toks).first(prefix)).ok());
  auto check = [&](size_t pos, std::span<const float> lg) {
    std::vector<float> want(all.begin() + static_cast<std::ptrdiff_t>(pos * V),
                            all.begin() + static_cast<std::ptrdiff_t>((pos + 1) * V));
    EXPECT_LT(max_abs({lg.begin(), lg.end()}, want), 2e-4) << "position " << pos;
  };
  check(prefix - 1, *(*s)->logits());
  for (size_t i = prefix; i < toks.size(); ++i) check(i, *(*s)->decode(toks[i]));
}

TEST_P(Kinds, CausalityIsBitExactOnPrefillAndDecodePaths) {
  auto m = tiny(GetParam());
  const int64_t V = m->config().vocab_size;
  auto a = random_tokens(100, 3);
  auto b = a;
  const size_t t = 57;
  b[t] = (a[t] + 1) % 512;
  std::vector<float> la, lb;
  auto sa = session::create(m), sb = session::create(m);
  ASSERT_TRUE(m->be().forward_all(*(*sa)->state().dev, a, la).ok());
  ASSERT_TRUE(m->be().forward_all(*(*sb)->state().dev, b, lb).ok());
  for (size_t i = 0; i < t * static_cast<size_t>(V); ++i) ASSERT_EQ(la[i], lb[i]) << "logit " << i;
  bool differs = false;
  for (size_t i = t * V; i < la.size() && !differs; ++i) differs = la[i] != lb[i];
  EXPECT_TRUE(differs) << "changing token t must change logits from t on";
  // Decode path: prefill 20 tokens, then step; logits before t are bit-identical.
  auto da = session::create(m), db = session::create(m);
  ASSERT_TRUE((*da)->prefill(std::span(a).first(20)).ok());
  ASSERT_TRUE((*db)->prefill(std::span(b).first(20)).ok());
  for (size_t i = 20; i < t; ++i) {
    auto x = *(*da)->decode(a[i]);
    auto y = *(*db)->decode(b[i]);
    for (int64_t v = 0; v < V; ++v) ASSERT_EQ(x[static_cast<size_t>(v)], y[static_cast<size_t>(v)]);
  }
}

TEST_P(Kinds, AppendPrefillEqualsOnePrefill) {
  auto m = tiny(GetParam());
  const auto toks = random_tokens(120, 4);
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(std::span(toks).first(50)).ok());
  ASSERT_TRUE((*s)->prefill(std::span(toks).subspan(50)).ok());
  EXPECT_EQ((*s)->n_tokens(), 120);
  auto lg = *(*s)->logits();
  EXPECT_LT(max_abs({lg.begin(), lg.end()}, prefill_logits(m, toks, 100000)), 2e-4);
}

TEST_P(Kinds, SnapshotRoundTripGivesBitIdenticalLogits) {
  auto m = tiny(GetParam());
  const auto toks = random_tokens(90, 5);
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(toks).ok());
  const std::vector<uint8_t> bytes = (*s)->serialize();
  ASSERT_FALSE(bytes.empty());
  auto r = session::deserialize(m, bytes);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ((*r)->tokens(), (*s)->tokens());
  auto a = *(*s)->logits();
  auto b = *(*r)->logits();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]);
  // Continue both with the same tokens: identical logits, bit for bit.
  for (int32_t t : random_tokens(10, 6)) {
    auto x = *(*s)->decode(t);
    auto y = *(*r)->decode(t);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]);
  }
}

// A resident document answers many requests: mark its end, run a request, rewind, run another.
// Each request's logits must be bit-identical to a fresh session that read document + request,
// for prompts longer and shorter than the SWA window, including decode steps after the prefill.
TEST_P(Kinds, RewindToAMarkEqualsAFreshSessionBitForBit) {
  auto m = tiny(GetParam());
  const auto doc = random_tokens(140, 11);
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(doc).ok());
  auto mk = (*s)->mark();
  ASSERT_TRUE(mk.ok()) << mk.message();
  EXPECT_EQ(mk->n_tokens(), 140);
  EXPECT_GT(mk->bytes(), 0);
  auto at_doc = *(*s)->logits();
  const std::vector<float> doc_logits(at_doc.begin(), at_doc.end());
  for (uint32_t q = 0; q < 3; ++q) {
    const auto ask = random_tokens(q == 1 ? 40 : 3 + q, 20 + q);
    ASSERT_TRUE((*s)->prefill(ask).ok());
    auto fresh = session::create(m);  // same chunk boundaries: document, then request
    ASSERT_TRUE((*fresh)->prefill(doc).ok());
    ASSERT_TRUE((*fresh)->prefill(ask).ok());
    auto a = *(*s)->logits();
    auto b = *(*fresh)->logits();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "question " << q;
    for (int32_t t : random_tokens(5, 30 + q)) {
      auto x = *(*s)->decode(t);
      auto y = *(*fresh)->decode(t);
      for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]) << "question " << q;
    }
    auto r = (*s)->rewind(*mk);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ((*s)->n_tokens(), 140);
    EXPECT_EQ((*s)->tokens(), doc);
    auto back = *(*s)->logits();  // restored with the mark, not recomputed
    for (size_t i = 0; i < back.size(); ++i) ASSERT_EQ(back[i], doc_logits[i]);
  }
}

TEST_P(Kinds, RewindRefusesAMarkWhoseTokensChanged) {
  auto m = tiny(GetParam());
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(30, 12)).ok());
  auto early = *(*s)->mark();
  ASSERT_TRUE((*s)->prefill(random_tokens(20, 13)).ok());
  auto late = *(*s)->mark();
  ASSERT_TRUE((*s)->rewind(early).ok());
  // Past the session's end: refused.
  auto r = (*s)->rewind(late);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("beyond"), std::string::npos) << r.message();
  // Same length, other tokens after the early mark: refused, session unchanged.
  ASSERT_TRUE((*s)->prefill(random_tokens(25, 14)).ok());
  const auto before = (*s)->tokens();
  r = (*s)->rewind(late);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("changed"), std::string::npos) << r.message();
  EXPECT_EQ((*s)->tokens(), before);
  EXPECT_FALSE((*s)->rewind(session_mark{}).ok());
  // A mark of another model is refused.
  auto other = tiny(GetParam(), 99);
  auto o = session::create(other);
  ASSERT_TRUE((*o)->prefill(random_tokens(30, 12)).ok());
  EXPECT_FALSE((*o)->rewind(early).ok());
  // The early mark is still good: rewinding to it works after all that.
  EXPECT_TRUE((*s)->rewind(early).ok());
  EXPECT_EQ((*s)->n_tokens(), 30);
}

// The attention mass of the last position covers every position and sums to 1; generate() adds
// one such distribution per generated token.
TEST_P(Kinds, AttentionMassCoversTheSessionAndAccumulatesOverAnAnswer) {
  auto m = tiny(GetParam());
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(300, 17)).ok());
  auto mass = (*s)->attention_mass();
  ASSERT_TRUE(mass.ok()) << mass.message();
  ASSERT_EQ(static_cast<int64_t>(mass->size()), 300);
  double total = 0;
  for (float x : *mass) {
    EXPECT_GE(x, 0.0f);
    total += x;
  }
  EXPECT_NEAR(total, 1.0, 1e-4);
  std::vector<float> acc;
  generate_params gp;
  gp.max_tokens = 6;
  gp.stop_at_eos = false;
  gp.attention = &acc;
  auto g = (*s)->generate(gp);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(static_cast<int64_t>(acc.size()), 300 + 5);  // the last step sees 305 positions
  total = 0;
  for (float x : acc) total += x;
  EXPECT_NEAR(total, 6.0, 1e-3);
  // The first step's distribution is the one computed above.
  auto fresh = session::create(m);
  ASSERT_TRUE((*fresh)->prefill(random_tokens(300, 17)).ok());
  EXPECT_EQ(*(*fresh)->attention_mass(), *mass);
}

TEST_P(Kinds, MemoryPlanMatchesWhatTheSessionHolds) {
  auto m = tiny(GetParam());
  const memory_plan plan = m->plan_memory(200, 64);
  EXPECT_EQ(plan.n_tokens, 200);
  EXPECT_EQ(plan.need.global_kv, 200 * 2 * m->config().kv_dim() * 4);  // f32 K and V
  EXPECT_EQ(plan.need.weights, m->memory().weights);
  // The embedding table is part of the weights (f32 on the CPU); `tome bench` leaves all but one
  // of its rows out of a decode step's bandwidth floor.
  EXPECT_EQ(m->memory().embedding, m->config().vocab_size * m->config().dim * 4);
  EXPECT_LT(m->memory().embedding, m->memory().weights);
  EXPECT_GT(plan.need.workspace, 0);
  EXPECT_GT(plan.available, 0);  // /proc/meminfo
  EXPECT_TRUE(plan.fits());
  EXPECT_NE(plan.describe().find("free"), std::string::npos) << plan.describe();
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(200, 3)).ok());
  const memory_breakdown held = (*s)->memory();
  EXPECT_EQ(held.global_kv, plan.need.global_kv);
  EXPECT_EQ(held.self_state, plan.need.self_state);
  memory_plan tight = plan;
  tight.available = plan.additional() - 1;
  EXPECT_FALSE(tight.fits());
}

TEST_P(Kinds, SnapshotRefusesCorruptTruncatedForeignAndNewer) {
  auto m = tiny(GetParam());
  auto s = session::create(m);
  ASSERT_TRUE((*s)->prefill(random_tokens(40, 7)).ok());
  const std::vector<uint8_t> good = (*s)->serialize();
  auto expect_refused = [&](std::vector<uint8_t> bytes, const std::string& needle) {
    auto r = session::deserialize(m, bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find(needle), std::string::npos) << r.message();
  };
  auto flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  expect_refused(flipped, "checksum");
  expect_refused(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() - 100)), "checksum");
  expect_refused(std::vector<uint8_t>(good.begin(), good.begin() + 10), "not a Tome session snapshot");
  expect_refused({}, "not a Tome session snapshot");
  auto newer = good;
  newer[8] = 99;  // version field
  expect_refused(newer, "newer Tome");
  auto other = tiny(GetParam(), 8);  // same shapes, other weights
  auto r = session::deserialize(other, good);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("different model"), std::string::npos) << r.message();
}

TEST_P(Kinds, CancelStopsAtAChunkAndTheSessionContinuesExactly) {
  auto m = tiny(GetParam());
  const auto toks = random_tokens(100, 9);
  auto s = session::create(m);
  std::atomic<bool> cancel{false};
  std::vector<int64_t> seen;
  prefill_params p;
  p.chunk_tokens = 16;
  p.cancel = &cancel;
  p.on_progress = [&](const prefill_progress& pr) {
    seen.push_back(pr.done);
    EXPECT_EQ(pr.total, 100);
    if (pr.done >= 32) cancel = true;
  };
  auto r = (*s)->prefill(toks, p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->tokens_done, 32);
  EXPECT_EQ((*s)->n_tokens(), 32);
  EXPECT_EQ(seen, (std::vector<int64_t>{16, 32}));
  // Resume with the rest: same result as never cancelling (with the same chunk boundaries).
  prefill_params rest;
  rest.chunk_tokens = 16;
  ASSERT_TRUE((*s)->prefill(std::span(toks).subspan(32), rest).ok());
  auto lg = *(*s)->logits();
  EXPECT_LT(max_abs({lg.begin(), lg.end()}, prefill_logits(m, toks, 16)), 1e-5);
}

TEST_P(Kinds, RefusesOutOfVocabularyTokensAndContextOverflow) {
  auto m = tiny(GetParam());
  auto s = session::create(m);
  std::vector<int32_t> bad = {1, 2, 600};
  auto r = (*s)->prefill(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ((*s)->n_tokens(), 0);
  EXPECT_FALSE((*s)->decode(-1).ok());
  EXPECT_FALSE((*s)->logits().ok());  // empty session: nothing to predict from
  auto c = m->config();
  c.max_context = 10;
  auto small = model::create_random(c, 7, {backend_kind::cpu, 0});
  ASSERT_TRUE(small.ok());
  auto s2 = session::create(*small);
  auto over = (*s2)->prefill(random_tokens(11, 1));
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.message().find("maximum context"), std::string::npos);
}

// session::logits_for (teacher-forced scoring): after an early-exit prefill of a prefix, pieces
// of logits_for give the logits of the full forward pass at every appended position, append the
// tokens, leave logits() at the last row, and refuse bad tokens and context overflow unchanged.
TEST_P(Kinds, LogitsForAfterPrefillEqualsFullForward) {
  auto m = tiny(GetParam());
  const int64_t V = m->config().vocab_size;
  const auto toks = random_tokens(100, 8);
  std::vector<float> all;
  auto full = session::create(m);
  ASSERT_TRUE(m->be().forward_all(*(*full)->state().dev, toks, all).ok());
  auto s = session::create(m);
  prefill_params pp;
  pp.compute_logits = false;
  ASSERT_TRUE((*s)->prefill(std::span(toks).first(37), pp).ok());
  std::vector<float> got;
  for (auto [a, b] : {std::pair<size_t, size_t>{37, 38}, {38, 70}, {70, 100}}) {
    ASSERT_TRUE((*s)->logits_for(std::span(toks).subspan(a, b - a), got).ok());
    ASSERT_EQ(got.size(), (b - a) * static_cast<size_t>(V));
    std::vector<float> want(all.begin() + static_cast<std::ptrdiff_t>(a * V),
                            all.begin() + static_cast<std::ptrdiff_t>(b * V));
    EXPECT_LT(max_abs(got, want), 2e-4) << "positions " << a << ".." << b;
    EXPECT_EQ((*s)->n_tokens(), static_cast<int64_t>(b));
  }
  EXPECT_EQ((*s)->tokens(), toks);
  auto last = *(*s)->logits();
  for (int64_t v = 0; v < V; ++v) ASSERT_EQ(last[static_cast<size_t>(v)], got[static_cast<size_t>(29 * V + v)]);
  // Decoding on continues from the same state as a prefill would have left.
  auto ref = session::create(m);
  ASSERT_TRUE((*ref)->prefill(toks).ok());
  auto x = *(*s)->decode(5);
  auto y = *(*ref)->decode(5);
  EXPECT_LT(max_abs({x.begin(), x.end()}, {y.begin(), y.end()}), 2e-4);
  // Refused, nothing appended: a token outside the vocabulary, the context limit.
  std::vector<int32_t> bad = {1, 600};
  auto r = (*s)->logits_for(bad, got);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ((*s)->n_tokens(), 101);
  auto c = m->config();
  c.max_context = 10;
  auto small = model::create_random(c, 7, {backend_kind::cpu, 0});
  ASSERT_TRUE(small.ok());
  auto s2 = session::create(*small);
  auto over = (*s2)->logits_for(random_tokens(11, 1), got);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.message().find("maximum context"), std::string::npos);
  EXPECT_EQ((*s2)->n_tokens(), 0);
}

// session::decode_batch on the CPU (the backend's default: one decode() per session) gives every
// session exactly what its own decode steps give, for B = 1, 3, 8 and 32 sessions of different
// prompts and lengths (and one group of 32 + 8 through the engine's split into groups).
TEST_P(Kinds, DecodeBatchEqualsSingleDecodeSteps) {
  auto m = tiny(GetParam());
  for (int B : {1, 3, 8, 32, 40}) {
    const auto r = testing_batch::check_decode_batch(m, B, 3);
    EXPECT_TRUE(r.bit_equal) << "B " << B << ": worst " << r.worst;
    EXPECT_EQ(r.greedy_mismatch + r.near_ties, 0) << "B " << B;
  }
}

TEST_P(Kinds, DecodeBatchRefusesBadBatchesAndChangesNothing) {
  auto m = tiny(GetParam()), other = tiny(GetParam(), 8);
  auto a = session::create(m), b = session::create(m), c = session::create(other);
  for (auto* s : {&a, &b, &c}) ASSERT_TRUE((**s)->prefill(random_tokens(5, 3)).ok());
  auto refused = [&](std::vector<session*> ss, std::vector<int32_t> toks, const char* why) {
    const status st = session::decode_batch(ss, toks);
    ASSERT_FALSE(st.ok()) << why;
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
    for (auto* s : {&a, &b, &c}) EXPECT_EQ((**s)->n_tokens(), 5);
  };
  refused({a->get(), a->get()}, {1, 2}, "twice");
  refused({a->get(), c->get()}, {1, 2}, "different models");
  refused({a->get(), b->get()}, {1, 600}, "outside the vocabulary");
  refused({a->get(), b->get()}, {1}, "tokens");
  EXPECT_TRUE(session::decode_batch({}, {}).ok());
  auto e = session::create(m);  // an empty session decodes from its first token, as decode() does
  std::vector<session*> ss{e->get(), a->get()};
  ASSERT_TRUE(session::decode_batch(ss, std::vector<int32_t>{4, 5}).ok());
  EXPECT_EQ((*e)->n_tokens(), 1);
  EXPECT_EQ((*a)->n_tokens(), 6);
}

INSTANTIATE_TEST_SUITE_P(Both, Kinds, ::testing::Values("tiny", "tiny-swa"));

}  // namespace
}  // namespace tome
