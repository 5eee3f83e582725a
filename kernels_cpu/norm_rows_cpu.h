// The row loop of a fused "add, then normalise" (NormParams with a residual): shared by the
// LayerNorm and RMSNorm CPU kernels, which differ only in what they do to one row.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <tbb/blocked_range.h>

#include "kernels_cpu/parallel_rows.h"
#include "runtime/base/common.h"
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

// Checks `p` (float32; `kernel` names the kernel in the message), then calls normalise(s, o) for
// every row on the caller's TBB arena: s the row to normalise (norm_input_row), o its output row,
// both [dim].
template <typename Normalise>
void norm_rows_cpu(const NormParams& p, const char* kernel, const Normalise& normalise) {
  ALISA_ASSERT(p.dtype == DType::kF32, kernel, " takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n_rows >= 0 && p.dim > 0, "n_rows=", p.n_rows, " dim=", p.dim);
  if (p.n_rows == 0) return;
  ALISA_ASSERT(p.x != nullptr && p.weight != nullptr && p.out != nullptr);
  float* out = static_cast<float*>(p.out);  // [n_rows, dim]
  const int64_t dim = p.dim;
  auto rows = [&](const tbb::blocked_range<int64_t>& r) {
    std::vector<float> scratch;  // [dim], the sum when residual_out is not there to hold it
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      normalise(norm_input_row(p, row, scratch), out + row * dim);
    }
  };
  parallel_rows(p.n_rows, dim, rows);
}

}  // namespace alisa
