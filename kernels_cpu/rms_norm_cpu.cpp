#include "kernels_cpu/rms_norm_cpu.h"

#include <cmath>

#include "kernels_cpu/norm_rows_cpu.h"

namespace alisa {

void rms_norm_cpu(const NormParams& p) {
  ALISA_ASSERT(p.bias == nullptr, "RMSNorm has no bias");
  const float* weight = static_cast<const float*>(p.weight);  // [dim]
  const int64_t dim = p.dim;
  const float eps = p.eps;
  norm_rows_cpu(p, "rms_norm_cpu", [&](const float* s, float* o) {
    double squares = 0;  // double accumulation: exact enough that the float32 result is HF's
#pragma omp simd reduction(+ : squares)
    for (int64_t d = 0; d < dim; ++d) squares += static_cast<double>(s[d]) * s[d];
    const float variance = static_cast<float>(squares / static_cast<double>(dim));
    const float inv = 1.0f / std::sqrt(variance + eps);
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) o[d] = weight[d] * (s[d] * inv);
  });
}

}  // namespace alisa
