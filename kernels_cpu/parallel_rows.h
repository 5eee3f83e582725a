// Runs a row loop on the caller's TBB arena, or inline when the work is too small to be worth
// the tasks. Shared by the row-wise CPU kernels.
#pragma once

#include <algorithm>
#include <cstdint>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace alisa {

// body(range) over rows [0, n_rows), each row about `work_per_row` elementary operations.
template <typename Body>
void parallel_rows(int64_t n_rows, int64_t work_per_row, const Body& body) {
  constexpr int64_t kSerialWork = 32768;  // below this, task overhead outweighs the cores
  constexpr int64_t kTaskWork = 8192;     // work per task when splitting
  if (n_rows * work_per_row < kSerialWork) {
    body(tbb::blocked_range<int64_t>(0, n_rows));
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kTaskWork / std::max<int64_t>(1, work_per_row));
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n_rows, grain), body);
}

}  // namespace alisa
