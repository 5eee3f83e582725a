// Where a policy's percentages put things: the one rule the memory plan, the solver and the
// runtime share, so the plan's bytes per tier are the bytes the runtime allocates.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "policy/policy.h"

namespace alisa {

// Compute: the device that runs the ops (the GPU, or on CPU runs a capped arena standing in
// for it; the memory plan's `gpu`). Cpu: host memory (pinned on GPU runs). Disk: files in the
// offload folder.
enum class Tier : uint8_t { kCompute, kCpu, kDisk };
inline constexpr int kNumTiers = 3;

// Places items of the given byte sizes, in order, so that the running share of bytes on each
// tier tracks the percentages: each item goes to the tier furthest below its share of the bytes
// placed so far (error diffusion). Every prefix, and so the whole, is within one item of the
// asked split, however the sizes fall: 20% of a model's weights puts 20% on the compute tier,
// not the 8% a per-layer whole-tensor rounding can give.
std::vector<Tier> place_by_percent(std::span<const uint64_t> sizes, double compute_percent,
                                   double cpu_percent);

// The home of each (layer, GPU batch) unit's KV cache, layer-major: the cache percentages
// placed over n_units equal units.
std::vector<Tier> kv_unit_homes(const Policy& policy, int64_t n_units);
// The home of each GPU batch's hidden states: the activation percentages over its batches.
std::vector<Tier> hidden_homes(const Policy& policy);

// How many of `homes` lie on `tier`.
int64_t count_on(std::span<const Tier> homes, Tier tier);

}  // namespace alisa
