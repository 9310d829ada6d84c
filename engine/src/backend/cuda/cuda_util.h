// Helpers shared by the CUDA backends (cuda_backend.cpp: YOCO; transformer.cpp: the Transformer
// baseline): bf16 storage type, CUDA_TRY / KTRY (a failed CUDA call or kernel launch returns a
// tome::status), the RAII device buffer and the process-wide counters of its bytes (current and
// peak: tome bench's "peak GPU"), weights in bf16 or int8 weight-only form and their upload.
// Host code only; no kernels here.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cublas_loader.h"
#include "backend/weight_layout.h"
#include "model/dtype.h"
#include "model/safetensors.h"
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


// The stream and cuBLAS handle of a backend, with a fixed cuBLAS workspace (GEMMs captured in
// CUDA graphs then never allocate); `device_name` gets device 0's name when it can be read.
inline status init_stream_and_cublas(const cublas_api& api, cudaStream_t& stream, cublasHandle_t& handle,
                                     dbuf& workspace, size_t workspace_bytes, std::string& device_name) {
  CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  if (api.create(&handle) != CUBLAS_STATUS_SUCCESS) return error("cuBLAS could not be initialised");
  api.set_stream(handle, stream);
  if (api.set_workspace) {
    TOME_TRY(workspace.ensure(workspace_bytes));
    if (api.set_workspace(handle, workspace.as(), workspace_bytes) != CUBLAS_STATUS_SUCCESS)
      return error("cuBLAS rejected its workspace");
  }
  kernels::device_info info;
  if (kernels::get_device_info(0, &info).ok()) device_name = info.name;
  return {};
}

// One weight tensor onto the device in bf16: stored bf16 goes up as is, other dtypes are
// dequantised (int8 with its scales) and rounded. Adds the bytes to `weight_bytes`.
inline status upload_weight_bf16(const safetensors_index& idx, const std::string& name, const std::string& source,
                                 dbuf& out, int64_t& weight_bytes) {
  std::vector<u16> host;
  const tensor_view* t = idx.find(name);
  if (t && t->type == dtype::bf16) {
    host.resize(static_cast<size_t>(t->numel()));
    std::memcpy(host.data(), t->data, host.size() * 2);
  } else {
    std::vector<float> f;
    TOME_TRY(dequantize_to_f32(idx, name, source, f));
    host.resize(f.size());
    for (size_t i = 0; i < f.size(); ++i) host[i] = f32_to_bf16(f[i]);
  }
  TOME_TRY(out.ensure(host.size() * 2));
  CUDA_TRY(cudaMemcpy(out.as(), host.data(), host.size() * 2, cudaMemcpyHostToDevice));
  weight_bytes += static_cast<int64_t>(host.size() * 2);
  return {};
}

// A weight on the device: bf16 (norms, and matrices by default), or an int8 weight-only matrix:
// q int8 [rows, cols] in the buffer itself and one f32 scale per row in `scale` (W[r, c] =
// scale[r] * q[r, c], the model format's I8 tensors).
struct dweight : dbuf {
  dbuf scale;
  bool int8() const { return scale.bytes() > 0; }
};
// Rows row0.. of a weight (cols per row) for the products: bf16, or int8 with its row scales.
struct wref {
  const void* w = nullptr;
  const float* scale = nullptr;  // null: bf16
  const u16* bf16() const { return static_cast<const u16*>(w); }
  const int8_t* i8() const { return static_cast<const int8_t*>(w); }
};
inline wref rows_of(const dweight& d, int64_t row0 = 0, int64_t cols = 0) {
  if (d.int8()) return {d.as<int8_t>() + row0 * cols, d.scale.as<float>() + row0};
  return {d.as<u16>() + row0 * cols, nullptr};
}

// One matrix onto the device as int8 weight-only (`out` and out.scale): stored I8 goes up as is
// (its scales widened to f32); float matrices are quantised per row (quantize_int8_rows, as
// training/export.py). Adds q and scale bytes to `weight_bytes`.
inline status upload_weight_i8(const safetensors_index& idx, const std::string& name, const std::string& source,
                               dweight& out, int64_t& weight_bytes) {
  const tensor_view* t = idx.find(name);
  if (!t || t->shape.size() != 2) return error(source + ": '" + name + "' is not a matrix");
  const int64_t rows = t->shape[0], cols = t->shape[1];
  std::vector<int8_t> q;
  std::vector<float> scale(static_cast<size_t>(rows));
  if (t->type == dtype::i8) {
    const tensor_view* s = idx.find(name + "_scale");
    if (!s || s->numel() != rows) return error(source + ": tensor '" + name + "_scale' missing or of the wrong size");
    q.assign(reinterpret_cast<const int8_t*>(t->data), reinterpret_cast<const int8_t*>(t->data) + rows * cols);
    to_f32(s->data, s->type, scale.data(), scale.size());
  } else {
    std::vector<float> f;
    TOME_TRY(dequantize_to_f32(idx, name, source, f));
    q.resize(f.size());
    quantize_int8_rows(f.data(), rows, cols, q.data(), scale.data());
  }
  TOME_TRY(out.ensure(q.size()));
  TOME_TRY(out.scale.ensure(scale.size() * 4));
  CUDA_TRY(cudaMemcpy(out.as(), q.data(), q.size(), cudaMemcpyHostToDevice));
  CUDA_TRY(cudaMemcpy(out.scale.as(), scale.data(), scale.size() * 4, cudaMemcpyHostToDevice));
  weight_bytes += static_cast<int64_t>(q.size() + scale.size() * 4);
  return {};
}

// Pinned host memory of a decode graph: the token/position block its first node reads and the
// logits its last node writes. Both or neither.
inline status alloc_pinned_decode(size_t io_bytes, size_t logits_floats, void** io, float** logits) {
  void* a = nullptr;
  void* b = nullptr;
  CUDA_TRY(cudaHostAlloc(&a, io_bytes, cudaHostAllocDefault));
  if (cudaHostAlloc(&b, logits_floats * 4, cudaHostAllocDefault) != cudaSuccess) {
    cudaFreeHost(a);
    return error("could not allocate pinned host memory for decoding");
  }
  *io = a;
  *logits = static_cast<float*>(b);
  return {};
}

// FNV-1a over buffer addresses: a captured graph stays valid while the buffers it names do.
struct address_hash {
  uint64_t h = 1469598103934665603ull;
  void mix(const void* p) { h = (h ^ reinterpret_cast<uintptr_t>(p)) * 1099511628211ull; }
};

// Captures what `enqueue()` puts on `stream` into `exec` (an executable graph; one there before
// is destroyed). A failed enqueue or capture leaves exec null and returns the error.
template <class Enqueue>
status capture_graph(cudaStream_t stream, cudaGraphExec_t& exec, Enqueue&& enqueue) {
  if (exec) cudaGraphExecDestroy(exec), exec = nullptr;
  CUDA_TRY(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const status enq = enqueue();
  cudaGraph_t g = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &g);
  if (!enq.ok()) {
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    return enq;
  }
  if (end != cudaSuccess) return cuda_error(end, "cudaStreamEndCapture");
  const cudaError_t inst = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  if (inst != cudaSuccess) {
    exec = nullptr;
    return cuda_error(inst, "cudaGraphInstantiate");
  }
  return {};
}

}  // namespace tome::cuda
