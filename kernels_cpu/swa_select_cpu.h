// Sparse Window Attention's token selection, exactly as
// ../shared/design/SWA.md fixes them: the CPU reference that the GPU kernels and the runner
// follow (the same budget, the same sets on inputs without near-ties).
#pragma once

#include <cstdint>
#include <span>

#include "runtime/base/swa_budget.h"

namespace alisa {

// The attended token indices, ascending, into `selected` (budget.total of them, or n when
// dense): the local window [n - k_local, n) and the k_global indices of [0, n - k_local) with the
// highest score, ties going to the lower index. score: [n] for the n real tokens (only
// [0, n - k_local) is read); budget: swa_budget(n, ...).
void swa_select_cpu(std::span<const float> score, const SwaBudget& budget,
                    std::span<int32_t> selected);

}  // namespace alisa
