// Error checks for CUDA runtime and cuBLAS(Lt) calls: a failure is a broken machine or a bug, so
// it throws alisa::InternalError naming the call, where it was made and the library's message.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "runtime/base/common.h"

namespace alisa::detail {

// Throws InternalError "file:line: `call` failed: what (detail)".
template <typename What, typename Detail>
[[noreturn]] void throw_call_failed(const char* file, int line, const char* call, What what,
                                    Detail detail) {
  throw InternalError(str(file, ":", line, ": `", call, "` failed: ", what, " (", detail, ")"));
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

#define ALISA_CUDA_CHECK(call) \
  ALISA_DETAIL_CHECK_CALL(call, #call, cudaSuccess, cudaGetErrorName, cudaGetErrorString)

#define ALISA_CUBLAS_CHECK(call)                                                     \
  ALISA_DETAIL_CHECK_CALL(call, #call, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, \
                          static_cast<int>)

// After a kernel launch: catches bad launch configurations (and earlier asynchronous faults).
#define ALISA_CUDA_CHECK_LAUNCH() ALISA_CUDA_CHECK(cudaGetLastError())
