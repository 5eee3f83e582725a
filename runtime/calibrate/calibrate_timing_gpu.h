// CUDA memory, streams and event timing for the GPU measurements of `alisa calibrate` (CUDA
// builds only). Kernels report the median of kComputeRuns timed runs, transfers the fastest of
// kTransferRuns (calibrate_timing.h), each after a warm-up.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>

namespace alisa::calibration {

// cudaMalloc'd device memory.
class DeviceMemory {
 public:
  explicit DeviceMemory(size_t n_bytes);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  char* get() const { return static_cast<char*>(data_); }

 private:
  void* data_ = nullptr;
};

// Pinned (cudaHostAlloc, mapped, as PinnedHostDevice allocates the CPU tier) or pageable host
// memory, its pages touched so that no copy pays for faulting them in.
class HostMemory {
 public:
  HostMemory(size_t n_bytes, bool pinned);
  ~HostMemory();
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;
  char* get() const { return static_cast<char*>(data_); }

 private:
  void* data_ = nullptr;
  bool pinned_;
};

// A non-blocking stream.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// Seconds between events recorded on `stream` before and after what `enqueue` queues there.
double event_seconds(cudaStream_t stream, const std::function<void()>& enqueue);
// One warm-up, then the median of kComputeRuns timed runs (kernels).
double median_event_seconds(cudaStream_t stream, const std::function<void()>& enqueue);
// One warm-up, then the fastest of kTransferRuns timed runs (transfers).
double best_event_seconds(cudaStream_t stream, const std::function<void()>& enqueue);

int current_device();
int device_attribute(cudaDeviceAttr attribute);  // of the current device

}  // namespace alisa::calibration
