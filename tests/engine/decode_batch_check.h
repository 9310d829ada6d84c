// Shared by test_session.cpp (CPU) and test_cuda_backend.cpp (GPU): session::decode_batch against
// single decode() steps. B sessions with different prompts and lengths step together; a twin of
// each steps alone with the same tokens (the twins' greedy choices, so both see the same
// sequence). Reports the worst logits difference, relative to 1 + the largest |logit|, and the
// greedy tokens the batch would have chosen differently (a disagreement counts only where the
// single step's top two logits are more than `tie` apart; closer is a tie that rounding may flip).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "tome/engine.h"

namespace tome::testing_batch {

struct batch_report {
  double worst = 0;       // max over sessions and steps of max|batch - single| / (1 + max|single|)
  bool bit_equal = true;  // every logit identical
  int greedy_mismatch = 0, near_ties = 0;
  // With a reference model (the same weights on the CPU): both sides against it, same measure.
  double batch_vs_ref = 0, single_vs_ref = 0;
};

inline int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Prompts of 3 + 37 i mod 211 tokens; `steps` batched steps, 2 batched greedy steps, then one
// single step on both.
// `ref` (optional): a model of the same weights on another backend whose sessions follow the same
// tokens (batch_vs_ref, single_vs_ref).
inline batch_report check_decode_batch(const std::shared_ptr<model>& m, int B, int steps,
                                       float tie = 1e-2f,
                                       const std::shared_ptr<model>& ref = nullptr) {
  batch_report r;
  const int32_t V = static_cast<int32_t>(m->config().vocab_size);
  std::vector<std::unique_ptr<session>> batched, single, refs;
  std::vector<int32_t> next(static_cast<size_t>(B));
  for (int i = 0; i < B; ++i) {
    std::mt19937 rng(static_cast<uint32_t>(1000 + i));
    std::vector<int32_t> prompt(static_cast<size_t>(3 + (37 * i) % 211));
    for (auto& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(V));
    for (auto* list : {&batched, &single}) {
      auto s = session::create(m);
      EXPECT_TRUE(s.ok()) << s.message();
      auto p = (*s)->prefill(prompt);
      EXPECT_TRUE(p.ok()) << p.message();
      list->push_back(std::move(*s));
    }
    next[static_cast<size_t>(i)] = argmax(*single.back()->logits());
    if (ref) {
      auto s = session::create(ref);
      EXPECT_TRUE(s.ok() && (*s)->prefill(prompt).ok());
      refs.push_back(std::move(*s));
    }
  }
  auto rel = [](std::span<const float> a, std::span<const float> b) {
    double worst = 0, scale = 0;
    for (size_t j = 0; j < b.size(); ++j) {
      worst = std::max(worst, static_cast<double>(std::abs(a[j] - b[j])));
      scale = std::max(scale, static_cast<double>(std::abs(b[j])));
    }
    return worst / (1.0 + scale);
  };
  // The reference session i steps with the token the others just took; compared with both.
  auto reference = [&](int i, int32_t t, std::span<const float> b, std::span<const float> s) {
    if (!ref) return;
    auto lr = refs[static_cast<size_t>(i)]->decode(t);
    EXPECT_TRUE(lr.ok()) << lr.message();
    r.batch_vs_ref = std::max(r.batch_vs_ref, rel(b, *lr));
    r.single_vs_ref = std::max(r.single_vs_ref, rel(s, *lr));
  };
  std::vector<session*> ptrs;
  for (auto& s : batched) ptrs.push_back(s.get());
  auto compare = [&](std::span<const float> b, std::span<const float> s) {
    double worst = 0, scale = 0;
    for (size_t j = 0; j < s.size(); ++j) {
      worst = std::max(worst, static_cast<double>(std::abs(b[j] - s[j])));
      scale = std::max(scale, static_cast<double>(std::abs(s[j])));
      if (b[j] != s[j]) r.bit_equal = false;
    }
    r.worst = std::max(r.worst, worst / (1.0 + scale));
    std::vector<float> top(s.begin(), s.end());
    std::partial_sort(top.begin(), top.begin() + 2, top.end(), std::greater<float>());
    if (argmax(b) != argmax(s)) ++(top[0] - top[1] > tie ? r.greedy_mismatch : r.near_ties);
  };
  for (int step = 0; step < steps; ++step) {
    const status st = session::decode_batch(ptrs, next);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return r;
    for (int i = 0; i < B; ++i) {
      auto ls = single[static_cast<size_t>(i)]->decode(next[static_cast<size_t>(i)]);
      EXPECT_TRUE(ls.ok()) << ls.message();
      auto lb = batched[static_cast<size_t>(i)]->logits();
      compare(*lb, *ls);
      reference(i, next[static_cast<size_t>(i)], *lb, *ls);
      next[static_cast<size_t>(i)] = argmax(*ls);
    }
  }
  // Greedy steps (session::decode_batch_greedy: on the device where the backend can): the chosen
  // ids against the greedy sampler on the single step's logits, and the batched session's logits
  // (computed again on demand after a device-greedy step) against the single step's.
  std::vector<int32_t> chosen(static_cast<size_t>(B));
  for (int step = 0; step < 2; ++step) {
    const status st = session::decode_batch_greedy(ptrs, next, chosen);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return r;
    for (int i = 0; i < B; ++i) {
      auto ls = single[static_cast<size_t>(i)]->decode(next[static_cast<size_t>(i)]);
      EXPECT_TRUE(ls.ok()) << ls.message();
      const int32_t want = sampler(sampling_params{}).sample(*ls, {});
      if (chosen[static_cast<size_t>(i)] != want) {
        std::vector<float> top(ls->begin(), ls->end());
        std::partial_sort(top.begin(), top.begin() + 2, top.end(), std::greater<float>());
        ++(top[0] - top[1] > tie ? r.greedy_mismatch : r.near_ties);
      }
      auto lb = batched[static_cast<size_t>(i)]->logits();
      compare(*lb, *ls);
      reference(i, next[static_cast<size_t>(i)], *lb, *ls);
      next[static_cast<size_t>(i)] = want;
    }
  }
  for (int i = 0; i < B; ++i) {  // a single step after batched ones: the session state is coherent
    EXPECT_EQ(batched[static_cast<size_t>(i)]->tokens(), single[static_cast<size_t>(i)]->tokens());
    auto lb = batched[static_cast<size_t>(i)]->decode(next[static_cast<size_t>(i)]);
    auto ls = single[static_cast<size_t>(i)]->decode(next[static_cast<size_t>(i)]);
    EXPECT_TRUE(lb.ok() && ls.ok());
    compare(*lb, *ls);
  }
  return r;
}

}  // namespace tome::testing_batch
