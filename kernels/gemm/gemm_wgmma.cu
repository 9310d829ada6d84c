// Hopper GEMM for the prefill's FFN up projection with SwiGLU in its epilogue (sm_90a: TMA, wgmma,
// mbarriers). h bf16 [rows, F] = swiglu(bf16(x · w1ᵀ), bf16(x · w3ᵀ)) for x bf16 [rows, K] and
// w1, w3 bf16 [F, K]: what the CUDA backend's prefill ran as two cuBLAS products and the swiglu
// kernel, with the [rows, 2F] products never written to memory.
//   - One persistent CTA an SM, three warpgroups: the first issues the TMA copies (one thread), the
//     other two compute. A tile is 128 rows of x by 128 units of the hidden layer: the w1 rows
//     f0..f0+127 and the w3 rows f0..f0+127 stacked as a 256-row B tile, so that each consumer
//     thread holds the w1 and w3 sums of the same (row, unit) pairs.
//   - K in steps of 64 (128 bytes, the 128-byte swizzle's row) through a 4-stage ring of 48 KiB
//     (A 16 KiB, B 32 KiB), each stage guarded by a "full" mbarrier (the copies' bytes) and an
//     "empty" one (the 8 consumer warps done with it). Consumer warpgroup c computes tile rows
//     64c..64c+63 with wgmma m64n256k16, both operands from shared memory, f32 accumulators (128 a
//     thread); one group stays in flight while the stage before it is released.
//   - The epilogue rounds both sums to bf16 (the bits a bf16 product buffer would hold), applies
//     silu(a) * b = a * b / (1 + e^-a) and stores bf16 pairs; meanwhile the producer already fills
//     the ring for the CTA's next tile.
//   - Tiles go to the CTAs in groups of 16 row tiles, so that the tiles in flight share their x
//     and w1/w3 panels in L2.
// The same kernel with another epilogue, gemm_rope: the self-decoder's q|k|v(|g) projection of the
// prefill, y_p = x · w_pᵀ for the parts p of one packed weight [parts * P, K], the B tile 256 rows
// of one part; parts 0 and 1 (q, k) rotated by RoPE from a cos/sin table (rope_cos_sin: the angles'
// bits as rope_qk computes them), part 1 then rounded and scaled (k_scale): == the products into bf16
// buffers then rope_qk, up to the order of the products' f32 sums. A thread holds column pairs
// (2i, 2i + 1), the interleaved RoPE's pairs, so the rotation needs no exchange between threads.
// Off by default (TOME_WGMMA_ROPE=1): faster than cuBLAS's products + rope_qk alone, slower in the
// whole prefill (docs/performance.md, session 28).
// Clusters of two CTAs multicasting the B tile (kCl 2, TOME_GEMM_CLUSTER=1): the same bits, 50-65%
// slower on the H100, not yet diagnosed (sessions 27 and 28); off by default.
// Tried and dropped (docs/performance.md, sessions 27-28): the two consumer warpgroups on tiles of
// their own in turns (128 x 64-unit tiles, "ping-pong"), slower; the epilogue's rows staged in
// shared memory for whole-line stores, no faster.
// The products' f32 sums may run in another order than cuBLAS's, so a and b can differ from the
// unfused path's by a bf16 rounding, and the SiLU's fast division by a few f32 ulps (op test:
// Kernels.GemmSwigluMatchesCpuTwin). Compiled for sm_90a only; elsewhere (and with
// TOME_WGMMA_GEMM=0) gemm_swiglu_supported() is false and the backend keeps cuBLAS and the swiglu
// kernel.
#include <cuda.h>

#include <cstdlib>

#include "common/common.cuh"
#include "common/hopper.cuh"

namespace tome::kernels {
namespace {

constexpr int kBM = 128;              // rows of x a tile
constexpr int kBF = 128;              // hidden units a tile (B tile: 128 rows of w1, 128 of w3)
constexpr int kBK = 64;               // K a stage: 128 bytes of bf16
constexpr int kStages = 4;
constexpr int kThreads = 384;         // producer warpgroup + 2 consumer warpgroups
constexpr int kABytes = kBM * kBK * 2;        // 16 KiB
constexpr int kBBytes = 2 * kBF * kBK * 2;    // 32 KiB
constexpr int kStageBytes = kABytes + kBBytes;
constexpr size_t kSmem = 1024 + size_t{kStages} * kStageBytes + 2 * kStages * 8;
static_assert(kSmem <= 232448, "over the 227 KiB of shared memory a block may have");
constexpr int kGroupRows = 16;  // row tiles a group (tile order)

enum epilogue : int { kSwiglu = 0, kRope = 1 };
constexpr int kMaxParts = 4;

struct gemm_args {
  uint16_t* h;           // kSwiglu: h [rows, F]
  uint16_t* y[kMaxParts];  // kRope: part p's output [rows, F] (F = P, the part's width)
  const float2* cs;      // kRope: (cos, sin) [rows, head_dim / 2]
  float k_scale;         // kRope: part 1's scale after its rotation
  int rope_parts, half_mask;  // kRope: parts rotated (0..2); head_dim - 1
  int64_t rows, F;
  int K, row_tiles, f_tiles, tiles;
  int b_second;          // B tile's second 128 rows: kSwiglu 0 (w3 at f0), kRope 128 (w at n0 + 128)
  int b_tile_rows;       // columns a tile: kSwiglu 128 units (256 B rows), kRope 256
  int group;             // row_tiles units a group of the tile order
};

#ifdef TOME_WGMMA_DEVICE
// Tile t -> (row tile, hidden tile): groups of kGroupRows row tiles, row tile fastest in a group.
__device__ __forceinline__ void tile_coords(const gemm_args& a, int t, int& tm, int& tf) {
  const int per_group = a.group * a.f_tiles;
  const int g = t / per_group, i = t % per_group;
  const int in = a.row_tiles - g * a.group < a.group ? a.row_tiles - g * a.group : a.group;
  tm = g * a.group + i % in;
  tf = i / in;
}
using namespace hopper;
// d (+)= A B, m64n256k16: A [64 x 16] and B [16 x 256] from shared memory, both K-major.
__device__ __forceinline__ void wgmma_ss_n256(float (&d)[128], uint64_t da, uint64_t db, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(da), "l"(db), "r"(accumulate));
}
__device__ __forceinline__ void fence_acc(float (&d)[128]) {
#pragma unroll
  for (int i = 0; i < 128; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// Epilogues. acc[4j + q] holds row 16 warp + lane/4 + 8(q/2) of consumer warpgroup c's 64 rows,
// column 8j + 2(lane%4) + q%2 of the 256-column B tile. (Staging the rows in shared memory for
// whole-line 16-byte stores was tried: no measurable gain for either epilogue;
// docs/performance.md, session 28.)
// SwiGLU: w1 units for j < 16, the same w3 units at j + 16.
__device__ __forceinline__ void epilogue_swiglu(const gemm_args& a, const float (&acc)[128], int tm, int tf, int c,
                                                int warp, int lane) {
  const int64_t row0 = static_cast<int64_t>(tm) * kBM + 64 * c + 16 * warp + (lane >> 2);
  const int64_t col0 = static_cast<int64_t>(tf) * kBF + 2 * (lane & 3);
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = row0 + 8 * hh;
    if (row >= a.rows) continue;
    uint16_t* out = a.h + row * a.F + col0;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      float v[2];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float x = round_bf16(acc[4 * j + 2 * hh + e]);
        const float y = round_bf16(acc[4 * (j + 16) + 2 * hh + e]);
        v[e] = __fdividef(x * y, 1.0f + __expf(-x));
      }
      *reinterpret_cast<uint32_t*>(out + 8 * j) = pack_bf16(v[0], v[1]);
    }
  }
}

// RoPE: the tile's 256 columns are columns n0.. of part n0 / F (F % 256 == 0). In parts < rope_parts
// the pair (2i, 2i + 1) of a head is rotated as rope_qk rotates it, from the bf16-rounded sums;
// part 1 is then rounded and scaled. pre: the rows' (cos, sin) for head_dim 128 (pair 4jj + lane%4
// of row lane/4 + 8hh), loaded by the caller while the tile's last products ran; other head dims
// read the table here.
__device__ __forceinline__ void epilogue_rope(const gemm_args& a, const float (&acc)[128], const float2 (&pre)[2][16],
                                              int tm, int tf, int c, int warp, int lane) {
  const int64_t n0 = static_cast<int64_t>(tf) * 256;
  const int part = static_cast<int>(n0 / a.F);
  const int64_t row0 = static_cast<int64_t>(tm) * kBM + 64 * c + 16 * warp;
  const int half = (a.half_mask + 1) >> 1;
  const bool rope = part < a.rope_parts, scale = part == 1, hd128 = a.half_mask == 127;
  uint16_t* const yp = part == 0 ? a.y[0] : part == 1 ? a.y[1] : part == 2 ? a.y[2] : a.y[3];  // no local copy
  uint16_t* const out = yp + row0 * a.F + (n0 - part * a.F);
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = row0 + (lane >> 2) + 8 * hh;
    if (row >= a.rows) continue;
    uint16_t* const o = out + (row - row0) * a.F + 2 * (lane & 3);
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      float x0 = round_bf16(acc[4 * j + 2 * hh]), x1 = round_bf16(acc[4 * j + 2 * hh + 1]);
      if (rope) {
        const float2 cs = hd128 ? pre[hh][j & 15] : a.cs[row * half + (((8 * j + 2 * (lane & 3)) & a.half_mask) >> 1)];
        const float r0 = rope_lo(x0, x1, cs.x, cs.y), r1 = rope_hi(x0, x1, cs.x, cs.y);
        x0 = scale ? round_bf16(r0) * a.k_scale : r0;
        x1 = scale ? round_bf16(r1) * a.k_scale : r1;
      }
      *reinterpret_cast<uint32_t*>(o + 8 * j) = pack_bf16(x0, x1);
    }
  }
}

// The consumer warpgroups' side of gemm_wgmma_kernel: warpgroup c = wg - 1 computes tile rows
// 64c..64c+63.
template <int kEpi, int kCl>
__device__ __forceinline__ void consumer(const gemm_args& a, uint32_t base, uint32_t full0, uint32_t empty0, int nk,
                                         int rank, int tid, int wg) {
  if constexpr (kEpi == kRope) asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");
  const int c = wg - 1, warp = (tid >> 5) & 3, lane = tid & 31;
  // A stage is released to this CTA's producer and (clusters) to the peer's, whose multicast
  // writes it too.
  const auto release = [&](int s) {
    const uint32_t bar = empty0 + 8 * s;
    mbar_arrive(bar);
    if constexpr (kCl == 2) mbar_arrive_remote(bar, static_cast<uint32_t>(rank ^ 1));
  };
  float acc[128];
  int it = 0;
  for (int t = blockIdx.x / kCl; t < a.tiles; t += gridDim.x / kCl) {
    int tm, tf;
    tile_coords(a, t, tm, tf);
    tm = tm * kCl + rank;
    for (int kb = 0; kb < nk; ++kb, ++it) {
      const int s = it % kStages;
      mbar_wait(full0 + 8 * s, static_cast<uint32_t>((it / kStages) & 1));
      const uint32_t sa = base + s * kStageBytes + c * (64 * 128), sb = base + s * kStageBytes + kABytes;
      fence_acc(acc);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        wgmma_ss_n256(acc, desc128(sa + kk * 32, 16, 1024), desc128(sb + kk * 32, 16, 1024), kb > 0 || kk > 0);
      wgmma_commit();
      if (kb > 0) {  // the previous stage's products are done: release it
        wgmma_wait<1>();
        fence_acc(acc);
        __syncwarp();
        if (lane == 0) release((it - 1) % kStages);
      }
    }
    // kRope, head_dim 128: the rows' (cos, sin) in flight while the last products finish.
    float2 pre[2][16];
    if constexpr (kEpi == kRope) {
      if (a.half_mask == 127 && (static_cast<int64_t>(tf) * 256) / a.F < a.rope_parts) {
        const int64_t row0 = static_cast<int64_t>(tm) * kBM + 64 * c + 16 * warp + (lane >> 2);
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
          if (row0 + 8 * hh < a.rows)
#pragma unroll
            for (int jj = 0; jj < 16; ++jj) pre[hh][jj] = a.cs[(row0 + 8 * hh) * 64 + 4 * jj + (lane & 3)];
      }
    }
    wgmma_wait<0>();
    fence_acc(acc);
    __syncwarp();
    if (lane == 0) release((it - 1) % kStages);

    if constexpr (kEpi == kSwiglu) {
      epilogue_swiglu(a, acc, tm, tf, c, warp, lane);
    } else {
      epilogue_rope(a, acc, pre, tm, tf, c, warp, lane);
    }
  }
}
#endif

// kSwiglu: tw1, tw3 the maps of w1 and w3. kRope: both the map of the packed weight.
// kCl 2: clusters of two CTAs on vertically adjacent tiles (row tiles 2p and 2p + 1, the same
// columns); each CTA loads its own x rows and one half of the B tile, multicast into both CTAs'
// shared memory, so that each reads 2/3 of the bytes from L2 it would alone. A stage is then free
// once the consumers of both CTAs are done with it (the empty barriers count both CTAs' warps).
template <int kEpi, int kCl>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw1,
                      const __grid_constant__ CUtensorMap tw3, gemm_args a) {
#ifdef TOME_WGMMA_DEVICE
  extern __shared__ uint8_t smem_raw[];
  const uint32_t base = (smem_u32(smem_raw) + 1023u) & ~1023u;  // the swizzle repeats every 1024 bytes
  const uint32_t full0 = base + kStages * kStageBytes, empty0 = full0 + 8 * kStages;
  const int tid = threadIdx.x, wg = tid >> 7;
  const int nk = (a.K + kBK - 1) / kBK;
  const int rank = kCl == 2 ? static_cast<int>(cluster_ctarank()) : 0;

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, 8 * kCl);  // every consumer warp (of both CTAs)
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  if constexpr (kCl == 2) cluster_sync();  // the peer's barriers exist before anything reaches them
  else __syncthreads();

  // kRope: the producer warpgroup gives registers to the consumers (168 each at launch: 24 and 240)
  // for the epilogue's cos/sin loaded ahead. (gemm_swiglu measured slower with it.)
  if (wg == 0) {  // producer: one thread issues every copy
    if constexpr (kEpi == kRope) asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
    if (tid == 0) {
      int it = 0;
      for (int t = blockIdx.x / kCl; t < a.tiles; t += gridDim.x / kCl) {
        int tm, tf;
        tile_coords(a, t, tm, tf);
        const int y = (tm * kCl + rank) * kBM, f0 = tf * a.b_tile_rows;
        for (int kb = 0; kb < nk; ++kb, ++it) {
          const int s = it % kStages;
          if (it >= kStages) mbar_wait(empty0 + 8 * s, static_cast<uint32_t>((it / kStages - 1) & 1));
          const uint32_t bar = full0 + 8 * s, sa = base + s * kStageBytes, sb = sa + kABytes;
          mbar_expect_tx(bar, kStageBytes);
          tma_load(sa, &tx, kb * kBK, y, bar);
          if constexpr (kCl == 2) {  // this CTA's half of the B tile, into both CTAs
            if (rank == 0) tma_load_multicast(sb, &tw1, kb * kBK, f0, bar, 3);
            else tma_load_multicast(sb + kBBytes / 2, &tw3, kb * kBK, f0 + a.b_second, bar, 3);
          } else {
            tma_load(sb, &tw1, kb * kBK, f0, bar);
            tma_load(sb + kBBytes / 2, &tw3, kb * kBK, f0 + a.b_second, bar);
          }
        }
      }
    }
  } else {
    consumer<kEpi, kCl>(a, base, full0, empty0, nk, rank, tid, wg);
  }
  if constexpr (kCl == 2) cluster_sync();  // no CTA leaves while its peer may still signal it
#else
  __trap();  // never launched: the launcher checks that this image has the sm_90a body
#endif
}

hopper::kernel_switch g_switch("TOME_WGMMA_GEMM");
// gemm_rope alone, off unless TOME_WGMMA_ROPE=1: on the H100 it is still slower than cuBLAS's four
// products and rope_qk (docs/performance.md, session 28).
hopper::kernel_switch g_rope_switch("TOME_WGMMA_ROPE", false);

// Clusters of two CTAs multicasting the B tile: TOME_GEMM_CLUSTER=1 (tried in session 28; see
// docs/performance.md for what it measured).
hopper::kernel_switch g_cluster_switch("TOME_GEMM_CLUSTER", false);

bool hardware_ok() {
#ifdef TOME_HAVE_SM90A
  static const bool ok = hopper::sm90a_kernel_ready(gemm_wgmma_kernel<kSwiglu, 1>, kSmem) &&
                         hopper::sm90a_kernel_ready(gemm_wgmma_kernel<kRope, 1>, kSmem) &&
                         hopper::sm90a_kernel_ready(gemm_wgmma_kernel<kSwiglu, 2>, kSmem) &&
                         hopper::sm90a_kernel_ready(gemm_wgmma_kernel<kRope, 2>, kSmem);
  return ok;
#else
  return false;
#endif
}

// A launch of `grid` CTAs in clusters of 2 (attr: the configuration's one attribute).
cudaLaunchConfig_t cluster_launch(cudaLaunchAttribute* attr, unsigned grid, stream_t stream) {
  attr->id = cudaLaunchAttributeClusterDimension;
  attr->val.clusterDim.x = 2;
  attr->val.clusterDim.y = 1;
  attr->val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = kSmem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cfg;
}

// Clusters of 2 that fit on the GPU at once (0 where the driver says none).
template <int kEpi>
int max_clusters() {
  static const int n = [] {
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg = cluster_launch(&attr, 2 * static_cast<unsigned>(sm_count()), nullptr);
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, gemm_wgmma_kernel<kEpi, 2>, &cfg) != cudaSuccess) {
      cudaGetLastError();
      clusters = 0;
    }
    return clusters;
  }();
  return n;
}

template <int kEpi>
status launch(const CUtensorMap& tx, const CUtensorMap& tb0, const CUtensorMap& tb1, gemm_args& a, int64_t rows,
              int64_t F, int64_t K, int64_t col_tiles, stream_t stream) {
  a.rows = rows;
  a.F = F;
  a.K = static_cast<int>(K);
  const int64_t row_tiles = (rows + kBM - 1) / kBM;
  const int clusters = g_cluster_switch.wanted() && row_tiles > 1 ? max_clusters<kEpi>() : 0;
  const int cl = clusters > 0 ? 2 : 1;
  a.row_tiles = static_cast<int>((row_tiles + cl - 1) / cl);  // rows of tiles a CTA (cluster) takes at once
  a.f_tiles = static_cast<int>(col_tiles);
  const int64_t tiles = static_cast<int64_t>(a.row_tiles) * a.f_tiles;
  if (tiles >= (int64_t{1} << 31)) return bad_argument("gemm_wgmma: too many tiles");
  a.tiles = static_cast<int>(tiles);
  a.group = kGroupRows / cl;
  if (cl == 1) {
    const int grid = a.tiles < sm_count() ? a.tiles : sm_count();
    gemm_wgmma_kernel<kEpi, 1><<<grid, kThreads, kSmem, stream>>>(tx, tb0, tb1, a);
    return launch_status();
  }
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg =
      cluster_launch(&attr, 2 * static_cast<unsigned>(a.tiles < clusters ? a.tiles : clusters), stream);
  cudaLaunchKernelEx(&cfg, gemm_wgmma_kernel<kEpi, 2>, tx, tb0, tb1, a);
  return launch_status();
}

}  // namespace

bool gemm_wgmma_enabled() { return g_switch.wanted() && hardware_ok(); }

bool gemm_swiglu_supported(const uint16_t* x, const uint16_t* w1, const uint16_t* w3, const uint16_t* h, int64_t rows,
                           int64_t F, int64_t K) {
  return gemm_wgmma_enabled() && rows > 0 && F > 0 && F % kBF == 0 && K > 0 && K % 8 == 0 &&
         K < (int64_t{1} << 31) && F < (int64_t{1} << 31) && rows < (int64_t{1} << 31) && is_aligned16(x) &&
         is_aligned16(w1) && is_aligned16(w3) && is_aligned16(h);
}

status gemm_swiglu(const uint16_t* x, const uint16_t* w1, const uint16_t* w3, uint16_t* h, int64_t rows, int64_t F,
                   int64_t K, stream_t stream) {
  if (!gemm_swiglu_supported(x, w1, w3, h, rows, F, K))
    return bad_argument("gemm_swiglu: not available for these sizes, pointers or this GPU");
  CUtensorMap tx, tw1, tw3;
  if (!hopper::make_bf16_map(&tx, x, K, rows, K, kBM) || !hopper::make_bf16_map(&tw1, w1, K, F, K, kBF) ||
      !hopper::make_bf16_map(&tw3, w3, K, F, K, kBF))
    return bad_argument("gemm_swiglu: the driver refused a tensor map");
  gemm_args a{};
  a.h = h;
  a.b_second = 0;
  a.b_tile_rows = kBF;
  return launch<kSwiglu>(tx, tw1, tw3, a, rows, F, K, F / kBF, stream);
}

bool gemm_rope_enable(bool on) { return g_rope_switch.set(on); }
bool gemm_wgmma_clusters(bool on) { return g_cluster_switch.set(on); }
int gemm_wgmma_max_clusters() { return hardware_ok() ? max_clusters<kSwiglu>() : 0; }
bool gemm_rope_enabled() { return g_rope_switch.wanted() && gemm_wgmma_enabled(); }

bool gemm_rope_supported(const uint16_t* x, const uint16_t* w, uint16_t* const* y, int parts, int64_t rows, int64_t P,
                         int64_t K, int rope_parts, int64_t head_dim, const float* cs) {
  if (!gemm_rope_enabled() || !x || !w || !y || parts < 1 || parts > kMaxParts || rope_parts < 0 ||
      rope_parts > 2 || rope_parts > parts || rows <= 0 || rows >= (int64_t{1} << 31) || P <= 0 || P % 256 != 0 ||
      P * parts >= (int64_t{1} << 31) || K <= 0 || K % 8 != 0 || K >= (int64_t{1} << 31) || !is_aligned16(x) ||
      !is_aligned16(w))
    return false;
  for (int p = 0; p < parts; ++p)
    if (!y[p] || !is_aligned16(y[p])) return false;
  if (rope_parts > 0 &&
      (!cs || !is_aligned16(cs) || head_dim < 2 || head_dim > 256 || (head_dim & (head_dim - 1)) != 0))
    return false;
  return true;
}

status gemm_rope(const uint16_t* x, const uint16_t* w, uint16_t* const* y, int parts, int64_t rows, int64_t P,
                 int64_t K, int rope_parts, int64_t head_dim, const float* cs, float k_scale, stream_t stream) {
  if (!gemm_rope_supported(x, w, y, parts, rows, P, K, rope_parts, head_dim, cs))
    return bad_argument("gemm_rope: not available for these sizes, pointers or this GPU");
  CUtensorMap tx, tw;
  if (!hopper::make_bf16_map(&tx, x, K, rows, K, kBM) || !hopper::make_bf16_map(&tw, w, K, P * parts, K, kBF))
    return bad_argument("gemm_rope: the driver refused a tensor map");
  gemm_args a{};
  for (int p = 0; p < parts; ++p) a.y[p] = y[p];
  a.cs = reinterpret_cast<const float2*>(cs);
  a.k_scale = k_scale;
  a.rope_parts = rope_parts;
  a.half_mask = rope_parts > 0 ? static_cast<int>(head_dim - 1) : 1;
  a.b_second = kBF;
  a.b_tile_rows = 2 * kBF;
  return launch<kRope>(tx, tw, tw, a, rows, P, K, P * parts / 256, stream);
}

}  // namespace tome::kernels
