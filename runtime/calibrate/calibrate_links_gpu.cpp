#include "runtime/calibrate/calibrate_links_gpu.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <future>
#include <latch>
#include <thread>
#include <utility>
#include <vector>

#include "kernels_gpu/calibrate_kernels.cuh"
#include "kernels_gpu/cuda_check.cuh"
#include "runtime/calibrate/calibrate_timing.h"
#include "runtime/calibrate/calibrate_timing_gpu.h"

namespace alisa {
namespace {

using namespace calibration;  // the folder's timing helpers

constexpr int kMappedBlocksPerSm = 4;  // with 256 threads: enough reads in flight

}  // namespace

CopyRates measure_copy_rates(size_t n_bytes, bool pinned) {
  const int device = current_device();
  const auto host_src = host_memory(n_bytes, pinned), host_dst = host_memory(n_bytes, pinned);
  const auto device_dst = device_memory(n_bytes), device_src = device_memory(n_bytes);
  ALISA_CUDA_CHECK(cudaMemset(device_src.get(), 0x5a, n_bytes));
  const auto up = non_blocking_stream(), down = non_blocking_stream();
  const std::function<void()> h2d = [&] {
    ALISA_CUDA_CHECK(cudaMemcpyAsync(device_dst.get(), host_src.get(), n_bytes,
                                     cudaMemcpyHostToDevice, up.get()));
  };
  const std::function<void()> d2h = [&] {
    ALISA_CUDA_CHECK(cudaMemcpyAsync(host_dst.get(), device_src.get(), n_bytes,
                                     cudaMemcpyDeviceToHost, down.get()));
  };
  const double bytes = static_cast<double>(n_bytes);
  CopyRates rates;
  rates.h2d.alone_gbps = gbps(bytes, best_event_seconds(up.get(), h2d));
  rates.d2h.alone_gbps = gbps(bytes, best_event_seconds(down.get(), d2h));

  // Both directions at once, each queued from its own host thread: a pageable copy holds its
  // thread while it stages, so one thread would serialise them.
  auto both = [&] {
    std::latch ready(2);
    auto run = [&](cudaStream_t stream, const std::function<void()>& enqueue) {
      ready.arrive_and_wait();
      ALISA_CUDA_CHECK(cudaSetDevice(device));
      return event_seconds(stream, enqueue);
    };
    std::future<double> up_time = std::async(std::launch::async, run, up.get(), h2d);
    std::future<double> down_time = std::async(std::launch::async, run, down.get(), d2h);
    return std::pair{up_time.get(), down_time.get()};
  };
  (void)both();
  double up_best = INFINITY, down_best = INFINITY;  // each direction's fastest run
  for (int i = 0; i < kTransferRuns; ++i) {
    const auto [up_seconds, down_seconds] = both();
    up_best = std::min(up_best, up_seconds);
    down_best = std::min(down_best, down_seconds);
  }
  rates.h2d.duplex_gbps = gbps(bytes, up_best);
  rates.d2h.duplex_gbps = gbps(bytes, down_best);
  return rates;
}

double measure_h2d_pinned_under_load(size_t n_bytes,
                                     const std::function<void(const std::atomic<bool>& stop)>& load,
                                     double lead_in_s) {
  const auto host_src = host_memory(n_bytes, true);
  const auto device_dst = device_memory(n_bytes);
  const auto up = non_blocking_stream();
  const std::function<void()> h2d = [&] {
    ALISA_CUDA_CHECK(cudaMemcpyAsync(device_dst.get(), host_src.get(), n_bytes,
                                     cudaMemcpyHostToDevice, up.get()));
  };
  std::atomic<bool> stop{false};
  std::thread worker([&] { load(stop); });
  std::vector<double> seconds;
  try {
    std::this_thread::sleep_for(std::chrono::duration<double>(lead_in_s));
    (void)event_seconds(up.get(), h2d);
    for (int i = 0; i < kTransferRuns; ++i) seconds.push_back(event_seconds(up.get(), h2d));
  } catch (...) {
    stop = true;
    worker.join();
    throw;
  }
  stop = true;
  worker.join();
  return gbps(static_cast<double>(n_bytes), median(seconds));
}

double pinned_h2d_during(size_t n_bytes, const std::function<void()>& work, double lead_in_s) {
  const int device = current_device();
  const auto host_src = host_memory(n_bytes, true);
  const auto device_dst = device_memory(n_bytes);
  const auto up = non_blocking_stream();
  std::atomic<bool> done{false};
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      ALISA_CUDA_CHECK(cudaSetDevice(device));
      std::this_thread::sleep_for(std::chrono::duration<double>(lead_in_s));
      work();
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
  });
  int64_t copies = 0;
  const auto start = std::chrono::steady_clock::now();
  try {
    while (!done) {
      ALISA_CUDA_CHECK(cudaMemcpyAsync(device_dst.get(), host_src.get(), n_bytes,
                                       cudaMemcpyHostToDevice, up.get()));
      ALISA_CUDA_CHECK(cudaStreamSynchronize(up.get()));
      ++copies;
    }
  } catch (...) {
    worker.join();  // `work` cannot be interrupted; it is short
    throw;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  worker.join();
  if (failure) std::rethrow_exception(failure);
  return gbps(static_cast<double>(copies) * static_cast<double>(n_bytes), seconds);
}

MappedRates measure_mapped_rates(size_t n_bytes) {
  n_bytes = std::max<size_t>(n_bytes / 16 * 16, 16);
  const auto host = host_memory(n_bytes, true);
  void* mapped = nullptr;
  ALISA_CUDA_CHECK(cudaHostGetDevicePointer(&mapped, host.get(), 0));
  const auto sink = device_memory(sizeof(uint32_t));
  const unsigned blocks =
      static_cast<unsigned>(kMappedBlocksPerSm * device_attribute(cudaDevAttrMultiProcessorCount));
  const auto stream = non_blocking_stream();
  const double bytes = static_cast<double>(n_bytes);
  MappedRates rates;
  rates.read_gbps =
      gbps(bytes, best_event_seconds(stream.get(), [&] {
             gpu::stream_read(mapped, n_bytes, reinterpret_cast<uint32_t*>(sink.get()), blocks,
                              stream.get());
           }));
  rates.write_gbps = gbps(bytes, best_event_seconds(stream.get(), [&] {
                            gpu::stream_write(mapped, n_bytes, blocks, stream.get());
                          }));
  return rates;
}

}  // namespace alisa
