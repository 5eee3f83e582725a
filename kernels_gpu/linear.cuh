// y = x W^T + bias on cuBLASLt (cuBLAS as the fallback), float32 accumulation.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>

#include "runtime/base/kernel_params.h"

namespace alisa::gpu {

// Owns a cuBLASLt and a cuBLAS handle and one workspace on the current device. Not thread-safe,
// and run() calls must be ordered (one stream, or streams that wait on each other): they share
// the workspace.
class LinearGpu {
 public:
  static constexpr size_t kDefaultWorkspaceBytes = size_t{32} << 20;  // Hopper's recommendation

  // use_lt = false always takes the cublasGemmEx path (tests exercise both).
  explicit LinearGpu(size_t workspace_bytes = kDefaultWorkspaceBytes, bool use_lt = true);
  ~LinearGpu();
  LinearGpu(const LinearGpu&) = delete;
  LinearGpu& operator=(const LinearGpu&) = delete;

  // W [n, k] row-major; x [m, k] rows x_row_stride apart; y [m, n] contiguous; bias [n] optional.
  // dtype == weight_dtype, f16 (CUBLAS_COMPUTE_32F) or f32 (true fp32, no TF32). y must not
  // overlap x or W.
  void run(const LinearParams& p, cudaStream_t stream);

 private:
  enum class Path : uint8_t { kLtBiasEpilogue, kLt, kGemmEx };
  struct Plan {
    Path path = Path::kGemmEx;
    cublasLtMatmulAlgo_t algo{};
    size_t workspace_bytes = 0;
  };
  // m, n, k, x stride, dtype, alignments of x, W, y and bias (0: none), Lt allowed.
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int, int, int, int, int>;

  Plan make_plan(const LinearParams& p, const Key& key);
  bool lt_heuristic(const LinearParams& p, const Key& key, bool bias_epilogue, Plan* plan);
  bool run_lt(const LinearParams& p, const Plan& plan, cudaStream_t stream);  // false: refused
  void run_gemm_ex(const LinearParams& p, cudaStream_t stream);

  cublasLtHandle_t lt_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  bool use_lt_ = true;
  std::map<Key, Plan> plans_;
};

}  // namespace alisa::gpu
