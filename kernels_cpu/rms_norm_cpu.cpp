#include "kernels_cpu/rms_norm_cpu.h"
#include "kernels_cpu/norm_input_cpu.h"
#include "kernels_cpu/parallel_rows.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <tbb/blocked_range.h>

#include "runtime/base/common.h"

namespace alisa {

void rms_norm_cpu(const NormParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32, "rms_norm_cpu takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n_rows >= 0 && p.dim > 0, "n_rows=", p.n_rows, " dim=", p.dim);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.x != nullptr && p.weight != nullptr && p.out != nullptr);
  ALISA_ASSERT(p.bias == nullptr, "RMSNorm has no bias");
  const float* weight = static_cast<const float*>(p.weight);  // [dim]
  float* out = static_cast<float*>(p.out);                    // [n_rows, dim]
  const int64_t dim = p.dim;
  const float eps = p.eps;

  auto rows = [&](const tbb::blocked_range<int64_t>& r) {
    std::vector<float> scratch;  // [dim], the sum when residual_out is not there to hold it
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      const float* s = norm_input_row(p, row, scratch);
      double squares = 0;  // double accumulation: exact enough that the float32 result is HF's
#pragma omp simd reduction(+ : squares)
      for (int64_t d = 0; d < dim; ++d) squares += static_cast<double>(s[d]) * s[d];
      const float variance = static_cast<float>(squares / static_cast<double>(dim));
      const float inv = 1.0f / std::sqrt(variance + eps);
      float* o = out + row * dim;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) o[d] = weight[d] * (s[d] * inv);
    }
  };
  parallel_rows(p.n_rows, dim, rows);
}

}  // namespace alisa
