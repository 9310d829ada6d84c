// Pre-selection for sampling on the device: for each row of logits, the repetition penalty on the
// row's penalised ids (CTRL: v / p if v > 0 else v * p, correctly rounded like the host's), then
// the k entries that come first in tome::sampler's total order (larger value first, lower id on
// ties; NaN and -inf never selected), written in id order. Its CPU twin is
// tome::select_candidates (engine/src/sampling/sampler.cpp); the host finishes the chain on them.
// One CTA of 1024 threads per row: a 4-pass radix select (8 bits a pass) on an order-preserving
// 32-bit key finds the k-th entry's key T; a last pass in id order (block-wide ballot scans) writes
// every entry above T and the lowest-id entries equal to T until k are written.
// Layout: logits f32 [rows, n]; penalized int32 ids sorted ascending, row r's at
// [offsets[r], offsets[r + 1]) (offsets nullptr: no penalty); out_value f32 [rows, k],
// out_id int32 [rows, k] (the first out_count[r] of each row are valid); out_valid int32 [rows]:
// the row's entries that are neither NaN nor -inf after the penalty.
#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// Larger key = earlier in the order; 0 for NaN and -inf (never selected); -0 and +0 share a key
// (they compare equal on the host, so ties between them go to the lower id).
__device__ __forceinline__ uint32_t order_key(float v) {
  if (v != v || v == -INFINITY) return 0u;
  const uint32_t u = v == 0.0f ? 0u : __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ bool in_sorted(const int32_t* ids, int n, int32_t x) {
  int lo = 0, hi = n;  // lower bound
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (ids[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && ids[lo] == x;
}

// Exclusive prefix count of `flag` over the CTA in thread order; *total gets the CTA's count.
// Every thread must call it (it synchronises).
__device__ __forceinline__ int block_exclusive_count(bool flag, int* s_warp, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const unsigned m = __ballot_sync(0xffffffffu, flag);
  const int in_warp = __popc(m & ((1u << lane) - 1u));
  if (lane == 0) s_warp[warp] = __popc(m);
  __syncthreads();
  if (warp == 0) {
    const int x = s_warp[lane];
    int incl = x;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += y;
    }
    s_warp[lane] = incl - x;
    if (lane == 31) s_warp[32] = incl;
  }
  __syncthreads();
  const int r = s_warp[warp] + in_warp;
  *total = s_warp[32];
  __syncthreads();  // s_warp is reused by the next call
  return r;
}

__global__ void __launch_bounds__(kThreads)
    select_candidates_kernel(const float* __restrict__ x, int64_t n, const int32_t* __restrict__ pen,
                             const int32_t* __restrict__ pen_off, float penalty, int k,
                             float* __restrict__ out_value, int32_t* __restrict__ out_id,
                             int32_t* __restrict__ out_count, int32_t* __restrict__ out_valid) {
  __shared__ int32_t s_pen[kSelectMaxPenalized];
  __shared__ int s_hist[256];
  __shared__ int s_warp[kWarps + 1];
  __shared__ int s_valid, s_krem;
  __shared__ uint32_t s_prefix;
  const int tid = threadIdx.x;
  const int64_t row = blockIdx.x;
  const float* r = x + row * n;

  int npen = 0;
  if (pen_off) {
    const int32_t b = pen_off[row];
    npen = min(max(pen_off[row + 1] - b, 0), kSelectMaxPenalized);
    for (int i = tid; i < npen; i += kThreads) s_pen[i] = pen[b + i];
  }
  if (tid == 0) s_valid = 0, s_krem = k, s_prefix = 0u;
  __syncthreads();

  // The penalised value of entry j.
  auto value = [&](int64_t j) {
    float v = r[j];
    if (npen > 0 && in_sorted(s_pen, npen, static_cast<int32_t>(j)))
      v = v > 0.0f ? __fdiv_rn(v, penalty) : __fmul_rn(v, penalty);
    return v;
  };

  // Radix select: after pass p, s_prefix holds the top 8(p + 1) bits of the k-th key and s_krem
  // the k-th's rank among the entries sharing them.
  bool all = false;
  uint32_t mask = 0u;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = tid; i < 256; i += kThreads) s_hist[i] = 0;
    __syncthreads();
    const uint32_t prefix = s_prefix;
    int valid = 0;
    // Every thread runs the same trip count (the warp-wide match below needs all lanes). Logits
    // crowd into a few bins in the first passes, so the lanes of a warp that share a bin add once
    // (one shared atomic per distinct bin instead of one per entry).
    for (int64_t base = 0; base < n; base += kThreads) {
      const int64_t j = base + tid;
      const uint32_t key = j < n ? order_key(value(j)) : 0u;
      valid += key != 0u;
      const bool in = key != 0u && (key & mask) == prefix;
      const uint32_t bin = in ? (key >> shift) & 255u : 256u + (tid & 31);  // a lane of its own when out
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (in && (tid & 31) == __ffs(peers) - 1) atomicAdd(&s_hist[bin], __popc(peers));
    }
    if (pass == 0) {
      for (int o = 16; o > 0; o >>= 1) valid += __shfl_xor_sync(0xffffffffu, valid, o);
      if ((tid & 31) == 0 && valid) atomicAdd(&s_valid, valid);
    }
    __syncthreads();
    if (pass == 0) {
      const bool everything = s_valid <= k;  // every valid entry is selected
      // Every thread has read s_valid before thread 0 writes s_krem / s_prefix beside it (the
      // compiler may widen the read over them; racecheck reported that as a hazard).
      __syncthreads();
      if (everything) {
        all = true;
        break;
      }
    }
    if (tid == 0) {
      int krem = s_krem, above = 0, d = 255;
      for (; d > 0; --d) {
        if (above + s_hist[d] >= krem) break;
        above += s_hist[d];
      }
      s_krem = krem - above;
      s_prefix = prefix | (static_cast<uint32_t>(d) << shift);
    }
    mask |= 255u << shift;
    __syncthreads();
  }
  const uint32_t T = s_prefix;
  const int need_eq = s_krem;  // entries equal to T to take (the lowest ids)

  // In id order: entries above T, and the first need_eq equal to T.
  int eq_before = 0, sel_before = 0;
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t j = base + tid;
    float v = 0.0f;
    uint32_t key = 0u;
    if (j < n) {
      v = value(j);
      key = order_key(v);
    }
    const bool gt = all ? key != 0u : key > T;
    const bool eq = !all && key != 0u && key == T;
    int eq_total = 0, sel_total = 0;
    const int eq_rank = eq_before + block_exclusive_count(eq, s_warp, &eq_total);
    const bool sel = gt || (eq && eq_rank < need_eq);
    const int pos = sel_before + block_exclusive_count(sel, s_warp, &sel_total);
    if (sel && pos < k) {
      out_value[row * k + pos] = v;
      out_id[row * k + pos] = static_cast<int32_t>(j);
    }
    eq_before += eq_total;
    sel_before += sel_total;
  }
  if (tid == 0) {
    out_count[row] = min(sel_before, k);
    out_valid[row] = s_valid;
  }
}

}  // namespace

status select_candidates_rows(const float* logits, int64_t rows, int64_t n, const int32_t* penalized,
                              const int32_t* penalized_offsets, float penalty, int k, float* out_value,
                              int32_t* out_id, int32_t* out_count, int32_t* out_valid, stream_t stream) {
  if (rows < 0 || rows > 0x7fffffff || n <= 0 || n > 0x7fffffff || k < 1 || !logits || !out_value || !out_id ||
      !out_count || !out_valid || (penalized_offsets && !penalized))
    return bad_argument("select_candidates_rows: bad arguments");
  if (rows == 0) return {};
  select_candidates_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      logits, n, penalized, penalized_offsets, penalty, k, out_value, out_id, out_count, out_valid);
  return launch_status();
}

}  // namespace tome::kernels
