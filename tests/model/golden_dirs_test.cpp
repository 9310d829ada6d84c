// The golden model directories written by training/make_golden.py (tests/golden/*/) pass every
// check of the loader's pieces: config.json, tokenizer.model against it, model.safetensors
// against the tensor table. Catches drift between training/export.py and the C++ loader.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/safetensors.h"
#include "model/tensor_table.h"
#include "tome/tokenizer.h"

namespace tome {
namespace {

TEST(GoldenDirs, PassTheLoaderChecks) {
  const std::filesystem::path root = std::filesystem::path(TOME_SOURCE_DIR) / "tests" / "golden";
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    if (!std::filesystem::exists(e.path() / "config.json")) continue;
    SCOPED_TRACE(e.path().string());
    ++n;
    auto config = load_model_config(e.path() / "config.json");
    ASSERT_TRUE(config) << config.message();
    auto tok = tokenizer::load(e.path() / "tokenizer.model", *config);
    EXPECT_TRUE(tok) << tok.message();
    auto weights = safetensors_file::open(e.path() / "model.safetensors");
    ASSERT_TRUE(weights) << weights.message();
    const status s = check_tensors((*weights)->index(), *config, "model.safetensors");
    EXPECT_TRUE(s.ok()) << s.message();
  }
  if (n == 0) GTEST_SKIP() << "no golden model directories under " << root;
}

}  // namespace
}  // namespace tome
