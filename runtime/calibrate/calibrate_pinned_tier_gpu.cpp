#include "runtime/calibrate/calibrate_pinned_tier_gpu.h"

#include <algorithm>

#include "kernels_gpu/calibrate_kernels.cuh"
#include "kernels_gpu/cuda_check.cuh"
#include "runtime/calibrate/calibrate_timing_gpu.h"
#include "runtime/core/gpu_device.h"

namespace alisa {
namespace {

// PinnedCpuTier's GPU device: its arena is not used (the fill stages in memory of its own).
constexpr size_t kPinnedTierArenaBytes = size_t{16} << 20;

}  // namespace

PinnedCpuTier::PinnedCpuTier()
    : gpu_(std::make_unique<GpuDevice>(calibration::current_device(), kPinnedTierArenaBytes)),
      host_(std::make_unique<PinnedHostDevice>(*gpu_, 0)) {}

PinnedCpuTier::~PinnedCpuTier() = default;

CpuTierMemory PinnedCpuTier::memory() {
  return {.device = host_.get(), .fill_f16 = [this](void* data, int64_t count, uint64_t seed) {
            fill_f16(data, count, seed);
          }};
}

void PinnedCpuTier::fill_f16(void* data, int64_t count, uint64_t seed) {
  // As BlockRunner::store sends a prefill's K and V home: DMA copies from device memory, here
  // of random values, on the cache-out queue.
  constexpr int64_t kChunk = int64_t{32} << 20;  // float16 values: 64 MiB of staging
  const int64_t chunk = std::min(count, kChunk);
  if (chunk <= 0) return;
  const auto staging = calibration::device_memory(static_cast<size_t>(chunk) * 2);
  const cudaStream_t stream = gpu_->stream(Queue::kCacheOut);
  for (int64_t at = 0; at < count; at += chunk) {
    const int64_t n = std::min(chunk, count - at);
    gpu::fill_random_f16(staging.get(), n, seed * 1000003 + static_cast<uint64_t>(at), stream);
    ALISA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(data) + at * 2, staging.get(),
                                     static_cast<size_t>(n) * 2, cudaMemcpyDeviceToHost, stream));
  }
  ALISA_CUDA_CHECK(cudaStreamSynchronize(stream));  // before the staging goes
}

}  // namespace alisa
