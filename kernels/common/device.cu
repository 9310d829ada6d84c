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

}  // namespace tome::kernels
