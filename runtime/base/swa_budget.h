// Sparse Window Attention's token budget, exactly as ../shared/design/SWA.md fixes it: the one
// rule the kernels, the runtime and the cost model share.
#pragma once

#include <cstdint>

namespace alisa {

struct SwaBudget {
  int64_t total = 0;   // B = max(min_tokens, round(n * (1 - sparsity))), at most n
  int64_t local = 0;   // k_local = ceil(B / 2): the most recent tokens
  int64_t global = 0;  // k_global = B - k_local: the best-scored older tokens
  bool dense = false;  // n <= B: every token is attended
};

// The budget of a sequence with n real tokens (the new one included). round() is half away from
// zero. Throws alisa::Error naming the option for sparsity outside [0, 1) or min_tokens < 1.
SwaBudget swa_budget(int64_t n, double sparsity, int64_t min_tokens);

// W = min(k_local, window_max): how many decoding steps the local attention sum covers.
int64_t swa_score_window(const SwaBudget& budget, int64_t window_max);

}  // namespace alisa
