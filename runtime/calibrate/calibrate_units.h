// The block runner's fixed cost per unit (HardwareProfile::unit), measured by running it: what
// launches, events and host waits cost a unit whose work is negligible, by what the unit moves.
#pragma once

#include <filesystem>

#include "policy/hardware.h"
#include "runtime/ops/backend.h"

namespace alisa {

// OPT-125M with dummy weights, one sequence in each of 32 GPU batches (384 units a step),
// everything on the compute device but what the variant moves: the cache attended on the CPU
// (cpu_attention), the cache loaded into a slot, the hidden states loaded. Each runs alisa
// bench's workload (a 16-token prompt, then 16 decode steps timed after a warm-up); a unit costs
// decode step / 384, the median of 3 runs.
UnitCosts measure_unit_costs(DeviceChoice device, const std::filesystem::path& offload_dir,
                             int threads);

}  // namespace alisa
