#include "kernels_gpu/cuda_faults.h"

#include <atomic>

#include "runtime/base/common.h"

namespace alisa {
namespace {

std::atomic<bool> g_armed{false};
std::atomic<int64_t> g_checks{0};
std::atomic<int64_t> g_skip{0};
std::atomic<bool> g_hit{false};

}  // namespace

ScopedCudaOutOfMemory::ScopedCudaOutOfMemory(int64_t skip) {
  ALISA_ASSERT(!g_armed.load(), "one injected CUDA fault at a time");
  g_checks.store(0);
  g_skip.store(skip);
  g_hit.store(false);
  g_armed.store(true);
}

ScopedCudaOutOfMemory::~ScopedCudaOutOfMemory() {
  g_armed.store(false);
}

int64_t ScopedCudaOutOfMemory::checks() const {
  return g_checks.load();
}

bool ScopedCudaOutOfMemory::hit() const {
  return g_hit.load();
}

namespace detail {

bool injected_cuda_out_of_memory() {
  if (!g_armed.load(std::memory_order_relaxed)) return false;
  // Exactly one check sees the count equal to skip: that one fails.
  return g_checks.fetch_add(1) == g_skip.load() && !g_hit.exchange(true);
}

}  // namespace detail
}  // namespace alisa
