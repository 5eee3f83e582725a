#include "kernels_cpu/add_cpu.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "runtime/base/common.h"

namespace alisa {

void add_cpu(const AddParams& p) {
  ALISA_ASSERT(p.dtype == DType::kF32, "add_cpu takes float32, got ", dtype_name(p.dtype));
  ALISA_ASSERT(p.n >= 0, "n=", p.n);
  if (p.n == 0) return;
  ALISA_ASSERT(p.a != nullptr && p.b != nullptr && p.out != nullptr);
  const float* a = static_cast<const float*>(p.a);  // [n]
  const float* b = static_cast<const float*>(p.b);  // [n]
  float* out = static_cast<float*>(p.out);          // [n]
  auto range = [&](const tbb::blocked_range<int64_t>& r) {
#pragma omp simd
    for (int64_t i = r.begin(); i < r.end(); ++i) out[i] = a[i] + b[i];
  };
  constexpr int64_t kGrain = 65536;  // memory bound: split only when there is plenty
  if (p.n < 2 * kGrain) {
    range(tbb::blocked_range<int64_t>(0, p.n));
  } else {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n, kGrain), range);
  }
}

}  // namespace alisa
