// The memory plan of a block of this model (policy/block_plan.h computes it): the runtime gives
// the policy its footprint and weight_layout's tensors, and checks and uses what comes back.
#pragma once

#include <cstdint>

#include "policy/block_plan.h"
#include "runtime/base/dtype.h"
#include "runtime/model/model_spec.h"
#include "runtime/program/swa.h"

namespace alisa {

// For a block whose caches hold `capacity` tokens per sequence and whose prompt step has
// `max_step_tokens`, in `activation_dtype` (float16 on GPU runs, float32 on CPU runs); `refill`:
// its runner has refill lanes.
MemoryPlan block_memory_plan(const ModelSpec& spec, const SwaOptions& swa, const Policy& policy,
                             int64_t capacity, int64_t max_step_tokens, DType activation_dtype,
                             bool refill);

}  // namespace alisa
