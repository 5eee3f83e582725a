// Ops on the CPU device: float32 kernels from kernels_cpu, run inside this context's TBB arena
// (TBB workers) with oneDNN's OpenMP threads capped to the same count, so the two never
// oversubscribe the cores.
#pragma once

#include <memory>

#include <tbb/task_arena.h>

#include "runtime/ops/ops.h"

namespace alisa {

class LinearCpu;

class CpuOps final : public Ops {
 public:
  // n_threads <= 0: all cores.
  explicit CpuOps(int n_threads);
  ~CpuOps() override;

  int n_threads() const { return n_threads_; }

  ALISA_OPS_OVERRIDES

 private:
  template <typename F>
  void in_arena(F&& f) {
    arena_.execute(std::forward<F>(f));
  }

  int n_threads_;
  tbb::task_arena arena_;
  std::unique_ptr<LinearCpu> linear_;
};

}  // namespace alisa
