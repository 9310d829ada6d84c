// The tensor table resolved against the golden-like config, and check_tensors on complete and
// broken weight files: missing, unexpected, wrong shape, I8 rules (norms, scales).
#include "model/tensor_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fuzz/fuzz_common.h"
#include "model_test_util.h"

namespace tome {
namespace {

using test::ojson;

const expected_tensor* find(const std::vector<expected_tensor>& v, const std::string& name) {
  auto it =
      std::find_if(v.begin(), v.end(), [&](const expected_tensor& t) { return t.name == name; });
  return it == v.end() ? nullptr : &*it;
}

TEST(TensorTable, GatedRetentionNamesAndShapes) {
  const model_config c = test::golden_config();
  const auto v = expected_tensors(c);
  // 6 global + 2 x (5 common + 6 retention) + 2 x 7 cross.
  ASSERT_EQ(v.size(), 6u + 2 * 11 + 2 * 7);
  std::set<std::string> names;
  for (const auto& t : v) EXPECT_TRUE(names.insert(t.name).second) << "duplicate " << t.name;

  struct row {
    const char* name;
    std::vector<int64_t> shape;
    tensor_kind kind;
  };
  for (const row& r : std::vector<row>{
           {"tok_embeddings.weight", {512, 64}, tensor_kind::matrix},
           {"kv_norm.weight", {64}, tensor_kind::norm},
           {"kv.wk.weight", {32, 64}, tensor_kind::matrix},  // kv_dim = H_kv * D / H_q = 2 * 16
           {"kv.wv.weight", {32, 64}, tensor_kind::matrix},
           {"norm.weight", {64}, tensor_kind::norm},
           {"output.weight", {512, 64}, tensor_kind::matrix},
           {"self.0.mixer_norm.weight", {64}, tensor_kind::norm},
           {"self.1.ffn.w1.weight", {96, 64}, tensor_kind::matrix},
           {"self.1.ffn.w2.weight", {64, 96}, tensor_kind::matrix},
           {"self.1.retention.wgt.weight", {4, 64}, tensor_kind::matrix},
           {"self.0.retention.wo.weight", {64, 64}, tensor_kind::matrix},
           {"cross.0.attn.wq.weight", {64, 64}, tensor_kind::matrix},
           {"cross.1.ffn_norm.weight", {64}, tensor_kind::norm},
           {"cross.1.ffn.w3.weight", {96, 64}, tensor_kind::matrix},
       }) {
    const expected_tensor* t = find(v, r.name);
    ASSERT_NE(t, nullptr) << r.name;
    EXPECT_EQ(t->shape, r.shape) << r.name;
    EXPECT_EQ(t->kind, r.kind) << r.name;
  }
  EXPECT_EQ(find(v, "self.2.ffn.w1.weight"), nullptr);
  EXPECT_EQ(find(v, "self.0.attn.wq.weight"), nullptr);
  for (const auto& t : v) EXPECT_EQ(t.name.find('{'), std::string::npos) << t.name;
}

TEST(TensorTable, SlidingWindowAndUnequalHalves) {
  const model_config c = test::golden_config([](ojson& j) {
    j["self_decoder"] = {{"kind", "sliding_window"}, {"window", 8}};
    j["n_self_layers"] = 3;
    j["n_cross_layers"] = 1;
    j["n_heads"] = 8;  // head dim 8, kv_dim 2 * 8 = 16
  });
  const auto v = expected_tensors(c);
  ASSERT_EQ(v.size(), 6u + 3 * 9 + 1 * 7);
  EXPECT_NE(find(v, "self.2.attn.wv.weight"), nullptr);
  EXPECT_EQ(find(v, "self.0.retention.wq.weight"), nullptr);
  EXPECT_EQ(find(v, "cross.1.attn.wq.weight"), nullptr);
  EXPECT_EQ(find(v, "kv.wk.weight")->shape, (std::vector<int64_t>{16, 64}));
}

// A complete weight file for config `c`; `type_of` picks each tensor's dtype, I8 matrices get
// an F32 scale unless `with_scales` is false.
std::vector<uint8_t> model_file(const model_config& c,
                                const std::function<dtype(const expected_tensor&)>& type_of,
                                bool with_scales = true, const std::string& skip = {}) {
  test::safetensors_writer w;
  for (const auto& t : expected_tensors(c)) {
    if (t.name == skip) continue;
    const dtype d = type_of ? type_of(t) : dtype::f32;
    w.add(t.name, d, t.shape);
    if (d == dtype::i8 && with_scales) w.add(t.name + "_scale", dtype::f32, {t.shape[0]});
  }
  return w.build();
}

status check(const std::vector<uint8_t>& bytes, const model_config& c) {
  auto idx = parse_safetensors(bytes, "model.safetensors");
  if (!idx) return idx.error_status();
  return check_tensors(*idx, c, "model.safetensors");
}

TEST(TensorTable, CompleteFilesPassInEveryDtype) {
  const model_config c = test::golden_config();
  EXPECT_TRUE(check(model_file(c, {}), c).ok());
  for (dtype d : {dtype::f16, dtype::bf16}) {
    const auto s = check(model_file(c, [d](const expected_tensor&) { return d; }), c);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  // Int8 matrices with float norms, the scales in each float dtype.
  const auto s = check(model_file(c,
                                  [](const expected_tensor& t) {
                                    return t.kind == tensor_kind::matrix ? dtype::i8 : dtype::bf16;
                                  }),
                       c);
  EXPECT_TRUE(s.ok()) << s.message();
  for (dtype sd : {dtype::f16, dtype::bf16}) {
    test::safetensors_writer w;
    for (const auto& t : expected_tensors(c)) {
      w.add(t.name, t.kind == tensor_kind::matrix ? dtype::i8 : dtype::f32, t.shape);
      if (t.kind == tensor_kind::matrix) w.add(t.name + "_scale", sd, {t.shape[0]});
    }
    const auto s2 = check(w.build(), c);
    EXPECT_TRUE(s2.ok()) << s2.message();
  }
  // The sliding-window table too.
  const model_config swa = test::golden_config([](ojson& j) {
    j["self_decoder"] = {{"kind", "sliding_window"}, {"window", 4}};
  });
  EXPECT_TRUE(check(model_file(swa, {}), swa).ok());
  // ... but a gated-retention file is not a sliding-window model.
  const auto wrong_kind = check(model_file(c, {}), swa);
  EXPECT_EQ(wrong_kind.message(), "model.safetensors: missing tensor 'self.0.attn.wq.weight'");
}

TEST(TensorTable, MissingTensor) {
  const model_config c = test::golden_config();
  const auto s = check(model_file(c, {}, true, "self.1.ffn.w1.weight"), c);
  EXPECT_EQ(s.message(), "model.safetensors: missing tensor 'self.1.ffn.w1.weight'");
  // A file for a smaller model: layer 1 is missing.
  const model_config bigger = test::golden_config([](ojson& j) { j["n_cross_layers"] = 3; });
  EXPECT_EQ(check(model_file(c, {}), bigger).message(),
            "model.safetensors: missing tensor 'cross.2.mixer_norm.weight'");
}

TEST(TensorTable, UnexpectedTensor) {
  const model_config c = test::golden_config();
  test::safetensors_writer w;
  for (const auto& t : expected_tensors(c)) w.add(t.name, dtype::f32, t.shape);
  w.add("extra.weight", dtype::f32, {4});
  EXPECT_EQ(check(w.build(), c).message(), "model.safetensors: unexpected tensor 'extra.weight'");
  // A file for a bigger model: layer 2 is unexpected.
  const model_config bigger = test::golden_config([](ojson& j) { j["n_self_layers"] = 3; });
  EXPECT_EQ(check(model_file(bigger, {}), c)
                .message()
                .rfind("model.safetensors: unexpected tensor 'self.2.", 0),
            0u);
}

TEST(TensorTable, WrongShape) {
  const model_config c = test::golden_config();
  test::safetensors_writer w;
  for (const auto& t : expected_tensors(c)) {
    w.add(t.name, dtype::f32,
          t.name == "cross.1.attn.wo.weight" ? std::vector<int64_t>{64, 32} : t.shape);
  }
  EXPECT_EQ(check(w.build(), c).message(),
            "model.safetensors: tensor 'cross.1.attn.wo.weight': expected shape [64, 64], found "
            "[64, 32]");
  // Transposed and flattened shapes are wrong too; so is a different vocabulary.
  test::safetensors_writer w2;
  for (const auto& t : expected_tensors(c)) {
    w2.add(t.name, dtype::f32,
           t.name == "self.0.ffn.w1.weight" ? std::vector<int64_t>{64, 96} : t.shape);
  }
  EXPECT_EQ(
      check(w2.build(), c).message(),
      "model.safetensors: tensor 'self.0.ffn.w1.weight': expected shape [96, 64], found [64, 96]");
  const model_config v1000 = test::golden_config([](ojson& j) { j["vocab_size"] = 1000; });
  EXPECT_EQ(check(model_file(c, {}), v1000).message(),
            "model.safetensors: tensor 'tok_embeddings.weight': expected shape [1000, 64], found "
            "[512, 64]");
}

TEST(TensorTable, Int8Rules) {
  const model_config c = test::golden_config();
  // I8 on a norm.
  EXPECT_EQ(
      check(model_file(
                c,
                [](const expected_tensor& t) {
                  return t.name == "norm.weight" ? dtype::i8 : dtype::f32;
                },
                false),
            c)
          .message(),
      "model.safetensors: tensor 'norm.weight' is I8, but norm weights must be F32, F16 or BF16");
  // I8 matrix without its scale.
  EXPECT_EQ(check(model_file(
                      c,
                      [](const expected_tensor& t) {
                        return t.name == "kv.wv.weight" ? dtype::i8 : dtype::f32;
                      },
                      false),
                  c)
                .message(),
            "model.safetensors: tensor 'kv.wv.weight' is I8 but its scale tensor "
            "'kv.wv.weight_scale' is missing");

  auto with_scale = [&](dtype scale_type, std::vector<int64_t> scale_shape) {
    test::safetensors_writer w;
    for (const auto& t : expected_tensors(c)) {
      const bool q = t.name == "output.weight";
      w.add(t.name, q ? dtype::i8 : dtype::f32, t.shape);
      if (q) w.add(t.name + "_scale", scale_type, scale_shape);
    }
    return check(w.build(), c).message();
  };
  EXPECT_EQ(with_scale(dtype::f32, {512}), "");
  EXPECT_EQ(
      with_scale(dtype::f32, {512, 1}),
      "model.safetensors: tensor 'output.weight_scale': expected shape [512], found [512, 1]");
  EXPECT_EQ(with_scale(dtype::f32, {64}),
            "model.safetensors: tensor 'output.weight_scale': expected shape [512], found [64]");
  EXPECT_EQ(with_scale(dtype::i8, {512}),
            "model.safetensors: tensor 'output.weight_scale' must be F32, F16 or BF16, found I8");

  // A scale next to a float matrix is unexpected, and says why.
  test::safetensors_writer w;
  for (const auto& t : expected_tensors(c)) w.add(t.name, dtype::f32, t.shape);
  w.add("output.weight_scale", dtype::f32, {512});
  EXPECT_EQ(
      check(w.build(), c).message(),
      "model.safetensors: unexpected tensor 'output.weight_scale' ('output.weight' is not I8)");
}

// The fuzz seeds of complete small models must pass, or fuzz_safetensors never reaches the
// deeper rules of check_tensors (tests/fuzz/make_seeds.py writes them).
TEST(TensorTable, FuzzSeedModelsAreValid) {
  for (const char* name : {"small_model_f32.safetensors", "small_model_i8.safetensors"}) {
    std::ifstream in(std::string(TOME_SOURCE_DIR) + "/tests/fuzz/corpus/safetensors/" + name,
                     std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    ASSERT_FALSE(bytes.empty()) << name;
    const status s = check(bytes, fuzz::small_config());
    EXPECT_TRUE(s.ok()) << name << ": " << s.message();
  }
}

}  // namespace
}  // namespace tome
