// Attention kernels for YOCO: sliding-window self-attention (self-decoder kind b), cross attention
// over the one global KV (GQA, causal bottom-right) and plain causal GQA attention, all one op:
// query row r (of `rows`) sees keys first(r)..last(r) with last(r) = first_key_offset + r and
// first(r) = max(0, last(r) - window + 1) (window 0: first = 0). CPU twins: cpu::sliding_window_attn,
// cpu::cross_attn.
//
// Two FlashAttention-2-style kernels on bf16 tensor cores (mma.sync m16n8k16, sm_80+; f32
// accumulation and online softmax in f32, scores in the log2 domain):
//   - tile kernel (many query rows): a CTA of 4 warps owns 128 "tile rows", each a (query row,
//     query head) pair of one KV head (row-major over rows, then the `group` heads of that KV head),
//     so GQA heads share every K/V tile; each warp owns 32 tile rows (two m16 groups, so each K/V
//     fragment read from shared memory feeds two MMAs) against the whole key tile.
//   - decode kernel (rows * group <= 16): a CTA per (KV head, key split) holds all its query
//     vectors in one 16-row tile; the 4 warps take 16 keys each of every 64-key tile, then merge.
//     Each warp copies only its own 16 keys of a tile and waits for them alone, so the loop has
//     no CTA barrier (attn_decode_body's W); with fp8 it converts the raw e4m3 rows in registers
//     as it loads the MMA fragments (warp_block_raw), with no bf16 tile.
// K/V tiles of 64 keys stream through shared memory with cp.async (16-byte chunks, a warp reads two
// whole 256-byte rows per instruction; double-buffered), XOR-swizzled so ldmatrix is conflict-free.
// Masks are applied only on tiles that cross a row's first/last key. Long key ranges split over
// CTAs (flash-decoding) write f32 partials (m, l, acc) that a combine kernel merges.
// Head dims 16, 32, 64, 128 use these kernels; other head dims (<= 256) use the generic kernel
// kept from the first version (one key per thread).
// Layouts: q, o bf16 [rows, Hq, hd]; k, v bf16 rows of kv_stride = Hkv*hd elements, KV head g at
// g*hd; partials f32 [rows*Hq, splits, hd + 2] (m in log2 units, l, acc).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>

#include "attention/attention_wgmma.h"
#include "common/common.cuh"
#include "gemv/gemv_common.cuh"
#include "kv_fp8/kv_fp8.cuh"

namespace tome::kernels {
namespace {

constexpr int kThreads = 128;  // 4 warps
constexpr int kBN = 64;        // keys per K/V tile
constexpr int kBM = 128;       // tile rows per CTA (tile kernel)
constexpr int kMaxHeadDim = 256;
constexpr int kDecodeRows = 16;
constexpr float kLog2e = 1.4426950408889634f;

struct attn_args {
  const uint16_t *q, *k, *v;
  uint16_t* o;
  float* partial;
  const int64_t* n_keys_dev;  // decode, fixed grid: first_key_offset = *n_keys_dev + n_keys_add - rows
  int64_t n_keys_add;
  int64_t rows, kv_stride, first_key_offset;
  int hq, group, hd, splits;
  int64_t window;  // 0 = causal from key 0; W = keys [last-W+1, last]
  float scale;     // 1/sqrt(hd)
  // fp8 KV (k8 != nullptr; then k, v are unused): e4m3 rows of kv_stride bytes, scales f32 [n, hkv].
  const uint8_t *k8 = nullptr, *v8 = nullptr;
  const float *ks = nullptr, *vs = nullptr;
  int hkv = 0;
  // Fixed-grid decode: the K/V rows and the key count are final before the kernel ahead of this
  // one runs (the engine's cross layers), so the first K/V tile is requested before
  // griddepcontrol.wait; only the query waits for that kernel.
  bool kv_ready = false;
};

__device__ __forceinline__ int64_t first_key(int64_t last, int64_t window) {
  return window > 0 ? (last - window + 1 > 0 ? last - window + 1 : 0) : 0;
}

// ---- PTX helpers ----
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int n = valid ? 16 : 0;  // 0: zero-fill, nothing read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int n = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Element offset of 16-byte chunk c of row r in a swizzled [rows][HD] bf16 tile.
template <int HD>
__device__ __forceinline__ int swz(int r, int c) {
  constexpr int kChunks = HD / 8, kMask = (kChunks < 8 ? kChunks : 8) - 1;
  return r * HD + ((c ^ (r & kMask)) << 3);
}

// Copies keys j0..j0+kBN-1 of one KV head (base = k or v + g*hd) into a swizzled tile; keys at or
// beyond kend are zero-filled (never read).
template <int HD>
__device__ __forceinline__ void load_kv_tile(uint16_t* s, const uint16_t* base, int64_t stride, int64_t j0,
                                             int64_t kend) {
  constexpr int kChunks = HD / 8;
#pragma unroll
  for (int i = threadIdx.x; i < kBN * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const int64_t j = j0 + r;
    const bool ok = j < kend;
    cp_async16(s + swz<HD>(r, c), base + (ok ? j : 0) * stride + c * 8, ok);
  }
}

// One warp's share of a K/V tile (the decode kernel's per-warp pipelines): the kChunks 16-byte
// chunks of tile rows r0..r0+15, i.e. of keys j0 + r (zero-filled at or beyond kend), chunk c of
// row r to dk / dv + off(r, c) from kb / vb + j * stride + c * E (E elements of T per chunk).
template <int kChunks, int E, class T, class Off>
__device__ __forceinline__ void copy_warp_rows(T* dk, T* dv, const T* kb, const T* vb, int64_t stride, int64_t j0,
                                               int64_t kend, int r0, int lane, Off off) {
#pragma unroll
  for (int i = lane; i < 16 * kChunks; i += 32) {
    const int r = r0 + i / kChunks, c = i % kChunks;
    const int64_t j = j0 + r;
    const bool ok = j < kend;
    const int64_t at = (ok ? j : 0) * stride + c * E;
    cp_async16(dk + off(r, c), kb + at, ok);
    cp_async16(dv + off(r, c), vb + at, ok);
  }
}

// Two e4m3 codes at bits 0-7 and 16-23 of x -> their exact values as bf16x2: the code's exponent
// and mantissa bits placed in bf16's (a bf16 of value v * 2^-120, subnormal codes as bf16
// subnormals), then multiplied by 2^120 (bf16 arithmetic keeps subnormals; exact).
__device__ __forceinline__ uint32_t e4m3x2_to_bf16x2(uint32_t x) {
  const uint32_t r = ((x << 4) & 0x07f007f0u) | ((x << 8) & 0x80008000u);
  const __nv_bfloat162 v = __hmul2(*reinterpret_cast<const __nv_bfloat162*>(&r), __floats2bfloat162_rn(0x1p120f, 0x1p120f));
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The K/V tile pipeline of both kernels. bf16 KV: tiles are copied with cp.async straight into
// two stages of swizzled bf16 tiles. fp8 KV: the raw e4m3 rows (HD bytes each, unswizzled) and
// their scales are copied into two raw stages; once a stage has landed, convert() dequantises it
// (e4m3 value * scale, rounded to bf16) into the one swizzled bf16 tile pair the warps read, so the
// next tile's raw bytes stream in while this one is used.
template <int HD, bool F8>
struct kv_pipe {
  uint16_t *sk, *sv;      // bf16 tiles: [2][kBN][HD] each (fp8: [kBN][HD])
  uint8_t *rk, *rv;       // fp8: raw [2][kBN][HD] each
  float *rks, *rvs;       // fp8: scales [2][kBN] each
  const uint16_t *kbase, *vbase;
  const uint8_t *kb8, *vb8;
  const float *ksc, *vsc;  // scale of key j: ksc[j * hkv]
  int64_t stride;          // elements (= bytes for fp8) between key rows
  int hkv;

  // Lays the buffers out after `base` (the Q tile's end) for KV head g.
  __device__ __forceinline__ kv_pipe(uint16_t* base, const attn_args& a, int g) {
    sk = base;
    sv = sk + (F8 ? 1 : 2) * kBN * HD;
    rk = reinterpret_cast<uint8_t*>(sv + (F8 ? 1 : 2) * kBN * HD);
    rv = rk + 2 * kBN * HD;
    rks = reinterpret_cast<float*>(rv + 2 * kBN * HD);
    rvs = rks + 2 * kBN;
    stride = a.kv_stride;
    hkv = a.hkv;
    kbase = a.k + static_cast<int64_t>(g) * HD;
    vbase = a.v + static_cast<int64_t>(g) * HD;
    kb8 = a.k8 + static_cast<int64_t>(g) * HD;
    vb8 = a.v8 + static_cast<int64_t>(g) * HD;
    ksc = a.ks + g;
    vsc = a.vs + g;
  }
  static constexpr size_t smem_bytes() {  // after the Q tile
    return F8 ? 2 * kBN * HD * 2 + 4 * kBN * HD + 4 * kBN * 4 : 4 * kBN * HD * 2;
  }
  // Issues the cp.async copies of keys j0..j0+kBN-1 (zero-filled at or beyond kend) into `stage`.
  __device__ __forceinline__ void issue(int stage, int64_t j0, int64_t kend) {
    if constexpr (!F8) {
      load_kv_tile<HD>(sk + stage * kBN * HD, kbase, stride, j0, kend);
      load_kv_tile<HD>(sv + stage * kBN * HD, vbase, stride, j0, kend);
    } else {
      constexpr int kChunks = HD / 16;  // 16-byte chunks per raw row
      uint8_t* dk = rk + stage * kBN * HD;
      uint8_t* dv = rv + stage * kBN * HD;
#pragma unroll
      for (int i = threadIdx.x; i < kBN * kChunks; i += kThreads) {
        const int r = i / kChunks, c = i % kChunks;
        const int64_t j = j0 + r;
        const bool ok = j < kend;
        const int64_t at = (ok ? j : 0) * stride + c * 16;
        cp_async16(dk + r * HD + c * 16, kb8 + at, ok);
        cp_async16(dv + r * HD + c * 16, vb8 + at, ok);
      }
      static_assert(kThreads == 2 * kBN, "one scale per thread");
      const int r = threadIdx.x % kBN;
      const int64_t j = j0 + r;
      const bool ok = j < kend;
      const float* src = threadIdx.x < kBN ? ksc : vsc;
      float* dst = (threadIdx.x < kBN ? rks : rvs) + stage * kBN + r;
      cp_async4(dst, src + (ok ? j : 0) * hkv, ok);
    }
  }
  // The decode kernel's per-warp form of issue() (bf16): only tile rows r0..r0+15 (the 16 keys
  // this warp reads; keys at or beyond kend zero-filled), copied by the warp's own lanes, so the
  // warp can wait for them alone (cp.async.wait_group, then __syncwarp) with no CTA barrier.
  __device__ __forceinline__ void issue_rows(int stage, int64_t j0, int64_t kend, int r0, int lane) {
    static_assert(!F8, "the fp8 decode's per-warp form is kv_raw_pipe");
    copy_warp_rows<HD / 8, 8>(sk + stage * kBN * HD, sv + stage * kBN * HD, kbase, vbase, stride, j0, kend, r0, lane,
                              [](int r, int c) { return swz<HD>(r, c); });
  }
  // One 16-byte chunk of raw row r (K: which 0, V: 1) into the bf16 tile.
  __device__ __forceinline__ void convert_chunk(int stage, int which, int r, int c) {
    const uint8_t* raw = (which ? rv : rk) + stage * kBN * HD;
    const uint4 w = *reinterpret_cast<const uint4*>(raw + r * HD + c * 16);
    const uint32_t in[4] = {w.x, w.y, w.z, w.w};
    uint32_t out[8];
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      out[2 * t] = e4m3x2_to_bf16x2(__byte_perm(in[t], 0u, 0x4140));
      out[2 * t + 1] = e4m3x2_to_bf16x2(__byte_perm(in[t], 0u, 0x4342));
    }
    uint16_t* dst = which ? sv : sk;
    *reinterpret_cast<uint4*>(dst + swz<HD>(r, 2 * c)) = make_uint4(out[0], out[1], out[2], out[3]);
    *reinterpret_cast<uint4*>(dst + swz<HD>(r, 2 * c + 1)) = make_uint4(out[4], out[5], out[6], out[7]);
  }
  // fp8: converts `stage` into the bf16 tiles (all threads; the caller syncs before and after):
  // the e4m3 values exactly (bf16 holds every e4m3 value), unscaled; the scales are applied in f32
  // by warp_block (K's to the scores, V's to the softmax weights). Integer ops and one bf16x2
  // multiply per pair: the f16/f32 conversion instructions run at a quarter of the rate and made
  // the first version compute-bound.
  __device__ __forceinline__ void convert(int stage) {
    if constexpr (F8) {
      constexpr int kChunks = HD / 16;
#pragma unroll 2
      for (int i = threadIdx.x; i < 2 * kBN * kChunks; i += kThreads) {
        const int which = i / (kBN * kChunks), e = i % (kBN * kChunks);
        convert_chunk(stage, which, e / kChunks, e % kChunks);
      }
    }
  }
  __device__ __forceinline__ const uint16_t* k_tile(int stage) const { return F8 ? sk : sk + stage * kBN * HD; }
  __device__ __forceinline__ const float* k_scales(int stage) const { return F8 ? rks + stage * kBN : nullptr; }
  __device__ __forceinline__ const float* v_scales(int stage) const { return F8 ? rvs + stage * kBN : nullptr; }
  __device__ __forceinline__ const uint16_t* v_tile(int stage) const { return F8 ? sv : sv + stage * kBN * HD; }
};

// Tile row i of a CTA whose first query row is r0 and KV head g: query row r0 + i/group, query
// head g*group + i%group. Rows outside [0, rows) (or i >= rows_per_cta*group) are zero-filled.
template <int HD>
__device__ __forceinline__ void load_q_tile(uint16_t* s, const attn_args& a, int n_tile_rows, int64_t r0, int g,
                                            int rows_here) {
  constexpr int kChunks = HD / 8;
  for (int i = threadIdx.x; i < n_tile_rows * kChunks; i += kThreads) {
    const int t = i / kChunks, c = i % kChunks;
    const int rr = t / a.group;
    const bool ok = rr < rows_here;
    const int64_t idx = ok ? ((r0 + rr) * a.hq + g * a.group + t % a.group) * HD + c * 8 : 0;
    cp_async16(s + swz<HD>(t, c), a.q + idx, ok);
  }
}

// Per-warp online-softmax state: MI groups of 16 tile rows x HD; in group mi this thread holds
// rows lane/4 and lane/4 + 8 (index h = 0, 1).
template <int HD, int MI>
struct warp_state {
  float o[MI][HD / 8][4];
  float m[MI][2], l[MI][2];  // running max (log2 units) and this thread's part of the row sum
  __device__ __forceinline__ void init() {
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
#pragma unroll
      for (int i = 0; i < HD / 8; ++i) o[mi][i][0] = o[mi][i][1] = o[mi][i][2] = o[mi][i][3] = 0.0f;
      m[mi][0] = m[mi][1] = -INFINITY;
      l[mi][0] = l[mi][1] = 0.0f;
    }
  }
};

// The online-softmax step of one warp (warp_block's middle): the scores s of its NK keys are
// scaled (fp8: by the key's scale too), masked and turned into softmax weights (fp8: times the
// value's scale), and the running (m, l, o) rescaled. Score column (nt, e) of this thread (e: the
// accumulator's element 0/2 or 1/3) is the key key_at(nt, e) of the warp's keys: tile row
// kb + key_at, key index jg + key_at (relative to the CTA's first key, as lo and hi).
template <int HD, int NK, int MI, class KeyAt>
__device__ __forceinline__ void softmax_block(warp_state<HD, MI>& st, float (&s)[MI][NK / 8][4], KeyAt key_at,
                                              int kb, int jg, bool mask, const int (&lo)[MI][2],
                                              const int (&hi)[MI][2], float scale_log2, const float* ksc,
                                              const float* vsc) {
  float kscale[NK / 8][2];  // the score scale of this thread's keys (fp8: times the key's scale)
#pragma unroll
  for (int nt = 0; nt < NK / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 2; ++e) kscale[nt][e] = ksc ? ksc[kb + key_at(nt, e)] * scale_log2 : scale_log2;
#pragma unroll
  for (int mi = 0; mi < MI; ++mi) {
    // Scale, mask, running max.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < NK / 8; ++nt) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float x = s[mi][nt][c] * kscale[nt][c & 1];
        if (mask) {
          const int key = jg + key_at(nt, c & 1);
          const int h = c >> 1;
          if (key < lo[mi][h] || key > hi[mi][h]) x = -INFINITY;
        }
        s[mi][nt][c] = x;
        mx[c >> 1] = fmaxf(mx[c >> 1], x);
      }
    }
    float corr[2], base[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(st.m[mi][h], mx[h]);
      base[h] = m_new == -INFINITY ? 0.0f : m_new;
      corr[h] = fast_exp2(st.m[mi][h] - base[h]);
      st.m[mi][h] = m_new;
    }
    float sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nt = 0; nt < NK / 8; ++nt) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float p = fast_exp2(s[mi][nt][c] - base[c >> 1]);
        s[mi][nt][c] = p;
        sum[c >> 1] += p;
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) st.l[mi][h] = st.l[mi][h] * corr[h] + sum[h];
    if (vsc) {
#pragma unroll
      for (int nt = 0; nt < NK / 8; ++nt) {
        const float v0 = vsc[kb + key_at(nt, 0)], v1 = vsc[kb + key_at(nt, 1)];
        s[mi][nt][0] *= v0;
        s[mi][nt][1] *= v1;
        s[mi][nt][2] *= v0;
        s[mi][nt][3] *= v1;
      }
    }
#pragma unroll
    for (int i = 0; i < HD / 8; ++i) {
      st.o[mi][i][0] *= corr[0];
      st.o[mi][i][1] *= corr[0];
      st.o[mi][i][2] *= corr[1];
      st.o[mi][i][3] *= corr[1];
    }
  }
}

// One warp: its MI*16 tile rows (from row qb of the swizzled Q tile) against NK keys of the smem
// tile starting at tile row kb (key index jg of that row, relative to the CTA's first key, as are
// lo and hi: key ranges under 2^31). With `mask`, key jg+x is kept for the thread's row (mi, h)
// iff lo[mi][h] <= key <= hi[mi][h]. Q fragments are re-read from shared
// memory per 16-dim step (each K/V fragment then serves MI row groups).
// fp8 KV (ksc != nullptr): the K/V tiles hold unscaled e4m3 values; key row x of the tile has
// scales ksc[x], vsc[x] (f32, shared memory): the score is multiplied by ksc, the softmax weight by
// vsc before it is rounded to bf16 for the PV product (the row sum l stays unscaled).
template <int HD, int NK, int MI>
__device__ __forceinline__ void warp_block(warp_state<HD, MI>& st, const uint16_t* sq, int qb, const uint16_t* sk,
                                           const uint16_t* sv, int kb, int jg, bool mask,
                                           const int (&lo)[MI][2], const int (&hi)[MI][2], float scale_log2,
                                           int lane, const float* ksc = nullptr, const float* vsc = nullptr) {
  float s[MI][NK / 8][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int i = 0; i < NK / 8; ++i) s[mi][i][0] = s[mi][i][1] = s[mi][i][2] = s[mi][i][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks) {
    uint32_t qa[MI][4];
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
      ldsm_x4(qa[mi], sq + swz<HD>(qb + 16 * mi + (lane & 7) + 8 * ((lane >> 3) & 1), 2 * ks + (lane >> 4)));
#pragma unroll
    for (int n2 = 0; n2 < NK / 16; ++n2) {
      uint32_t b[4];
      ldsm_x4(b, sk + swz<HD>(kb + 16 * n2 + (lane & 7) + 8 * (lane >> 4), 2 * ks + ((lane >> 3) & 1)));
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        mma16816(s[mi][2 * n2], qa[mi], b[0], b[1]);
        mma16816(s[mi][2 * n2 + 1], qa[mi], b[2], b[3]);
      }
    }
  }
  softmax_block<HD, NK, MI>(st, s, [lane](int nt, int e) { return 8 * nt + 2 * (lane & 3) + e; }, kb, jg, mask, lo,
                            hi, scale_log2, ksc, vsc);
  // O += P V (P from the score accumulators, bf16).
#pragma unroll
  for (int kk = 0; kk < NK / 16; ++kk) {
    uint32_t pa[MI][4];
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
      pa[mi][0] = pack_bf16(s[mi][2 * kk][0], s[mi][2 * kk][1]);
      pa[mi][1] = pack_bf16(s[mi][2 * kk][2], s[mi][2 * kk][3]);
      pa[mi][2] = pack_bf16(s[mi][2 * kk + 1][0], s[mi][2 * kk + 1][1]);
      pa[mi][3] = pack_bf16(s[mi][2 * kk + 1][2], s[mi][2 * kk + 1][3]);
    }
#pragma unroll
    for (int d2 = 0; d2 < HD / 16; ++d2) {
      uint32_t b[4];
      ldsm_x4_t(b, sv + swz<HD>(kb + 16 * kk + (lane & 7) + 8 * ((lane >> 3) & 1), 2 * d2 + (lane >> 4)));
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        mma16816(st.o[mi][2 * d2], pa[mi], b[0], b[1]);
        mma16816(st.o[mi][2 * d2 + 1], pa[mi], b[2], b[3]);
      }
    }
  }
}

// ---- fp8 decode straight from the raw e4m3 rows (the decode kernel's per-warp form) ----
// No bf16 tile: each warp turns its own 16 keys' e4m3 bytes into the MMAs' bf16 fragments in
// registers, so a stage is the raw bytes alone (half a bf16 stage) and kRawStages of them stay in
// flight. The fragments are read whole from shared memory by permuting what the MMA's indices
// mean (the sums are the same, in another order):
// - QK^T, k-step ks: the MMA's k index 2c, 2c+1, 2c+8, 2c+9 (c = lane % 4) is head dim
//   c*HD/4 + 4ks + 0..3, so a thread's K bytes are one run of HD/4 per key row; the query's
//   fragments are read from the bf16 query tile with the same map.
// - Keys: score column n of n-tile nt (PV's k index 8nt + n) is key decode_key(8nt + n) of the
//   warp's 16, so a thread's four PV keys 2c, 2c+1, 2c+8, 2c+9 are rows 4c..4c+3.
// - PV, output n-tile nt, column n: head dim n*HD/8 + nt, so a thread's V bytes are one run of
//   HD/8 per key row (decode_dim maps the accumulators back).
// Raw rows are stored with their 16-byte chunks XOR-swizzled (raw_off) so those runs load without
// bank conflicts.
constexpr int kRawStages = 4;
__host__ __device__ constexpr int decode_key(int kp) { return 4 * ((kp & 7) >> 1) + 2 * (kp >> 3) + (kp & 1); }
template <int HD>
__device__ __forceinline__ int decode_dim(int nt, int n) { return n * (HD / 8) + nt; }

template <int HD>
struct kv_raw_pipe {
  static constexpr int kChunks = HD / 16;  // 16-byte chunks per raw row
  uint8_t *rk, *rv;                        // [kRawStages][kBN][HD] each
  float *rks, *rvs;                        // [kRawStages][kBN] each
  const uint8_t *kb8, *vb8;
  const float *ksc, *vsc;
  int64_t stride;
  int hkv;
  __device__ __forceinline__ kv_raw_pipe(uint16_t* base, const attn_args& a, int g) {
    rk = reinterpret_cast<uint8_t*>(base);
    rv = rk + kRawStages * kBN * HD;
    rks = reinterpret_cast<float*>(rv + kRawStages * kBN * HD);
    rvs = rks + kRawStages * kBN;
    stride = a.kv_stride;
    hkv = a.hkv;
    kb8 = a.k8 + static_cast<int64_t>(g) * HD;
    vb8 = a.v8 + static_cast<int64_t>(g) * HD;
    ksc = a.ks + g;
    vsc = a.vs + g;
  }
  static constexpr size_t smem_bytes() { return 2 * kRawStages * kBN * HD + 2 * kRawStages * kBN * 4; }
  // Byte b of tile row r (an access must stay within one 16-byte chunk).
  static __device__ __forceinline__ int raw_off(int r, int b) {
    const int f = ((r & 1) | (((r >> 2) & 3) << 1)) & (kChunks - 1);
    return r * HD + ((((b >> 4) ^ f)) << 4) + (b & 15);
  }
  // Tile rows r0..r0+15 of keys j0.. (zero-filled at or beyond kend) and their scales into `stage`,
  // by the warp's lanes.
  __device__ __forceinline__ void issue_rows(int stage, int64_t j0, int64_t kend, int r0, int lane) {
    copy_warp_rows<kChunks, 16>(rk + stage * kBN * HD, rv + stage * kBN * HD, kb8, vb8, stride, j0, kend, r0, lane,
                                [](int r, int c) { return raw_off(r, c * 16); });
    const int r = r0 + (lane & 15);  // lanes 0-15: K's scales, 16-31: V's
    const int64_t j = j0 + r;
    const bool ok = j < kend;
    cp_async4((lane < 16 ? rks : rvs) + stage * kBN + r, (lane < 16 ? ksc : vsc) + (ok ? j : 0) * hkv, ok);
  }
};

// N bytes (2, 4, 8 or 16) of shared memory at p into words (a 2-byte load fills the low half).
template <int N>
__device__ __forceinline__ void ld_bytes(uint32_t* w, const uint8_t* p) {
  if constexpr (N == 16) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
  } else if constexpr (N == 8) {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    w[0] = v.x, w[1] = v.y;
  } else if constexpr (N == 4) {
    w[0] = *reinterpret_cast<const uint32_t*>(p);
  } else {
    w[0] = *reinterpret_cast<const uint16_t*>(p);
  }
}

// warp_block for one warp's 16 keys (tile rows r0..r0+15 of the raw stage rk/rv, scales ksc/vsc
// indexed by tile row) and one 16-row query group, with the maps above.
template <int HD>
__device__ __forceinline__ void warp_block_raw(warp_state<HD, 1>& st, const uint16_t* sq, const uint8_t* rk,
                                               const uint8_t* rv, const float* ksc, const float* vsc, int r0, int jg,
                                               bool mask, const int (&lo)[1][2], const int (&hi)[1][2],
                                               float scale_log2, int lane) {
  using pipe = kv_raw_pipe<HD>;
  const int g = lane >> 2, c = lane & 3;
  constexpr int KB = HD / 4, KW = KB / 4;  // a thread's K bytes (and words) per key row
  constexpr int KL = KB < 16 ? KB : 16;     // bytes per load
  uint32_t kw[2][KW];
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
    const int r = r0 + decode_key(8 * nt + g);
#pragma unroll
    for (int b = 0; b < KB; b += KL) ld_bytes<KL>(kw[nt] + b / 4, rk + pipe::raw_off(r, c * KB + b));
  }
  float s[1][2][4];
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) s[0][nt][0] = s[0][nt][1] = s[0][nt][2] = s[0][nt][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks) {
    const int d = c * KB + 4 * ks;  // this thread's 4 head dims of the step
    const uint2 q0 = *reinterpret_cast<const uint2*>(sq + swz<HD>(g, d >> 3) + (d & 7));
    const uint2 q1 = *reinterpret_cast<const uint2*>(sq + swz<HD>(g + 8, d >> 3) + (d & 7));
    const uint32_t qa[4] = {q0.x, q1.x, q0.y, q1.y};
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const uint32_t w = kw[nt][ks];
      mma16816(s[0][nt], qa, e4m3x2_to_bf16x2(__byte_perm(w, 0u, 0x4140)), e4m3x2_to_bf16x2(__byte_perm(w, 0u, 0x4342)));
    }
  }
  softmax_block<HD, 16, 1>(st, s, [lane](int nt, int e) { return decode_key(8 * nt + 2 * (lane & 3) + e); }, r0, jg,
                           mask, lo, hi, scale_log2, ksc, vsc);
  // O += P V: P from the accumulators (k index 8nt + n), V rows 4c..4c+3, dims g*HD/8 + nt'.
  const uint32_t pa[4] = {pack_bf16(s[0][0][0], s[0][0][1]), pack_bf16(s[0][0][2], s[0][0][3]),
                          pack_bf16(s[0][1][0], s[0][1][1]), pack_bf16(s[0][1][2], s[0][1][3])};
  constexpr int VB = HD / 8, VW = VB < 4 ? 1 : VB / 4;
  uint32_t vw[4][VW];
#pragma unroll
  for (int i = 0; i < 4; ++i) ld_bytes<VB>(vw[i], rv + pipe::raw_off(r0 + 4 * c + i, g * VB));
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt) {
    const uint32_t bi = static_cast<uint32_t>(nt & 3);
    const uint32_t sel = bi | (bi << 4) | ((bi + 4) << 8) | ((bi + 4) << 12);  // bytes nt of two rows
    const uint32_t b0 = e4m3x2_to_bf16x2(__byte_perm(vw[0][nt >> 2], vw[1][nt >> 2], sel));
    const uint32_t b1 = e4m3x2_to_bf16x2(__byte_perm(vw[2][nt >> 2], vw[3][nt >> 2], sel));
    mma16816(st.o[0][nt], pa, b0, b1);
  }
}

// Writes one tile row's result: o (splits == 1) or the split's partial.
__device__ __forceinline__ void write_row_value(const attn_args& a, int64_t rh, int split, int d, float acc, float m,
                                                float l) {
  if (a.splits == 1) {
    st(a.o, rh * a.hd + d, l > 0.0f ? acc / l : 0.0f);
  } else {
    float* part = a.partial + (rh * a.splits + split) * (a.hd + 2);
    if (d == 0) {
      part[0] = m;
      part[1] = l;
    }
    part[2 + d] = acc;
  }
}

// ---- tile kernel: grid (row blocks, Hkv, splits); each warp owns kMI*16 tile rows ----
constexpr int kMI = 2;

template <int HD, bool F8>
__global__ void __launch_bounds__(kThreads, 2) attn_tile_kernel(attn_args a) {
  extern __shared__ uint4 smem_raw[];
  uint16_t* sq = reinterpret_cast<uint16_t*>(smem_raw);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  constexpr int kWarpRows = 16 * kMI;
  const int rows_per_cta = kBM / a.group;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * rows_per_cta;
  const int g = blockIdx.y, split = blockIdx.z;
  const int rows_here = static_cast<int>(a.rows - r0 < rows_per_cta ? a.rows - r0 : rows_per_cta);
  const int64_t off = a.first_key_offset;
  const int64_t rlast = r0 + rows_here - 1;
  const int64_t kb = first_key(off + r0, a.window), ke = off + rlast + 1;
  const int64_t ntiles = (ke - kb + kBN - 1) / kBN;
  const int64_t t0 = ntiles * split / a.splits, t1 = ntiles * (split + 1) / a.splits;
  // This thread's tile rows (group mi: lane/4 and lane/4 + 8) and their key ranges.
  int lo[kMI][2], hi[kMI][2];  // relative to kb
#pragma unroll
  for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int64_t r = r0 + (warp * kWarpRows + 16 * mi + (lane >> 2) + 8 * h) / a.group;
      if (r > rlast) r = rlast;
      hi[mi][h] = static_cast<int>(off + r - kb);
      lo[mi][h] = static_cast<int>(first_key(off + r, a.window) - kb);
    }
  // The warp's extreme rows (for mask and skip decisions).
  int64_t wr_min = r0 + (warp * kWarpRows) / a.group, wr_max = r0 + (warp * kWarpRows + kWarpRows - 1) / a.group;
  if (wr_min > rlast) wr_min = rlast;
  if (wr_max > rlast) wr_max = rlast;
  const int64_t w_last_min = off + wr_min, w_last_max = off + wr_max;
  const int64_t w_first_min = first_key(w_last_min, a.window), w_first_max = first_key(w_last_max, a.window);
  const float scale_log2 = a.scale * kLog2e;
  kv_pipe<HD, F8> pipe(sq + kBM * HD, a, g);

  load_q_tile<HD>(sq, a, kBM, r0, g, rows_here);
  if (t0 < t1) pipe.issue(0, kb + t0 * kBN, ke);
  cp_async_commit();
  warp_state<HD, kMI> st;
  st.init();
  for (int64_t t = t0; t < t1; ++t) {
    const int stage = static_cast<int>((t - t0) & 1);
    if (t + 1 < t1) {
      pipe.issue(stage ^ 1, kb + (t + 1) * kBN, ke);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (F8) {
      pipe.convert(stage);
      __syncthreads();
    }
    const int64_t j0 = kb + t * kBN;
    const bool skip = j0 > w_last_max || j0 + kBN - 1 < w_first_min;
    if (!skip) {
      const bool mask = j0 + kBN - 1 > w_last_min || (a.window > 0 && j0 < w_first_max);
      warp_block<HD, kBN, kMI>(st, sq, warp * kWarpRows, pipe.k_tile(stage), pipe.v_tile(stage), 0,
                               static_cast<int>(j0 - kb), mask,
                               lo, hi, scale_log2, lane, pipe.k_scales(stage), pipe.v_scales(stage));
    }
    __syncthreads();
  }
  cp_async_wait<0>();
  // Row sums over the 4 lanes of each row; write.
#pragma unroll
  for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = st.l[mi][h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const int i = warp * kWarpRows + 16 * mi + (lane >> 2) + 8 * h;
      const int rr = i / a.group;
      if (rr >= rows_here || rr >= rows_per_cta) continue;
      const int64_t rh = (r0 + rr) * a.hq + g * a.group + i % a.group;
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
      for (int nt = 0; nt < HD / 8; ++nt) {
        const int d = 8 * nt + 2 * (lane & 3);
        if (a.splits == 1) {
          *reinterpret_cast<__nv_bfloat162*>(a.o + rh * HD + d) =
              __floats2bfloat162_rn(st.o[mi][nt][2 * h] * inv, st.o[mi][nt][2 * h + 1] * inv);
        } else {
          write_row_value(a, rh, split, d, st.o[mi][nt][2 * h], st.m[mi][h], l);
          write_row_value(a, rh, split, d + 1, st.o[mi][nt][2 * h + 1], st.m[mi][h], l);
        }
      }
    }
}

// ---- decode kernel: grid (Hkv, splits); rows * group <= 16 ----
// (The body is shared with the batched form below, which patches the arguments per session.)
// W (the default; TOME_ATTN_WARP_PIPE=0 takes the CTA-wide form): each warp copies and waits for
// only the 16 keys of each tile that it reads, so the loop has no CTA barrier and a warp goes on
// as soon as its own rows land; the CTA syncs once, for the query tile. With fp8, W also reads the
// raw e4m3 rows straight into the MMA fragments (warp_block_raw, kRawStages stages in flight).
template <int HD, bool F8, bool W>
__device__ __forceinline__ void attn_decode_body(const attn_args& a) {
  allow_dependent_launch();  // the combine (PDL) may place its CTAs; it waits for this grid
  extern __shared__ uint4 smem_raw[];
  uint16_t* sq = reinterpret_cast<uint16_t*>(smem_raw);
  uint16_t* sk = sq + kDecodeRows * HD;  // the K/V pipeline (kv_pipe), then the warps' merge
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = blockIdx.x, split = blockIdx.y;
  const int rows = static_cast<int>(a.rows);
  const int64_t off = a.n_keys_dev ? *a.n_keys_dev + a.n_keys_add - a.rows : a.first_key_offset;
  const int64_t kb = first_key(off, a.window), ke = off + rows;
  const int64_t ntiles = ke > kb ? (ke - kb + kBN - 1) / kBN : 0;
  const int64_t t0 = ntiles * split / a.splits, t1 = ntiles * (split + 1) / a.splits;
  int lo[1][2], hi[1][2];  // relative to kb
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    int r = ((lane >> 2) + 8 * h) / a.group;
    if (r > rows - 1) r = rows - 1;
    hi[0][h] = static_cast<int>(off + r - kb);
    lo[0][h] = static_cast<int>(first_key(off + r, a.window) - kb);
  }
  const int64_t last_min = off, first_max = first_key(off + rows - 1, a.window);
  const float scale_log2 = a.scale * kLog2e;
  kv_pipe<HD, F8> pipe(sk, a, g);

  // Launched as a programmatic dependent launch (launch_tc): the K/V tile can go out before the
  // kernel that writes q finishes when the caller vouches for K/V (kv_ready), then q (and the
  // partials this grid writes) wait for it. The cp.async groups: tile 0, then q (the loop waits
  // for both before its first tile; it waits for one group fewer than it has issued).
  warp_state<HD, 1> st;
  st.init();
  if constexpr (F8 && W) {
    // kRawStages - 1 tiles ahead, a cp.async group each (empty past the split's end).
    kv_raw_pipe<HD> rp(sk, a, g);
    auto issue_tile = [&](int64_t t) {
      if (t < t1) rp.issue_rows(static_cast<int>((t - t0) % kRawStages), kb + t * kBN, ke, warp * 16, lane);
      cp_async_commit();
    };
    if (a.kv_ready) {
      for (int i = 0; i < kRawStages - 1; ++i) issue_tile(t0 + i);
      griddep_wait();
      load_q_tile<HD>(sq, a, kDecodeRows, 0, g, rows);
      cp_async_commit();
    } else {
      griddep_wait();
      load_q_tile<HD>(sq, a, kDecodeRows, 0, g, rows);
      cp_async_commit();
      for (int i = 0; i < kRawStages - 1; ++i) issue_tile(t0 + i);
    }
    for (int64_t t = t0; t < t1; ++t) {
      issue_tile(t + kRawStages - 1);
      if (t == t0) {  // all but the newest group: the query tile too, which every warp reads
        cp_async_wait<1>();
        __syncthreads();
      } else {
        cp_async_wait<kRawStages - 1>();
        __syncwarp();
      }
      const int stage = static_cast<int>((t - t0) % kRawStages);
      const int64_t j0 = kb + t * kBN + warp * 16;
      if (j0 < ke) {
        const bool mask = j0 + 15 > last_min || (a.window > 0 && j0 < first_max);
        warp_block_raw<HD>(st, sq, rp.rk + stage * kBN * HD, rp.rv + stage * kBN * HD, rp.rks + stage * kBN,
                           rp.rvs + stage * kBN, warp * 16, static_cast<int>(j0 - kb), mask, lo, hi, scale_log2,
                           lane);
      }
      __syncwarp();  // before this warp's next issue writes its rows of this stage again
    }
  } else {
  auto issue = [&](int stage, int64_t j0) {
    if constexpr (W) pipe.issue_rows(stage, j0, ke, warp * 16, lane);
    else pipe.issue(stage, j0, ke);
  };
  if (a.kv_ready) {
    if (t0 < t1) issue(0, kb + t0 * kBN);
    cp_async_commit();
    griddep_wait();
    load_q_tile<HD>(sq, a, kDecodeRows, 0, g, rows);
  } else {
    griddep_wait();
    load_q_tile<HD>(sq, a, kDecodeRows, 0, g, rows);
    if (t0 < t1) issue(0, kb + t0 * kBN);
  }
  cp_async_commit();
  for (int64_t t = t0; t < t1; ++t) {
    const int stage = static_cast<int>((t - t0) & 1);
    if (t + 1 < t1) {
      issue(stage ^ 1, kb + (t + 1) * kBN);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    // W: the first tile's wait also covers the query tile, which every warp reads (t0 and t1
    // are the CTA's, so all threads take the same branch); later tiles are the warp's own rows.
    if (!W || t == t0) __syncthreads();
    else __syncwarp();
    if constexpr (F8) {  // (the CTA-wide form: W with fp8 takes the raw pipeline above)
      pipe.convert(stage);
      __syncthreads();
    }
    const int64_t j0 = kb + t * kBN + warp * 16;  // this warp's 16 keys
    if (j0 < ke) {
      const bool mask = j0 + 15 > last_min || (a.window > 0 && j0 < first_max);
      warp_block<HD, 16, 1>(st, sq, 0, pipe.k_tile(stage), pipe.v_tile(stage), warp * 16,
                            static_cast<int>(j0 - kb), mask, lo, hi,
                         scale_log2, lane, pipe.k_scales(stage), pipe.v_scales(stage));
    }
    // Before the next issue writes this stage again (W: only this warp reads these rows).
    if constexpr (W) __syncwarp();
    else __syncthreads();
  }
  }
  cp_async_wait<0>();
  __syncthreads();
  // Merge the 4 warps' states through shared memory (the K/V buffers are free now). Only the
  // n_vec = rows * group query vectors in use are written (3 of the 16 tile rows at YOCO-3B).
  float* mo = reinterpret_cast<float*>(sk);                 // [4][16][HD]
  float* mm = mo + 4 * kDecodeRows * HD;                    // [4][16]
  float* ml = mm + 4 * kDecodeRows;                         // [4][16]
  const int n_vec = rows * a.group;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    st.l[0][h] += __shfl_xor_sync(0xffffffffu, st.l[0][h], 1);
    st.l[0][h] += __shfl_xor_sync(0xffffffffu, st.l[0][h], 2);
    const int i = (lane >> 2) + 8 * h;
    if (i >= n_vec) continue;
    if ((lane & 3) == 0) {
      mm[warp * kDecodeRows + i] = st.m[0][h];
      ml[warp * kDecodeRows + i] = st.l[0][h];
    }
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt) {
      const int n = 2 * (lane & 3);  // the accumulator's columns n, n + 1 of n-tile nt
      const int d0 = F8 && W ? decode_dim<HD>(nt, n) : 8 * nt + n, d1 = F8 && W ? decode_dim<HD>(nt, n + 1) : d0 + 1;
      mo[(warp * kDecodeRows + i) * HD + d0] = st.o[0][nt][2 * h];
      mo[(warp * kDecodeRows + i) * HD + d1] = st.o[0][nt][2 * h + 1];
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < n_vec * HD; e += kThreads) {
    const int i = e / HD, d = e % HD;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < 4; ++w) m = fmaxf(m, mm[w * kDecodeRows + i]);
    float l = 0.0f, acc = 0.0f;
    if (m != -INFINITY) {
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        const float f = fast_exp2(mm[w * kDecodeRows + i] - m);
        l += f * ml[w * kDecodeRows + i];
        acc += f * mo[(w * kDecodeRows + i) * HD + d];
      }
    }
    const int64_t rh = static_cast<int64_t>(i / a.group) * a.hq + g * a.group + i % a.group;
    write_row_value(a, rh, split, d, acc, m, l);
  }
}

template <int HD, bool F8, bool W>
__global__ void __launch_bounds__(kThreads, 3) attn_decode_kernel(attn_args a) {
  attn_decode_body<HD, F8, W>(a);
}

// The decode kernels' loop form (attn_decode_body's W): TOME_ATTN_WARP_PIPE=0 takes the CTA-wide
// pipeline (comparisons).
bool decode_warp_pipe() {
  static const bool on = [] {
    const char* e = std::getenv("TOME_ATTN_WARP_PIPE");
    return !(e && e[0] == '0');
  }();
  return on;
}

// Batched decode (cross_attn_decode_batch): grid (Hkv, splits, batch); session b = blockIdx.z has
// one query row (q, o at b * hq * hd; partials at b * hq * splits * (hd + 2), so the combine kernel
// runs over batch * hq (row, head) pairs), its own K/V (and fp8 scales) and position pos[b].
struct attn_batch_ptrs {
  const void* const* k;
  const void* const* v;
  const float* const* ks;
  const float* const* vs;
  const int64_t* pos;
};
template <int HD, bool F8, bool W>
__global__ void __launch_bounds__(kThreads, 3) attn_decode_batch_kernel(attn_args a0, attn_batch_ptrs bp) {
  const int64_t b = blockIdx.z;
  attn_args a = a0;
  a.q = a0.q + b * a0.hq * HD;
  a.o = a0.o + b * a0.hq * HD;
  if (a0.partial) a.partial = a0.partial + b * a0.hq * a0.splits * (HD + 2);
  a.n_keys_dev = bp.pos + b;
  if constexpr (F8) {
    a.k8 = static_cast<const uint8_t*>(bp.k[b]);
    a.v8 = static_cast<const uint8_t*>(bp.v[b]);
    a.ks = bp.ks[b];
    a.vs = bp.vs[b];
  } else {
    a.k = static_cast<const uint16_t*>(bp.k[b]);
    a.v = static_cast<const uint16_t*>(bp.v[b]);
  }
  attn_decode_body<HD, F8, W>(a);
}

// Merges the splits' partials of each (row, head): grid rows*Hq, block kCombineThreads. It is on
// the decode step's critical path (it starts when the last split ends), so it is built for latency:
// warp w takes splits w, w + 8, ... and lane the dims lane, lane + 32, ...; a warp loads up to
// kCombineBatch splits' (m, l, acc) at once (one L2 round trip for the 49 splits of a decode) and
// folds them into a running (m, l, acc) in split order, rescaling when its max grows (the
// flash-decoding merge). The warps' states then merge through shared memory in warp order. A split
// with l <= 0 saw no key and is skipped; a (row, head) that saw none gets 0.
constexpr int kCombineWarps = 8, kCombineThreads = 32 * kCombineWarps, kCombineBatch = 8;

template <int ND>  // dims per lane: ceil(hd / 32)
__global__ void __launch_bounds__(kCombineThreads) combine_log2_kernel(const float* partial, uint16_t* o, int hd,
                                                                       int splits) {
  allow_dependent_launch();
  griddep_wait();  // after the kernel whose partials it merges (a dependent launch: launch_maybe_pdl)
  __shared__ float s_acc[kCombineWarps][32 * ND];
  __shared__ float s_m[kCombineWarps], s_l[kCombineWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rh = blockIdx.x;
  const int stride = hd + 2;
  const float* p = partial + rh * splits * stride;
  float m = -INFINITY, l = 0.0f, acc[ND];
#pragma unroll
  for (int j = 0; j < ND; ++j) acc[j] = 0.0f;
  for (int s0 = warp; s0 < splits; s0 += kCombineWarps * kCombineBatch) {
    float bm[kCombineBatch], bl[kCombineBatch], bv[kCombineBatch][ND];
#pragma unroll
    for (int b = 0; b < kCombineBatch; ++b) {
      const int s = s0 + b * kCombineWarps;
      const float* ps = p + static_cast<int64_t>(s < splits ? s : 0) * stride;
      bm[b] = ps[0];
      bl[b] = s < splits ? ps[1] : 0.0f;
#pragma unroll
      for (int j = 0; j < ND; ++j) bv[b][j] = lane + 32 * j < hd ? ps[2 + lane + 32 * j] : 0.0f;
    }
#pragma unroll
    for (int b = 0; b < kCombineBatch; ++b) {
      if (!(bl[b] > 0.0f)) continue;
      const float mn = fmaxf(m, bm[b]);
      const float fo = fast_exp2(m - mn), fs = fast_exp2(bm[b] - mn);  // ex2(-inf) = 0
      l = l * fo + bl[b] * fs;
#pragma unroll
      for (int j = 0; j < ND; ++j) acc[j] = acc[j] * fo + bv[b][j] * fs;
      m = mn;
    }
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < ND; ++j) s_acc[warp][lane + 32 * j] = acc[j];
  __syncthreads();
  float mx = -INFINITY;
#pragma unroll
  for (int w = 0; w < kCombineWarps; ++w)
    if (s_l[w] > 0.0f) mx = fmaxf(mx, s_m[w]);
  float f[kCombineWarps], den = 0.0f;
#pragma unroll
  for (int w = 0; w < kCombineWarps; ++w) {
    f[w] = s_l[w] > 0.0f ? fast_exp2(s_m[w] - mx) : 0.0f;
    den += f[w] * s_l[w];
  }
  for (int d = threadIdx.x; d < hd; d += kCombineThreads) {
    float num = 0.0f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w) num += f[w] * s_acc[w][d];
    st(o, rh * hd + d, den > 0.0f ? num / den : 0.0f);
  }
}

// ---- generic kernel (head dims without a tensor-core instantiation) ----
constexpr int kGenThreads = 128;

__global__ void generic_attention_kernel(attn_args a) {
  const int64_t rh = blockIdx.x;  // row * hq + h
  const int64_t r = rh / a.hq;
  const int h = static_cast<int>(rh % a.hq), g = h / a.group, split = blockIdx.y;
  const int64_t last = a.first_key_offset + r;
  const int64_t first = first_key(last, a.window);
  const int64_t n = last - first + 1;
  const int64_t k0 = first + n * split / a.splits, k1 = first + n * (split + 1) / a.splits;
  __shared__ float qs[kMaxHeadDim];
  __shared__ float ps[kGenThreads];
  __shared__ float red[kGenThreads / 32];
  const float scale_log2 = a.scale * kLog2e;
  for (int d = threadIdx.x; d < a.hd; d += kGenThreads) qs[d] = ld(a.q, rh * a.hd + d) * scale_log2;
  __syncthreads();
  constexpr int kPer = kMaxHeadDim / kGenThreads;
  float acc[kPer] = {};
  float m = -INFINITY, l = 0.0f;
  for (int64_t t0 = k0; t0 < k1; t0 += kGenThreads) {
    const int64_t j = t0 + threadIdx.x;
    float sc = -INFINITY;
    if (j < k1) {
      const uint16_t* kr = a.k + j * a.kv_stride + static_cast<int64_t>(g) * a.hd;
      float s = 0.0f;
      for (int d = 0; d < a.hd; ++d) s += qs[d] * ld(kr, d);
      sc = s;
    }
    float mx = sc;
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = red[0];
    for (int w = 1; w < kGenThreads / 32; ++w) mx = fmaxf(mx, red[w]);
    const float m_new = fmaxf(m, mx);  // finite: the tile has at least one key
    ps[threadIdx.x] = j < k1 ? fast_exp2(sc - m_new) : 0.0f;
    const float corr = fast_exp2(m - m_new);
    __syncthreads();
    float tile_sum = 0.0f;
    const int64_t cnt = (k1 - t0) < kGenThreads ? (k1 - t0) : kGenThreads;
    for (int64_t jj = 0; jj < cnt; ++jj) tile_sum += ps[jj];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = threadIdx.x + i * kGenThreads;
      if (d < a.hd) {
        float s = acc[i] * corr;
        for (int64_t jj = 0; jj < cnt; ++jj)
          s += ps[jj] * ld(a.v + (t0 + jj) * a.kv_stride + static_cast<int64_t>(g) * a.hd, d);
        acc[i] = s;
      }
    }
    l = l * corr + tile_sum;
    m = m_new;
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = threadIdx.x + i * kGenThreads;
    if (d < a.hd) write_row_value(a, rh, split, d, acc[i], m, l);
  }
}

// ---- launch ----
bool tc_head_dim(int64_t hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 128; }
bool use_decode(int64_t rows, int64_t group) { return rows * group <= kDecodeRows; }

template <int HD, bool F8>
size_t tile_smem() { return static_cast<size_t>(kBM) * HD * 2 + kv_pipe<HD, F8>::smem_bytes(); }
template <int HD, bool F8, bool W = true>
size_t decode_smem() {
  constexpr int hd = HD;
  const size_t tiles = static_cast<size_t>(kDecodeRows) * hd * 2 +
                       (F8 && W ? kv_raw_pipe<HD>::smem_bytes() : kv_pipe<HD, F8>::smem_bytes());
  const size_t merge = static_cast<size_t>(kDecodeRows * hd * 2) + static_cast<size_t>(4 * kDecodeRows * hd + 8 * kDecodeRows) * 4;
  return tiles > merge ? tiles : merge;
}

// CTAs of the decode kernel that fit on one SM (its launch attribute set first), once per head dim.
template <int HD>
int decode_blocks_per_sm() {
  static const int n = [] {
    int b = 0;
    if (cudaFuncSetAttribute(attn_decode_kernel<HD, false, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(decode_smem<HD, false>())) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, attn_decode_kernel<HD, false, true>, kThreads,
                                                      decode_smem<HD, false>()) != cudaSuccess)
      b = 0;
    cudaGetLastError();
    return b < 1 ? 1 : b;
  }();
  return n;
}
int decode_slots(int64_t hd) {
  switch (hd) {
    case 16: return decode_blocks_per_sm<16>() * sm_count();
    case 32: return decode_blocks_per_sm<32>() * sm_count();
    case 64: return decode_blocks_per_sm<64>() * sm_count();
    default: return decode_blocks_per_sm<128>() * sm_count();
  }
}

// A launch, as a programmatic dependent launch (the kernel starts while the one before it
// finishes; it calls griddep_wait before reading what that one writes) when pdl is set and the
// device has PDL (sm_90; TOME_GEMV_PDL=0 turns it off with the GEMVs').
template <class... KArgs, class... Args>
status launch_maybe_pdl(void (*kern)(KArgs...), dim3 grid, int threads, size_t smem, stream_t stream, bool pdl,
                        Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(static_cast<unsigned>(threads));
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl && gemv_detail::use_pdl() ? 1 : 0;
  const cudaError_t e = cudaLaunchKernelEx(&cfg, kern, args...);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return status{static_cast<int>(e), cudaGetErrorString(e)};
  }
  return launch_status();
}

// The combine over `pairs` (row, head) pairs; a dependent launch of the kernel before it when pdl is set.
status launch_combine(const float* partial, uint16_t* o, int64_t pairs, int hd, int splits, stream_t stream, bool pdl) {
  if (pairs > 0x7fffffff) return bad_argument("attention: too many (row, head) pairs");
  const dim3 grid(static_cast<unsigned>(pairs));
  switch ((hd + 31) / 32) {
    case 1: return launch_maybe_pdl(combine_log2_kernel<1>, grid, kCombineThreads, 0, stream, pdl, partial, o, hd, splits);
    case 2: return launch_maybe_pdl(combine_log2_kernel<2>, grid, kCombineThreads, 0, stream, pdl, partial, o, hd, splits);
    case 3: return launch_maybe_pdl(combine_log2_kernel<3>, grid, kCombineThreads, 0, stream, pdl, partial, o, hd, splits);
    case 4: return launch_maybe_pdl(combine_log2_kernel<4>, grid, kCombineThreads, 0, stream, pdl, partial, o, hd, splits);
    default: return launch_maybe_pdl(combine_log2_kernel<8>, grid, kCombineThreads, 0, stream, pdl, partial, o, hd, splits);
  }
}

// Opts the decode kernel's two forms (W on, off) in to their dynamic shared memory.
template <int HD, bool F8, class Kern>
cudaError_t opt_in_decode_smem(Kern* w_on, Kern* w_off) {
  const cudaError_t e1 = cudaFuncSetAttribute(w_on, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(decode_smem<HD, F8, true>()));
  const cudaError_t e2 = cudaFuncSetAttribute(w_off, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(decode_smem<HD, F8, false>()));
  return e1 != cudaSuccess ? e1 : e2;
}

template <int HD, bool F8>
status launch_tc(const attn_args& a, bool decode, stream_t stream) {
  // Opt in to more than 48 KiB of dynamic shared memory, once per instantiation.
  static const cudaError_t e_decode =
      opt_in_decode_smem<HD, F8>(attn_decode_kernel<HD, F8, true>, attn_decode_kernel<HD, F8, false>);
  static const cudaError_t e_tile = cudaFuncSetAttribute(
      attn_tile_kernel<HD, F8>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(tile_smem<HD, F8>()));
  const cudaError_t e = decode ? e_decode : e_tile;
  if (e != cudaSuccess) return status{static_cast<int>(e), cudaGetErrorString(e)};
  const size_t smem = !decode ? tile_smem<HD, F8>()
                     : decode_warp_pipe() ? decode_smem<HD, F8, true>() : decode_smem<HD, F8, false>();
  auto* kern = !decode ? attn_tile_kernel<HD, F8>
                       : decode_warp_pipe() ? attn_decode_kernel<HD, F8, true> : attn_decode_kernel<HD, F8, false>;
  dim3 grid;
  if (decode) {
    grid = dim3(static_cast<unsigned>(a.hq / a.group), static_cast<unsigned>(a.splits));
  } else {
    const int64_t rows_per_cta = kBM / a.group;
    const int64_t blocks = (a.rows + rows_per_cta - 1) / rows_per_cta;
    if (blocks > 0x7fffffff) return bad_argument("attention: too many rows");
    grid = dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(a.hq / a.group), static_cast<unsigned>(a.splits));
  }
  // The fixed-grid decode (decode graphs) runs as a dependent launch: its CTAs and first K/V
  // tile overlap the tail of the product that computes q.
  return launch_maybe_pdl(kern, grid, kThreads, smem, stream, decode && a.n_keys_dev != nullptr, a);
}

status launch(const attn_args& a, stream_t stream) {
  if (a.splits < 1 || a.splits > 65535 || (a.splits > 1 && !a.partial)) return bad_argument("attention: bad splits");
  status s;
  if (tc_head_dim(a.hd) && a.group <= kBM) {
    const bool decode = use_decode(a.rows, a.group);
    const bool f8 = a.k8 != nullptr;
    if (!decode && !f8 && a.hd == 128 && !a.n_keys_dev &&
        detail::attention_wgmma_launch(a.q, a.k, a.v, a.o, a.partial, a.rows, a.kv_stride, a.first_key_offset, a.hq,
                                       a.group, a.splits, a.window, a.scale, stream, &s)) {
      // launched on the sm_90a kernel
    } else switch (a.hd) {
      case 16: s = f8 ? launch_tc<16, true>(a, decode, stream) : launch_tc<16, false>(a, decode, stream); break;
      case 32: s = f8 ? launch_tc<32, true>(a, decode, stream) : launch_tc<32, false>(a, decode, stream); break;
      case 64: s = f8 ? launch_tc<64, true>(a, decode, stream) : launch_tc<64, false>(a, decode, stream); break;
      default: s = f8 ? launch_tc<128, true>(a, decode, stream) : launch_tc<128, false>(a, decode, stream); break;
    }
  } else {
    if (a.k8) return bad_argument("attention: the fp8 KV needs head_dim 16, 32, 64 or 128");
    if (a.n_keys_dev) return bad_argument("attention: the fixed-grid decode needs head_dim 16, 32, 64 or 128");
    if (a.rows * a.hq > 0x7fffffff) return bad_argument("attention: bad shape");
    generic_attention_kernel<<<dim3(static_cast<unsigned>(a.rows * a.hq), static_cast<unsigned>(a.splits)),
                               kGenThreads, 0, stream>>>(a);
    s = launch_status();
  }
  if (!s.ok() || a.splits == 1) return s;
  return launch_combine(a.partial, a.o, a.rows * a.hq, a.hd, a.splits, stream, a.n_keys_dev != nullptr);
}

template <int HD, bool F8>
status launch_decode_batch(const attn_args& a, const attn_batch_ptrs& bp, int64_t batch, stream_t stream) {
  static const cudaError_t e =
      opt_in_decode_smem<HD, F8>(attn_decode_batch_kernel<HD, F8, true>, attn_decode_batch_kernel<HD, F8, false>);
  if (e != cudaSuccess) return status{static_cast<int>(e), cudaGetErrorString(e)};
  return launch_maybe_pdl(decode_warp_pipe() ? attn_decode_batch_kernel<HD, F8, true> : attn_decode_batch_kernel<HD, F8, false>,
                          dim3(static_cast<unsigned>(a.hq / a.group), static_cast<unsigned>(a.splits),
                               static_cast<unsigned>(batch)),
                          kThreads, decode_warp_pipe() ? decode_smem<HD, F8, true>() : decode_smem<HD, F8, false>(), stream, true, a, bp);
}

status check_shape(int64_t rows, int64_t off, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window) {
  if (rows < 0 || off < 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0 ||
      head_dim > kMaxHeadDim || window < 0 || n_heads > 65535)
    return bad_argument("attention: bad shape");
  return {};
}

}  // namespace

int64_t cross_attn_workspace_floats(int64_t rows, int64_t n_heads, int64_t head_dim, int splits) {
  return splits > 1 ? rows * n_heads * splits * (head_dim + 2) : 0;
}

int attention_splits(int64_t rows, int64_t first_key_offset, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                     int64_t window, bool fp8_kv) {
  if (rows <= 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0) return 1;
  const int64_t group = n_heads / n_kv_heads, sms = sm_count();
  if (!tc_head_dim(head_dim)) {  // generic kernel: blocks of (row, head), ~1024 keys each
    const int64_t keys = window > 0 ? std::min<int64_t>(window, first_key_offset + rows) : first_key_offset + rows;
    return rows * n_heads >= 2 * sms ? 1 : static_cast<int>(std::clamp<int64_t>(keys / 1024, 1, 64));
  }
  if (use_decode(rows, group)) {
    const int64_t last = first_key_offset + rows - 1;
    const int64_t keys = last + 1 - (window > 0 ? std::max<int64_t>(0, first_key_offset - window + 1) : 0);
    const int64_t tiles = (keys + kBN - 1) / kBN;
    // One wave: as many CTAs as fit on the GPU at once (a second partial wave would double the
    // latency of its CTAs), at least one tile each.
    const int64_t target = decode_slots(head_dim) / n_kv_heads;
    return static_cast<int>(std::clamp<int64_t>(std::min(target, tiles), 1, 1024));
  }
  const int64_t rows_per_cta = kBM / group;
  const int64_t ctas = (rows + rows_per_cta - 1) / rows_per_cta * n_kv_heads;
  if (head_dim == 128 && !fp8_kv && attention_wgmma_enabled()) {
    // The sm_90a kernel (same rows per CTA, 128-key tiles) runs one CTA per SM: one whole wave,
    // at least two tiles a split.
    if (ctas >= sms) return 1;
    const int64_t keys = window > 0 ? std::min<int64_t>(window + rows_per_cta, first_key_offset + rows) : first_key_offset + rows;
    return static_cast<int>(std::clamp<int64_t>(std::min(sms / ctas, (keys + 127) / 128 / 2), 1, 1024));
  }
  if (ctas >= 2 * sms) return 1;
  const int64_t keys = window > 0 ? std::min<int64_t>(window + rows_per_cta, first_key_offset + rows) : first_key_offset + rows;
  const int64_t tiles = (keys + kBN - 1) / kBN;
  return static_cast<int>(std::clamp<int64_t>(std::min((2 * sms + ctas - 1) / ctas, tiles / 4), 1, 1024));
}

int cross_attn_splits(int64_t rows, int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, bool fp8_kv) {
  return attention_splits(rows, pos0, n_heads, n_kv_heads, head_dim, 0, fp8_kv);
}

status attention(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, int64_t rows,
                 int64_t first_key_offset, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window,
                 int splits, float* workspace, stream_t stream) {
  if (status s = check_shape(rows, first_key_offset, n_heads, n_kv_heads, head_dim, window); !s.ok()) return s;
  if (rows == 0) return {};
  attn_args a{q, k, v, o, workspace, nullptr, 0, rows, n_kv_heads * head_dim, first_key_offset,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              splits < 1 ? 1 : splits, window, 1.0f / sqrtf(static_cast<float>(head_dim))};
  return launch(a, stream);
}

int attn_decode_max_splits(int64_t n_kv_heads, int64_t head_dim) {
  if (n_kv_heads <= 0) return 1;
  return static_cast<int>(std::clamp<int64_t>(decode_slots(head_dim) / n_kv_heads, 1, 1024));
}

status attn_decode_fixed(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, int64_t rows,
                         const int64_t* n_keys_dev, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                         int64_t window, int max_splits, float* workspace, stream_t stream) {
  if (status s = check_shape(rows, 0, n_heads, n_kv_heads, head_dim, window); !s.ok()) return s;
  if (!n_keys_dev || !tc_head_dim(head_dim) || rows < 1 || !use_decode(rows, n_heads / n_kv_heads))
    return bad_argument("attn_decode_fixed: needs n_keys_dev, head_dim 16/32/64/128, rows*group <= 16");
  attn_args a{q, k, v, o, workspace, n_keys_dev, 0, rows, n_kv_heads * head_dim, 0,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              max_splits < 1 ? 1 : max_splits, window, 1.0f / sqrtf(static_cast<float>(head_dim))};
  return launch(a, stream);
}

int64_t cross_attn_decode_workspace_floats(int64_t n_heads, int64_t head_dim, int splits) {
  return cross_attn_workspace_floats(1, n_heads, head_dim, splits);
}

status cross_attn_decode(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, const int64_t* pos,
                         int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace,
                         stream_t stream, bool kv_ready) {
  if (status s = check_shape(1, 0, n_heads, n_kv_heads, head_dim, 0); !s.ok()) return s;
  if (!pos || !tc_head_dim(head_dim) || !use_decode(1, n_heads / n_kv_heads))
    return bad_argument("cross_attn_decode: needs pos, head_dim 16/32/64/128, Hq/Hkv <= 16");
  attn_args a{q, k, v, o, workspace, pos, 1, 1, n_kv_heads * head_dim, 0,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              splits < 1 ? 1 : splits, 0, 1.0f / sqrtf(static_cast<float>(head_dim))};
  a.kv_ready = kv_ready;
  return launch(a, stream);
}

int cross_attn_decode_batch_splits(int64_t batch, int64_t n_kv_heads, int64_t head_dim) {
  // About eight waves of CTAs in all (sessions of different lengths then balance), at most the
  // single-session split count.
  const int m = attn_decode_max_splits(n_kv_heads, head_dim);
  if (batch <= 0) return m;
  return static_cast<int>(std::clamp<int64_t>((8 * static_cast<int64_t>(m) + batch - 1) / batch, 1, m));
}

int64_t cross_attn_decode_batch_workspace_floats(int64_t batch, int64_t n_heads, int64_t head_dim, int splits) {
  return batch * cross_attn_workspace_floats(1, n_heads, head_dim, splits);
}

status cross_attn_decode_batch(const uint16_t* q, const kv_batch& kv, uint16_t* o, int64_t batch, int64_t n_heads,
                               int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace, stream_t stream,
                               bool kv_ready) {
  if (status s = check_shape(1, 0, n_heads, n_kv_heads, head_dim, 0); !s.ok()) return s;
  if (batch < 1 || batch > 65535 || !kv.pos || !kv.k || !kv.v || (kv.fp8 && (!kv.k_scale || !kv.v_scale)) ||
      !tc_head_dim(head_dim) || !use_decode(1, n_heads / n_kv_heads))
    return bad_argument("cross_attn_decode_batch: needs 1..65535 sessions, pos, k, v (and scales with fp8), "
                        "head_dim 16/32/64/128, Hq/Hkv <= 16");
  attn_args a{q, nullptr, nullptr, o, workspace, nullptr, 1, 1, n_kv_heads * head_dim, 0,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              splits < 1 ? 1 : splits, 0, 1.0f / sqrtf(static_cast<float>(head_dim))};
  if (a.splits > 65535 || (a.splits > 1 && !workspace)) return bad_argument("cross_attn_decode_batch: bad splits");
  a.hkv = static_cast<int>(n_kv_heads);
  a.kv_ready = kv_ready;
  const attn_batch_ptrs bp{kv.k, kv.v, kv.k_scale, kv.v_scale, kv.pos};
  status s;
  switch (head_dim) {
    case 16: s = kv.fp8 ? launch_decode_batch<16, true>(a, bp, batch, stream) : launch_decode_batch<16, false>(a, bp, batch, stream); break;
    case 32: s = kv.fp8 ? launch_decode_batch<32, true>(a, bp, batch, stream) : launch_decode_batch<32, false>(a, bp, batch, stream); break;
    case 64: s = kv.fp8 ? launch_decode_batch<64, true>(a, bp, batch, stream) : launch_decode_batch<64, false>(a, bp, batch, stream); break;
    default: s = kv.fp8 ? launch_decode_batch<128, true>(a, bp, batch, stream) : launch_decode_batch<128, false>(a, bp, batch, stream); break;
  }
  if (!s.ok() || a.splits == 1) return s;
  return launch_combine(workspace, o, batch * n_heads, a.hd, a.splits, stream, true);
}

status sliding_window_attn(const uint16_t* q, const uint16_t* kv_k, const uint16_t* kv_v, int64_t ring_rows,
                           uint16_t* o, int64_t rows, int64_t heads, int64_t head_dim, int64_t window,
                           stream_t stream) {
  if (window < 1) return bad_argument("sliding_window_attn: bad shape");
  return attention(q, kv_k, kv_v, o, rows, ring_rows, heads, heads, head_dim, window, 1, nullptr, stream);
}

status cross_attn(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o, int64_t rows, int64_t pos0,
                  int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace,
                  stream_t stream) {
  return attention(q, k, v, o, rows, pos0, n_heads, n_kv_heads, head_dim, 0, splits, workspace, stream);
}

namespace {
// Checks an fp8 KV view and puts it into the arguments (k, v unused then).
status with_fp8(attn_args& a, const kv_fp8& kv, int64_t n_kv_heads) {
  if (!kv.k || !kv.v || !kv.k_scale || !kv.v_scale) return bad_argument("attention (fp8 KV): missing buffers");
  if (!tc_head_dim(a.hd)) return bad_argument("attention: the fp8 KV needs head_dim 16, 32, 64 or 128");
  a.k8 = kv.k;
  a.v8 = kv.v;
  a.ks = kv.k_scale;
  a.vs = kv.v_scale;
  a.hkv = static_cast<int>(n_kv_heads);
  return {};
}
}  // namespace

status attention_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, int64_t rows, int64_t first_key_offset,
                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, int splits,
                     float* workspace, stream_t stream) {
  if (status s = check_shape(rows, first_key_offset, n_heads, n_kv_heads, head_dim, window); !s.ok()) return s;
  if (rows == 0) return {};
  attn_args a{q, nullptr, nullptr, o, workspace, nullptr, 0, rows, n_kv_heads * head_dim, first_key_offset,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              splits < 1 ? 1 : splits, window, 1.0f / sqrtf(static_cast<float>(head_dim))};
  if (status s = with_fp8(a, kv, n_kv_heads); !s.ok()) return s;
  return launch(a, stream);
}

status cross_attn_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, int64_t rows, int64_t pos0, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace, stream_t stream) {
  return attention_fp8(q, kv, o, rows, pos0, n_heads, n_kv_heads, head_dim, 0, splits, workspace, stream);
}

status attn_decode_fixed_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, int64_t rows, const int64_t* n_keys_dev,
                             int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window, int max_splits,
                             float* workspace, stream_t stream) {
  if (status s = check_shape(rows, 0, n_heads, n_kv_heads, head_dim, window); !s.ok()) return s;
  if (!n_keys_dev || !tc_head_dim(head_dim) || rows < 1 || !use_decode(rows, n_heads / n_kv_heads))
    return bad_argument("attn_decode_fixed_fp8: needs n_keys_dev, head_dim 16/32/64/128, rows*group <= 16");
  attn_args a{q, nullptr, nullptr, o, workspace, n_keys_dev, 0, rows, n_kv_heads * head_dim, 0,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              max_splits < 1 ? 1 : max_splits, window, 1.0f / sqrtf(static_cast<float>(head_dim))};
  if (status s = with_fp8(a, kv, n_kv_heads); !s.ok()) return s;
  return launch(a, stream);
}

status cross_attn_decode_fp8(const uint16_t* q, kv_fp8 kv, uint16_t* o, const int64_t* pos, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, int splits, float* workspace, stream_t stream,
                             bool kv_ready) {
  if (status s = check_shape(1, 0, n_heads, n_kv_heads, head_dim, 0); !s.ok()) return s;
  if (!pos || !tc_head_dim(head_dim) || !use_decode(1, n_heads / n_kv_heads))
    return bad_argument("cross_attn_decode_fp8: needs pos, head_dim 16/32/64/128, Hq/Hkv <= 16");
  attn_args a{q, nullptr, nullptr, o, workspace, pos, 1, 1, n_kv_heads * head_dim, 0,
              static_cast<int>(n_heads), static_cast<int>(n_heads / n_kv_heads), static_cast<int>(head_dim),
              splits < 1 ? 1 : splits, 0, 1.0f / sqrtf(static_cast<float>(head_dim))};
  if (status s = with_fp8(a, kv, n_kv_heads); !s.ok()) return s;
  a.kv_ready = kv_ready;
  return launch(a, stream);
}

}  // namespace tome::kernels
