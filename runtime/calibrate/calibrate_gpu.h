// The GPU measurements of `alisa calibrate` (CUDA builds only), on the current CUDA device, timed
// with CUDA events after a warm-up: device memory, kernel launches, GEMMs and decode attention
// (the median of three runs; the device memory copy the best of five), and measure_gpu, which
// fills every GPU field of a profile, the transfers of calibrate_links_gpu.h included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "policy/hardware.h"
#include "runtime/calibrate/calibrate_shapes.h"

namespace alisa {

struct GpuCalibrationSizes {
  size_t pinned_bytes = size_t{1} << 30;       // each pinned copy
  size_t pageable_bytes = size_t{512} << 20;   // each pageable copy
  size_t mapped_bytes = size_t{1} << 30;       // the mapped buffer read and written
  size_t device_copy_bytes = size_t{2} << 30;  // the device-to-device copy
  int launches = 1000;                         // empty kernels per timed run
  std::vector<int64_t> gemm_m = {1, 4, 16, 64, 256, 1024, 4096, 16384};
  std::vector<int64_t> gpu_attention_batches = {1, 8, 32, 128};  // GPU batch sizes, ascending
};

// A device-to-device cudaMemcpyAsync of n_bytes: 2 * n_bytes / time (read and write counted once
// each).
double measure_gpu_memory_gbps(size_t n_bytes);

// Microseconds per empty kernel in a stream of `launches` of them.
double measure_launch_us(int launches);

// The runtime's f16 linear (gpu::LinearGpu, cuBLASLt, no bias) of y [m, n] = x [m, k] W^T for
// every shape at every m, in that order (shape-major, m as given): 2 m n k / time. Weights rotate
// over copies that together exceed the L2 cache, as a model's layers do.
std::vector<GemmRate> measure_gemm_rates(const std::vector<GemmShape>& shapes,
                                         const std::vector<int64_t>& ms);

// The decode attention measure_gpu_attention times: OPT-6.7B's heads, one new token per sequence
// over a full cache of `capacity` tokens (past = capacity - 1), SWA's budget at `swa_sparsity`
// (swa_budget: 102 of 512 tokens, the last 51 and 51 spread evenly over the older ones).
struct GpuAttentionShape {
  int64_t n_heads = 32;
  int64_t n_kv_heads = 32;
  int64_t head_dim = 128;
  int64_t capacity = 512;
  double swa_sparsity = 0.8;
};

// The runtime's GPU decode attention (GpuOps: attention, and SWA's sparse_attention with a fixed
// selection) over the block runner's KV layout (BlockRunner::kv_view: f16 K and V each
// [capacity, batch, n_kv_heads, head_dim], viewed batch-major) at each batch size: dense and
// sparse reading a cache in device memory, mapped_sparse one in mapped pinned host memory read
// in place (SWA Phase II). GB of K and V attended per second, batch * tokens * 2 * n_kv_heads *
// head_dim * 2 bytes / time. Calls rotate over cache copies whose selected tokens together
// exceed the L2 cache twice (as a model's layers do); a timed run repeats them for about 2 ms.
std::vector<GpuAttentionRate> measure_gpu_attention(const GpuAttentionShape& shape,
                                                    const std::vector<int64_t>& batches);

// Every GPU field of `profile` (gpu, gpu_memory_bytes, the link rates, mapped, memory.gpu_gbps,
// gpu_launch_us, gpu_gemm, gpu_attention) on device 0; `progress` gets one line per step.
void measure_gpu(const GpuCalibrationSizes& sizes, const std::vector<GemmShape>& shapes,
                 HardwareProfile& profile, const std::function<void(const std::string&)>& progress);

}  // namespace alisa
