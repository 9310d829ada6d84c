// The small pieces under the loader: dtype names and half/bfloat conversions, XXH3-128 hashing,
// read-only file mappings, and UTF-8 repair (U+FFFD per maximal subpart, streaming hold-back).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "model/dtype.h"
#include "model_test_util.h"
#include "util/hash.h"
#include "util/mmap_file.h"
#include "util/utf8.h"

namespace tome {
namespace {

TEST(Dtype, Names) {
  for (dtype t : {dtype::f32, dtype::f16, dtype::bf16, dtype::i8}) {
    dtype back;
    ASSERT_TRUE(dtype_from_name(dtype_name(t), &back)) << dtype_name(t);
    EXPECT_EQ(back, t);
  }
  EXPECT_STREQ(dtype_name(dtype::bf16), "BF16");
  dtype t;
  EXPECT_FALSE(dtype_from_name("F64", &t));
  EXPECT_FALSE(dtype_from_name("bf16", &t));
  EXPECT_FALSE(dtype_from_name("", &t));
  EXPECT_EQ(dtype_size(dtype::f16), 2u);
}

TEST(Dtype, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0) << h;
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f)))) << h;
      continue;
    }
    EXPECT_EQ(f32_to_f16(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Dtype, HalfValuesAndRounding) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));

  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // ties to even -> overflow to inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to the smallest subnormal: even
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie to even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);          // tie -> even (down)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);      // tie -> even (up)
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) * 1.01f), 0x3c01);  // above the tie
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);  // subnormal rounds up into the normals
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
}

TEST(Dtype, Bf16AndToF32) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.5f)), 1.5f);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie -> even
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));

  const float src[4] = {1.0f, -2.5f, 0.25f, 65504.0f};
  float out[4];
  uint16_t half[4], bf[4];
  int8_t q[4] = {-127, 0, 5, 127};
  for (int i = 0; i < 4; ++i) {
    half[i] = f32_to_f16(src[i]);
    bf[i] = f32_to_bf16(src[i]);
  }
  to_f32(src, dtype::f32, out, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], src[i]);
  to_f32(half, dtype::f16, out, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], src[i]);
  to_f32(bf, dtype::bf16, out, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], src[i]);
  to_f32(q, dtype::i8, out, 4);
  EXPECT_EQ(out[0], -127.0f);
  EXPECT_EQ(out[3], 127.0f);
  // Unaligned sources are fine.
  alignas(4) uint8_t buf[9];
  std::memcpy(buf + 1, half, 8);
  to_f32(buf + 1, dtype::f16, out, 4);
  EXPECT_EQ(out[1], -2.5f);
}

TEST(Hash, Xxh3128KnownValueAndStreaming) {
  // XXH3_128bits("") from the xxHash test vectors, canonical (big-endian) form.
  EXPECT_EQ(hash_hex({}), "99aa06d3014798d86001c324468d497f");
  std::vector<uint8_t> data(100000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + (i >> 8));
  const std::string whole = hash_hex(data);
  EXPECT_EQ(whole.size(), 32u);
  hasher h;
  const std::span<const uint8_t> s(data);
  h.update(s.subspan(0, 1));
  h.update(s.subspan(1, 4096));
  h.update(s.subspan(4097));
  EXPECT_EQ(h.hex(), whole);
  EXPECT_EQ(h.hex(), whole);  // hex() does not consume the state
  hasher e;
  EXPECT_EQ(e.hex(), hash_hex({}));
  hasher str;
  str.update(std::string("abc"));
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(str.hex(), hash_hex(abc));
  data[5000] ^= 1;
  EXPECT_NE(hash_hex(data), whole);
  EXPECT_NE(hash64(data), hash64(std::span<const uint8_t>(data).subspan(1)));
}

TEST(MmapFile, MapsAndReports) {
  test::temp_dir dir("mmap_file");
  const auto p = dir.write("a.bin", std::string("hello mapping"));
  auto m = mmap_file::open(p);
  ASSERT_TRUE(m) << m.message();
  EXPECT_EQ(std::string(m->bytes().begin(), m->bytes().end()), "hello mapping");
  mmap_file moved = std::move(*m);
  EXPECT_EQ(moved.bytes().size(), 13u);
  EXPECT_TRUE(m->bytes().empty());

  auto empty = mmap_file::open(dir.write("empty.bin", std::string()));
  ASSERT_TRUE(empty) << empty.message();
  EXPECT_TRUE(empty->bytes().empty());

  auto missing = mmap_file::open(dir.path() / "absent.bin");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.message(),
            (dir.path() / "absent.bin").string() + ": cannot open: No such file or directory");

  auto d = mmap_file::open(dir.path());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.message(), dir.path().string() + ": is a directory, not a file");
}

TEST(Utf8, ReplacementFollowsMaximalSubparts) {
  struct row {
    std::string in, out;
  };
  const std::string r = "\xEF\xBF\xBD";
  for (const row& c : std::vector<row>{
           {"plain ascii", "plain ascii"},
           {"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x99\x82", "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x99\x82"},
           {"\x80", r},                          // lone continuation
           {"\xC0\xAF", r + r},                  // overlong lead: each byte
           {"\xE0\x80\xAF", r + r + r},          // overlong 3-byte: E0 needs A0..BF
           {"\xED\xA0\x80", r + r + r},          // surrogate
           {"\xF4\x90\x80\x80", r + r + r + r},  // past U+10FFFF
           {"\xF5", r},
           {"\xE4\xB8", r},         // truncated at the end: one replacement
           {"\xE4\xB8x", r + "x"},  // truncated by another character
           {"\xF0\x9F\x99", r},
           {"a\xFF"
            "b",
            "a" + r + "b"},
           {std::string("\0", 1), std::string("\0", 1)},
       }) {
    EXPECT_EQ(valid_utf8(c.in), c.out) << "input of " << c.in.size() << " bytes";
  }
}

TEST(Utf8, StreamingHoldsBackIncompleteCharacters) {
  std::string out;
  EXPECT_EQ(append_valid_utf8("ab\xE4\xB8", 0, false, &out), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  EXPECT_EQ(append_valid_utf8("ab\xE4\xB8\xAD", 2, false, &out), 5u);
  EXPECT_EQ(out, "\xE4\xB8\xAD");
  out.clear();
  EXPECT_EQ(append_valid_utf8("\xE4x", 0, false, &out), 2u);  // invalid, not incomplete
  EXPECT_EQ(out, "\xEF\xBF\xBDx");
  out.clear();
  EXPECT_EQ(append_valid_utf8("\xF0\x9F", 0, true, &out), 2u);
  EXPECT_EQ(out, "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace tome
