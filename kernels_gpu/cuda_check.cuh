// Error checks for CUDA runtime and cuBLAS(Lt) calls: a failure is a broken machine or a bug, so
// it throws alisa::InternalError naming the call, where it was made and the library's message.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "runtime/base/common.h"

#define ALISA_CUDA_CHECK(call)                                                   \
  do {                                                                           \
    const cudaError_t alisa_cuda_status_ = (call);                               \
    if (alisa_cuda_status_ != cudaSuccess)                                       \
      throw ::alisa::InternalError(                                              \
          ::alisa::str(__FILE__, ":", __LINE__, ": `", #call,                    \
                       "` failed: ", cudaGetErrorName(alisa_cuda_status_), " (", \
                       cudaGetErrorString(alisa_cuda_status_), ")"));            \
  } while (0)

#define ALISA_CUBLAS_CHECK(call)                                                        \
  do {                                                                                  \
    const cublasStatus_t alisa_cublas_status_ = (call);                                 \
    if (alisa_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                  \
      throw ::alisa::InternalError(                                                     \
          ::alisa::str(__FILE__, ":", __LINE__, ": `", #call,                           \
                       "` failed: ", cublasGetStatusString(alisa_cublas_status_), " (", \
                       static_cast<int>(alisa_cublas_status_), ")"));                   \
  } while (0)

// After a kernel launch: catches bad launch configurations (and earlier asynchronous faults).
#define ALISA_CUDA_CHECK_LAUNCH() ALISA_CUDA_CHECK(cudaGetLastError())
