// The memory plan of a block as the runtime runs it, computed here once: plan_memory's terms
// (policy/memory_plan.h) in the run's activation dtype, with the weights placed tensor by tensor
// as the WeightStore places them (policy/weight_placement.h) and Sparse Window Attention's
// selection state where each unit attends (policy/swa_memory.h). The engine checks it against
// the caps before allocating; the solver plans with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/footprint.h"
#include "policy/memory_plan.h"
#include "policy/policy.h"
#include "policy/swa_memory.h"
#include "policy/weight_placement.h"

namespace alisa {

// The weights' terms of the plan: each tier's bytes where place_weights puts `tensors` (dense
// values of `value_bytes`), the slots and dense slot they stream through and the stagings of
// their disk reads.
WeightBytes placed_weight_bytes(const std::vector<TensorShape>& tensors, const Policy& policy,
                                size_t value_bytes);

// For a block whose caches hold `capacity` tokens per sequence and whose prompt step has
// `max_step_tokens`, with activations (and dense weights) of `activation_bytes` (2 on GPU runs,
// 4 on CPU runs). `tensors`: the model's stored weights in checkpoint order; empty, every layer
// holds its mean share (mean_weight_bytes). `refill`: the block's runner has refill lanes
// (continuous batching), where the policy serves it.
MemoryPlan block_memory_plan(const ModelFootprint& model, const std::vector<TensorShape>& tensors,
                             const SwaOptions& swa, const Policy& policy, int64_t capacity,
                             int64_t max_step_tokens, size_t activation_bytes, bool refill);

}  // namespace alisa
