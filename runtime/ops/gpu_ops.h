// Ops on the GPU: float16 activations, float32 accumulation, kernels_gpu launchers on the
// device's compute stream. Everything is asynchronous; the copy engine synchronises on reads.
#pragma once

#include <memory>

#include "runtime/core/gpu_device.h"
#include "runtime/ops/ops.h"

namespace alisa {
namespace gpu {
class LinearGpu;
}

class GpuOps final : public Ops {
 public:
  explicit GpuOps(GpuDevice& device);
  ~GpuOps() override;

  ALISA_OPS_OVERRIDES

 private:
  GpuDevice& device_;
  cudaStream_t stream_;
  std::unique_ptr<gpu::LinearGpu> linear_;
  Buffer attention_workspace_;  // split-K partials of decode attention, grown on demand
};

}  // namespace alisa
