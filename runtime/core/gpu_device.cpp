#include "runtime/core/gpu_device.h"

#include <cstring>

#include "kernels_gpu/copy_rows.cuh"
#include "kernels_gpu/cuda_check.cuh"

namespace alisa {
namespace {

constexpr size_t kAlignment = 256;
// Left outside the arena when no cap is given: cuBLAS workspaces, the CUDA context's own needs.
constexpr size_t kReserveBytes = size_t{1} << 30;

size_t arena_size(int ordinal, size_t memory_limit) {
  size_t free_bytes = 0, total_bytes = 0;
  ALISA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (memory_limit == 0) {
    ALISA_CHECK(free_bytes > 2 * kReserveBytes, "GPU ", ordinal, " has only ",
                format_bytes(free_bytes), " free");
    return round_up(free_bytes - kReserveBytes, kAlignment) - kAlignment;
  }
  ALISA_CHECK(memory_limit + kReserveBytes / 4 <= free_bytes, "gpu_memory_limit ",
              format_bytes(memory_limit), " is more than GPU ", ordinal, " has free (",
              format_bytes(free_bytes), " of ", format_bytes(total_bytes), ")");
  return round_up(memory_limit, kAlignment);
}

// Copies up to this size between pinned host memory and the GPU run as kernels (copy_async).
constexpr size_t kKernelCopyMaxBytes = size_t{4} << 20;

cudaPointerAttributes attributes_of(const void* p) {
  cudaPointerAttributes attributes{};
  ALISA_CUDA_CHECK(cudaPointerGetAttributes(&attributes, p));
  return attributes;
}

// Device memory, or page-locked host memory mapped into the GPU's address space.
bool kernel_addressable(const cudaPointerAttributes& a) {
  return a.type == cudaMemoryTypeDevice ||
         (a.type == cudaMemoryTypeHost && a.devicePointer != nullptr);
}

// The address a kernel reads or writes `p` at: the mapping of pinned host memory.
const void* kernel_address(const cudaPointerAttributes& a, const void* p) {
  return a.type == cudaMemoryTypeHost ? a.devicePointer : p;
}

}  // namespace

int gpu_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

GpuDevice::GpuDevice(int ordinal, size_t memory_limit) : Device("gpu", 0), ordinal_(ordinal) {
  ALISA_CHECK(ordinal >= 0 && ordinal < gpu_device_count(), "no CUDA device ", ordinal);
  ALISA_CUDA_CHECK(cudaSetDevice(ordinal));
  ALISA_CUDA_CHECK(cudaGetDeviceProperties(&properties_, ordinal));
  for (cudaStream_t& stream : streams_) {
    ALISA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  }
  arena_bytes_ = arena_size(ordinal, memory_limit);
  void* arena = cuda_malloc_or_explain(
      arena_bytes_, "the GPU arena",
      memory_limit != 0
          ? "--gpu-memory-limit " + format_bytes(memory_limit)
          : "no --gpu-memory-limit: all free memory but " + format_bytes(kReserveBytes));
  arena_ = static_cast<char*>(arena);
  free_blocks_[0] = arena_bytes_;
  set_limit_bytes(arena_bytes_);
}

GpuDevice::~GpuDevice() {
  // Destructors must not throw: report nothing, the process is tearing the context down.
  for (cudaStream_t stream : streams_) (void)cudaStreamSynchronize(stream);
  (void)cudaFree(arena_);
  for (cudaStream_t stream : streams_) (void)cudaStreamDestroy(stream);
}

void GpuDevice::synchronize() {
  for (cudaStream_t stream : streams_) ALISA_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void GpuDevice::copy_from_host(void* dst, const void* src, size_t n_bytes) {
  ALISA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyHostToDevice, compute_stream()));
  // The source may be pageable memory the caller reuses at once: wait for the copy.
  ALISA_CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
}

void GpuDevice::copy_to_host(void* dst, const void* src, size_t n_bytes) {
  ALISA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToHost, compute_stream()));
  ALISA_CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
}

namespace {

struct GpuEvent final : Event {
  cudaEvent_t event = nullptr;
  ~GpuEvent() override { (void)cudaEventDestroy(event); }
};

cudaEvent_t cuda_event(const Event& event) {
  return static_cast<const GpuEvent&>(event).event;
}

}  // namespace

std::unique_ptr<Event> GpuDevice::create_event() {
  auto event = std::make_unique<GpuEvent>();
  ALISA_CUDA_CHECK(cudaEventCreate(&event->event));  // timing on: spans of the trace
  return event;
}

void GpuDevice::record(Event& event, Queue queue) {
  ALISA_CUDA_CHECK(cudaEventRecord(cuda_event(event), stream(queue)));
}

void GpuDevice::wait(Queue queue, const Event& event) {
  ALISA_CUDA_CHECK(cudaStreamWaitEvent(stream(queue), cuda_event(event), 0));
}

void GpuDevice::host_wait(const Event& event) {
  ALISA_CUDA_CHECK(cudaEventSynchronize(cuda_event(event)));
}

double GpuDevice::elapsed_us(const Event& from, const Event& to) {
  float ms = 0;
  ALISA_CUDA_CHECK(cudaEventElapsedTime(&ms, cuda_event(from), cuda_event(to)));
  return 1000.0 * ms;
}

void GpuDevice::copy_async(Queue queue, void* dst, const void* src, size_t n_bytes) {
  // A small copy between pinned host memory and the GPU goes by a kernel of the queue's stream
  // reading or writing the mapping: by DMA it would queue on the copy engine behind the bulk
  // copies of another stream (a layer's weights), stalling the unit that waits for it.
  if (n_bytes <= kKernelCopyMaxBytes) {
    const cudaPointerAttributes from = attributes_of(src), to = attributes_of(dst);
    const bool crosses = from.type == cudaMemoryTypeHost || to.type == cudaMemoryTypeHost;
    if (crosses && kernel_addressable(from) && kernel_addressable(to)) {
      gpu::copy_rows({.src = kernel_address(from, src),
                      .dst = const_cast<void*>(kernel_address(to, dst)),
                      .row_bytes = n_bytes,
                      .n_rows = 1,
                      .src_pitch = n_bytes,
                      .dst_pitch = n_bytes},
                     stream(queue));
      return;
    }
  }
  ALISA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDefault, stream(queue)));
}

void PinnedHostDevice::copy_from_host(void* dst, const void* src, size_t n_bytes) {
  std::memcpy(dst, src, n_bytes);
}

void PinnedHostDevice::copy_to_host(void* dst, const void* src, size_t n_bytes) {
  std::memcpy(dst, src, n_bytes);
}

void* PinnedHostDevice::raw_allocate(size_t n_bytes) {
  void* data = nullptr;
  if (cudaHostAlloc(&data, n_bytes, cudaHostAllocPortable | cudaHostAllocMapped) != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky: Device::allocate reports the numbers
    return nullptr;
  }
  return data;
}

void PinnedHostDevice::raw_free(void* data, size_t) noexcept {
  (void)cudaFreeHost(data);
}

void* GpuDevice::raw_allocate(size_t n_bytes) {
  const size_t size = round_up(n_bytes, kAlignment);
  for (auto it = free_blocks_.begin(); it != free_blocks_.end(); ++it) {
    if (it->second < size) continue;
    const size_t offset = it->first;
    const size_t rest = it->second - size;
    free_blocks_.erase(it);
    if (rest > 0) free_blocks_[offset + size] = rest;
    return arena_ + offset;
  }
  return nullptr;  // Device::allocate reports the numbers
}

void GpuDevice::raw_free(void* data, size_t n_bytes) noexcept {
  size_t offset = static_cast<size_t>(static_cast<char*>(data) - arena_);
  size_t size = round_up(n_bytes, kAlignment);
  auto next = free_blocks_.lower_bound(offset);
  if (next != free_blocks_.end() && offset + size == next->first) {
    size += next->second;
    next = free_blocks_.erase(next);
  }
  if (next != free_blocks_.begin()) {
    auto previous = std::prev(next);
    if (previous->first + previous->second == offset) {
      previous->second += size;
      return;
    }
  }
  free_blocks_[offset] = size;
}

}  // namespace alisa
