// The CUDA backend gives the same bits every time: a prefill and the decode steps after it, repeated
// on fresh sessions, while other work runs on the GPU beside them. A race between kernels (a
// dependent launch reading before the kernel ahead of it has written, a buffer reused before its
// reader ran) shows up only when timing shifts, which a GPU to itself rarely does: so a second
// model on its own stream prefills in a loop on another thread throughout, as another process or
// session would. And a new session's state does not depend on the legacy default stream, which
// the backend's non-blocking stream does not wait for. Skips where there is no GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "tome/engine.h"

namespace tome {
namespace {

std::vector<int32_t> random_tokens(int32_t vocab, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

// "" when a and b are the same bits, else how many differ, the first and the largest difference.
std::string bit_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
  size_t n = 0, first = 0;
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0) {
      if (n++ == 0) first = i;
      worst = std::max(worst, std::abs(a[i] - b[i]));
    }
  if (n == 0) return "";
  std::ostringstream os;
  os << n << " of " << a.size() << " differ, the first at " << first << ", the largest by " << worst;
  return os.str();
}

struct run_logits {
  std::vector<float> prefill;
  std::vector<std::vector<float>> steps;
};

// A fresh session: the prompt, then `steps` greedy decode steps; every logits row it saw.
// `before_close` runs before the session is freed (freeing device memory waits for the device).
run_logits run_once(const std::shared_ptr<model>& m, const std::vector<int32_t>& prompt, int steps,
                    const std::function<void()>& before_close = {}) {
  run_logits r;
  auto s = session::create(m);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return r;
  EXPECT_TRUE((*s)->prefill(prompt).ok());
  auto lg = (*s)->logits();
  EXPECT_TRUE(lg.ok()) << lg.message();
  if (!lg.ok()) return r;
  r.prefill.assign(lg->begin(), lg->end());
  int32_t tok = static_cast<int32_t>(std::max_element(r.prefill.begin(), r.prefill.end()) - r.prefill.begin());
  for (int i = 0; i < steps; ++i) {
    auto d = (*s)->decode(tok);
    EXPECT_TRUE(d.ok()) << d.message();
    if (!d.ok()) return r;
    r.steps.emplace_back(d->begin(), d->end());
    tok = static_cast<int32_t>(std::max_element(d->begin(), d->end()) - d->begin());
  }
  if (before_close) before_close();
  return r;
}

class CudaDeterminism : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_backend_available(&why)) GTEST_SKIP() << why;
  }
  std::atomic<int> busy_{0};  // host functions on the legacy stream that have finished
};

TEST_P(CudaDeterminism, SameBitsWithOtherWorkOnTheGpu) {
  auto c = builtin_config(GetParam());
  ASSERT_TRUE(c.ok()) << c.message();
  auto m = model::create_random(*c, 5, {backend_kind::cuda, 0});
  auto other = model::create_random(*c, 6, {backend_kind::cuda, 0});  // its own backend and stream
  ASSERT_TRUE(m.ok() && other.ok()) << m.message() << other.message();
  const int32_t V = c->vocab_size;
  // 40 tokens: the prefill's products take cuBLAS, its one logits row the GEMVs (as the
  // pre-selection test's prompt); 1100: several retention chunks and past the 1,024 window.
  const std::vector<std::vector<int32_t>> prompts{random_tokens(V, 40, 3), random_tokens(V, 1100, 4)};
  const int steps = 6;
  std::vector<run_logits> ref;
  for (const auto& p : prompts) ref.push_back(run_once(*m, p, steps));  // the GPU to itself
  ASSERT_FALSE(HasFailure());

  std::atomic<bool> stop{false};
  std::atomic<int> busy_runs{0};
  std::thread noise([&] {
    const auto big = random_tokens(V, 3000, 9);
    while (!stop.load()) {
      auto s = session::create(*other);
      if (!s.ok() || !(*s)->prefill(big).ok()) break;
      for (int i = 0; i < 8 && !stop.load(); ++i)
        if (!(*s)->decode(static_cast<int32_t>(i + 1)).ok()) break;
      busy_runs.fetch_add(1);
    }
  });
  int mismatches = 0;
  std::string first;
  const int rounds = 12;
  for (int r = 0; r < rounds && mismatches < 3; ++r)
    for (size_t i = 0; i < prompts.size(); ++i) {
      const run_logits got = run_once(*m, prompts[i], steps);
      std::string d = bit_diff(got.prefill, ref[i].prefill);
      std::string where = "after the prefill";
      for (size_t k = 0; d.empty() && k < ref[i].steps.size(); ++k) {
        d = k < got.steps.size() ? bit_diff(got.steps[k], ref[i].steps[k]) : "missing";
        where = "after decode step " + std::to_string(k + 1);
      }
      if (!d.empty()) {
        ++mismatches;
        if (first.empty())
          first = "round " + std::to_string(r) + ", prompt of " + std::to_string(prompts[i].size()) + " tokens, " +
                  where + ": " + d;
      }
    }
  stop = true;
  noise.join();
  EXPECT_GT(busy_runs.load(), 0) << "the other work never ran";
  EXPECT_EQ(mismatches, 0) << "logits changed from run to run; " << first;
}

// The backend's work is ordered on its own non-blocking stream. A copy or memset it left on the
// legacy default stream (cudaMemset, cudaMemcpy) is not ordered with that work: the retention
// state of a new session was zeroed that way, so a prefill could begin from whatever the
// allocator handed back, such as a freed session's state. Here the legacy stream is held up by
// a host function while a new session, in the memory of a freed one, prefills: its logits must
// be those of a session made with the GPU idle.
TEST_P(CudaDeterminism, NewSessionsDoNotWaitOnTheLegacyStream) {
  auto c = builtin_config(GetParam());
  ASSERT_TRUE(c.ok()) << c.message();
  auto m = model::create_random(*c, 5, {backend_kind::cuda, 0});
  ASSERT_TRUE(m.ok()) << m.message();
  const int32_t V = c->vocab_size;
  const auto prompt = random_tokens(V, 40, 3);
  const run_logits ref = run_once(*m, prompt, 2);
  ASSERT_FALSE(HasFailure());
  int held = 0;
  for (int round = 0; round < 3; ++round) {
    {  // a session whose state is far from zero, then freed
      auto s = session::create(*m);
      ASSERT_TRUE(s.ok());
      ASSERT_TRUE((*s)->prefill(random_tokens(V, 600, 11 + round)).ok());
      ASSERT_TRUE((*s)->logits().ok());
    }
    ASSERT_EQ(cudaLaunchHostFunc(
                  nullptr,  // the legacy default stream
                  [](void* p) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                    static_cast<std::atomic<int>*>(p)->fetch_add(1);
                  },
                  &busy_),
              cudaSuccess);
    // the legacy stream still held when the session had its logits
    const run_logits got = run_once(*m, prompt, 2, [&] { held += busy_.load() == round ? 1 : 0; });
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::string d = bit_diff(got.prefill, ref.prefill);
    EXPECT_TRUE(d.empty()) << "round " << round << ", the prompt's logits: " << d;
    for (size_t k = 0; k < ref.steps.size() && k < got.steps.size(); ++k) {
      const std::string dk = bit_diff(got.steps[k], ref.steps[k]);
      EXPECT_TRUE(dk.empty()) << "round " << round << ", decode step " << k + 1 << ": " << dk;
    }
  }
  EXPECT_GT(held, 0) << "the session never ran while the legacy stream was held: the test proved nothing";
}

INSTANTIATE_TEST_SUITE_P(Models, CudaDeterminism, ::testing::Values("tome-25m", "tome-25m-swa"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

}  // namespace
}  // namespace tome
