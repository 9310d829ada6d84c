// A built-in model on one backend, as a value-parameterised test's parameter: the CUDA cases skip
// themselves where there is no GPU (or no CUDA backend in the build), and the name generator gives
// "<model>_cpu" / "<model>_cuda".
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>

#include "backend/backend.h"
#include "tome/engine.h"

namespace tome::test {

struct backend_case {
  std::string model;
  backend_kind kind;
};

inline void PrintTo(const backend_case& c, std::ostream* os) {
  *os << c.model << (c.kind == backend_kind::cuda ? " on CUDA" : " on the CPU");
}

// Fixture base: SetUp skips a CUDA case without a usable GPU.
class BackendCaseTest : public ::testing::TestWithParam<backend_case> {
 protected:
  void SetUp() override {
    if (GetParam().kind != backend_kind::cuda) return;
#ifdef TOME_HAVE_CUDA
    std::string why;
    if (!cuda_backend_available(&why)) GTEST_SKIP() << why;
#else
    GTEST_SKIP() << "built without the CUDA backend";
#endif
  }
};

inline std::string backend_case_name(const ::testing::TestParamInfo<backend_case>& info) {
  std::string n = info.param.model + (info.param.kind == backend_kind::cuda ? "_cuda" : "_cpu");
  for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
}

}  // namespace tome::test
