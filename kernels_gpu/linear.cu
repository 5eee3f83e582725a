#include "kernels_gpu/linear.cuh"

#include <climits>

#include "kernels_gpu/device_common.cuh"
#include "kernels_gpu/dispatch.cuh"

namespace alisa::gpu {
namespace {

// y[i, j] += bias[j], for the paths without the bias epilogue.
template <typename T>
__global__ void bias_kernel(T* y, const T* bias, int64_t m, int64_t n) {
  const int64_t total = m * n;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    y[e] = from_float<T>(to_float(y[e]) + to_float(bias[e % n]));
  }
}

// Largest power of two (up to 256) dividing the address: what cuBLASLt may assume of a buffer.
int alignment_of(const void* ptr) {
  if (ptr == nullptr) return 0;
  const uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  int alignment = 1;
  while (alignment < 256 && (address & static_cast<uintptr_t>(alignment * 2 - 1)) == 0) {
    alignment *= 2;
  }
  return alignment;
}

cudaDataType cuda_type(DType t) {
  switch (t) {
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

// The descriptors of one problem, in column-major terms: D (n x m, ld n) = op(A) B with
// A = W stored k x n (ld k, transposed) and B = x stored k x m (ld = x's row stride).
struct LtProblem {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;

  LtProblem(const LinearParams& p, int64_t ldx, bool bias_epilogue) {
    try {
      const cudaDataType t = cuda_type(p.dtype);
      ALISA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
      ALISA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a,
                                                        sizeof(trans_a)));
      ALISA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b,
                                                        sizeof(trans_b)));
      if (bias_epilogue) {
        const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
        ALISA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                          &epilogue, sizeof(epilogue)));
        const void* bias = p.bias;
        ALISA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                          &bias, sizeof(bias)));
      }
      ALISA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a, t, p.k, p.n, p.k));
      ALISA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b, t, p.k, p.m, ldx));
      ALISA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d, t, p.n, p.m, p.n));
    } catch (...) {
      release();
      throw;
    }
  }
  ~LtProblem() { release(); }
  LtProblem(const LtProblem&) = delete;
  LtProblem& operator=(const LtProblem&) = delete;

  void release() {
    if (d != nullptr) cublasLtMatrixLayoutDestroy(d);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
    d = b = a = nullptr;
    desc = nullptr;
  }
};

int64_t row_stride(const LinearParams& p) {
  return p.x_row_stride != 0 ? p.x_row_stride : p.k;
}

}  // namespace

LinearGpu::LinearGpu(size_t workspace_bytes, bool use_lt)
    : workspace_bytes_(workspace_bytes), use_lt_(use_lt) {
  try {
    ALISA_CUBLAS_CHECK(cublasLtCreate(&lt_));
    ALISA_CUBLAS_CHECK(cublasCreate(&blas_));
    // As on the Lt path: no split-K reductions in f16.
    ALISA_CUBLAS_CHECK(cublasSetMathMode(
        blas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                         CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    if (workspace_bytes_ > 0) {
      workspace_ = cuda_malloc_or_explain(workspace_bytes_, "the cuBLAS workspace",
                                          "allocated outside the --gpu-memory-limit arena");
      ALISA_CUBLAS_CHECK(cublasSetWorkspace(blas_, workspace_, workspace_bytes_));
    }
  } catch (...) {
    if (workspace_ != nullptr) cudaFree(workspace_);
    if (blas_ != nullptr) cublasDestroy(blas_);
    if (lt_ != nullptr) cublasLtDestroy(lt_);
    throw;
  }
}

LinearGpu::~LinearGpu() {
  // No throwing from a destructor: failures here only leak.
  if (blas_ != nullptr) cublasDestroy(blas_);
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  if (workspace_ != nullptr) cudaFree(workspace_);
}

bool LinearGpu::lt_heuristic(const LinearParams& p, const Key& key, bool bias_epilogue,
                             Plan* plan) {
  LtProblem problem(p, row_stride(p), bias_epilogue);
  cublasLtMatmulPreference_t pref = nullptr;
  ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulHeuristicResult_t result{};
  int n_results = 0;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  try {
    const uint64_t max_workspace = workspace_bytes_;
    ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace)));
    // Split-K partial sums only in float (never rounded to f16 on the way) and never by atomics
    // in the output, so results are accurate and reproducible.
    const uint32_t reduction_mask =
        CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE | CUBLASLT_REDUCTION_SCHEME_NONE;
    ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction_mask, sizeof(reduction_mask)));
    const uint32_t align_x = static_cast<uint32_t>(std::get<5>(key));
    const uint32_t align_w = static_cast<uint32_t>(std::get<6>(key));
    const uint32_t align_y = static_cast<uint32_t>(std::get<7>(key));
    ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_w, sizeof(align_w)));
    ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_x, sizeof(align_x)));
    ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_y, sizeof(align_y)));
    ALISA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_y, sizeof(align_y)));
    // NOT_SUPPORTED or no result is an answer, not an error: the caller falls back.
    status = cublasLtMatmulAlgoGetHeuristic(lt_, problem.desc, problem.a, problem.b, problem.d,
                                            problem.d, pref, 1, &result, &n_results);
  } catch (...) {
    cublasLtMatmulPreferenceDestroy(pref);
    throw;
  }
  cublasLtMatmulPreferenceDestroy(pref);
  if (status != CUBLAS_STATUS_SUCCESS || n_results < 1 || result.state != CUBLAS_STATUS_SUCCESS ||
      result.workspaceSize > workspace_bytes_) {
    return false;
  }
  plan->path = bias_epilogue ? Path::kLtBiasEpilogue : Path::kLt;
  plan->algo = result.algo;
  plan->workspace_bytes = result.workspaceSize;
  return true;
}

LinearGpu::Plan LinearGpu::make_plan(const LinearParams& p, const Key& key) {
  Plan plan;
  if (use_lt_) {
    // The bias epilogue wants a 16-byte aligned bias; otherwise a small kernel adds it.
    if (p.bias != nullptr && std::get<8>(key) >= 16 && lt_heuristic(p, key, true, &plan)) {
      return plan;
    }
    if (lt_heuristic(p, key, false, &plan)) return plan;
  }
  plan.path = Path::kGemmEx;
  return plan;
}

bool LinearGpu::run_lt(const LinearParams& p, const Plan& plan, cudaStream_t stream) {
  LtProblem problem(p, row_stride(p), plan.path == Path::kLtBiasEpilogue);
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t status = cublasLtMatmul(
      lt_, problem.desc, &alpha, p.weight, problem.a, p.x, problem.b, &beta, p.y, problem.d, p.y,
      problem.d, &plan.algo, workspace_, plan.workspace_bytes, stream);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) return false;  // checked before any launch
  ALISA_CUBLAS_CHECK(status);
  return true;
}

void LinearGpu::run_gemm_ex(const LinearParams& p, cudaStream_t stream) {
  const cudaDataType t = cuda_type(p.dtype);
  const float alpha = 1.0f, beta = 0.0f;
  ALISA_CUBLAS_CHECK(cublasSetStream(blas_, stream));
  ALISA_CUBLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(p.n),
                                  static_cast<int>(p.m), static_cast<int>(p.k), &alpha, p.weight, t,
                                  static_cast<int>(p.k), p.x, t, static_cast<int>(row_stride(p)),
                                  &beta, p.y, t, static_cast<int>(p.n), CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
}

void LinearGpu::run(const LinearParams& p, cudaStream_t stream) {
  assert_float_dtype(p.dtype, "linear");
  ALISA_ASSERT(p.weight_dtype == p.dtype, "linear: weight dtype ", dtype_name(p.weight_dtype),
               " differs from the activations' ", dtype_name(p.dtype));
  ALISA_ASSERT(p.m > 0 && p.n > 0 && p.k > 0, "linear: empty shape m=", p.m, " n=", p.n,
               " k=", p.k);
  ALISA_ASSERT(p.x != nullptr && p.weight != nullptr && p.y != nullptr, "linear: null pointer");
  const int64_t ldx = row_stride(p);
  ALISA_ASSERT(ldx >= p.k, "linear: x_row_stride ", ldx, " < k ", p.k);
  ALISA_ASSERT(p.m < INT_MAX && p.n < INT_MAX && p.k < INT_MAX && ldx < INT_MAX,
               "linear: dimensions exceed int32");
  const Key key{p.m,
                p.n,
                p.k,
                ldx,
                static_cast<int>(p.dtype),
                alignment_of(p.x),
                alignment_of(p.weight),
                alignment_of(p.y),
                alignment_of(p.bias)};
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, make_plan(p, key)).first;
  Plan& plan = it->second;
  if (plan.path != Path::kGemmEx && !run_lt(p, plan, stream)) {
    plan.path = Path::kGemmEx;  // the heuristic's pick was refused: use cuBLAS from now on
  }
  if (plan.path == Path::kGemmEx) run_gemm_ex(p, stream);
  if (p.bias != nullptr && plan.path != Path::kLtBiasEpilogue) {
    constexpr int kThreads = 256;
    const unsigned blocks = grid_for(p.m * p.n, kThreads);
    dispatch_float_dtype(p.dtype, "linear bias", [&](auto t) {
      using T = typename decltype(t)::type;
      bias_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<T*>(p.y),
                                                      static_cast<const T*>(p.bias), p.m, p.n);
    });
    ALISA_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace alisa::gpu
