// The CPU measurements of `alisa calibrate`: memory bandwidth and the runtime's decode attention
// on the CPU, at several thread counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "policy/hardware.h"

namespace alisa {

class Device;

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
// runtime/calibrate/calibrate_pinned_tier_gpu.h).
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

}  // namespace alisa
