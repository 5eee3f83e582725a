#include "kernels_cpu/rotary_cpu.h"
#include "kernels_cpu/parallel_rows.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <tbb/blocked_range.h>

#include "runtime/base/common.h"

namespace alisa {

void rotary_cpu(const RotaryParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32, "rotary_cpu takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n_tokens >= 0 && p.n_heads > 0 && p.head_dim > 0, "n_tokens=", p.n_tokens,
               " n_heads=", p.n_heads, " head_dim=", p.head_dim);
  ALISA_ASSERT(p.rotary_dim >= 0 && p.rotary_dim % 2 == 0 && p.rotary_dim <= p.head_dim,
               "rotary_dim=", p.rotary_dim, " head_dim=", p.head_dim);
  if (p.n_tokens == 0 || p.rotary_dim == 0) return;
  ALISA_ASSERT(p.x != nullptr && p.position_ids != nullptr && p.inv_freq != nullptr);
  const int64_t token_stride = p.token_stride != 0 ? p.token_stride : p.n_heads * p.head_dim;
  ALISA_ASSERT(token_stride >= p.n_heads * p.head_dim, "token_stride=", token_stride);
  float* x = static_cast<float*>(p.x);  // [n_tokens, n_heads, head_dim], tokens token_stride apart
  const int64_t half = p.rotary_dim / 2;

  auto tokens = [&](const tbb::blocked_range<int64_t>& r) {
    std::vector<float> cos_sin(static_cast<size_t>(2 * half));  // [2, half], one token's angles
    float* c = cos_sin.data();
    float* s = c + half;
    for (int64_t t = r.begin(); t < r.end(); ++t) {
      // float32 product and float32 cos/sin, like HF's inv_freq.float() @ position_ids.float().
      const float position = static_cast<float>(p.position_ids[t]);
      for (int64_t i = 0; i < half; ++i) {
        const float angle = position * p.inv_freq[i];
        c[i] = std::cos(angle);
        s[i] = std::sin(angle);
      }
      for (int64_t h = 0; h < p.n_heads; ++h) {
        float* head = x + t * token_stride + h * p.head_dim;
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = head[i];
          const float x2 = head[i + half];
          head[i] = x1 * c[i] - x2 * s[i];
          head[i + half] = x2 * c[i] + x1 * s[i];
        }
      }
    }
  };
  const int64_t work_per_token = p.n_heads * p.rotary_dim + 8 * half;  // rough: cos/sin cost more
  parallel_rows(p.n_tokens, work_per_token, tokens);
}

}  // namespace alisa
