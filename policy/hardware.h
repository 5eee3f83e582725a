// HardwareProfile: what `alisa calibrate` measured of a machine (configs/hardware/NAME.yaml), the
// numbers the cost model prices a policy with. Rates are in 1e9 bytes (GB) or 1e12 flops (TFLOP)
// per second, capacities in bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace alisa {

// One direction of a CPU<->GPU link, alone and while the other direction also runs.
struct LinkRate {
  double alone_gbps = 0;
  double duplex_gbps = 0;
};

// A float16 cuBLAS GEMM [m, k] x [k, n] (a decoder layer's matrix applied to m tokens).
struct GemmRate {
  int64_t m = 0, n = 0, k = 0;
  double tflops = 0;
};

// The CPU's float16-KV decode attention (the runtime's kernel, kernels_cpu) on `threads` workers,
// in GB of K and V read per second: dense (every token) and sparse (SWA's selected tokens).
struct CpuAttentionRate {
  int64_t threads = 0;
  double dense_gbps = 0;
  double sparse_gbps = 0;
};

// What the CPU attention keeps of its rate (at the most threads timed) while pinned H2D copies
// run without pause, as the weights stream out of host memory: the DMA and the CPU share it.
struct CpuAttentionShare {
  double dense = 1;
  double sparse = 1;
};

// The runtime's GPU decode attention (one new token per sequence, 512 cached) over the block
// runner's KV layout, at `batch` sequences: GB of K and V attended per second.
struct GpuAttentionRate {
  int64_t batch = 0;
  double dense_gbps = 0;          // Ops::attention over every cached token, cache in GPU memory
  double sparse_gbps = 0;         // Ops::sparse_attention (SWA) over ~20% of them, in GPU memory
  double mapped_sparse_gbps = 0;  // the same reading a cache in mapped pinned host memory (SWA
                                  // Phase II in place)
};

// The block runner's fixed cost of one unit (one GPU batch through one layer) where its work is
// negligible (OPT-125M, one sequence per GPU batch, 32 GPU batches): launches, events and host
// waits, in microseconds, by what the unit moves.
struct UnitCosts {
  double gpu_us = 0;            // cache and hidden states in GPU memory
  double cpu_attention_us = 0;  // the cache attended on the CPU: q, k, v out, the output back
  double cache_load_us = 0;     // the cache loaded into a GPU slot and its new token stored
  double hidden_load_us = 0;    // the hidden states loaded and stored
};

struct HardwareProfile {
  std::string name;      // the profile's name (its file's stem)
  std::string measured;  // when, "2026-11-26"
  std::string gpu;       // the GPU's name, "" when none
  std::string cpu;       // the CPU's model name
  // Capacities.
  uint64_t gpu_memory_bytes = 0;  // total device memory
  uint64_t cpu_memory_bytes = 0;  // physical host memory
  uint64_t disk_bytes = 0;        // free space in the calibrated folder
  int64_t cpu_cores = 0;          // online cores
  // CPU<->GPU copies (cudaMemcpyAsync) from and to pinned and pageable host memory.
  LinkRate h2d_pinned, d2h_pinned, h2d_pageable, d2h_pageable;
  // Pinned H2D while the CPU attends on every core: the DMA and the CPU share host memory.
  double h2d_pinned_cpu_busy_gbps = 0;
  // A GPU kernel reading (writing) pinned host memory through the mapping: SWA's in-place reads
  // of CPU-resident caches, and the runtime's small copies.
  double mapped_read_gbps = 0;
  double mapped_write_gbps = 0;
  double disk_read_gbps = 0;   // O_DIRECT, requests of a few MiB one at a time (a unit's cache)
  double disk_write_gbps = 0;  // O_DIRECT, large requests on the I/O pool
  // The time one O_DIRECT request of a block takes, one in flight: what each of the runtime's
  // many small cache reads and single-token writes costs on top of its bytes.
  double disk_read_latency_us = 0;
  double disk_write_latency_us = 0;
  double gpu_memory_gbps = 0;  // device-to-device streaming (read + write counted once each)
  double cpu_memory_gbps = 0;  // all cores reading
  double gpu_launch_us = 0;    // one small kernel in a stream of them
  UnitCosts unit;              // the block runner's per-unit floor
  std::vector<GemmRate> gemm;  // the shapes of the calibrated models
  std::vector<CpuAttentionRate> cpu_attention;  // per thread count, ascending
  CpuAttentionShare cpu_attention_h2d_busy;     // its share kept under pinned H2D copies
  std::vector<GpuAttentionRate> gpu_attention;  // batch ascending
};

// Throws alisa::Error naming `source` and the key when a rate or capacity is missing, not a
// positive number, or a table is empty or unordered.
void validate(const HardwareProfile& profile, const std::string& source);

// YAML (the format `alisa calibrate` writes and docs/COST_MODEL.md shows). Unknown keys and
// malformed YAML throw alisa::Error naming `source` and the key.
HardwareProfile hardware_from_yaml(const std::string& yaml_text, const std::string& source);
HardwareProfile load_hardware(const std::filesystem::path& path);
std::string hardware_to_yaml(const HardwareProfile& profile);

// The rate of an f16 GEMM of m tokens through an [k, n] matrix: the profile's entry of the
// nearest (n, k) (by log of n * k), interpolated in log m between its measured m, clamped at the
// ends. Throws alisa::Error when the profile has no GEMM entries.
double gemm_tflops(const HardwareProfile& profile, int64_t m, int64_t n, int64_t k);
// The CPU attention rate with `threads` workers (0: the profile's cpu_cores), interpolated
// linearly between measured thread counts, the last one's beyond it.
CpuAttentionRate cpu_attention_rate(const HardwareProfile& profile, int64_t threads);
// Rates at `batch` sequences: linear interpolation in log(batch) between entries, clamped at the
// ends. Throws alisa::Error when the profile has no GPU attention entries.
GpuAttentionRate gpu_attention_rate(const HardwareProfile& profile, int64_t batch);

}  // namespace alisa
