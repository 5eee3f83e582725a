#include "kernels_cpu/embedding_cpu.h"

#include <algorithm>
#include <cstring>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "runtime/base/common.h"

namespace alisa {

void embedding_cpu(const EmbeddingParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32, "embedding_cpu takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n_tokens >= 0 && p.dim >= 0, "n_tokens=", p.n_tokens, " dim=", p.dim);
  if (p.n_tokens == 0 || p.dim == 0) return;
  ALISA_ASSERT(p.token_ids != nullptr && p.table != nullptr && p.out != nullptr);
  const bool positions = p.position_table != nullptr;
  ALISA_ASSERT(positions == (p.position_ids != nullptr),
               "position_ids and position_table come together");
  // Validate ids up front: an exception thrown inside a TBB task would cancel the other rows.
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    ALISA_ASSERT(p.token_ids[t] >= 0 && p.token_ids[t] < p.vocab_size, "token id ", p.token_ids[t],
                 " at ", t, " outside vocab of ", p.vocab_size);
    if (positions) {
      ALISA_ASSERT(p.position_ids[t] >= 0 && p.position_ids[t] < p.n_positions, "position id ",
                   p.position_ids[t], " at ", t, " outside ", p.n_positions, " positions");
    }
  }

  const float* table = static_cast<const float*>(p.table);                    // [vocab_size, dim]
  const float* position_table = static_cast<const float*>(p.position_table);  // [n_positions, dim]
  float* out = static_cast<float*>(p.out);                                    // [n_tokens, dim]
  const int64_t dim = p.dim;
  auto rows = [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t t = r.begin(); t < r.end(); ++t) {
      float* dst = out + t * dim;
      const float* src = table + static_cast<int64_t>(p.token_ids[t]) * dim;
      if (!positions) {
        std::memcpy(dst, src, static_cast<size_t>(dim) * sizeof(float));
        continue;
      }
      const float* pos = position_table + static_cast<int64_t>(p.position_ids[t]) * dim;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) dst[d] = src[d] + pos[d];
    }
  };
  const int64_t grain = std::max<int64_t>(1, 16384 / dim);
  if (p.n_tokens * dim < 65536) {
    rows(tbb::blocked_range<int64_t>(0, p.n_tokens));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n_tokens, grain), rows);
  }
}

}  // namespace alisa
