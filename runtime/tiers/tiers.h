// The memory tiers of an offloaded run and how a policy's percentages become placements.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "runtime/core/device.h"

namespace alisa {

// Compute: the device that runs the ops (the GPU, or on CPU runs a capped arena standing in
// for it). Cpu: host memory (pinned on GPU runs). Disk: files in the offload folder.
enum class Tier : uint8_t { kCompute, kCpu, kDisk };

struct Tiers {
  Device* compute = nullptr;
  // KV cache, activations, staging. Pinned and mapped on GPU runs: the compute device can
  // address it directly (CopyEngine::copy_mapped).
  Device* cpu = nullptr;
  Device* cpu_weights = nullptr;        // CPU-resident weights (pageable when pin_weights is off)
  std::filesystem::path disk_dir = {};  // the offload folder (created on first use)
};

// Places items of the given byte sizes, in order, so that the running share of bytes on each
// tier tracks the percentages: each item goes to the tier furthest below its share of the bytes
// placed so far (error diffusion). Every prefix, and so the whole, is within one item of the
// asked split, however the sizes fall: 20% of a model's weights puts 20% on the compute tier,
// not the 8% a per-layer whole-tensor rounding can give.
std::vector<Tier> place_by_percent(std::span<const uint64_t> sizes, double compute_percent,
                                   double cpu_percent);

}  // namespace alisa
