// The session store's at-rest KV encodings (tome/store/kv_codec.h): bf16 and fp8 e4m3 meet their
// documented error bounds on values across the whole range (subnormals included), exact values
// round-trip exactly, and the row decoder refuses every wrong size or bad frame without crashing.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tome/store/kv_codec.h"

namespace tome::store {
namespace {

TEST(KvCodec, E4m3TableAndRoundingFollowTheFormat) {
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7f)));
  EXPECT_EQ(f32_to_e4m3(1000.0f), 0x7e);  // saturates
  EXPECT_EQ(f32_to_e4m3(-1000.0f), 0xfe);
  for (int c = 0; c < 256; ++c) {  // every finite code round-trips exactly
    if ((c & 0x7f) == 0x7f) continue;
    const float v = e4m3_to_f32(static_cast<uint8_t>(c));
    if (v == 0.0f) continue;  // -0 and +0
    EXPECT_EQ(f32_to_e4m3(v), c) << c;
  }
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);  // a tie (1 + 1/16) rounds to even (1.0)
  EXPECT_EQ(f32_to_e4m3(1.1875f), 0x3a);  // a tie (1 + 3/16) rounds to even (1.25)
}

TEST(KvCodec, Fp8RowErrorIsWithinTheDocumentedBound) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> x(4096);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = nd(rng) * std::ldexp(1.0f, static_cast<int>(i % 24) - 12);
  std::vector<uint8_t> q(x.size());
  float s = 0;
  encode_fp8_row(x, s, q);
  std::vector<float> y(x.size());
  decode_fp8_row(q, s, y);
  for (size_t i = 0; i < x.size(); ++i) {
    const float a = std::abs(x[i]);
    if (a >= s * std::ldexp(1.0f, -6))
      ASSERT_LE(std::abs(y[i] - x[i]), a * 0.0625f * 1.0001f) << i;
    else
      ASSERT_LE(std::abs(y[i] - x[i]), s * std::ldexp(1.0f, -10) * 1.0001f) << i;
  }
}

TEST(KvCodec, Bf16IsRoundToNearestEven) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  for (int i = 0; i < 10000; ++i) {
    const float x = nd(rng);
    EXPECT_LE(std::abs(bf16_to_f32(f32_to_bf16(x)) - x), std::abs(x) * std::ldexp(1.0f, -8));
  }
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(KvCodec, RowsRoundTripAndBadBytesAreRefused) {
  const int64_t n = 5, d = 8;
  std::vector<float> k(n * d), v(n * d);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (auto& x : k) x = nd(rng);
  for (auto& x : v) x = nd(rng);
  for (auto st : {kv_storage::f32, kv_storage::bf16, kv_storage::fp8_e4m3}) {
    for (auto c : {compression::none, compression::zstd}) {
      const auto bytes = encode_kv(k, v, n, d, st, c);
      std::vector<float> k2(k.size()), v2(v.size());
      ASSERT_TRUE(decode_kv(bytes, n, d, st, c, k2, v2).ok());
      if (st == kv_storage::f32) {
        EXPECT_EQ(k, k2);
        EXPECT_EQ(v, v2);
      }
      auto cut = bytes;
      cut.pop_back();
      EXPECT_FALSE(decode_kv(cut, n, d, st, c, k2, v2).ok());
      EXPECT_FALSE(decode_kv(bytes, n + 1, d, st, c, k2, v2).ok());
      auto longer = bytes;
      longer.push_back(0);
      EXPECT_FALSE(decode_kv(longer, n, d, st, c, k2, v2).ok() && c == compression::none);
    }
  }
  EXPECT_EQ(std::string(to_string(*parse_kv_storage("fp8"))), "fp8");
  EXPECT_FALSE(parse_kv_storage("int4").has_value());
  EXPECT_FALSE(parse_compression("lz4").has_value());
}

}  // namespace
}  // namespace tome::store
