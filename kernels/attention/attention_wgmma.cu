// Hopper attention for many query rows: the prefill of the Transformer baseline (full causal GQA
// attention over 128K+ keys) and any long attention() call with head_dim 128 and a bf16 KV. The
// same op, masks and results as attn_tile_kernel (attention.cu), on sm_90a instructions:
//   - K/V tiles of 128 keys arrive by TMA (two 64-column panels per tile, 128-byte swizzle) into a
//     3-stage ring of shared memory, each stage guarded by a "full" mbarrier (the copy's bytes)
//     and an "empty" one (every warp done with it). Thread 0 issues the copy of tile i+1 during
//     tile i, after its warpgroup's products are queued.
//   - A CTA of two warpgroups owns 128 tile rows ((query row, query head) pairs of one KV head, as
//     in the tile kernel; one CTA per SM, so attention_splits sizes its splits in whole waves);
//     each warpgroup computes S = Q K^T for its 64 rows with wgmma (Q held in registers as A
//     fragments, K from shared memory), the online softmax in registers, and O += P V with P
//     straight from the registers (V read transposed from shared memory). Both products take A
//     from registers, which leaves shared-memory bandwidth to the B operands and the TMA writes.
//   - Schedule: a warpgroup issues S of tile i and P V of tile i-1 as two wgmma groups, waits for
//     S only, and runs tile i's softmax while P V still runs; the two warpgroups take turns issuing
//     (named barriers), so one's softmax overlaps the other's products (FlashAttention-3's
//     "ping-pong"). Row maxima and sums use 8 independent chains a row pair.
// Scores are in the log2 domain, weights are rounded to bf16 for the P V product and the
// accumulation is f32, as in the tile kernel. Splits write the same f32 partials (m, l, acc).
// Compiled for sm_90a only (the wgmma, TMA and mbarrier instructions); elsewhere the launcher keeps
// the mma.sync kernels, and TOME_WGMMA_ATTN=0 forces them on Hopper too (A/B, and the op tests run
// both). Measured steps and figures: docs/performance.md, "A Hopper attention kernel".
#include <cuda.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "attention/attention_wgmma.h"
#include "common/common.cuh"
#include "common/hopper.cuh"

namespace tome::kernels {
namespace {

constexpr int kHD = 128;
constexpr int kRows = 128;   // tile rows per CTA
constexpr int kKeys = 128;   // keys per K/V tile
constexpr int kStages = 3;
constexpr int kThreads = 256;
constexpr int kPanel = kKeys * 128;         // bytes of one 64-column panel of a K/V tile
constexpr int kQBytes = kRows * kHD * 2;    // 32 KiB
constexpr int kStageBytes = 2 * 2 * kPanel; // K and V: 64 KiB
constexpr size_t kSmem = 1024 + kQBytes + kStages * kStageBytes + 2 * kStages * 8;
constexpr float kLog2e = 1.4426950408889634f;

struct wg_args {
  const uint16_t* q;
  uint16_t* o;
  float* partial;
  int64_t rows, first_key_offset, window;
  int hq, group, splits;
  float scale_log2;
};

#ifdef TOME_WGMMA_DEVICE
using namespace hopper;
__device__ __forceinline__ void named_sync(int id) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(kThreads)); }
__device__ __forceinline__ void named_arrive(int id) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "n"(kThreads)); }
// Keeps the compiler from moving register accesses across the asynchronous products.
__device__ __forceinline__ void fence_regs(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ int64_t first_key_of(int64_t last, int64_t window) {
  return window > 0 ? (last - window + 1 > 0 ? last - window + 1 : 0) : 0;
}

// d (+)= A B: A [64 x 16] from registers, B [16 x 128] from shared memory K-major.
__device__ __forceinline__ void wgmma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(accumulate));
}

// d += A B: A [64 x 16] from registers (the accumulator layout, bf16 pairs), B [16 x 128] from
// shared memory MN-major (transposed: the N index is contiguous).
__device__ __forceinline__ void wgmma_rs_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
#endif  // TOME_WGMMA_DEVICE

// grid (row blocks, Hkv, splits), kThreads threads, kSmem bytes of dynamic shared memory.
__global__ void __launch_bounds__(kThreads, 1)
    attn_wgmma_kernel(const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv, wg_args a) {
#ifdef TOME_WGMMA_DEVICE
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_u32(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;  // the 128-byte swizzle repeats every 1024 bytes
  const uint32_t sq = base;                      // Q: [2 panels][128 rows][128 bytes]
  const uint32_t sk0 = base + kQBytes;           // stage s: K panels at sk0 + s*kStageBytes, V after them
  const uint32_t full0 = sk0 + kStages * kStageBytes, empty0 = full0 + 8 * kStages;

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int rows_per_cta = kRows / a.group, q_tile_rows = rows_per_cta * a.group;
  const int64_t r0 = (static_cast<int64_t>(gridDim.x) - 1 - blockIdx.x) * rows_per_cta;  // longest rows first
  const int g = blockIdx.y, split = blockIdx.z;
  const int rows_here = static_cast<int>(a.rows - r0 < rows_per_cta ? a.rows - r0 : rows_per_cta);
  const int64_t off = a.first_key_offset, rlast = r0 + rows_here - 1;
  const int64_t kb = first_key_of(off + r0, a.window), ke = off + rlast + 1;
  const int64_t ntiles = (ke - kb + kKeys - 1) / kKeys;
  const int64_t t0 = ntiles * split / a.splits, t1 = ntiles * (split + 1) / a.splits;
  const int n = static_cast<int>(t1 - t0);

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, 8);  // every warp of both warpgroups
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  // Thread 0: tile t0+u into stage u % kStages once both warpgroups are done with tile u - kStages.
  auto issue = [&](int u) {
    const int s = u % kStages;
    if (u >= kStages) mbar_wait(empty0 + 8 * s, static_cast<uint32_t>((u / kStages - 1) & 1));
    const uint32_t bar = full0 + 8 * s, dk = sk0 + s * kStageBytes, dv = dk + 2 * kPanel;
    mbar_expect_tx(bar, kStageBytes);
    const int x = g * kHD, y = static_cast<int>(kb + (t0 + u) * kKeys);
    tma_load(dk, &tk, x, y, bar);
    tma_load(dk + kPanel, &tk, x + 64, y, bar);
    tma_load(dv, &tv, x, y, bar);
    tma_load(dv + kPanel, &tv, x + 64, y, bar);
  };
  if (tid == 0) {
    if (n > 0) issue(0);
    if (n > 1) issue(1);
  }
  // Q: tile row t = (query row r0 + t/group, head g*group + t%group), zero where there is none.
  for (int i = tid; i < kRows * 16; i += kThreads) {
    const int t = i >> 4, c = i & 15, rr = t / a.group;
    const bool ok = t < q_tile_rows && rr < rows_here;
    const int64_t idx = ok ? ((r0 + rr) * a.hq + g * a.group + t % a.group) * kHD + c * 8 : 0;
    const uint32_t dst = sq + (c >> 3) * (kRows * 128) + t * 128 + (((c & 7) ^ (t & 7)) << 4);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(a.q + idx), "r"(ok ? 16 : 0));
  }
  asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // generic-proxy writes -> wgmma reads
  __syncthreads();

  // This thread's two accumulator rows (h = 0, 1) and their visible keys, relative to kb.
  int lo[2], hi[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int t = 64 * wg + 16 * warp + (lane >> 2) + 8 * h;
    const int rr = t / a.group < rows_here ? t / a.group : rows_here - 1;
    hi[h] = static_cast<int>(off + r0 + rr - kb);
    lo[h] = static_cast<int>(first_key_of(off + r0 + rr, a.window) - kb);
  }
  const int wr_min = (64 * wg) / a.group < rows_here ? (64 * wg) / a.group : rows_here - 1;
  const int wr_max = (64 * wg + 63) / a.group < rows_here ? (64 * wg + 63) / a.group : rows_here - 1;
  const int64_t w_last_min = off + r0 + wr_min, w_first_max = first_key_of(off + r0 + wr_max, a.window);

  float o[64], s[64];
  uint32_t p[32];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  // This warp's Q rows (16 of its warpgroup's 64) as wgmma A fragments, one set per 16 head dims:
  // ldmatrix from the swizzled tile (lane l: row l%8 + 8((l/8)%2), 16-byte chunk 2kk + l/16).
  uint32_t qf[8][4];
  {
    const int t = 64 * wg + 16 * warp + (lane & 7) + 8 * ((lane >> 3) & 1);
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
      const int c = 2 * kk + (lane >> 4);
      const uint32_t addr = sq + (c >> 3) * (kRows * 128) + t * 128 + (((c & 7) ^ (t & 7)) << 4);
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                   : "=r"(qf[kk][0]), "=r"(qf[kk][1]), "=r"(qf[kk][2]), "=r"(qf[kk][3])
                   : "r"(addr));
    }
  }

  // O += P V of tile u (P: this thread's bf16 weight pairs, the A fragments of 16 keys each; V:
  // keys 16kk.. of the stage, read transposed).
  auto pv_product = [&](int u) {
    const uint32_t vt = sk0 + (u % kStages) * kStageBytes + 2 * kPanel;
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
      const uint32_t pa[4] = {p[4 * kk], p[4 * kk + 1], p[4 * kk + 2], p[4 * kk + 3]};
      wgmma_rs_tb(o, pa, desc128(vt + kk * 2048, kPanel, 1024));
    }
  };
  if (n > 0 && wg == 1) named_arrive(1);  // warpgroup 0 issues first
  // One tile; with_pv: also O += P V of the previous tile (a separate instantiation, so no wgmma
  // sits on a branch: ptxas would serialise them).
  auto step = [&](int u, auto with_pv) {
    const int st = u % kStages;
    mbar_wait(full0 + 8 * st, static_cast<uint32_t>((u / kStages) & 1));
    named_sync(1 + wg);  // this warpgroup's turn on the tensor cores
    fence_regs(o);
    wgmma_fence();
    const uint32_t kt = sk0 + st * kStageBytes;
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)  // S = Q K^T over head dims 16kk..16kk+15
      wgmma_rs(s, qf[kk], desc128(kt + (kk >> 2) * kPanel + (kk & 3) * 32, 16, 1024), kk > 0);
    wgmma_commit();
    if constexpr (decltype(with_pv)::value) {  // O += P V of the previous tile
      pv_product(u - 1);
      wgmma_commit();
    }
    if (!(wg == 1 && u == n - 1)) named_arrive(2 - wg);  // the other warpgroup's turn
    // The next tile's copy: after this warpgroup's products are queued, so that waiting for the
    // other warpgroup to free the stage never leaves the tensor cores idle.
    if (tid == 0 && u >= 1 && u + 1 < n) issue(u + 1);
    // Online softmax of tile u (log2 domain) while P V of tile u-1 still runs: S first, O later.
    if constexpr (decltype(with_pv)::value) {
      wgmma_wait<1>();
    } else {
      wgmma_wait<0>();
    }
    fence_regs(s);
    // Key of s[4j + c]: 8j + 2(lane%4) + (c&1); row h = c>>1. Max over the raw scores (the scale is
    // positive), then 2^(s * scale - m) with one FMA.
    const int64_t j0 = kb + (t0 + u) * kKeys;
    const int jrel = static_cast<int>(j0 - kb);
    const bool mask = j0 + kKeys - 1 > w_last_min || (a.window > 0 && j0 < w_first_max);
    if (mask) {
#pragma unroll
      for (int j = 0; j < 16; ++j)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int key = jrel + 8 * j + 2 * (lane & 3) + (c & 1);
          if (key < lo[c >> 1] || key > hi[c >> 1]) s[4 * j + c] = -INFINITY;
        }
    }
    // Maxima and sums in 8 independent chains a row pair (index [j % 2][c]): one chain of 32
    // dependent instructions a row stalled the warps (ncu: fixed-latency dependencies).
    float mxp[2][4];
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      mxp[0][c] = s[c];
      mxp[1][c] = s[4 + c];
    }
#pragma unroll
    for (int j = 2; j < 16; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) mxp[j & 1][c] = fmaxf(mxp[j & 1][c], s[4 * j + c]);
    float mx[2];
#pragma unroll
    for (int h = 0; h < 2; ++h)
      mx[h] = fmaxf(fmaxf(mxp[0][2 * h], mxp[0][2 * h + 1]), fmaxf(mxp[1][2 * h], mxp[1][2 * h + 1]));
    float corr[2], bias[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(m[h], mx[h] * a.scale_log2);
      bias[h] = m_new == -INFINITY ? 0.0f : m_new;
      corr[h] = fast_exp2(m[h] - bias[h]);
      m[h] = m_new;
    }
    float sp[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
    for (int i = 0; i < 64; ++i) {
      const float e = fast_exp2(fmaf(s[i], a.scale_log2, -bias[(i >> 1) & 1]));
      s[i] = e;
      sp[(i >> 2) & 1][i & 3] += e;
    }
#pragma unroll
    for (int h = 0; h < 2; ++h)
      l[h] = l[h] * corr[h] + ((sp[0][2 * h] + sp[0][2 * h + 1]) + (sp[1][2 * h] + sp[1][2 * h + 1]));
    if constexpr (decltype(with_pv)::value) {
      wgmma_wait<0>();  // P V of tile u-1: O and P are free, and its stage can be refilled
      fence_regs(o);
      __syncwarp();
      if (lane == 0) mbar_arrive(empty0 + 8 * ((u - 1) % kStages));
    }
    // Rescale O only where a row's maximum moved (rare once many keys are in).
    if (__any_sync(0xffffffffu, corr[0] != 1.0f || corr[1] != 1.0f)) {
#pragma unroll
      for (int i = 0; i < 64; ++i) o[i] *= corr[(i >> 1) & 1];
    }
#pragma unroll
    for (int i = 0; i < 32; ++i) p[i] = pack_bf16(s[2 * i], s[2 * i + 1]);
  };
  if (n > 0) step(0, std::false_type{});
  for (int u = 1; u < n; ++u) step(u, std::true_type{});
  if (n > 0) {
    fence_regs(o);
    wgmma_fence();
    pv_product(n - 1);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(o);
  }
  // Row sums over the 4 lanes of each row; write O (or the split's partial).
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float lh = l[h];
    lh += __shfl_xor_sync(0xffffffffu, lh, 1);
    lh += __shfl_xor_sync(0xffffffffu, lh, 2);
    const int t = 64 * wg + 16 * warp + (lane >> 2) + 8 * h, rr = t / a.group;
    if (t >= q_tile_rows || rr >= rows_here) continue;
    const int64_t rh = (r0 + rr) * a.hq + g * a.group + t % a.group;
    if (a.splits == 1) {
      const float inv = lh > 0.0f ? 1.0f / lh : 0.0f;
#pragma unroll
      for (int j = 0; j < 16; ++j)
        *reinterpret_cast<__nv_bfloat162*>(a.o + rh * kHD + 8 * j + 2 * (lane & 3)) =
            __floats2bfloat162_rn(o[4 * j + 2 * h] * inv, o[4 * j + 2 * h + 1] * inv);
    } else {
      float* part = a.partial + (rh * a.splits + split) * (kHD + 2);
      if ((lane & 3) == 0) {
        part[0] = m[h];
        part[1] = lh;
      }
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        part[2 + 8 * j + 2 * (lane & 3)] = o[4 * j + 2 * h];
        part[3 + 8 * j + 2 * (lane & 3)] = o[4 * j + 2 * h + 1];
      }
    }
  }
#else
  __trap();  // never launched: the launcher checks that this image has the sm_90a body
#endif
}

// ---- host side ----
hopper::kernel_switch g_switch("TOME_WGMMA_ATTN");  // attention_use_wgmma() decides once called

bool hardware_ok() {
#ifdef TOME_HAVE_SM90A
  // sm_90a code runs on compute capability 9.0 only; the smem opt-in must succeed too.
  static const bool ok = hopper::sm90a_kernel_ready(attn_wgmma_kernel, kSmem);
  return ok;
#else
  return false;
#endif
}

bool make_map(CUtensorMap* map, const uint16_t* base, int64_t kv_stride, int64_t n_keys) {
  return hopper::make_bf16_map(map, base, kv_stride, n_keys, kv_stride, kKeys);
}

}  // namespace

bool attention_wgmma_available() { return hardware_ok(); }

bool attention_use_wgmma(bool on) {
  const bool was = attention_wgmma_enabled();
  g_switch.set(on);
  return was;
}

bool attention_wgmma_enabled() { return g_switch.wanted() && hardware_ok(); }

namespace detail {

bool attention_wgmma_launch(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, float* partial,
                            int64_t rows, int64_t kv_stride, int64_t first_key_offset, int hq, int group, int splits,
                            int64_t window, float scale, stream_t stream, status* result) {
  if (!attention_wgmma_enabled() || group < 1 || group > kRows || rows < 1 || splits < 1 || splits > 65535 ||
      kv_stride % 8 != 0 || !is_aligned16(q) || !is_aligned16(k) || !is_aligned16(v) || !is_aligned16(o))
    return false;
  const int64_t n_keys = first_key_offset + rows;
  const int64_t rows_per_cta = kRows / group;
  const int64_t blocks = (rows + rows_per_cta - 1) / rows_per_cta;
  if (n_keys >= (int64_t{1} << 31) || blocks > 0x7fffffff || kv_stride >= (int64_t{1} << 31)) return false;
  CUtensorMap tk, tv;
  if (!make_map(&tk, k, kv_stride, n_keys) || !make_map(&tv, v, kv_stride, n_keys)) return false;
  wg_args a{q, o, partial, rows, first_key_offset, window, hq, group, splits, scale * kLog2e};
  attn_wgmma_kernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(hq / group),
                           static_cast<unsigned>(splits)),
                      kThreads, kSmem, stream>>>(tk, tv, a);
  *result = launch_status();
  return true;
}

}  // namespace detail
}  // namespace tome::kernels
