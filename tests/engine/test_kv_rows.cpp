// The ranged global-KV exchange (backend.h: export_kv_rows, begin_kv_import, import_kv_rows,
// finish_kv_import; tome/session_parts.h: session_builder) on the CPU backend, against the
// whole-state path (export_state / import_state): rows imported in pieces, out of order, from
// several threads give bit-identical logits and decode steps; bf16 rows round exactly as
// f32_to_bf16; incomplete or out-of-range imports are refused.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "backend/backend.h"
#include "memory/session_state.h"
#include "model/dtype.h"
#include "tome/engine.h"
#include "tome/session_parts.h"

namespace tome {
namespace {

std::shared_ptr<model> tiny(const std::string& name) {
  auto c = builtin_config(name);
  EXPECT_TRUE(c.ok()) << c.message();
  auto m = model::create_random(*c, 7, {backend_kind::cpu, 0});
  EXPECT_TRUE(m.ok()) << m.message();
  return *m;
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % 512);
  return t;
}

std::unique_ptr<session> prefilled(const std::shared_ptr<model>& m, size_t n) {
  auto s = session::create(m);
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE((*s)->prefill(random_tokens(n, 3)).ok());
  return std::move(*s);
}

// The header of s (no KV) for session_builder.
session_parts header_of(const session& s) {
  auto p = export_session_parts(s, s.n_tokens(), s.n_tokens());
  EXPECT_TRUE(p.ok()) << p.message();
  p->kv_begin = p->kv_end = 0;
  return std::move(*p);
}

std::vector<float> logits_then_decode(session& s) {
  auto lg = s.logits();
  EXPECT_TRUE(lg.ok()) << lg.message();
  std::vector<float> out(lg->begin(), lg->end());
  auto d = s.decode(5);
  EXPECT_TRUE(d.ok()) << d.message();
  out.insert(out.end(), d->begin(), d->end());
  return out;
}

class KvRows : public ::testing::TestWithParam<std::string> {};

TEST_P(KvRows, RangedImportEqualsImportStateBitForBit) {
  auto m = tiny(GetParam());
  const int64_t n = 300, kvd = m->config().kv_dim();
  auto a = prefilled(m, static_cast<size_t>(n));
  EXPECT_EQ(native_kv_wire(*m), kv_wire::f32);

  // The whole-state path.
  host_state hs;
  ASSERT_TRUE(m->be().export_state(*a->state().dev, hs).ok());
  auto b = session::create(m);
  ASSERT_TRUE(m->be().import_state(*(*b)->state().dev, hs).ok());
  (*b)->state().tokens = a->tokens();

  // Ranged export equals the host_state rows.
  std::vector<float> k(static_cast<size_t>(n * kvd)), v(k.size());
  ASSERT_TRUE(export_kv_rows(*a, 0, 120, kv_wire::f32, k.data(), v.data()).ok());
  ASSERT_TRUE(
      export_kv_rows(*a, 120, n - 120, kv_wire::f32, k.data() + 120 * kvd, v.data() + 120 * kvd)
          .ok());
  EXPECT_EQ(k, hs.global_k);
  EXPECT_EQ(v, hs.global_v);

  // The ranged path: four pieces, out of order, two at once from other threads.
  auto builder = session_builder::begin(m, header_of(*a));
  ASSERT_TRUE(builder.ok()) << builder.message();
  session_builder& sb = **builder;
  auto put = [&](int64_t r0, int64_t cnt) {
    return sb.put_kv_rows(r0, cnt, kv_wire::f32, k.data() + r0 * kvd, v.data() + r0 * kvd);
  };
  ASSERT_TRUE(put(250, 50).ok());
  status s1, s2;
  std::thread t1([&] { s1 = put(0, 100); }), t2([&] { s2 = put(100, 100); });
  t1.join();
  t2.join();
  ASSERT_TRUE(s1.ok() && s2.ok()) << s1.message() << s2.message();
  auto early = sb.finish();
  EXPECT_FALSE(early.ok()) << "finish must refuse a KV with rows missing";
  EXPECT_NE(early.message().find("250 of 300"), std::string::npos) << early.message();
  ASSERT_TRUE(put(200, 50).ok());
  EXPECT_FALSE(sb.put_kv_rows(290, 20, kv_wire::f32, k.data(), v.data()).ok()) << "past the end";
  auto c = sb.finish();
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ((*c)->tokens(), a->tokens());

  const auto want = logits_then_decode(**b);
  EXPECT_EQ(logits_then_decode(**c), want);
  EXPECT_EQ(logits_then_decode(*a), want);
}

TEST_P(KvRows, Bf16RowsRoundToNearestEvenBothWays) {
  auto m = tiny(GetParam());
  const int64_t n = 64, kvd = m->config().kv_dim();
  auto a = prefilled(m, static_cast<size_t>(n));
  std::vector<uint16_t> hk(static_cast<size_t>(n * kvd)), hv(hk.size());
  ASSERT_TRUE(export_kv_rows(*a, 0, n, kv_wire::bf16, hk.data(), hv.data()).ok());
  std::vector<float> k(hk.size()), v(hk.size());
  ASSERT_TRUE(export_kv_rows(*a, 0, n, kv_wire::f32, k.data(), v.data()).ok());
  for (size_t i = 0; i < k.size(); ++i) {
    ASSERT_EQ(hk[i], f32_to_bf16(k[i])) << i;
    ASSERT_EQ(hv[i], f32_to_bf16(v[i])) << i;
  }
  auto builder = session_builder::begin(m, header_of(*a));
  ASSERT_TRUE(builder.ok()) << builder.message();
  ASSERT_TRUE((*builder)->put_kv_rows(0, n, kv_wire::bf16, hk.data(), hv.data()).ok());
  auto c = (*builder)->finish();
  ASSERT_TRUE(c.ok()) << c.message();
  std::vector<float> ck(k.size()), cv(k.size());
  ASSERT_TRUE(export_kv_rows(**c, 0, n, kv_wire::f32, ck.data(), cv.data()).ok());
  for (size_t i = 0; i < k.size(); ++i) {
    ASSERT_EQ(ck[i], bf16_to_f32(hk[i])) << i;
    ASSERT_EQ(cv[i], bf16_to_f32(hv[i])) << i;
  }
}

TEST(KvRowsRefusals, HeaderAndRangesAreChecked) {
  auto m = tiny("tiny");
  auto a = prefilled(m, 40);
  session_parts h = header_of(*a);
  h.kv_end = 40;  // claims rows it does not hold
  EXPECT_FALSE(session_builder::begin(m, h).ok());
  h = header_of(*a);
  h.tokens.pop_back();
  EXPECT_FALSE(session_builder::begin(m, h).ok());
  h = header_of(*a);
  h.tokens[3] = 100000;  // outside the vocabulary
  EXPECT_FALSE(session_builder::begin(m, h).ok());
  auto b = session_builder::begin(m, header_of(*a));
  ASSERT_TRUE(b.ok());
  std::vector<float> k(64 * 4), v(k.size());
  EXPECT_FALSE((*b)->put_kv_rows(-1, 2, kv_wire::f32, k.data(), v.data()).ok());
  EXPECT_FALSE((*b)->put_kv_rows(39, 2, kv_wire::f32, k.data(), v.data()).ok());
  EXPECT_FALSE(export_kv_rows(*a, 30, 11, kv_wire::f32, k.data(), v.data()).ok());
}

INSTANTIATE_TEST_SUITE_P(Both, KvRows, ::testing::Values("tiny", "tiny-swa"));

}  // namespace
}  // namespace tome
