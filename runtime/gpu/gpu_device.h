// The GPU device: all its memory comes from one arena taken at start (capped by
// gpu_memory_limit, so an 80 GB card can stand in for a 16 GB one), one compute stream, and the
// host transfers the copy engine asks for.
#pragma once

#include <cuda_runtime_api.h>

#include <map>

#include "runtime/device.h"

namespace alisa {

class GpuDevice final : public Device {
 public:
  // memory_limit 0: the GPU's free memory less a reserve for the CUDA context and cuBLAS.
  GpuDevice(int ordinal, size_t memory_limit);
  ~GpuDevice() override;

  DeviceKind kind() const override { return DeviceKind::kGpu; }
  void synchronize() override;
  void copy_from_host(void* dst, const void* src, size_t n_bytes) override;
  void copy_to_host(void* dst, const void* src, size_t n_bytes) override;

  int ordinal() const { return ordinal_; }
  cudaStream_t compute_stream() const { return compute_stream_; }
  const cudaDeviceProp& properties() const { return properties_; }

 protected:
  void* raw_allocate(size_t n_bytes) override;
  void raw_free(void* data, size_t n_bytes) noexcept override;

 private:
  int ordinal_;
  cudaDeviceProp properties_{};
  cudaStream_t compute_stream_ = nullptr;
  char* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  std::map<size_t, size_t> free_blocks_;  // offset -> size, coalesced
};

// CUDA devices visible to this process (0 when the driver is missing).
int gpu_device_count();

}  // namespace alisa
