// parse_safetensors on hand-built byte images: a valid file read back exactly, then every
// malformed case refused with its message; safetensors_file::open on real files.
#include "model/safetensors.h"

#include <gtest/gtest.h>

#include "model_test_util.h"

namespace tome {
namespace {

std::string error_of(const std::vector<uint8_t>& bytes) {
  auto r = parse_safetensors(bytes, "model.safetensors");
  return r ? std::string() : r.message();
}

// A header of one tensor "t" with the given entry JSON, and `data` bytes of data.
std::string one(const std::string& entry, size_t data = 24) {
  return error_of(test::st_image("{\"t\": " + entry + "}", data));
}

#define EXPECT_HAS(msg, substring)                                 \
  do {                                                             \
    const std::string m_ = (msg);                                  \
    EXPECT_NE(m_.find(substring), std::string::npos)               \
        << "message: \"" << m_ << "\"\nexpected: " << (substring); \
    EXPECT_EQ(m_.rfind("model.safetensors: ", 0), 0u) << m_;       \
  } while (0)

TEST(Safetensors, ValidFileReadsBack) {
  test::safetensors_writer w;
  w.metadata("format", "pt")
      .add("b.weight", dtype::bf16, {3, 2})
      .add("a.weight", dtype::f32, {2, 3});
  w.add("c.weight", dtype::i8, {5}).add("d.weight", dtype::f16, {});  // a scalar
  const auto bytes = w.build();
  auto r = parse_safetensors(bytes, "model.safetensors");
  ASSERT_TRUE(r) << r.message();
  ASSERT_EQ(r->tensors.size(), 4u);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  // In data-offset order (the order written), not name order.
  EXPECT_EQ(r->tensors[0].name, "b.weight");
  EXPECT_EQ(r->tensors[1].name, "a.weight");
  const tensor_view* a = r->find("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, dtype::f32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->numel(), 6);
  EXPECT_EQ(a->nbytes, 24u);
  const size_t data_start = 8 + w.header().size();
  EXPECT_EQ(a->data, bytes.data() + data_start + 12);  // after b's 3*2*2 bytes
  EXPECT_EQ(r->find("d.weight")->numel(), 1);
  EXPECT_EQ(r->find("d.weight")->nbytes, 2u);
  EXPECT_EQ(r->find("missing"), nullptr);
}

TEST(Safetensors, HeaderOrderNeedNotMatchDataOrder) {
  const auto bytes = test::st_image(
      R"({"z": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
          "y": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
      16);
  auto r = parse_safetensors(bytes, "model.safetensors");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->tensors[0].name, "y");
  EXPECT_EQ(r->tensors[1].name, "z");
  EXPECT_EQ(r->tensors[1].data - r->tensors[0].data, 8);
}

TEST(Safetensors, TooShortForTheLength) {
  for (size_t n : {0, 1, 7}) {
    std::vector<uint8_t> b(n, 0);
    EXPECT_HAS(error_of(b),
               "file is " + std::to_string(n) + " bytes, shorter than the 8-byte header length");
  }
}

TEST(Safetensors, HeaderLengthPastEndOrAbsurd) {
  const std::string h = R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  EXPECT_HAS(error_of(test::st_image(h, {0, 0, 0, 0}, h.size() + 5)),
             "header length " + std::to_string(h.size() + 5) + " runs past the end of the file");
  EXPECT_HAS(error_of(test::st_image(h, {}, uint64_t{1} << 40)),
             "header length 1099511627776 is absurd");
  EXPECT_HAS(error_of(test::st_image(h, {}, ~uint64_t{0})),
             "header length 18446744073709551615 is absurd");
  // Just past the end by one byte, and exactly up to the end (then there is no data).
  EXPECT_HAS(error_of(test::st_image("{}", {}, 3)),
             "header length 3 runs past the end of the file (10 bytes)");
  EXPECT_EQ(error_of(test::st_image("{}", {}, 2)), "");
  // Length 0: an empty header is not JSON.
  EXPECT_HAS(error_of(test::st_image(h, {}, uint64_t{0})), "header: invalid JSON");
}

TEST(Safetensors, HeaderNotAJsonObject) {
  EXPECT_HAS(error_of(test::st_image("not json", 0)), "header: invalid JSON");
  EXPECT_HAS(error_of(test::st_image("[1, 2, 3]", 0)),
             "header is not a JSON object, found an array");
  EXPECT_HAS(error_of(test::st_image("\"str\"", 0)), "header is not a JSON object");
  EXPECT_HAS(error_of(test::st_image("{\"t\": 1", 0)), "header: invalid JSON");
  EXPECT_HAS(error_of(test::st_image(std::string("{\"a\xff\": 1}"), 0)), "header: invalid JSON");
  EXPECT_HAS(error_of(test::st_image(std::string(200, '[') + std::string(200, ']'), 0)),
             "nested deeper");
  // An empty object is a valid (empty) file; padding spaces after the JSON are fine.
  EXPECT_EQ(error_of(test::st_image("{}        ", 0)), "");
}

TEST(Safetensors, EntryFields) {
  EXPECT_HAS(one("5"), "tensor 't': entry must be an object, found 5");
  EXPECT_HAS(one(R"({"shape": [6], "data_offsets": [0, 24]})"), "tensor 't': no 'dtype'");
  EXPECT_HAS(one(R"({"dtype": "F32", "data_offsets": [0, 24]})"), "tensor 't': no 'shape'");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6]})"), "tensor 't': no 'data_offsets'");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": [0, 24], "extra": 1})"),
             "tensor 't': unknown key 'extra'");
  EXPECT_HAS(error_of(test::st_image(
                 R"({"": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4)),
             "a tensor has an empty name");
}

TEST(Safetensors, Dtype) {
  EXPECT_HAS(one(R"({"dtype": 7, "shape": [6], "data_offsets": [0, 24]})"),
             "'dtype' must be a string, found 7");
  EXPECT_HAS(one(R"({"dtype": "F64", "shape": [3], "data_offsets": [0, 24]})"),
             "unknown dtype \"F64\"");
  EXPECT_HAS(one(R"({"dtype": "f32", "shape": [6], "data_offsets": [0, 24]})"),
             "unknown dtype \"f32\"");
  for (const char* d : {"F32", "F16", "BF16", "I8"}) {
    dtype t;
    ASSERT_TRUE(dtype_from_name(d, &t));
    const size_t n = 24 / dtype_size(t);
    EXPECT_EQ(one(std::string(R"({"dtype": ")") + d + R"(", "shape": [)" + std::to_string(n) +
                  R"(], "data_offsets": [0, 24]})"),
              "")
        << d;
  }
}

TEST(Safetensors, Shape) {
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": 6, "data_offsets": [0, 24]})"),
             "'shape' must be an array, found 6");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [-1, 6], "data_offsets": [0, 24]})"),
             "shape dimension -1 is not a size");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [2.5], "data_offsets": [0, 24]})"),
             "shape dimension 2.5 is not a size");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": ["6"], "data_offsets": [0, 24]})"),
             "shape dimension \"6\" is not a size");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 24]})"),
             "shape dimension 18446744073709551615 is not a size");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 24]})"),
             "has too many elements");
  // numel fits in int64 but numel * 4 bytes does not fit in uint64.
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 24]})"),
             "has too many bytes");
  // Overflow must be caught even if a later dimension is 0.
  EXPECT_HAS(
      one(R"({"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]})"),
      "has too many elements");
  EXPECT_HAS(
      one(R"({"dtype": "I8", "shape": [1, 1, 1, 1, 1, 1, 1, 1, 1], "data_offsets": [0, 1]})"),
      "shape has 9 dimensions");
}

TEST(Safetensors, DataOffsets) {
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": [0]})"),
             "'data_offsets' must be [begin, end]");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": [0, 24, 48]})"),
             "must be [begin, end]");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": [-24, 0]})"),
             "must be [begin, end]");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": [0, "24"]})"),
             "must be [begin, end]");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": {"begin": 0}})"),
             "must be [begin, end]");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [0], "data_offsets": [24, 0]})"),
             "data offsets out of order: begin 24 > end 0");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [6], "data_offsets": [4, 28]})"),
             "tensor 't': data offsets [4, 28] run past the end of the data (24 bytes)");
  EXPECT_HAS(
      one(R"({"dtype": "F32", "shape": [0], "data_offsets": [18446744073709551615, 18446744073709551615]})"),
      "run past the end of the data");
  EXPECT_HAS(one(R"({"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 12]})"),
             "tensor 't': 12 bytes of data, but shape [2, 3] of F32 needs 24");
  EXPECT_HAS(one(R"({"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 24]})"),
             "24 bytes of data, but shape [2, 3] of BF16 needs 12");
}

TEST(Safetensors, OverlappingTensors) {
  EXPECT_HAS(
      error_of(test::st_image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                          "b": {"dtype": "F32", "shape": [4], "data_offsets": [12, 28]}})",
                              28)),
      "tensors 'a' and 'b' overlap (bytes [0, 16) and [12, 28))");
  EXPECT_HAS(
      error_of(test::st_image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                          "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
                              16)),
      "overlap");
  // One inside another.
  EXPECT_HAS(
      error_of(test::st_image(R"({"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
                                          "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                              32)),
      "overlap");
  // Empty tensors occupy no bytes: they may sit anywhere, even inside another's range.
  EXPECT_EQ(
      error_of(test::st_image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                        "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [8, 8]},
                                        "f": {"dtype": "F32", "shape": [0], "data_offsets": [16, 16]}})",
                              16)),
      "");
}

TEST(Safetensors, DuplicateNames) {
  EXPECT_HAS(
      error_of(test::st_image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                          "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                              8)),
      "header: duplicate key 'a'");
}

TEST(Safetensors, Metadata) {
  EXPECT_HAS(error_of(test::st_image(R"({"__metadata__": [1]})", 0)),
             "'__metadata__' must be an object, found an array");
  EXPECT_HAS(error_of(test::st_image(R"({"__metadata__": {"step": 5}})", 0)),
             "'__metadata__' value of 'step' must be a string, found 5");
  auto r = parse_safetensors(test::st_image(R"({"__metadata__": {"a": "1", "b": ""}})", 0), "m");
  ASSERT_TRUE(r) << r.message();
  EXPECT_TRUE(r->tensors.empty());
  EXPECT_EQ(r->metadata.size(), 2u);
}

// Documented choice: bytes covered by no tensor (alignment padding between tensors, or after the
// last one) are accepted; views still point at the right bytes.
TEST(Safetensors, GapsAndTrailingBytesAreAllowed) {
  const auto bytes = test::st_image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                        "b": {"dtype": "F32", "shape": [1], "data_offsets": [64, 68]}})",
                                    100);
  auto r = parse_safetensors(bytes, "model.safetensors");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->find("b")->data - r->find("a")->data, 64);
  EXPECT_EQ(r->find("b")->data + 4 + 32, bytes.data() + bytes.size());
}

TEST(Safetensors, OpenMapsTheFile) {
  test::temp_dir dir("safetensors_open");
  test::safetensors_writer w;
  w.add("x", dtype::f32, {4, 4});
  const auto bytes = w.build();
  const auto p = dir.write("model.safetensors", bytes);
  auto f = safetensors_file::open(p);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ((*f)->path(), p);
  EXPECT_EQ((*f)->bytes().size(), bytes.size());
  const tensor_view* x = (*f)->index().find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(std::memcmp(x->data, bytes.data() + bytes.size() - 64, 64), 0);
  EXPECT_GE(x->data, (*f)->bytes().data());
  EXPECT_LE(x->data + x->nbytes, (*f)->bytes().data() + (*f)->bytes().size());

  auto missing = safetensors_file::open(dir.path() / "absent.safetensors");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("absent.safetensors: cannot open"), std::string::npos)
      << missing.message();

  const auto short_file = dir.write("short.safetensors", std::string("abc"));
  auto s = safetensors_file::open(short_file);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(),
            short_file.string() + ": file is 3 bytes, shorter than the 8-byte header length");

  const auto empty = dir.write("empty.safetensors", std::string());
  EXPECT_NE(safetensors_file::open(empty).message().find("file is 0 bytes"), std::string::npos);
}

}  // namespace
}  // namespace tome
