// kernels::select_candidates_rows (the device pre-selection of a sampled step) against its CPU
// twin tome::select_candidates (engine/src/sampling/sampler.cpp) on random logits with many ties,
// NaN, -inf, +inf, -0 / +0, repeated history tokens (penalty > 1 and < 1), V not a multiple of the
// 1024-thread block, k above the number of valid entries, and rows with nothing valid; rows cut
// into many slices whose lists merge over several rounds (300,000 entries at k 8192: five merge
// rounds). The
// result is exact, not approximate: the same count, the same n_valid, and the same (value bits,
// id) pairs in the same (id) order — the penalty is one correctly rounded division or product on
// both sides and the selection is a total order, so there is no tolerance to state.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gpu_op_test.h"
#include "tome/kernels.h"
#include "tome/sampling.h"

namespace tome {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

class SelectCandidates : public test::GpuOpTest {};

uint32_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

// A row of n logits of one of several kinds: `tie_levels` > 0 draws from that many values
// (ties everywhere), else normal floats; plus a share of NaN, -inf, +inf and signed zeros.
std::vector<float> make_row(int64_t n, std::mt19937& rng, int tie_levels, double p_nan, double p_ninf,
                            double p_pinf, double p_zero) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) {
    const double r = u(rng);
    if (r < p_nan) v = std::numeric_limits<float>::quiet_NaN();
    else if (r < p_nan + p_ninf) v = -kInf;
    else if (r < p_nan + p_ninf + p_pinf) v = kInf;
    else if (r < p_nan + p_ninf + p_pinf + p_zero) v = (rng() & 1) ? 0.0f : -0.0f;
    else if (tie_levels > 0) v = 0.25f * static_cast<float>(static_cast<int>(rng() % tie_levels) - tie_levels / 2);
    else v = normal(rng);
  }
  return x;
}

std::string describe(int64_t rows, int64_t n, int k, float penalty, int kind) {
  std::ostringstream o;
  o << "rows " << rows << " n " << n << " k " << k << " penalty " << penalty << " kind " << kind;
  return o.str();
}

TEST_F(SelectCandidates, EqualsTheCpuTwin) {
  std::mt19937 rng(2026);
  int cases = 0;
  for (int64_t n : {1, 7, 1000, 1024, 1025, 4099, 16385, 100288, 300000}) {
    for (int k : {1, 5, 64, 1024, 5000, kernels::kSelectMaxK}) {
      for (int kind = 0; kind < 6; ++kind) {
        const int64_t rows = kind == 0 ? 3 : 1 + kind % 2;
        const float penalty = kind % 3 == 0 ? 1.3f : (kind % 3 == 1 ? 0.7f : 1.0f);
        std::vector<float> x;
        std::vector<int32_t> pen, off{0};
        std::vector<std::vector<int32_t>> pen_rows;
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<float> row;
          switch (kind) {
            case 0: row = make_row(n, rng, 64, 0.05, 0.05, 0.0, 0.02); break;      // ties, NaN, -inf
            case 1: row = make_row(n, rng, 0, 0.01, 0.01, 0.0, 0.0); break;        // few ties
            case 2: row = make_row(n, rng, 8, 0.0, 0.9, 0.0, 0.05); break;         // mostly -inf
            case 3: row = make_row(n, rng, 16, 0.02, 0.02, 0.003, 0.05); break;    // some +inf
            case 4: row = make_row(n, rng, 0, 0.5, 0.5, 0.0, 0.0); break;          // nothing valid
            default: row = make_row(n, rng, 3, 0.0, 0.0, 0.0, 0.3); break;         // huge ties
          }
          x.insert(x.end(), row.begin(), row.end());
          // History with repeats (and ids outside the vocabulary, which the penalty skips).
          std::vector<int32_t> hist(static_cast<size_t>(rng() % 200));
          for (auto& t : hist) t = static_cast<int32_t>(rng() % (n + 3)) - (rng() % 17 == 0 ? static_cast<int32_t>(n + 5) : 0);
          if (!hist.empty()) hist.push_back(hist.front());
          sampling_params sp;
          sp.repetition_penalty = penalty;
          sp.repetition_window = 1 + static_cast<int>(rng() % 150);
          pen_rows.push_back(penalized_tokens(hist, sp, n));
          pen.insert(pen.end(), pen_rows.back().begin(), pen_rows.back().end());
          off.push_back(static_cast<int32_t>(pen.size()));
        }
        const std::string what = describe(rows, n, k, penalty, kind);
        const float* dx = upload(x);
        const int32_t* dpen = upload(pen.empty() ? std::vector<int32_t>{0} : pen);
        const int32_t* doff = upload(off);
        std::vector<float> init_v(static_cast<size_t>(rows * k), -1.0f);
        std::vector<int32_t> init_i(static_cast<size_t>(rows * k), -7), init_c(static_cast<size_t>(rows), -7);
        float* dv = upload(init_v);
        int32_t *di = upload(init_i), *dc = upload(init_c), *dn = upload(init_c);
        const size_t ws_bytes = kernels::select_candidates_workspace_bytes(rows, n, k);
        void* ws = ws_bytes ? upload(std::vector<char>(ws_bytes, 0x5a)) : nullptr;
        ASSERT_TRUE(kernels::select_candidates_rows(dx, rows, n, dpen, penalty == 1.0f ? nullptr : doff, penalty, k, dv,
                                                    di, dc, dn, ws, ws_bytes, stream_)
                        .ok())
            << what;
        ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess) << what;
        const auto gv = download(dv, init_v.size());
        const auto gi = download(di, init_i.size());
        const auto gc = download(dc, init_c.size());
        const auto gn = download(dn, init_c.size());
        for (int64_t r = 0; r < rows; ++r) {
          candidate_set want;
          const std::span<const float> row(x.data() + r * n, static_cast<size_t>(n));
          select_candidates(row, penalty == 1.0f ? std::vector<int32_t>{} : pen_rows[static_cast<size_t>(r)], penalty, k,
                            want);
          ASSERT_EQ(gn[static_cast<size_t>(r)], want.n_valid) << what << " row " << r << ": valid entries";
          ASSERT_EQ(gc[static_cast<size_t>(r)], static_cast<int32_t>(want.items.size())) << what << " row " << r << ": count";
          for (size_t i = 0; i < want.items.size(); ++i) {
            const size_t e = static_cast<size_t>(r * k) + i;
            ASSERT_EQ(gi[e], want.items[i].second) << what << " row " << r << " candidate " << i << ": id";
            ASSERT_EQ(bits(gv[e]), bits(want.items[i].first))
                << what << " row " << r << " candidate " << i << " (id " << gi[e] << "): value " << gv[e] << " vs "
                << want.items[i].first;
          }
          for (size_t i = want.items.size(); i < static_cast<size_t>(k); ++i)  // nothing beyond the count
            ASSERT_EQ(gi[static_cast<size_t>(r * k) + i], -7) << what << " row " << r << " wrote past its count at " << i;
        }
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 9 * 6 * 6);
}

// The most penalised ids the kernel takes (kSelectMaxPenalized), every one of them at the top of
// the row before the penalty: the penalty reorders the selection, as on the host.
TEST_F(SelectCandidates, ManyPenalisedIds) {
  const int64_t n = 100288;
  const int k = 1024;
  std::mt19937 rng(7);
  std::vector<float> x = make_row(n, rng, 0, 0.0, 0.0, 0.0, 0.0);
  std::vector<int32_t> pen;
  for (int32_t i = 0; i < kernels::kSelectMaxPenalized; ++i) {
    const int32_t id = i * 24 + 5;
    pen.push_back(id);
    x[static_cast<size_t>(id)] = 20.0f + 0.001f * static_cast<float>(i % 97);
  }
  const std::vector<int32_t> off{0, static_cast<int32_t>(pen.size())};
  for (float penalty : {1.5f, 40.0f}) {
    const float* dx = upload(x);
    float* dv = upload(std::vector<float>(k, 0.0f));
    int32_t *di = upload(std::vector<int32_t>(k, 0)), *dc = upload(std::vector<int32_t>{0}),
            *dn = upload(std::vector<int32_t>{0});
    const size_t ws_bytes = kernels::select_candidates_workspace_bytes(1, n, k);
    ASSERT_GT(ws_bytes, 0u);
    ASSERT_TRUE(kernels::select_candidates_rows(dx, 1, n, upload(pen), upload(off), penalty, k, dv, di, dc, dn,
                                                upload(std::vector<char>(ws_bytes)), ws_bytes, stream_)
                    .ok());
    const auto gv = download(dv, k);
    const auto gi = download(di, k);
    candidate_set want;
    select_candidates(x, pen, penalty, k, want);
    ASSERT_EQ(download(dc, 1)[0], k);
    ASSERT_EQ(download(dn, 1)[0], n);
    for (int i = 0; i < k; ++i) {
      ASSERT_EQ(gi[static_cast<size_t>(i)], want.items[static_cast<size_t>(i)].second) << "penalty " << penalty << " at " << i;
      ASSERT_EQ(bits(gv[static_cast<size_t>(i)]), bits(want.items[static_cast<size_t>(i)].first)) << "penalty " << penalty;
    }
  }
}

TEST_F(SelectCandidates, RefusesBadArguments) {
  float* v = upload(std::vector<float>(4, 0.0f));
  int32_t* i = upload(std::vector<int32_t>(4, 0));
  EXPECT_FALSE(kernels::select_candidates_rows(v, 1, 4, nullptr, nullptr, 1.0f, 0, v, i, i, i, nullptr, 0, stream_).ok());
  EXPECT_FALSE(kernels::select_candidates_rows(nullptr, 1, 4, nullptr, nullptr, 1.0f, 2, v, i, i, i, nullptr, 0, stream_).ok());
  EXPECT_FALSE(kernels::select_candidates_rows(v, 1, 4, nullptr, i, 1.3f, 2, v, i, i, i, nullptr, 0, stream_).ok());
  EXPECT_FALSE(kernels::select_candidates_rows(v, 1, 4, nullptr, nullptr, 1.0f, kernels::kSelectMaxK + 1, v, i, i, i,
                                               nullptr, 0, stream_)
                   .ok());
  // A row longer than one slice needs the workspace.
  const int64_t n = kernels::kSelectMaxLen + 1;
  const size_t ws_bytes = kernels::select_candidates_workspace_bytes(1, n, 8);
  ASSERT_GT(ws_bytes, 0u);
  EXPECT_EQ(kernels::select_candidates_workspace_bytes(1, 8192, 8), 0u);  // one CTA a row
  float* x = upload(std::vector<float>(static_cast<size_t>(n), 1.0f));
  EXPECT_FALSE(kernels::select_candidates_rows(x, 1, n, nullptr, nullptr, 1.0f, 8, v, i, i, i, nullptr, 0, stream_).ok());
  void* ws = upload(std::vector<char>(ws_bytes));
  EXPECT_FALSE(kernels::select_candidates_rows(x, 1, n, nullptr, nullptr, 1.0f, 8, v, i, i, i, ws, ws_bytes - 1, stream_).ok());
}

}  // namespace
}  // namespace tome
