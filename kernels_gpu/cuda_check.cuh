// Error checks for CUDA runtime and cuBLAS(Lt) calls: a failure is a broken machine or a bug, so
// it throws alisa::InternalError naming the call, where it was made and the library's message.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "kernels_gpu/cuda_faults.h"
#include "runtime/base/common.h"

namespace alisa::detail {

// Throws InternalError "file:line: `call` failed: what (detail)".
template <typename What, typename Detail>
[[noreturn]] void throw_call_failed(const char* file, int line, const char* call, What what,
                                    Detail detail) {
  throw InternalError(str(file, ":", line, ": `", call, "` failed: ", what, " (", detail, ")"));
}

// A CUDA call that ran out of GPU memory mid-run (outside the arena: lazily loaded kernels, the
// libraries' own buffers): alisa::Error, as the user can fix it; any other failure as above.
[[noreturn]] inline void throw_cuda_failed(const char* file, int line, const char* call,
                                           cudaError_t status) {
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    constexpr double kMiB = 1024.0 * 1024.0;
    throw Error(str("out of GPU memory in `", call, "` (", file, ":", line,
                    "): ", free_bytes / kMiB, " MiB free of ", total_bytes / kMiB,
                    " MiB; a lower --gpu-memory-limit leaves more outside the arena (is another "
                    "process using the GPU?)"));
  }
  throw_call_failed(file, line, call, cudaGetErrorName(status), cudaGetErrorString(status));
}

}  // namespace alisa::detail

// Evaluates `call` once; unless its status equals `ok`, throws with name_of(status) and
// message_of(status) (`text` is the call as written).
#define ALISA_DETAIL_CHECK_CALL(call, text, ok, name_of, message_of)                       \
  do {                                                                                     \
    const auto alisa_status_ = (call);                                                     \
    if (alisa_status_ != (ok))                                                             \
      ::alisa::detail::throw_call_failed(__FILE__, __LINE__, text, name_of(alisa_status_), \
                                         message_of(alisa_status_));                       \
  } while (0)

// A fault armed by a test (kernels_gpu/cuda_faults.h) turns a successful call into an
// out-of-memory.
#define ALISA_CUDA_CHECK(call)                                                               \
  do {                                                                                       \
    cudaError_t alisa_cuda_status_ = (call);                                                 \
    if (alisa_cuda_status_ == cudaSuccess && ::alisa::detail::injected_cuda_out_of_memory()) \
      alisa_cuda_status_ = cudaErrorMemoryAllocation;                                        \
    if (alisa_cuda_status_ != cudaSuccess)                                                   \
      ::alisa::detail::throw_cuda_failed(__FILE__, __LINE__, #call, alisa_cuda_status_);     \
  } while (0)

#define ALISA_CUBLAS_CHECK(call)                                                     \
  ALISA_DETAIL_CHECK_CALL(call, #call, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, \
                          static_cast<int>)

namespace alisa {

// cudaMalloc of n_bytes for `purpose`. Running out of GPU memory is the user's to fix (a smaller
// cap, batch or policy, or another process holding the GPU), so it throws alisa::Error naming
// the purpose, the bytes, the GPU's free memory and `caps` (the settings that sized it); any
// other failure is an InternalError as above.
inline void* cuda_malloc_or_explain(size_t n_bytes, const std::string& purpose,
                                    const std::string& caps) {
  void* data = nullptr;
  const cudaError_t status = cudaMalloc(&data, n_bytes);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // not sticky: clear it so later calls do not report it
    size_t free_bytes = 0, total_bytes = 0;
    (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    constexpr double kMiB = 1024.0 * 1024.0;
    throw Error(str("out of GPU memory: ", purpose, " needs ", n_bytes / kMiB,
                    " MiB but the GPU has ", free_bytes / kMiB, " MiB free of ", total_bytes / kMiB,
                    " MiB (", caps, "; is another process using the GPU?)"));
  }
  ALISA_CUDA_CHECK(status);
  return data;
}

}  // namespace alisa

// After a kernel launch: catches bad launch configurations (and earlier asynchronous faults).
#define ALISA_CUDA_CHECK_LAUNCH() ALISA_CUDA_CHECK(cudaGetLastError())
