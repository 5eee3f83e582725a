// PinnedCpuTier: the CPU tier of a GPU run for the CPU attention measurement (CUDA builds only).
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/calibrate/calibrate_cpu.h"

namespace alisa {

class GpuDevice;
class PinnedHostDevice;

// The CPU tier of a GPU run, for measure_cpu_attention: pinned, mapped host memory
// (PinnedHostDevice over the current CUDA device), its caches written by the GPU as the runtime's
// are (the prompt's K and V stored home by copies from device memory), not by the CPU.
class PinnedCpuTier {
 public:
  PinnedCpuTier();
  ~PinnedCpuTier();
  // Valid while this lives.
  CpuTierMemory memory();

 private:
  void fill_f16(void* data, int64_t count, uint64_t seed);

  std::unique_ptr<GpuDevice> gpu_;
  std::unique_ptr<PinnedHostDevice> host_;
};

}  // namespace alisa
