#include "kernels_cpu/swa_select_cpu.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "runtime/base/common.h"

namespace alisa {

void swa_select_cpu(std::span<const float> score, const SwaBudget& budget,
                    std::span<int32_t> selected) {
  const int64_t n = static_cast<int64_t>(score.size());
  ALISA_ASSERT(static_cast<int64_t>(selected.size()) == budget.total && budget.total <= n &&
                   budget.local + budget.global == budget.total,
               "swa selection of ", selected.size(), " tokens for a budget of ", budget.total,
               " over ", n);
  const int64_t older = n - budget.local;  // candidates for the global set: [0, older)
  std::vector<int32_t> candidates(static_cast<size_t>(older));
  std::iota(candidates.begin(), candidates.end(), 0);
  // Highest score first, the lower index on ties: a strict total order, so the set is unique.
  auto better = [&](int32_t a, int32_t b) {
    const float sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
    return sa != sb ? sa > sb : a < b;
  };
  const auto global_end = candidates.begin() + budget.global;
  std::nth_element(candidates.begin(), global_end, candidates.end(), better);
  std::sort(candidates.begin(), global_end);
  std::copy(candidates.begin(), global_end, selected.begin());
  std::iota(selected.begin() + budget.global, selected.end(), static_cast<int32_t>(older));
}

}  // namespace alisa
