// Chunkwise gated retention for long prefills (YOCO.md, chunkwise form) on bf16 tensor cores
// (mma.sync m16n8k16, f32 accumulation; sm_80+). Per chunk of kChunk = 64 rows and head, with G
// the inclusive f32 cumulative sum of log γ inside the chunk and S the f32 state entering it:
//   o_i = exp(G_i) q_i S + Σ_{j<=i} (q_i·k'_j) exp(G_i − G_j) v_j
//   S  ← exp(G_last) S + Σ_j exp(G_last − G_j) k'_jᵀ v_j
// One CTA per (segment of rows, head) walks its segment's chunks in order with the state in
// registers (each warp holds Sᵀ for 16 value columns as mma accumulators), so no per-chunk state
// is ever written to memory. Segments run in parallel: a first pass computes each segment's own
// state (from zero) and total log decay, a scan over segments turns them into entering states,
// then the output pass walks each segment from its entering state. The workspace holds one f32
// state per (segment, head): plan_segments() picks about two waves of CTAs on this device.
// Precision: the state is accumulated in f32 registers; the decayed keys exp(G_last − G)·k' enter
// the state update as a bf16 hi + lo pair, so the state (entering each segment and leaving the
// call) stays near f32 (single bf16 contributions would carry ~0.1%-of-scale errors into decode
// and snapshots; the lo half costs ~1/4 of the tensor-core work). The state's copy for q·S and the masked, scaled
// intra-chunk scores A are rounded to bf16 once, as flash-linear-attention's chunk kernels do:
// outputs agree with the f32 twin to ~1% of their scale (measured by the op test at 32K rows).
// These rounding errors do not accumulate over rows (each contribution is rounded once, then
// decays).
// Layouts as gated_retention (gated_retention.cu). Falls back to the recurrent kernel for fewer
// than kChunk rows, head dims not a multiple of 8 and unaligned pointers.
#include <cstdint>

#include "common/common.cuh"

namespace tome::kernels {
namespace {

constexpr int kChunk = 64;
constexpr int64_t kMinSegmentRows = 512;
constexpr int kAStride = kChunk + 8;  // bf16 row stride of the score tile (16-byte aligned rows)

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16-byte async copy global → shared; zero-fills when !valid (the source is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// c[16x8] += a[16x16] · b[16x8], bf16 in, f32 accumulate.
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

struct chunk_params {
  const uint16_t *q, *k, *v;
  const float* lg;
  uint16_t* o;
  const float* enter;  // output pass: entering states [segments, H, hd, hd] (or the state itself)
  float* state;        // output pass: the final state [H, hd, hd], written by the last segment
  float* seg_state;    // state pass: segment s writes its own state to seg_state[s + 1]
  float* seg_log_decay;  // state pass: Σ log γ over segment s, to seg_log_decay[s + 1]
  int64_t rows, seg_rows;
  int heads, hd, n_seg;
};

// Shared memory of one CTA (bf16 unless noted), row stride LD = HD + 8 elements. The state pass
// (OUTPUT false) has no q tiles and no scores, so two of its CTAs fit an SM.
template <int HD, bool OUTPUT = true>
struct smem_layout {
  static constexpr int LD = HD + 8;
  static constexpr int tile = kChunk * LD;                   // one [64, HD] tile
  static constexpr int qt = OUTPUT ? 2 : 0;                  // q tiles (double-buffered)
  static constexpr int q = 0, k = qt * tile, v = (qt + 2) * tile;  // double-buffered q, k, v
  static constexpr int kw_hi = (qt + 4) * tile, kw_lo = (qt + 5) * tile;  // decayed keys, hi and lo bf16 parts
  static constexpr int a = (qt + 6) * tile;                 // scores [64, kAStride]
  static constexpr int a_elems = OUTPUT ? kChunk * kAStride : 0;
  static constexpr int g_bytes = (HD / 16) * kChunk * 4;    // f32 cumulative log decay per warp
  static constexpr size_t bytes = ((qt + 6) * tile + a_elems) * 2 + g_bytes;
};

// Grid (segments, heads), HD/16 warps; warp w owns value columns [16w, 16w + 16) of the state and
// the output. OUTPUT = false: the state pass (segments 0..n−2, from a zero state, keys and values
// only); OUTPUT = true: the output pass from the entering state.
template <int HD, bool OUTPUT>
__global__ void __launch_bounds__(HD * 2, OUTPUT ? 1 : 2) chunk_scan_kernel(chunk_params p) {
  using L = smem_layout<HD, OUTPUT>;
  constexpr int LD = L::LD, NW = HD / 16, NT = NW * 32;
  extern __shared__ __align__(16) uint16_t sh[];
  uint16_t* const qs = sh + L::q;
  uint16_t* const ks = sh + L::k;
  uint16_t* const vs = sh + L::v;
  uint16_t* const kwh = sh + L::kw_hi;
  uint16_t* const kwl = sh + L::kw_lo;
  uint16_t* const as = sh + L::a;
  const int tid = threadIdx.x, w = tid >> 5, l = tid & 31;
  float* const gw = reinterpret_cast<float*>(sh + L::a + L::a_elems) + w * kChunk;
  const int seg = blockIdx.x, h = blockIdx.y, hd = p.hd, H = p.heads;
  const int64_t r_begin = static_cast<int64_t>(seg) * p.seg_rows;
  const int64_t r_end = r_begin + p.seg_rows < p.rows ? r_begin + p.seg_rows : p.rows;
  const int n_chunks = static_cast<int>((r_end - r_begin + kChunk - 1) / kChunk);
  const int64_t stride = static_cast<int64_t>(H) * hd, col0 = static_cast<int64_t>(h) * hd;
  const int64_t hd2 = static_cast<int64_t>(hd) * hd;

  // Sᵀ [value e, key d] of this warp's 16 value columns as mma accumulators: sacc[nt] covers keys
  // [8nt, 8nt + 8); element r (0..3) is e = 16w + l/4 + 8(r/2), d = 8nt + 2(l%4) + r%2.
  float sacc[HD / 8][4];
  {
    const float* src = OUTPUT ? p.enter + (static_cast<int64_t>(p.n_seg > 1 ? seg : 0) * H + h) * hd2 : nullptr;
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int e = 16 * w + (l >> 2) + 8 * (r >> 1), d = 8 * nt + 2 * (l & 3) + (r & 1);
        sacc[nt][r] = (OUTPUT && e < hd && d < hd) ? src[static_cast<int64_t>(d) * hd + e] : 0.0f;
      }
  }

  auto load_chunk = [&](int ci, int buf) {
    const int64_t row0 = r_begin + static_cast<int64_t>(ci) * kChunk;
    const int c = static_cast<int>(r_end - row0 < kChunk ? r_end - row0 : kChunk);
    constexpr int kVecs = HD / 8;
    for (int t = tid; t < kChunk * kVecs; t += NT) {
      const int i = t / kVecs, x = (t % kVecs) * 8;
      const bool valid = i < c && x < hd;
      const int64_t off = valid ? (row0 + i) * stride + col0 + x : 0;
      const int so = buf * L::tile + i * LD + x;
      if (OUTPUT) cp_async16(qs + so, p.q + off, valid);
      cp_async16(ks + so, p.k + off, valid);
      cp_async16(vs + so, p.v + off, valid);
    }
    cp_async_commit();
  };
  // log γ of rows 2l, 2l+1 of chunk ci (0 past the segment's end), prefetched into registers.
  auto load_lg = [&](int ci, float& a, float& b) {
    const int64_t row = r_begin + static_cast<int64_t>(ci) * kChunk + 2 * l;
    a = row < r_end ? p.lg[row * H + h] : 0.0f;
    b = row + 1 < r_end ? p.lg[(row + 1) * H + h] : 0.0f;
  };

  float lg0, lg1, log_total = 0.0f;
  load_chunk(0, 0);
  load_lg(0, lg0, lg1);
  for (int ci = 0; ci < n_chunks; ++ci) {
    const int buf = ci & 1;
    const int64_t row0 = r_begin + static_cast<int64_t>(ci) * kChunk;
    const int c = static_cast<int>(r_end - row0 < kChunk ? r_end - row0 : kChunk);
    cp_async_wait_all();
    __syncthreads();  // chunk ci has landed; every warp is done with chunk ci-1
    if (ci + 1 < n_chunks) load_chunk(ci + 1, buf ^ 1);

    // G inside the chunk (each warp its own copy): inclusive scan of log γ.
    float glast;
    {
      float s = lg0 + lg1;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const float t = __shfl_up_sync(0xffffffffu, s, o);
        if (l >= o) s += t;
      }
      float excl = __shfl_up_sync(0xffffffffu, s, 1);
      if (l == 0) excl = 0.0f;
      gw[2 * l] = excl + lg0;
      gw[2 * l + 1] = excl + lg0 + lg1;
      glast = __shfl_sync(0xffffffffu, excl + lg0 + lg1, 31);
      __syncwarp();
    }
    log_total += glast;
    if (ci + 1 < n_chunks) load_lg(ci + 1, lg0, lg1);
    const uint16_t* const qb = qs + buf * L::tile;
    const uint16_t* const kb = ks + buf * L::tile;
    const uint16_t* const vb = vs + buf * L::tile;

    // Decayed keys exp(G_last − G_j) k'_j as bf16 hi + lo, rows split over the warps.
    for (int i = w * (kChunk / NW); i < (w + 1) * (kChunk / NW); ++i) {
      const float wj = __expf(glast - gw[i]);
      for (int x = 2 * l; x < HD; x += 64) {
        const __nv_bfloat162 kv = *reinterpret_cast<const __nv_bfloat162*>(kb + i * LD + x);
        const float a = __low2float(kv) * wj, b = __high2float(kv) * wj;
        const __nv_bfloat162 hi = __floats2bfloat162_rn(a, b);
        *reinterpret_cast<__nv_bfloat162*>(kwh + i * LD + x) = hi;
        *reinterpret_cast<__nv_bfloat162*>(kwl + i * LD + x) =
            __floats2bfloat162_rn(a - __low2float(hi), b - __high2float(hi));
      }
    }

    if constexpr (OUTPUT) {
      // Intra-chunk scores A = Q K'ᵀ, masked (j <= i) and scaled by exp(G_i − G_j), to shared as
      // bf16. Tasks: (16-row tile mt, 32-column half); tiles above the diagonal are skipped.
      for (int task = w; task < 8; task += NW) {
        const int mt = task >> 1, half = task & 1;
        if (half == 1 && mt < 2) continue;
        float acc[4][4];
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
          for (int r = 0; r < 4; ++r) acc[nt][r] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; ++kk) {
          uint32_t a[4];
          ldsm_x4(a, qb + (16 * mt + (l & 7) + ((l >> 3) & 1) * 8) * LD + 16 * kk + (l >> 4) * 8);
#pragma unroll
          for (int pp = 0; pp < 2; ++pp) {
            uint32_t b[4];
            ldsm_x4(b, kb + (32 * half + 16 * pp + (l & 7) + (l >> 4) * 8) * LD + 16 * kk + ((l >> 3) & 1) * 8);
            mma(acc[2 * pp], a, b[0], b[1]);
            mma(acc[2 * pp + 1], a, b[2], b[3]);
          }
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          const int j0 = 32 * half + 8 * nt + 2 * (l & 3);
          const float gj0 = gw[j0], gj1 = gw[j0 + 1];
#pragma unroll
          for (int rr = 0; rr < 2; ++rr) {
            const int i = 16 * mt + (l >> 2) + 8 * rr;
            const float gi = gw[i];
            const float x0 = j0 <= i ? acc[nt][2 * rr] * __expf(gi - gj0) : 0.0f;
            const float x1 = j0 + 1 <= i ? acc[nt][2 * rr + 1] * __expf(gi - gj1) : 0.0f;
            *reinterpret_cast<uint32_t*>(as + i * kAStride + j0) = pack_bf16(x0, x1);
          }
        }
      }
    }
    float oacc[4][2][4];
    if constexpr (OUTPUT) {
      // Inter-chunk: O = exp(G_i) · Q S, S's bf16 B fragments straight from the accumulators.
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
          for (int r = 0; r < 4; ++r) oacc[mt][j][r] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < HD / 16; ++kk) {
        const uint32_t b00 = pack_bf16(sacc[2 * kk][0], sacc[2 * kk][1]);
        const uint32_t b01 = pack_bf16(sacc[2 * kk + 1][0], sacc[2 * kk + 1][1]);
        const uint32_t b10 = pack_bf16(sacc[2 * kk][2], sacc[2 * kk][3]);
        const uint32_t b11 = pack_bf16(sacc[2 * kk + 1][2], sacc[2 * kk + 1][3]);
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          uint32_t a[4];
          ldsm_x4(a, qb + (16 * mt + (l & 7) + ((l >> 3) & 1) * 8) * LD + 16 * kk + (l >> 4) * 8);
          mma(oacc[mt][0], a, b00, b01);
          mma(oacc[mt][1], a, b10, b11);
        }
      }
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) {
        const float e0 = __expf(gw[16 * mt + (l >> 2)]), e1 = __expf(gw[16 * mt + (l >> 2) + 8]);
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          oacc[mt][j][0] *= e0;
          oacc[mt][j][1] *= e0;
          oacc[mt][j][2] *= e1;
          oacc[mt][j][3] *= e1;
        }
      }
    }
    __syncthreads();  // scores and decayed keys visible to every warp

    if constexpr (OUTPUT) {
      // Intra-chunk: O += A V (A is lower block-triangular: k-steps 0..mt only).
#pragma unroll
      for (int ks_ = 0; ks_ < 4; ++ks_) {
        uint32_t b[4];
        ldsm_x4_t(b, vb + (16 * ks_ + (l & 7) + ((l >> 3) & 1) * 8) * LD + 16 * w + (l >> 4) * 8);
#pragma unroll
        for (int mt = ks_; mt < 4; ++mt) {
          uint32_t a[4];
          ldsm_x4(a, as + (16 * mt + (l & 7) + ((l >> 3) & 1) * 8) * kAStride + 16 * ks_ + (l >> 4) * 8);
          mma(oacc[mt][0], a, b[0], b[1]);
          mma(oacc[mt][1], a, b[2], b[3]);
        }
      }
      // Stage O as bf16 in this chunk's q buffer (no warp reads it any more) for wide stores.
      uint16_t* const ob = qs + buf * L::tile;
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int i = 16 * mt + (l >> 2), col = 16 * w + 8 * j + 2 * (l & 3);
          *reinterpret_cast<uint32_t*>(ob + i * LD + col) = pack_bf16(oacc[mt][j][0], oacc[mt][j][1]);
          *reinterpret_cast<uint32_t*>(ob + (i + 8) * LD + col) = pack_bf16(oacc[mt][j][2], oacc[mt][j][3]);
        }
    }

    // State: Sᵀ ← exp(G_last) Sᵀ + Vᵀ (exp(G_last − G) K'), the decayed keys as bf16 hi + lo.
    {
      const float decay = __expf(glast);
#pragma unroll
      for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
        for (int r = 0; r < 4; ++r) sacc[nt][r] *= decay;
#pragma unroll
      for (int ks_ = 0; ks_ < 4; ++ks_) {
        uint32_t a[4];
        ldsm_x4_t(a, vb + (16 * ks_ + (l & 7) + (l >> 4) * 8) * LD + 16 * w + ((l >> 3) & 1) * 8);
#pragma unroll
        for (int np = 0; np < HD / 16; ++np) {
          const int off = (16 * ks_ + (l & 7) + ((l >> 3) & 1) * 8) * LD + 16 * np + (l >> 4) * 8;
          uint32_t b[4];
          ldsm_x4_t(b, kwh + off);
          mma(sacc[2 * np], a, b[0], b[1]);
          mma(sacc[2 * np + 1], a, b[2], b[3]);
          ldsm_x4_t(b, kwl + off);
          mma(sacc[2 * np], a, b[0], b[1]);
          mma(sacc[2 * np + 1], a, b[2], b[3]);
        }
      }
    }

    if constexpr (OUTPUT) {
      __syncthreads();  // O staged
      const uint16_t* const ob = qs + buf * L::tile;
      constexpr int kVecs = HD / 8;
      for (int t = tid; t < c * kVecs; t += NT) {
        const int i = t / kVecs, x = (t % kVecs) * 8;
        if (x < hd)
          *reinterpret_cast<uint4*>(p.o + (row0 + i) * stride + col0 + x) =
              *reinterpret_cast<const uint4*>(ob + i * LD + x);
      }
    }
  }

  float* dst = nullptr;
  if (OUTPUT) {
    if (seg == p.n_seg - 1) dst = p.state + static_cast<int64_t>(h) * hd2;
  } else {
    dst = p.seg_state + (static_cast<int64_t>(seg + 1) * H + h) * hd2;
    if (tid == 0) p.seg_log_decay[static_cast<int64_t>(seg + 1) * H + h] = log_total;
  }
  if (dst) {
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int e = 16 * w + (l >> 2) + 8 * (r >> 1), d = 8 * nt + 2 * (l & 3) + (r & 1);
        if (e < hd && d < hd) dst[static_cast<int64_t>(d) * hd + e] = sacc[nt][r];
      }
  }
}

// Grid (ceil(hd²/256), heads): seg_state[0] = state; seg_state[s] = exp(Λ_s) seg_state[s−1] +
// seg_state[s] (in place), Λ_s = seg_log_decay[s]: the state entering each segment.
__global__ void segment_scan_kernel(const float* __restrict__ state, float* __restrict__ seg_state,
                                    const float* __restrict__ seg_log_decay, int n_seg, int heads, int64_t hd2) {
  const int h = blockIdx.y;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= hd2) return;
  float s = state[h * hd2 + t];
  seg_state[h * hd2 + t] = s;
  for (int sg = 1; sg < n_seg; ++sg) {
    const int64_t i = (static_cast<int64_t>(sg) * heads + h) * hd2 + t;
    s = __expf(seg_log_decay[static_cast<int64_t>(sg) * heads + h]) * s + seg_state[i];
    seg_state[i] = s;
  }
}

// The padded head dim a kernel instance serves (32, 64 or 128).
int padded_hd(int64_t hd) { return hd <= 32 ? 32 : hd <= 64 ? 64 : 128; }

// CTAs of the output pass that fit on the device at once (0: the kernel cannot run here), per
// padded head dim; queried once per process (kernel attributes set then), thread-safe.
template <int HD>
int resident_ctas() {
  static const int slots = [] {
    int dev = 0, sms = 0, per_sm = 0;
    const int bytes = static_cast<int>(smem_layout<HD>::bytes);
    bool ok = cudaGetDevice(&dev) == cudaSuccess &&
              cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess;
    ok = ok && cudaFuncSetAttribute(chunk_scan_kernel<HD, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    bytes) == cudaSuccess;
    ok = ok && cudaFuncSetAttribute(chunk_scan_kernel<HD, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem_layout<HD, false>::bytes)) == cudaSuccess;
    ok = ok && cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, chunk_scan_kernel<HD, true>, HD * 2, bytes) ==
                   cudaSuccess;
    if (!ok) cudaGetLastError();  // "cannot run here" (recurrent fallback), not a pending error
    return ok ? sms * per_sm : 0;
  }();
  return slots;
}
int resident_ctas_for(int64_t hd) {
  const int p = padded_hd(hd);
  return p == 32 ? resident_ctas<32>() : p == 64 ? resident_ctas<64>() : resident_ctas<128>();
}

struct segment_plan {
  int n_seg = 1;
  int64_t seg_rows = 0;
};
// About two waves of output-pass CTAs, segments of at least kMinSegmentRows rows (a multiple of
// kChunk, so chunk edges fall where the CPU twin's do).
segment_plan plan_segments(int64_t rows, int64_t heads, int64_t hd) {
  segment_plan s;
  const int64_t slots = resident_ctas_for(hd);
  int64_t n = slots > 0 ? 2 * slots / heads : 1;
  const int64_t by_rows = (rows + kMinSegmentRows - 1) / kMinSegmentRows;
  n = n < by_rows ? n : by_rows;
  if (n < 1) n = 1;
  s.seg_rows = ((rows + n - 1) / n + kChunk - 1) / kChunk * kChunk;
  if (s.seg_rows < kChunk) s.seg_rows = kChunk;
  s.n_seg = static_cast<int>((rows + s.seg_rows - 1) / s.seg_rows);
  if (s.n_seg < 1) s.n_seg = 1;
  return s;
}

template <int HD>
void launch_chunked(const chunk_params& p, cudaStream_t stream) {
  const size_t bytes = smem_layout<HD>::bytes;
  const dim3 block(HD * 2);
  if (p.n_seg > 1) {
    chunk_scan_kernel<HD, false><<<dim3(p.n_seg - 1, p.heads), block, smem_layout<HD, false>::bytes, stream>>>(p);
    const int64_t hd2 = static_cast<int64_t>(p.hd) * p.hd;
    segment_scan_kernel<<<dim3(static_cast<unsigned>((hd2 + 255) / 256), p.heads), 256, 0, stream>>>(
        p.state, p.seg_state, p.seg_log_decay, p.n_seg, p.heads, hd2);
  }
  chunk_scan_kernel<HD, true><<<dim3(p.n_seg, p.heads), block, bytes, stream>>>(p);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

int64_t gated_retention_chunked_workspace_floats(int64_t rows, int64_t heads, int64_t head_dim) {
  if (rows <= 0 || heads <= 0 || head_dim <= 0) return 0;
  const segment_plan s = plan_segments(rows, heads, head_dim);
  return s.n_seg > 1 ? static_cast<int64_t>(s.n_seg) * heads * (head_dim * head_dim + 1) : 0;
}

status gated_retention_chunked(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                               const float* log_gamma, float* state, uint16_t* o, int64_t rows,
                               int64_t heads, int64_t head_dim, float* workspace, stream_t stream) {
  if (rows < 0 || heads <= 0 || heads > 65535 || head_dim <= 0 || head_dim > 128)
    return bad_argument("gated_retention_chunked: bad shape (head_dim must be <= 128)");
  if (rows == 0) return {};
  const bool tensor_cores = rows >= kChunk && head_dim % 8 == 0 && aligned16(q) && aligned16(k) &&
                            aligned16(v) && aligned16(o) && resident_ctas_for(head_dim) > 0;
  if (!tensor_cores) return gated_retention(q, k, v, log_gamma, state, o, rows, heads, head_dim, stream);
  const segment_plan s = plan_segments(rows, heads, head_dim);
  if (s.n_seg > 1 && !workspace) return bad_argument("gated_retention_chunked: no workspace");
  if (s.n_seg > 65535) return bad_argument("gated_retention_chunked: too many segments");
  chunk_params p{};
  p.q = q;
  p.k = k;
  p.v = v;
  p.lg = log_gamma;
  p.o = o;
  p.state = state;
  p.seg_state = workspace;
  p.seg_log_decay = workspace ? workspace + static_cast<int64_t>(s.n_seg) * heads * head_dim * head_dim : nullptr;
  p.enter = s.n_seg > 1 ? workspace : state;
  p.rows = rows;
  p.seg_rows = s.seg_rows;
  p.heads = static_cast<int>(heads);
  p.hd = static_cast<int>(head_dim);
  p.n_seg = s.n_seg;
  switch (padded_hd(head_dim)) {
    case 32: launch_chunked<32>(p, stream); break;
    case 64: launch_chunked<64>(p, stream); break;
    default: launch_chunked<128>(p, stream); break;
  }
  return launch_status();
}

}  // namespace tome::kernels
