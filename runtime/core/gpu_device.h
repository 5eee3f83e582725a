// The GPU device: all its memory comes from one arena taken at start (capped by
// gpu_memory_limit, so an 80 GB card can stand in for a 16 GB one), one stream per queue (compute
// and the three transfer queues of the block schedule), events, and the host transfers the copy
// engine asks for.
#pragma once

#include <cuda_runtime_api.h>

#include <map>

#include "runtime/core/device.h"

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
  std::unique_ptr<Event> create_event() override;
  void record(Event& event, Queue queue) override;
  void wait(Queue queue, const Event& event) override;
  void host_wait(const Event& event) override;
  double elapsed_us(const Event& from, const Event& to) override;
  void copy_async(Queue queue, void* dst, const void* src, size_t n_bytes) override;

  int ordinal() const { return ordinal_; }
  cudaStream_t compute_stream() const { return streams_[0]; }
  cudaStream_t stream(Queue queue) const { return streams_[static_cast<int>(queue)]; }
  const cudaDeviceProp& properties() const { return properties_; }

 protected:
  void* raw_allocate(size_t n_bytes) override;
  void raw_free(void* data, size_t n_bytes) noexcept override;

 private:
  int ordinal_;
  cudaDeviceProp properties_{};
  cudaStream_t streams_[kNumQueues] = {};
  char* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  std::map<size_t, size_t> free_blocks_;  // offset -> size, coalesced
};

// Page-locked host memory (cudaHostAlloc): the CPU tier of a GPU run, so transfers to and from
// the GPU run asynchronously at full PCIe bandwidth. Capped by cpu_memory_limit.
class PinnedHostDevice final : public Device {
 public:
  PinnedHostDevice(GpuDevice& gpu, size_t limit_bytes)
      : Device("pinned cpu", limit_bytes), gpu_(gpu) {}
  DeviceKind kind() const override { return DeviceKind::kCpu; }
  void copy_from_host(void* dst, const void* src, size_t n_bytes) override;
  void copy_to_host(void* dst, const void* src, size_t n_bytes) override;
  // Events and queued copies are the GPU's: a host tier's transfers are GPU transfers.
  std::unique_ptr<Event> create_event() override { return gpu_.create_event(); }
  void record(Event& event, Queue queue) override { gpu_.record(event, queue); }
  void wait(Queue queue, const Event& event) override { gpu_.wait(queue, event); }
  void host_wait(const Event& event) override { gpu_.host_wait(event); }
  double elapsed_us(const Event& from, const Event& to) override {
    return gpu_.elapsed_us(from, to);
  }
  void copy_async(Queue queue, void* dst, const void* src, size_t n_bytes) override {
    gpu_.copy_async(queue, dst, src, n_bytes);
  }

 protected:
  void* raw_allocate(size_t n_bytes) override;
  void raw_free(void* data, size_t n_bytes) noexcept override;

 private:
  GpuDevice& gpu_;
};

// CUDA devices visible to this process (0 when the driver is missing).
int gpu_device_count();

}  // namespace alisa
