#include "runtime/base/swa_budget.h"

#include <algorithm>
#include <cmath>

#include "runtime/base/common.h"

namespace alisa {

SwaBudget swa_budget(int64_t n, double sparsity, int64_t min_tokens) {
  ALISA_CHECK(std::isfinite(sparsity) && sparsity >= 0 && sparsity < 1,
              "swa: sparsity must be in [0, 1), got ", sparsity);
  ALISA_CHECK(min_tokens >= 1, "swa: min_tokens must be at least 1, got ", min_tokens);
  ALISA_ASSERT(n >= 1, "a sequence of ", n, " tokens");
  SwaBudget budget;
  const int64_t kept = std::llround(static_cast<double>(n) * (1.0 - sparsity));
  budget.total = std::max(min_tokens, kept);
  budget.dense = n <= budget.total;
  if (budget.dense) budget.total = n;
  budget.local = (budget.total + 1) / 2;
  budget.global = budget.total - budget.local;
  return budget;
}

int64_t swa_score_window(const SwaBudget& budget, int64_t window_max) {
  ALISA_CHECK(window_max >= 1, "swa: window_max must be at least 1, got ", window_max);
  return std::min(budget.local, window_max);
}

}  // namespace alisa
