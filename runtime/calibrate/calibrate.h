// `alisa calibrate`: measures this machine into a HardwareProfile (policy/hardware.h) for the cost
// model. This file holds the orchestration and the CPU, disk and capacity measurements; the GPU
// ones are in runtime/gpu/calibrate_gpu.h (CUDA builds only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "policy/hardware.h"

namespace alisa {

class Device;

// One weight matrix of a decoder, as the runtime multiplies it: y [m, n] = x [m, k] W^T.
struct GemmShape {
  int64_t n = 0, k = 0;
  bool operator==(const GemmShape&) const = default;
};

// The median of a non-empty list (the middle pair's mean for an even count).
double median(std::vector<double> values);

// The models `alisa calibrate` measures when --models is not given.
const std::vector<std::string>& default_calibration_models();

// The distinct (n, k) of every matrix the runtime's decoder multiplies for these named models
// (runtime/model_spec.h): q, k, v, o, the MLP's, the LM head and OPT's projections, in first-seen
// order. Throws alisa::Error naming an unknown model.
std::vector<GemmShape> calibration_gemm_shapes(const std::vector<std::string>& models);

// 1, 2, 4, ... below max_threads, then max_threads itself.
std::vector<int64_t> calibration_thread_counts(int64_t max_threads);

// All `threads` workers (a TBB arena) summing an n_bytes buffer, GB/s: median of 3 after one
// warm-up pass.
double measure_cpu_memory_gbps(size_t n_bytes, int threads);

// The CPU decode attention timed, as a decode step of a GPU run with cpu_attention attends a
// CPU-resident unit (BlockRunner::attend_on_cpu): batch sequences with n_tokens cached tokens
// (the step's new one included), OPT-like float16 K and V (no GQA) in the block runner's
// token-major layout [n_tokens, batch, heads, head_dim]. 384 tokens is the mean length of the
// measured runs (prompt 128, 512 generated). kv_sets units are attended in turn, together well
// beyond a 300 MiB last-level cache, as a model's layers and GPU batches are.
struct CpuAttentionShape {
  int64_t batch = 16;
  int64_t n_heads = 32;
  int64_t head_dim = 128;
  int64_t n_tokens = 384;
  double swa_sparsity = 0.8;  // SWA's budget: swa_budget(n_tokens, swa_sparsity, 16).total tokens
  int64_t kv_sets = 8;
  // Before each call the measuring thread spins this long with the workers idle: the runtime's
  // main thread launches the GPU's share of a unit between two CPU-attended ones (~0.18 ms on
  // average in the H100 host's traces), so every call pays for waking the workers, as there.
  double idle_us = 200;
  int64_t repeats = 5;  // timed runs after the warm-up: their median is the rate
};

// Where the caches and the SWA state live and how the caches get their contents: the runtime's
// CPU tier. By default pageable memory (a CpuDevice, the CPU tier of CPU runs) written by the
// CPU's threads; on a GPU machine the pinned tier, written by the GPU (PinnedCpuTier in
// runtime/gpu/calibrate_gpu.h).
struct CpuTierMemory {
  Device* device = nullptr;  // null: pageable memory
  // Writes `count` float16 values in [-1, 1) from `seed` at `data` (memory of `device`); empty:
  // the CPU's threads write them (first touch by all cores).
  std::function<void(void* data, int64_t count, uint64_t seed)> fill_f16;
};

// The runtime's CPU decode attention as it runs it: DecoderProgram::layer_attend through CpuOps
// (its TBB arena of `threads` workers), storing the step's K and V and then attending densely
// (attention_cpu) or, for SWA, selecting by score (swa_select), attending the selection
// (sparse_attention_cpu) and updating the score, on each of thread_counts. The selection is the
// runtime's: the ceil(B/2) most recent tokens and the older ones of highest score, scattered
// (random scores, different per sequence and unit). Each call is timed alone after an idle gap
// (idle_us); a run attends every unit once, GB of K and V attended per second is the median of
// `repeats` runs after a warm-up one, per-call costs included.
std::vector<CpuAttentionRate> measure_cpu_attention(const CpuAttentionShape& shape,
                                                    const std::vector<int64_t>& thread_counts,
                                                    const CpuTierMemory& memory = {});

struct DiskRates {
  double read_gbps = 0;
  double write_gbps = 0;
  double read_latency_us = 0;  // one block's request, one in flight (mean)
  double write_latency_us = 0;
  bool direct = true;  // false: the filesystem refused O_DIRECT, the page cache was in the way
};

// Writes an n_bytes scratch file in `folder` (DiskFile, O_DIRECT where the filesystem allows) in
// requests of write_request_bytes on the runtime's I/O pool, then reads it back in requests of
// read_request_bytes, one at a time; each a warm-up pass, then the best of five. Then times
// single-block requests at scattered offsets. The file is
// removed after. Throws alisa::Error when the folder is not writable.
DiskRates measure_disk(const std::filesystem::path& folder, uint64_t n_bytes,
                       size_t write_request_bytes, size_t read_request_bytes);

// Host facts: /proc/cpuinfo's "model name" ("" when absent), physical memory, online cores, and
// today's local date "YYYY-MM-DD".
std::string cpu_model_name();
uint64_t physical_memory_bytes();
int64_t online_cores();
std::string today_text();

struct CalibrateOptions {
  std::string name;                                  // the profile's name
  std::filesystem::path disk_dir;                    // empty: default_offload_dir()
  std::vector<std::string> models;                   // empty: default_calibration_models()
  int threads = 0;                                   // most CPU threads measured; 0: online_cores()
  std::function<void(const std::string&)> progress;  // one line per step; may be empty
};

// "alisa calibrate needs a CUDA GPU: ..." when this build has no CUDA or no device is present;
// "" when calibration can run.
std::string calibration_gpu_problem();

// Every measurement, about two minutes on a 16-core H100 host. Throws alisa::Error for a bad
// option (unknown model, disk folder not writable) or a machine without a CUDA GPU.
HardwareProfile calibrate(const CalibrateOptions& options);

}  // namespace alisa
