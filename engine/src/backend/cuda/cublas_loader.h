// cuBLAS loaded at run time (dlopen), so the tome binary starts and runs on the CPU on machines
// without CUDA. Only the entry points the CUDA backend uses are resolved.
#pragma once

#include <cublas_v2.h>

#include <string>

namespace tome::cuda {

struct cublas_api {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  // Optional (nullptr when the library lacks it): a fixed workspace, so GEMMs can be captured in
  // CUDA graphs without allocating.
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  // cublasGemmEx has a C++ overload in CUDA 13's headers: name the C signature explicitly.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                            int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                            cublasGemmAlgo_t) = nullptr;
};

// The process-wide API table, or nullptr with `why` filled when libcublas cannot be loaded.
const cublas_api* load_cublas(std::string* why);

}  // namespace tome::cuda
