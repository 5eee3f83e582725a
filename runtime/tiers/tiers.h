// The memory tiers of an offloaded run: the devices and folder behind each Tier
// (policy/placement.h places things on them).
#pragma once

#include <cstdint>
#include <filesystem>

#include "policy/placement.h"
#include "runtime/core/device.h"
#include "runtime/core/tensor.h"

namespace alisa {

struct Tiers {
  Device* compute = nullptr;
  // KV cache, activations, staging. Pinned and mapped on GPU runs: the compute device can
  // address it directly (CopyEngine::copy_mapped).
  Device* cpu = nullptr;
  Device* cpu_weights = nullptr;        // CPU-resident weights (pageable when pin_weights is off)
  std::filesystem::path disk_dir = {};  // the offload folder (created on first use)
};

// A contiguous CPU-tier tensor as the compute device addresses it (mapped host memory).
Tensor mapped(const Tensor& host, const Tiers& tiers);

}  // namespace alisa
