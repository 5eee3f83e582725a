#include "kernels_cpu/layer_norm_cpu.h"
#include "kernels_cpu/norm_input_cpu.h"
#include "kernels_cpu/parallel_rows.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <tbb/blocked_range.h>

#include "runtime/base/common.h"

namespace alisa {

void layer_norm_cpu(const NormParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32, "layer_norm_cpu takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n_rows >= 0 && p.dim > 0, "n_rows=", p.n_rows, " dim=", p.dim);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.x != nullptr && p.weight != nullptr && p.out != nullptr);
  const float* weight = static_cast<const float*>(p.weight);  // [dim]
  const float* bias = static_cast<const float*>(p.bias);      // [dim]
  float* out = static_cast<float*>(p.out);                    // [n_rows, dim]
  const int64_t dim = p.dim;
  const float eps = p.eps;

  auto rows = [&](const tbb::blocked_range<int64_t>& r) {
    std::vector<float> scratch;  // [dim], the sum when residual_out is not there to hold it
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      const float* s = norm_input_row(p, row, scratch);
      double total = 0;
#pragma omp simd reduction(+ : total)
      for (int64_t d = 0; d < dim; ++d) total += s[d];
      const double mean = total / static_cast<double>(dim);
      double squares = 0;
#pragma omp simd reduction(+ : squares)
      for (int64_t d = 0; d < dim; ++d) {
        const double c = s[d] - mean;
        squares += c * c;
      }
      const float mean_f = static_cast<float>(mean);
      const float rstd =
          static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(dim) + eps));
      float* o = out + row * dim;
      if (bias != nullptr) {
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) o[d] = (s[d] - mean_f) * rstd * weight[d] + bias[d];
      } else {
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) o[d] = (s[d] - mean_f) * rstd * weight[d];
      }
    }
  };
  parallel_rows(p.n_rows, dim, rows);
}

}  // namespace alisa
