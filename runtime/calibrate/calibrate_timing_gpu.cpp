#include "runtime/calibrate/calibrate_timing_gpu.h"

#include <cstring>

#include "kernels_gpu/cuda_check.cuh"
#include "runtime/calibrate/calibrate_timing.h"

namespace alisa::calibration {
namespace {

class EventPair {
 public:
  EventPair() {
    ALISA_CUDA_CHECK(cudaEventCreate(&start));
    const cudaError_t created = cudaEventCreate(&end);
    if (created != cudaSuccess) (void)cudaEventDestroy(start);  // no destructor after a throw
    ALISA_CUDA_CHECK(created);
  }
  ~EventPair() {
    (void)cudaEventDestroy(start);
    (void)cudaEventDestroy(end);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  cudaEvent_t start = nullptr, end = nullptr;
};

}  // namespace

DeviceMemory::DeviceMemory(size_t n_bytes) {
  ALISA_CUDA_CHECK(cudaMalloc(&data_, n_bytes));
}

DeviceMemory::~DeviceMemory() {
  (void)cudaFree(data_);
}

HostMemory::HostMemory(size_t n_bytes, bool pinned) : pinned_(pinned) {
  if (pinned) {
    ALISA_CUDA_CHECK(cudaHostAlloc(&data_, n_bytes, cudaHostAllocPortable | cudaHostAllocMapped));
  } else {
    data_ = new char[n_bytes];
  }
  std::memset(data_, 0x5a, n_bytes);
}

HostMemory::~HostMemory() {
  if (pinned_) {
    (void)cudaFreeHost(data_);
  } else {
    delete[] static_cast<char*>(data_);
  }
}

Stream::Stream() {
  ALISA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  (void)cudaStreamDestroy(stream_);
}

double event_seconds(cudaStream_t stream, const std::function<void()>& enqueue) {
  const EventPair events;
  ALISA_CUDA_CHECK(cudaEventRecord(events.start, stream));
  enqueue();
  ALISA_CUDA_CHECK(cudaEventRecord(events.end, stream));
  ALISA_CUDA_CHECK(cudaEventSynchronize(events.end));
  float ms = 0;
  ALISA_CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.end));
  return 1e-3 * ms;
}

double median_event_seconds(cudaStream_t stream, const std::function<void()>& enqueue) {
  return median_of_runs([&] { return event_seconds(stream, enqueue); });
}

double best_event_seconds(cudaStream_t stream, const std::function<void()>& enqueue) {
  return best_of_runs([&] { return event_seconds(stream, enqueue); });
}

int current_device() {
  int device = 0;
  ALISA_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

int device_attribute(cudaDeviceAttr attribute) {
  int value = 0;
  ALISA_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, current_device()));
  return value;
}

}  // namespace alisa::calibration
