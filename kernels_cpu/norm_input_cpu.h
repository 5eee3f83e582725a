// The input row of a fused "add, then normalise" (NormParams with a residual): shared by the
// LayerNorm and RMSNorm CPU kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/base/kernel_params.h"

namespace alisa {

// Returns the row to normalise: x itself, or x + residual written to residual_out (or to
// `scratch` when there is no residual_out). Copies x into residual_out when only that is given.
// Every pass is elementwise, so out and residual_out may alias x or residual.
inline const float* norm_input_row(const NormParams& p, int64_t row, std::vector<float>& scratch) {
  const int64_t dim = p.dim;
  const float* x = static_cast<const float*>(p.x) + row * dim;
  float* residual_out =
      p.residual_out != nullptr ? static_cast<float*>(p.residual_out) + row * dim : nullptr;
  if (p.residual != nullptr) {
    const float* residual = static_cast<const float*>(p.residual) + row * dim;
    float* sum = residual_out;
    if (sum == nullptr) {
      scratch.resize(static_cast<size_t>(dim));
      sum = scratch.data();
    }
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) sum[d] = x[d] + residual[d];
    return sum;
  }
  if (residual_out != nullptr && residual_out != x) std::copy(x, x + dim, residual_out);
  return x;
}

}  // namespace alisa
