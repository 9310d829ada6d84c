// Helpers shared by the CUDA backends (cuda_backend.cpp: YOCO; transformer.cpp: the Transformer
// baseline): bf16 storage type, CUDA_TRY / KTRY (a failed CUDA call or kernel launch returns a
// tome::status), the RAII device buffer and the process-wide counters of its bytes (current and
// peak: tome bench's "peak GPU"). Host code only; no kernels here.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tome/kernels.h"
#include "tome/status.h"

namespace tome::cuda {

using u16 = uint16_t;

inline status cuda_error(cudaError_t e, const char* what) {
  return error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
#define CUDA_TRY(expr)                                           \
  do {                                                           \
    const cudaError_t e_ = (expr);                               \
    if (e_ != cudaSuccess) return ::tome::cuda::cuda_error(e_, #expr); \
  } while (0)
#define KTRY(expr)                                                                    \
  do {                                                                                \
    const ::tome::kernels::status ks_ = (expr);                                       \
    if (!ks_.ok()) return ::tome::error(std::string("CUDA kernel failed: ") + ks_.message); \
  } while (0)

inline std::string gib(int64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return b;
}

// Bytes held by every dbuf of the process, and their peak (tome bench's peak GPU memory).
inline std::atomic<int64_t> g_device_bytes{0}, g_device_peak{0};
inline void count_device_bytes(int64_t delta) {
  const int64_t now = g_device_bytes.fetch_add(delta) + delta;
  int64_t peak = g_device_peak.load();
  while (now > peak && !g_device_peak.compare_exchange_weak(peak, now)) {
  }
}

// Device memory owned RAII.
class dbuf {
 public:
  dbuf() = default;
  ~dbuf() { reset(); }
  dbuf(dbuf&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr, o.bytes_ = 0; }
  dbuf& operator=(dbuf&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = o.p_, bytes_ = o.bytes_;
      o.p_ = nullptr, o.bytes_ = 0;
    }
    return *this;
  }
  void reset() {
    if (p_) cudaFree(p_), count_device_bytes(-static_cast<int64_t>(bytes_));
    p_ = nullptr, bytes_ = 0;
  }
  // Ensures at least `bytes` (contents are not kept).
  status ensure(size_t bytes) {
    if (bytes <= bytes_) return {};
    reset();
    const cudaError_t e = cudaMalloc(&p_, bytes);
    if (e != cudaSuccess) {
      p_ = nullptr;
      size_t free_b = 0, total_b = 0;
      cudaGetLastError();
      cudaMemGetInfo(&free_b, &total_b);
      return error("out of GPU memory: needs " + gib(static_cast<int64_t>(bytes)) + " more, " +
                   gib(static_cast<int64_t>(free_b)) + " free");
    }
    bytes_ = bytes;
    count_device_bytes(static_cast<int64_t>(bytes));
    return {};
  }
  template <class T = u16>
  T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};


}  // namespace tome::cuda
