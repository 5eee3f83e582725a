#include "kernels_cpu/layer_norm_cpu.h"

#include <cmath>

#include "kernels_cpu/norm_rows_cpu.h"

namespace alisa {

void layer_norm_cpu(const NormParams& p) {
  const float* weight = static_cast<const float*>(p.weight);  // [dim]
  const float* bias = static_cast<const float*>(p.bias);      // [dim]
  const int64_t dim = p.dim;
  const float eps = p.eps;
  norm_rows_cpu(p, "layer_norm_cpu", [&](const float* s, float* o) {
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
    if (bias != nullptr) {
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) o[d] = (s[d] - mean_f) * rstd * weight[d] + bias[d];
    } else {
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) o[d] = (s[d] - mean_f) * rstd * weight[d];
    }
  });
}

}  // namespace alisa
