// The memory a block of sequences needs on each tier when it runs: the policy's plan
// (policy/memory_plan.h) in the run's activation dtype, with the weights counted tensor by tensor
// where the WeightStore will put them (runtime/weight_placement.h), plus Sparse Window
// Attention's selection state where each unit attends. The engine checks it before allocating; the
// policy solver plans against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/memory_plan.h"
#include "runtime/base/dtype.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/weights.h"
#include "runtime/program/swa.h"

namespace alisa {

// For a block whose caches hold `capacity` tokens per sequence and whose prompt step has
// `max_step_tokens`, in `activation_dtype` (float16 on GPU runs, float32 on CPU runs).
MemoryPlan block_memory_plan(const ModelSpec& spec, const SwaOptions& swa, const Policy& policy,
                             int64_t capacity, int64_t max_step_tokens, DType activation_dtype);
// The same for a caller that plans many policies of one model (the solver): `layout` is
// weight_layout(spec), built once rather than per policy.
MemoryPlan block_memory_plan(const ModelSpec& spec, const std::vector<WeightSlot>& layout,
                             const SwaOptions& swa, const Policy& policy, int64_t capacity,
                             int64_t max_step_tokens, DType activation_dtype);

// The weights' part alone: each tier's weights where the WeightStore puts them, and the
// streaming slots and stagings they pass through (workspace).
MemoryPlan block_weight_plan(const std::vector<WeightSlot>& layout, const Policy& policy,
                             DType activation_dtype);

}  // namespace alisa
