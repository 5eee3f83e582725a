// CUDA memory, streams and event timing for the GPU measurements of `alisa calibrate` (CUDA
// builds only). Kernels report the median of kComputeRuns timed runs, transfers the fastest of
// kTransferRuns (calibrate_timing.h), each after a warm-up.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <memory>

namespace alisa::calibration {

// A resource freed, once, by the function it comes with (no copies).
template <typename T>
using Owned = std::unique_ptr<T, void (*)(T*)>;

// cudaMalloc'd device memory.
Owned<char> device_memory(size_t n_bytes);
// Pinned (cudaHostAlloc, mapped, as PinnedHostDevice allocates the CPU tier) or pageable host
// memory, its pages touched so that no copy pays for faulting them in.
Owned<char> host_memory(size_t n_bytes, bool pinned);
// A non-blocking stream.
Owned<CUstream_st> non_blocking_stream();

// Seconds between events recorded on `stream` before and after what `enqueue` queues there.
double event_seconds(cudaStream_t stream, const std::function<void()>& enqueue);
// One warm-up, then the median of kComputeRuns timed runs (kernels).
double median_event_seconds(cudaStream_t stream, const std::function<void()>& enqueue);
// One warm-up, then the fastest of kTransferRuns timed runs (transfers).
double best_event_seconds(cudaStream_t stream, const std::function<void()>& enqueue);

int current_device();
int device_attribute(cudaDeviceAttr attribute);  // of the current device

}  // namespace alisa::calibration
