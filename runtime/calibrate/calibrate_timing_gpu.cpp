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

Owned<char> device_memory(size_t n_bytes) {
  void* data = nullptr;
  ALISA_CUDA_CHECK(cudaMalloc(&data, n_bytes));
  return {static_cast<char*>(data), [](char* p) { (void)cudaFree(p); }};
}

Owned<char> host_memory(size_t n_bytes, bool pinned) {
  void* data = nullptr;
  if (pinned) {
    ALISA_CUDA_CHECK(cudaHostAlloc(&data, n_bytes, cudaHostAllocPortable | cudaHostAllocMapped));
  } else {
    data = new char[n_bytes];
  }
  Owned<char> host(
      static_cast<char*>(data),
      pinned ? +[](char* p) { (void)cudaFreeHost(p); } : +[](char* p) { delete[] p; });
  std::memset(host.get(), 0x5a, n_bytes);
  return host;
}

Owned<CUstream_st> non_blocking_stream() {
  cudaStream_t stream = nullptr;
  ALISA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return {stream, [](cudaStream_t s) { (void)cudaStreamDestroy(s); }};
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
