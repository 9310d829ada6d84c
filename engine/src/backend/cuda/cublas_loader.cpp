// dlopen of libcublas (CUDA 13 first, then 12, then the unversioned name).
#include "backend/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <mutex>

namespace tome::cuda {

const cublas_api* load_cublas(std::string* why) {
  static std::once_flag once;
  static cublas_api api;
  static bool ok = false;
  static std::string error;
  std::call_once(once, [] {
    void* lib = nullptr;
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
    }
    if (!lib) {
      error = "cuBLAS (libcublas.so.13) could not be loaded";
      return;
    }
    auto get = [&](auto& fn, const char* sym) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, sym));
      return fn != nullptr;
    };
    ok = get(api.create, "cublasCreate_v2") && get(api.destroy, "cublasDestroy_v2") &&
         get(api.set_stream, "cublasSetStream_v2") && get(api.gemm_ex, "cublasGemmEx");
    if (!ok) error = "cuBLAS is missing an entry point Tome needs";
    if (ok) get(api.set_workspace, "cublasSetWorkspace_v2");
  });
  if (!ok && why) *why = error;
  return ok ? &api : nullptr;
}

}  // namespace tome::cuda
