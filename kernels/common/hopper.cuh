// Hopper (sm_90a) building blocks shared by the TMA + wgmma kernels (attention/attention_wgmma.cu,
// gemm/gemm_wgmma.cu): mbarriers, 2-D TMA copies, wgmma fences and shared-memory descriptors, and
// the driver's cuTensorMapEncodeTiled reached through the runtime (no -lcuda). The device helpers
// exist only where TOME_WGMMA_DEVICE is defined (the sm_90a image); the host helper everywhere.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TOME_WGMMA_DEVICE 1
#endif

namespace tome::kernels::hopper {

#ifdef TOME_WGMMA_DEVICE
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}
// One 2-D TMA copy: the tensor map's box at (x, y) into shared memory at dst, completing on the
// mbarrier.
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap* map, int x, int y, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(bar)
      : "memory");
}
// The same copy multicast into the shared memory (same offset) of the cluster's CTAs in cta_mask,
// completing on each one's mbarrier at bar's offset.
__device__ __forceinline__ void tma_load_multicast(uint32_t dst, const CUtensorMap* map, int x, int y, uint32_t bar,
                                                   uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(bar), "h"(cta_mask)
      : "memory");
}
__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
// Every (non-exited) thread of the cluster: arrive, then wait for the others.
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
// Arrive on the mbarrier at this CTA's offset `bar` in the cluster's CTA `cta`.
__device__ __forceinline__ void mbar_arrive_remote(uint32_t bar, uint32_t cta) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(bar), "r"(cta));
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Shared-memory matrix descriptor, 128-byte swizzle: start address, leading / stride byte offsets.
__device__ __forceinline__ uint64_t desc128(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(lbo >> 4) << 16) |
         (static_cast<uint64_t>(sbo >> 4) << 32) | (1ull << 62);
}
#endif  // TOME_WGMMA_DEVICE

// ---- host side ----
using encode_tiled_fn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                     const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                     CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// The driver's cuTensorMapEncodeTiled (null where the driver has none).
inline encode_tiled_fn encode_tiled() {
  static const encode_tiled_fn f = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      fn = nullptr;
    cudaGetLastError();
    return reinterpret_cast<encode_tiled_fn>(fn);
  }();
  return f;
}

// Whether the current GPU runs sm_90a code (compute capability 9.0 exactly) and the driver has TMA.
inline bool sm90a_gpu() {
  static const bool ok = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major == 9 && minor == 0 && encode_tiled() != nullptr;
  }();
  return ok;
}

// sm90a_gpu() and the kernel's opt-in to `smem` bytes of dynamic shared memory.
template <class Kernel>
inline bool sm90a_kernel_ready(Kernel kernel, size_t smem) {
  const bool ok = sm90a_gpu() && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                      static_cast<int>(smem)) == cudaSuccess;
  if (!ok) cudaGetLastError();
  return ok;
}

// A Hopper kernel's on/off switch: the environment variable `env` (on unless it starts with 0; for a
// switch made with on_by_default false, off unless it starts with 1), until set() decides (the op
// tests' A/B). set() returns the previous wish.
class kernel_switch {
 public:
  explicit kernel_switch(const char* env, bool on_by_default = true) : env_(env), default_(on_by_default) {}
  bool wanted() {
    int m = mode_.load(std::memory_order_relaxed);
    if (m < 0) {
      const char* e = std::getenv(env_);
      int unset = -1;
      const bool on = default_ ? !(e && e[0] == '0') : (e && e[0] == '1');
      mode_.compare_exchange_strong(unset, on ? 1 : 0);
      m = mode_.load(std::memory_order_relaxed);
    }
    return m == 1;
  }
  bool set(bool on) {
    const bool was = wanted();
    mode_.store(on ? 1 : 0, std::memory_order_relaxed);
    return was;
  }

 private:
  const char* env_;
  bool default_;
  std::atomic<int> mode_{-1};
};

// A bf16 row-major matrix [rows, cols] (row stride ld elements) as a 2-D tensor map with boxes of
// 64 columns (128 bytes) x box_rows rows, 128-byte swizzle; reads past the edges give zeros.
inline bool make_bf16_map(CUtensorMap* map, const uint16_t* base, int64_t cols, int64_t rows, int64_t ld,
                          uint32_t box_rows) {
  const encode_tiled_fn enc = encode_tiled();
  if (!enc) return false;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(ld) * 2};
  const cuuint32_t box[2] = {64, box_rows};
  const cuuint32_t elem[2] = {1, 1};
  return enc(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<uint16_t*>(base), dims, strides, box, elem,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace tome::kernels::hopper
