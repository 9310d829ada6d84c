// Device discovery for the backend choice: no driver or no GPU is a count of 0, not an error.
#include "common/common.cuh"

#include <cstring>

namespace tome::kernels {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

const char* no_device_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  switch (e) {
    case cudaSuccess: return n > 0 ? "" : "no CUDA GPU found";
    case cudaErrorInsufficientDriver:
      return "the NVIDIA driver is older than this build's CUDA runtime needs (update the driver)";
    case cudaErrorNoDevice: return "no CUDA GPU found";
    default: return cudaGetErrorString(e);
  }
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();
      v = 132;
    }
    return v > 0 ? v : 132;
  }();
  return n;
}

status get_device_info(int index, device_info* out) {
  cudaDeviceProp p{};
  cudaError_t e = cudaGetDeviceProperties(&p, index);
  if (e != cudaSuccess) return status{static_cast<int>(e), cudaGetErrorString(e)};
  std::strncpy(out->name, p.name, sizeof(out->name) - 1);
  out->sm_count = p.multiProcessorCount;
  out->major = p.major;
  out->minor = p.minor;
  size_t free_b = 0, total_b = 0;
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(index);
  e = cudaMemGetInfo(&free_b, &total_b);
  cudaSetDevice(prev);
  if (e != cudaSuccess) return status{static_cast<int>(e), cudaGetErrorString(e)};
  out->free_bytes = static_cast<int64_t>(free_b);
  out->total_bytes = static_cast<int64_t>(total_b);
  return {};
}

namespace {
// Compiled with the same architectures as every kernel of the library: which of its forms the
// device runs tells whether the kernels' griddepcontrol instructions exist (__CUDA_ARCH__ >= 900).
__global__ void arch_probe_kernel(int* out) {
#ifdef __CUDA_ARCH__
  *out = __CUDA_ARCH__;
#endif
}
}  // namespace

bool programmatic_launch_ok() {
  static const bool ok = [] {
    int dev = 0, major = 0;
    cudaFuncAttributes fa{};
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaFuncGetAttributes(&fa, arch_probe_kernel) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    // The device has PDL (sm_90+) and the code it runs was built from sm_90+ PTX or for sm_90+.
    // Built only for compute_80 (the gpu-sm80 preset, or a newer GPU that JIT-compiles the
    // portable PTX) the kernels have no griddepcontrol.wait, so a dependent launch would let the
    // next kernel read before the one ahead of it has written.
    return major >= 9 && fa.ptxVersion >= 90;
  }();
  return ok;
}

int compiled_arch() {
  int* d = nullptr;
  int v = 0;
  if (cudaMalloc(&d, sizeof(int)) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  arch_probe_kernel<<<1, 1>>>(d);
  if (cudaMemcpy(&v, d, sizeof(int), cudaMemcpyDeviceToHost) != cudaSuccess) {
    cudaGetLastError();
    v = 0;
  }
  cudaFree(d);
  return v;
}

}  // namespace tome::kernels
