// Pre-selection for sampling on the device: for each row of logits, the repetition penalty on the
// row's penalised ids (CTRL: v / p if v > 0 else v * p, correctly rounded like the host's), then
// the k entries that come first in tome::sampler's total order (larger value first, lower id on
// ties; NaN and -inf never selected), written in id order. Its CPU twin is
// tome::select_candidates (engine/src/sampling/sampler.cpp); the host finishes the chain on them.
//
// Many CTAs a row, in rounds. Round 0 cuts the row into slices of at most kMaxLen entries; a CTA
// selects its slice's first k (in id order). Each later round merges groups of those lists (at
// most kMaxLen entries a group), until one list a row remains, written to the outputs. Exact: an
// entry among the row's first k is among the first k of its slice and of every group holding it
// (fewer than k entries of the row come before it in the order), and a list of a slice or group
// is in id order, so a group's lists side by side are too.
//
// One CTA, 1024 threads, selects from `len` <= kMaxLen entries held as 32-bit order keys in shared
// memory. The keys come in one pass over the input, then the penalised ids' keys are rewritten.
// A radix select (8 bits a pass, over shared memory) finds the k-th key T and how many entries
// equal to T to take. A last pass in id order (one run of entries a thread, two block-wide scans)
// writes every entry above T and the lowest-id entries equal to T. k = 1 (greedy) is an argmax
// reduction instead.
//
// Layout: logits f32 [rows, n]; penalized int32 ids sorted ascending, row r's at
// [offsets[r], offsets[r + 1]) (offsets nullptr: no penalty); out_value f32 [rows, k],
// out_id int32 [rows, k] (the first out_count[r] of each row are valid); out_valid int32 [rows]:
// the row's entries that are neither NaN nor -inf after the penalty.
#include <cmath>

#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxLen = kSelectMaxLen;  // entries a CTA holds: 64 KiB of keys

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

struct select_shared {
  int hist[256];
  int warp[kWarps + 1];
  int valid, krem, total;
  uint32_t prefix;
};

// Exclusive prefix sum of x over the CTA in thread order; *total gets the CTA's sum. Every thread
// must call it (it synchronises).
__device__ __forceinline__ int block_exclusive_sum(int x, select_shared& s, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int incl = x;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  if (lane == 31) s.warp[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const int w = s.warp[lane];
    int wincl = w;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, wincl, o);
      if (lane >= o) wincl += y;
    }
    s.warp[lane] = wincl - w;
    if (lane == 31) s.warp[32] = wincl;
  }
  __syncthreads();
  const int r = s.warp[warp] + incl - x;
  *total = s.warp[32];
  __syncthreads();  // s.warp is reused by the next call
  return r;
}

// Adds a bin to s.hist (`in` false: none). A plain shared atomic per entry: aggregating a warp's
// equal bins first with __match_any_sync made the whole selection 2.5x slower on the H100
// (session 21), though logits crowd into a few bins in the first pass.
__device__ __forceinline__ void hist_add(select_shared& s, bool in, uint32_t bin) {
  if (in) atomicAdd(&s.hist[bin], 1);
}

// Warp 0: the bin d of s.hist holding the krem-th largest key (counting from bin 255 down), and
// the rank left inside it; writes s.krem and the next 8 bits of s.prefix. Mirrors a walk from bin
// 255 down that stops at the first d with (sum above d) + hist[d] >= krem, or at d = 0.
__device__ __forceinline__ void find_bin(select_shared& s, int shift) {
  const int lane = threadIdx.x & 31;
  int c[8], tot = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) tot += (c[i] = s.hist[lane * 8 + i]);
  int suf = tot;  // bins of lanes >= lane
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_down_sync(0xffffffffu, suf, o);
    if (lane + o < 32) suf += y;
  }
  const int krem = s.krem;
  const int above_lane = suf - tot;  // bins of the lanes after this one
  const unsigned hit = __ballot_sync(0xffffffffu, above_lane < krem && krem <= suf);
  const int owner = hit ? 31 - __clz(hit) : 0;  // the highest lane that reaches krem
  __syncwarp();  // every lane has read s.krem before the owner writes it
  if (lane == owner) {
    int above = above_lane, d = lane * 8;
    bool found = false;
#pragma unroll
    for (int i = 7; i >= 0; --i) {
      if (found) continue;
      const int b = lane * 8 + i;
      if (b > 0 && above + c[i] >= krem) {
        d = b;
        found = true;
      } else if (b > 0) {
        above += c[i];
      } else {
        d = 0;
      }
    }
    s.krem = krem - above;
    s.prefix |= static_cast<uint32_t>(d) << shift;
  }
}

// Selects from `len` entries of src (value(j), id(j) for j < len, in id order) the first k in the
// order; writes them in id order to out_value / out_id, the count to *out_count. s.valid ends as
// the number of entries with a nonzero key. s_key: len keys of shared memory.
template <class Src>
__device__ void select_block(const Src& src, int len, int k, uint32_t* s_key, select_shared& s, float* out_value,
                             int32_t* out_id, int32_t* out_count) {
  const int tid = threadIdx.x;
  for (int i = tid; i < 256; i += kThreads) s.hist[i] = 0;
  if (tid == 0) s.valid = 0, s.krem = k, s.prefix = 0u;
  // The keys (their loads all in flight at once), then those the penalty changes.
#pragma unroll 4
  for (int j = tid; j < len; j += kThreads) s_key[j] = order_key(src.raw(j));
  __syncthreads();
  src.fix_keys(s_key, len);
  __syncthreads();
  if (k == 1) {  // the first entry alone: the largest key, the lowest index among equal ones
    uint32_t best = 0u;
    int at = len, valid = 0;
    for (int j = tid; j < len; j += kThreads) {  // ascending j: a strict > keeps the lowest
      const uint32_t key = s_key[j];
      valid += key != 0u;
      if (key > best) best = key, at = j;
    }
    for (int o = 16; o > 0; o >>= 1) {
      const uint32_t b2 = __shfl_xor_sync(0xffffffffu, best, o);
      const int a2 = __shfl_xor_sync(0xffffffffu, at, o);
      if (b2 > best || (b2 == best && a2 < at)) best = b2, at = a2;
      valid += __shfl_xor_sync(0xffffffffu, valid, o);
    }
    const int warp = tid >> 5;
    if ((tid & 31) == 0) {
      s.hist[warp] = static_cast<int>(best);
      s.hist[kWarps + warp] = at;
      if (valid) atomicAdd(&s.valid, valid);
    }
    __syncthreads();
    if (tid == 0) {
      for (int w = 1; w < kWarps; ++w) {  // thread 0 holds warp 0's; equal keys keep the lower index
        const uint32_t b2 = static_cast<uint32_t>(s.hist[w]);
        const int a2 = s.hist[kWarps + w];
        if (b2 > best || (b2 == best && a2 < at)) best = b2, at = a2;
      }
      if (best != 0u) {
        out_value[0] = src.value(at);
        out_id[0] = src.id(at);
      }
      *out_count = best != 0u ? 1 : 0;
    }
    return;
  }
  int valid = 0;
  for (int base = 0; base < len; base += kThreads) {
    const int j = base + tid;
    const uint32_t key = j < len ? s_key[j] : 0u;
    valid += key != 0u;
    hist_add(s, key != 0u, key >> 24);
  }
  for (int o = 16; o > 0; o >>= 1) valid += __shfl_xor_sync(0xffffffffu, valid, o);
  if ((tid & 31) == 0 && valid) atomicAdd(&s.valid, valid);
  __syncthreads();
  const bool all = s.valid <= k;  // every valid entry is selected
  if (!all) {
    uint32_t mask = 0u;
    for (int pass = 0; pass < 4; ++pass) {
      const int shift = 24 - 8 * pass;
      if (pass > 0) {
        const uint32_t prefix = s.prefix;
        for (int base = 0; base < len; base += kThreads) {
          const int j = base + tid;
          const uint32_t key = j < len ? s_key[j] : 0u;
          hist_add(s, key != 0u && (key & mask) == prefix, (key >> shift) & 255u);
        }
        __syncthreads();
      }
      if (tid < 32) find_bin(s, shift);
      mask |= 255u << shift;
      __syncthreads();
      for (int i = tid; i < 256; i += kThreads) s.hist[i] = 0;  // for the next pass (read above)
      __syncthreads();
    }
  }
  const uint32_t T = s.prefix;
  const int need_eq = s.krem;  // entries equal to T to take (the lowest ids)

  // In id order, a run of entries a thread: those above T, and the first need_eq equal to T.
  const int per = (len + kThreads - 1) / kThreads;
  const int j0 = min(tid * per, len), j1 = min(j0 + per, len);
  int gt = 0, eq = 0;
  for (int j = j0; j < j1; ++j) {
    const uint32_t key = s_key[j];
    gt += all ? key != 0u : key > T;
    eq += !all && key != 0u && key == T;
  }
  int eq_total = 0, sel_total = 0;
  int eq_rank = block_exclusive_sum(eq, s, &eq_total);
  const int eq_taken = max(0, min(eq, need_eq - eq_rank));
  int pos = block_exclusive_sum(gt + eq_taken, s, &sel_total);
  for (int j = j0; j < j1; ++j) {
    const uint32_t key = s_key[j];
    bool sel = all ? key != 0u : key > T;
    if (!all && key != 0u && key == T) sel = eq_rank++ < need_eq;
    if (sel) {
      if (pos < k) {
        out_value[pos] = src.value(j);
        out_id[pos] = src.id(j);
      }
      ++pos;
    }
  }
  if (tid == 0) *out_count = min(sel_total, k);
}

// Round 0's entries: a slice [base, base + len) of a row, penalised.
struct slice_src {
  const float* row;
  int64_t base;
  const int32_t* pen;  // shared memory
  int npen;
  float penalty;
  __device__ __forceinline__ float penalised(float v) const {
    return v > 0.0f ? __fdiv_rn(v, penalty) : __fmul_rn(v, penalty);
  }
  __device__ __forceinline__ float raw(int j) const { return row[base + j]; }
  // The keys of the penalised ids in the slice (one thread each; the CTA synchronises after).
  __device__ __forceinline__ void fix_keys(uint32_t* key, int len) const {
    for (int i = threadIdx.x; i < npen; i += kThreads) {
      const int64_t j = pen[i] - base;
      if (j >= 0 && j < len) key[j] = order_key(penalised(row[pen[i]]));
    }
  }
  __device__ __forceinline__ float value(int j) const {
    const int64_t id = base + j;
    const float v = row[id];
    return npen > 0 && in_sorted(pen, npen, static_cast<int32_t>(id)) ? penalised(v) : v;
  }
  __device__ __forceinline__ int32_t id(int j) const { return static_cast<int32_t>(base + j); }
};

// A merge's entries: lists of k slots side by side, list l holding count[l] entries.
struct lists_src {
  const float* value_;
  const int32_t* id_;
  const int32_t* count;
  int k;
  __device__ __forceinline__ float value(int j) const {
    const int l = j / k;
    return j - l * k < count[l] ? value_[j] : __int_as_float(0x7fc00000);  // an empty slot: NaN
  }
  __device__ __forceinline__ float raw(int j) const { return value(j); }  // already penalised
  __device__ __forceinline__ void fix_keys(uint32_t*, int) const {}
  __device__ __forceinline__ int32_t id(int j) const { return id_[j]; }
};

// Grid (slices, rows): slice s of row r -> list r * slices + s.
__global__ void __launch_bounds__(kThreads)
    select_slices_kernel(const float* __restrict__ x, int64_t n, int64_t slice_len, int slices,
                         const int32_t* __restrict__ pen, const int32_t* __restrict__ pen_off, float penalty, int k,
                         float* __restrict__ out_value, int32_t* __restrict__ out_id, int32_t* __restrict__ out_count,
                         int32_t* __restrict__ out_valid) {
  extern __shared__ uint32_t s_key[];
  __shared__ int32_t s_pen[kSelectMaxPenalized];
  __shared__ select_shared s;
  const int64_t row = blockIdx.y;
  const int64_t base = static_cast<int64_t>(blockIdx.x) * slice_len;
  const int len = static_cast<int>(min(slice_len, n - base));
  int npen = 0;
  if (pen_off) {
    const int32_t b = pen_off[row];
    npen = min(max(pen_off[row + 1] - b, 0), kSelectMaxPenalized);
    for (int i = threadIdx.x; i < npen; i += kThreads) s_pen[i] = pen[b + i];
  }
  __syncthreads();
  const slice_src src{x + row * n, base, s_pen, npen, penalty};
  const int64_t list = row * slices + blockIdx.x;
  select_block(src, len, k, s_key, s, out_value + list * k, out_id + list * k, out_count + list);
  if (threadIdx.x == 0) out_valid[list] = s.valid;
}

// Grid (lists out, rows): list t of row r merges input lists [t * group, t * group + group) of
// the row (fewer in the last) -> list r * n_out + t; its valid count is the sum of theirs.
__global__ void __launch_bounds__(kThreads)
    select_merge_kernel(const float* __restrict__ in_value, const int32_t* __restrict__ in_id,
                        const int32_t* __restrict__ in_count, const int32_t* __restrict__ in_valid, int n_in,
                        int group, int k, int n_out, float* __restrict__ out_value, int32_t* __restrict__ out_id,
                        int32_t* __restrict__ out_count, int32_t* __restrict__ out_valid) {
  extern __shared__ uint32_t s_key[];
  __shared__ select_shared s;
  const int64_t row = blockIdx.y;
  const int first = static_cast<int>(blockIdx.x) * group;
  const int m = min(group, n_in - first);
  const int64_t in0 = row * n_in + first;
  int v = 0;  // the valid entries of the row's slices these lists came from
  for (int i = threadIdx.x; i < m; i += kThreads) v += in_valid[in0 + i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) s.total = 0;
  __syncthreads();
  if ((threadIdx.x & 31) == 0 && v) atomicAdd(&s.total, v);
  const lists_src src{in_value + in0 * k, in_id + in0 * k, in_count + in0, k};
  const int64_t list = row * n_out + blockIdx.x;
  select_block(src, m * k, k, s_key, s, out_value + list * k, out_id + list * k, out_count + list);
  if (threadIdx.x == 0) out_valid[list] = s.total;
}

// How a row is cut: round 0's slices, then merge rounds of `group` lists until one is left.
struct select_plan {
  int64_t slice_len = 0;
  int slices = 0;
  int group = 0;      // lists a merge takes (kMaxLen / k)
  int max_lists = 0;  // lists a row holds in the workspace at most (0: one slice, no workspace)
};

select_plan plan_select(int64_t n, int k) {
  select_plan p;
  // Balance a slice (n / slices entries) against the merge after it (slices * k): both ~ sqrt(n k).
  // Up to kOneCta entries one CTA takes the row (a second launch would cost more than it saves).
  constexpr int64_t kOneCta = 8 * kThreads;
  const int64_t at_least = (n + kMaxLen - 1) / kMaxLen;
  int64_t c = n <= kOneCta ? 1 : std::llround(std::sqrt(static_cast<double>(n) / static_cast<double>(k)));
  c = std::min<int64_t>(c, (n + kThreads - 1) / kThreads);  // a slice fills the CTA's threads at least once
  c = std::max<int64_t>(std::max<int64_t>(c, at_least), 1);
  p.slice_len = (n + c - 1) / c;
  p.slices = static_cast<int>((n + p.slice_len - 1) / p.slice_len);
  p.group = kMaxLen / k;
  p.max_lists = p.slices > 1 ? p.slices : 0;
  return p;
}

size_t workspace_bytes(int64_t rows, const select_plan& p, int k) {
  // Two buffers (rounds alternate between them), each [rows, max_lists] lists of k slots plus a
  // count and a valid count per list.
  return 2 * static_cast<size_t>(rows) * static_cast<size_t>(p.max_lists) * (static_cast<size_t>(k) * 8 + 8);
}

struct lists_view {
  float* value;
  int32_t *id, *count, *valid;
};

lists_view view(void* buf, int64_t rows, int max_lists, int k) {
  const size_t slots = static_cast<size_t>(rows) * static_cast<size_t>(max_lists);
  lists_view v;
  v.value = static_cast<float*>(buf);
  v.id = reinterpret_cast<int32_t*>(v.value + slots * static_cast<size_t>(k));
  v.count = v.id + slots * static_cast<size_t>(k);
  v.valid = v.count + slots;
  return v;
}

status allow_shared(const void* kernel, int static_bytes) {
  // The keys take up to 64 KiB of dynamic shared memory: above the default 48 KiB a kernel may
  // ask for without opting in.
  int dev = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return launch_status();
  const int want = kMaxLen * 4;
  if (static_bytes + want > optin)
    return bad_argument("select_candidates_rows: the GPU has less shared memory a block than the selection needs");
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, want) != cudaSuccess)
    return launch_status();
  return {};
}

}  // namespace

size_t select_candidates_workspace_bytes(int64_t rows, int64_t n, int k) {
  if (rows <= 0 || n <= 0 || k < 1 || k > kSelectMaxK) return 0;
  return workspace_bytes(rows, plan_select(n, k), k);
}

status select_candidates_rows(const float* logits, int64_t rows, int64_t n, const int32_t* penalized,
                              const int32_t* penalized_offsets, float penalty, int k, float* out_value,
                              int32_t* out_id, int32_t* out_count, int32_t* out_valid, void* workspace,
                              size_t workspace_bytes_given, stream_t stream) {
  if (rows < 0 || rows > 65535 || n <= 0 || n > 0x7fffffff || k < 1 || k > kSelectMaxK || !logits || !out_value ||
      !out_id || !out_count || !out_valid || (penalized_offsets && !penalized))
    return bad_argument("select_candidates_rows: bad arguments");
  if (rows == 0) return {};
  const select_plan p = plan_select(n, k);
  const size_t need = workspace_bytes(rows, p, k);
  if (need > 0 && (!workspace || workspace_bytes_given < need))
    return bad_argument("select_candidates_rows: no workspace, or less than select_candidates_workspace_bytes");
  static const status slices_ok = allow_shared(reinterpret_cast<const void*>(select_slices_kernel),
                                               kSelectMaxPenalized * 4 + static_cast<int>(sizeof(select_shared)));
  static const status merge_ok =
      allow_shared(reinterpret_cast<const void*>(select_merge_kernel), static_cast<int>(sizeof(select_shared)));
  if (!slices_ok.ok()) return slices_ok;
  if (!merge_ok.ok()) return merge_ok;
  const unsigned grid_rows = static_cast<unsigned>(rows);
  if (p.slices == 1) {  // one CTA a row, straight to the outputs
    select_slices_kernel<<<dim3(1, grid_rows), kThreads, static_cast<size_t>(n) * 4, stream>>>(
        logits, n, n, 1, penalized, penalized_offsets, penalty, k, out_value, out_id, out_count, out_valid);
    return launch_status();
  }
  const size_t half = need / 2;
  lists_view buf[2] = {view(workspace, rows, p.max_lists, k),
                       view(static_cast<char*>(workspace) + half, rows, p.max_lists, k)};
  select_slices_kernel<<<dim3(static_cast<unsigned>(p.slices), grid_rows), kThreads,
                         static_cast<size_t>(p.slice_len) * 4, stream>>>(logits, n, p.slice_len, p.slices, penalized,
                                                                         penalized_offsets, penalty, k, buf[0].value,
                                                                         buf[0].id, buf[0].count, buf[0].valid);
  if (status st = launch_status(); !st.ok()) return st;
  int lists = p.slices, cur = 0;
  while (lists > 1) {
    // Even groups: as many merges as `group` requires, the lists spread evenly over them.
    const int n_out = (lists + p.group - 1) / p.group;
    const int group = (lists + n_out - 1) / n_out;
    const bool last = n_out == 1;
    const lists_view& in = buf[cur];
    const lists_view& out = buf[cur ^ 1];
    select_merge_kernel<<<dim3(static_cast<unsigned>(n_out), grid_rows), kThreads,
                          static_cast<size_t>(group) * static_cast<size_t>(k) * 4, stream>>>(
        in.value, in.id, in.count, in.valid, lists, group, k, n_out, last ? out_value : out.value,
        last ? out_id : out.id, last ? out_count : out.count, last ? out_valid : out.valid);
    if (status st = launch_status(); !st.ok()) return st;
    lists = n_out;
    cur ^= 1;
  }
  return {};
}

}  // namespace tome::kernels
