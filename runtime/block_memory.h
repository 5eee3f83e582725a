// The memory a block of sequences needs on each tier when it runs: the policy's plan
// (policy/memory_plan.h) in the run's activation dtype, plus Sparse Window Attention's selection
// state where each unit attends. The engine checks it before allocating; the policy solver
// plans against it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/memory_plan.h"
#include "runtime/model_spec.h"
#include "runtime/swa.h"

namespace alisa {

// For a block whose caches hold `capacity` tokens per sequence and whose prompt step has
// `max_step_tokens`; `activation_bytes` is 2 on GPU runs (float16), 4 on CPU runs.
MemoryPlan block_memory_plan(const ModelSpec& spec, const SwaOptions& swa, const Policy& policy,
                             int64_t capacity, int64_t max_step_tokens, size_t activation_bytes);

}  // namespace alisa
